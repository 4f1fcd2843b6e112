"""Training configuration: the sections of ``trainer.sections`` in one tree, filled from a profile, a YAML file
and command-line overrides.

Precedence (later wins): dataclass defaults < ``trainer/recipes/profiles/<profile>.yaml`` (its top level, then its
``roles.<role>`` section) < ``--config FILE`` (same shape, ``roles:`` allowed) < ``--set key.sub=value`` <
the dedicated flags (``--output``, ``--max-steps``, ``--data-root`` ...). The resolved config is printed and
saved as ``<run>/config.yaml``; ``--resume`` reads it back.

    mmedtui train attending --profile paper --config my.yaml --set grpo.temperature=0.9 --output runs/att
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from mmedtui.errors import ConfigError, error_line
from trainer.sections import (
    STAGES,
    CurriculumSection,
    DataSection,
    GRPOSection,
    ModelSection,
    OpinionsSection,
    SFTSection,
    StageSpec,
    TrainingSection,
    TriageSection,
)

PROFILES_DIR = Path(__file__).resolve().parent / "recipes" / "profiles"
ROLES = ("triage", "specialist", "attending")


@dataclass
class TrainConfig:
    role: str = "attending"
    profile: str = "tiny"
    output: str | None = None
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainingSection = field(default_factory=TrainingSection)
    grpo: GRPOSection = field(default_factory=GRPOSection)
    curriculum: CurriculumSection = field(default_factory=CurriculumSection)
    opinions: OpinionsSection = field(default_factory=OpinionsSection)
    sft: SFTSection = field(default_factory=SFTSection)
    triage: TriageSection = field(default_factory=TriageSection)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @property
    def data_root(self) -> Path:
        return self.data.root_dir

    def stage_schedule(self) -> list[StageSpec]:
        """Each stage to run, in order, with its entropy bonus and KL weight (the attending's curriculum)."""
        cur = self.curriculum
        if not cur.enabled:
            return [StageSpec("all", cur.flat_gamma if cur.entropy else 0.0, cur.flat_beta)]
        out = []
        for stage in reversed(cur.stages) if cur.reverse else cur.stages:
            if stage not in STAGES:
                raise ConfigError(f"curriculum.stages: unknown stage {stage!r} (stages: {', '.join(STAGES)})")
            gamma = cur.flat_gamma if cur.fixed_entropy else float(cur.gamma.get(stage, 0.0))
            out.append(StageSpec(stage, gamma if cur.entropy else 0.0, float(cur.beta.get(stage, 0.0))))
        if not out:
            raise ConfigError("curriculum.stages is empty")
        return out


# --- merging ------------------------------------------------------------------------------------
def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path, what: str) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not a readable YAML {what} ({error_line(exc, typed=False)})") from None
    except RecursionError:
        raise ConfigError(f"{path}: {what} nested too deeply") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a {what} is a YAML mapping")
    return data


def _layer(data: dict, role: str) -> dict:
    """A profile / config file: its top level, then its ``roles.<role>`` section on top."""
    data = dict(data)
    roles = data.pop("roles", None) or {}
    if not isinstance(roles, dict) or any(r not in ROLES for r in roles):
        raise ConfigError(f"'roles' must map some of {', '.join(ROLES)} to settings")
    return _merge(data, roles.get(role) or {})


def parse_set(pairs: list[str]) -> dict:
    """``["grpo.temperature=0.7", "data.tasks=[slake]"]`` -> nested dict (values parsed as YAML)."""
    out: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _nest(flat: dict) -> dict:
    out: dict = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _coerce(value: Any, hint: Any, where: str) -> Any:
    text = str(hint)
    if value is None:
        if "None" in text or "Any" in text:
            return None
        raise ConfigError(f"{where}: may not be empty")
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            raise ValueError
        if hint is int or text == "int | None":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if hint is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if hint is str or text == "str | None":
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
        if text.startswith("list"):
            return [str(v) for v in (value if isinstance(value, list) else [value])]
        if text.startswith("dict"):
            if not isinstance(value, dict):
                raise ValueError
            return {str(k): float(v) for k, v in value.items()}
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: bad value {value!r} (expected {text})") from None
    return value


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {data!r}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"unknown config key {(where + '.' if where else '') + unknown[0]!s} (known: {', '.join(sorted(known))})"
        )
    kwargs = {}
    for f in fields(cls):
        if f.name not in data:
            continue
        key = f"{where}.{f.name}" if where else f.name
        hint = hints[f.name]
        if is_dataclass(hint):
            kwargs[f.name] = _build(hint, data[f.name], key)
        else:
            kwargs[f.name] = _coerce(data[f.name], hint, key)
    return cls(**kwargs)


def load_config(
    role: str, profile: str = "tiny", config_file: str | Path | None = None, sets: list[str] | None = None, **flags: Any
) -> TrainConfig:
    """Resolve the config of a run. ``flags``: dotted keys (``train.max_steps``) from dedicated options;
    None values are ignored."""
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    profile_path = PROFILES_DIR / f"{profile}.yaml"
    if not profile_path.is_file():
        known = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
        raise ConfigError(f"unknown profile {profile!r} (profiles: {', '.join(known)})")
    data: dict = TrainConfig(role=role, profile=profile).to_dict()
    data = _merge(data, _layer(_read_yaml(profile_path, "profile"), role))
    if config_file:
        data = _merge(data, _layer(_read_yaml(Path(config_file), "config file"), role))
    data = _merge(data, parse_set(list(sets or [])))
    data = _merge(data, _nest({k: v for k, v in flags.items() if v is not None}))
    data["role"], data["profile"] = role, profile
    return validate(_build(TrainConfig, data, ""))


def config_from_dict(data: dict) -> TrainConfig:
    return validate(_build(TrainConfig, data, ""))


def validate(cfg: TrainConfig) -> TrainConfig:
    from mmedtui.tasks.base import canonical_split

    if canonical_split(cfg.data.split) == "test":
        raise ConfigError("data.split: training never reads a test split")
    if not 0.0 <= cfg.data.holdout < 1.0:
        raise ConfigError(f"data.holdout: {cfg.data.holdout} is not in [0, 1)")
    if cfg.data.part not in ("all", "fit", "holdout"):
        raise ConfigError(f"data.part: {cfg.data.part!r} is not all, fit or holdout")
    if cfg.data.part != "all" and cfg.data.holdout <= 0:
        raise ConfigError(f"data.part: {cfg.data.part!r} needs data.holdout > 0")
    if cfg.sft.answer_weight <= 0:
        raise ConfigError(f"sft.answer_weight: {cfg.sft.answer_weight} is not positive")
    if not 0 <= cfg.sft.solo_share <= 1:
        raise ConfigError(f"sft.solo_share: {cfg.sft.solo_share} is not a share between 0 and 1")
    if not 0 <= cfg.data.val_share < 1:
        raise ConfigError(
            f"data.val_share: {cfg.data.val_share} is not a share between 0 and 1 (1 leaves nothing to train)"
        )
    if cfg.data.closed_repeat < 1:
        raise ConfigError(f"data.closed_repeat: {cfg.data.closed_repeat} is not a positive count")
    from trainer.tiny import SIZES

    if cfg.model.tiny_size not in SIZES:
        raise ConfigError(f"model.tiny_size: {cfg.model.tiny_size!r} is not one of {', '.join(SIZES)}")
    _check_tower_size(cfg.model)
    g = cfg.grpo
    if g.num_generations < 2:
        raise ConfigError("grpo.num_generations: GRPO needs at least 2 rollouts per prompt")
    if g.vllm_mode not in ("colocate", "server"):
        raise ConfigError(f"grpo.vllm_mode: {g.vllm_mode!r} is not colocate or server")
    if cfg.train.learning_rate <= 0:
        raise ConfigError("train.learning_rate must be positive")
    if not 0 <= cfg.triage.generic_share <= 1:
        raise ConfigError(f"triage.generic_share: {cfg.triage.generic_share} is not a share between 0 and 1")
    if not 0 <= cfg.curriculum.rehearsal <= 1:
        raise ConfigError(f"curriculum.rehearsal: {cfg.curriculum.rehearsal} is not a share between 0 and 1")
    if cfg.curriculum.reverse and not cfg.curriculum.enabled:
        raise ConfigError("curriculum.reverse: a reversed curriculum needs the curriculum (not --no-curriculum)")
    cfg.stage_schedule()  # validates the stage names
    return cfg


def save_config(cfg: TrainConfig, run_dir: Path) -> Path:
    from trainer.io import atomic_write_text

    return atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())


def load_run_config(run_dir: Path, sets: list[str] | None = None, **flags: Any) -> TrainConfig:
    """A run's saved config (``--resume``), with this invocation's ``--set`` and flags on top."""
    data = _read_yaml(Path(run_dir) / "config.yaml", "run config")
    data = _merge(data, parse_set(list(sets or [])))
    data = _merge(data, _nest({k: v for k, v in flags.items() if v is not None}))
    return config_from_dict(data)


def _check_tower_size(model: ModelSection) -> None:
    """A pre-trained tower fits only a tiny model of its own size: say so before any data is read (the tiny
    profile's size is ``small``, the build script's towers are ``micro``)."""
    if not model.vision_init or model.path:
        return
    from trainer.vision import tower_size

    size = tower_size(model.vision_init)  # None: loading the tower says what is wrong
    if size and size != model.tiny_size:
        raise ConfigError(
            f"model.vision_init: the tower in {model.vision_init} is {size!r}, the model "
            f"{model.tiny_size!r} (pass --set model.tiny_size={size})"
        )
