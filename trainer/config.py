"""Training configuration: one dataclass tree, filled from a profile, a YAML file and command-line overrides.

Precedence (later wins): dataclass defaults < ``trainer/recipes/profiles/<profile>.yaml`` (its top level, then its
``roles.<role>`` section) < ``--config FILE`` (same shape, ``roles:`` allowed) < ``--set key.sub=value`` <
the dedicated flags (``--output``, ``--max-steps``, ``--data-root`` ...). The resolved config is printed and
saved as ``<run>/config.yaml``; ``--resume`` reads it back.

    mmedtui train attending --profile paper --config my.yaml --set grpo.temperature=0.9 --output runs/att
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from mmedtui.errors import ConfigError

PROFILES_DIR = Path(__file__).resolve().parent / "recipes" / "profiles"
ROLES = ("triage", "specialist", "attending")
STAGES = ("easy", "medium", "hard")


@dataclass
class ModelSection:
    path: str | None = None  # starting model folder (or hub id); None: build a tiny Qwen2.5-VL (trainer/tiny.py)
    tiny_size: str = "micro"  # micro | micro-vision | small | base, when path is None
    # A `mmedtui train vision` output: its pre-trained vision tower replaces the tiny model's random one.
    vision_init: str | None = None
    # Train the language model only: the tower keeps what vision pre-training taught it (on a few hundred
    # images, SFT through the language model otherwise rewrites it to memorise the training images).
    freeze_vision: bool = False
    dtype: str = "auto"  # auto: bfloat16 with bf16 training, else float32
    lora: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: Any = "all-linear"


@dataclass
class DataSection:
    root: str | None = None  # --data-root, else $MMEDTUI_DATA
    tasks: list[str] = field(default_factory=lambda: ["vqa-rad", "slake"])
    split: str = "train"  # never "test": refused
    limit: int | None = None  # items per task (None: all)
    lang: str = "en"  # SLAKE language filter
    image_max_side: int | None = 448  # images are downscaled once when the dataset is built (None: keep)
    seed: int = 0
    # A fixed share of each task's training IMAGES (all their questions) set aside: the specialists train on
    # "fit", their opinions on "holdout" are then honest (they never saw those cases), and it is the
    # validation set for VQA-RAD, which has no official one.
    holdout: float = 0.0
    part: str = "all"  # "all" | "fit" | "holdout"
    closed_as_mc: bool = True  # closed questions carry the options the bench's `mc` metric asks them with
    # SFT (specialists, the attending's warm-up): each closed question appears this many times per epoch. Its one
    # answer token is a sliver of the loss beside the reasoning and the open answers; a tiny model needs it more often.
    closed_repeat: int = 1
    # SFT (specialists): add closed questions generated from the training images' own annotations (organ
    # presence, modality, region, plane, abnormality; trainer/data/image_labels.py), which only the image answers.
    generated: bool = False
    augment: bool = False  # each generated question sees its own augmented copy of the image
    # SFT (specialists): this many augmented copies of each image source outside VQA-RAD / SLAKE (blood smears,
    # breast ultrasound, fundus, histology; trainer/data/other_images.py), each with a closed question only the image
    # answers, so an image unlike the training scans is described as what it is instead of looping. 0: off.
    other_images: int = 0
    # The attending: this share of its cases' images (a second, independent hash) is held back from training and
    # answered after every stage (trainer/validation.py), beside majority vote and each specialist on the same
    # cases. 0: off.
    val_share: float = 0.0

    @property
    def root_dir(self) -> Path:
        """``data.root`` (--data-root), else $MMEDTUI_DATA, else the per-user default: the bench's and ``mmedtui
        data``'s rule (``tasks.catalog.resolve_data_root``); it must exist."""
        from mmedtui.tasks.catalog import resolve_data_root

        path = resolve_data_root(self.root)
        if not path.is_dir():
            raise ConfigError(f"{path}: data root not found (pass --data-root DIR or set MMEDTUI_DATA)")
        return path


@dataclass
class TrainingSection:
    """The ``train:`` section, shared by SFT and GRPO. ``models.common_args`` hands the fields to
    ``TrainingArguments`` under their own names, except ``warmup_ratio`` (its ``warmup_steps``: below 1, a
    ratio) and ``gradient_checkpointing`` (its ``activation_checkpointing``); ``report_to`` keeps the installed
    loggers only; ``keep_checkpoints`` and ``torch_threads`` are the project's own."""

    learning_rate: float = 1e-4
    per_device_train_batch_size: int = 4  # GRPO: completions per device per micro-step
    gradient_accumulation_steps: int = 1
    num_train_epochs: float = 1.0  # per curriculum stage for the attending
    max_steps: int = -1  # total optimizer steps (attending: split over the stages); -1: epochs decide
    warmup_ratio: float = 0.0
    lr_scheduler_type: str = "constant"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    logging_steps: int = 1
    save_steps: int = 50
    save_total_limit: int | None = 2
    keep_checkpoints: bool = True  # False: a finished stage's checkpoints are deleted (its final model stays)
    seed: int = 0
    use_cpu: bool = False
    bf16: bool = False
    gradient_checkpointing: bool = False
    report_to: list[str] = field(default_factory=list)  # tensorboard / wandb, kept only when installed
    dataloader_num_workers: int = 0
    torch_threads: int | None = None  # CPU threads for torch (None: torch's default)


@dataclass
class GRPOSection:
    num_generations: int = 4
    max_completion_length: int = 48
    temperature: float = 1.0
    top_p: float = 1.0
    loss_type: str = "grpo"
    beta: float = 0.0  # KL coefficient outside the curriculum (triage)
    entropy_coef: float = 0.0  # entropy bonus outside the curriculum (triage)
    num_iterations: int = 1
    epsilon: float = 0.2
    prompts_per_step: int | None = None  # set: gradient accumulation is derived from the world size
    # Completions per device per GRPO micro-step (None: train.per_device_train_batch_size, shared with SFT), so a
    # GRPO stage can batch its rollouts wider than the SFT warm-up before it.
    micro_batch: int | None = None
    # Micro-steps per generate call (TRL; default: all of an optimizer step's). Smaller bounds the rollouts'
    # KV cache: 1,024 completions of 512 tokens in one call need ~100 GB on a 7B.
    steps_per_generation: int | None = None
    use_vllm: bool = False
    vllm_mode: str = "colocate"  # colocate | server
    vllm_server_base_url: str | None = None
    vllm_gpu_memory_utilization: float = 0.3
    vllm_tensor_parallel_size: int = 1
    format_weight: float = 1.0  # the format reward is 0.5 when well formed (paper); this scales it
    accuracy_weight: float = 1.0
    # DAPO's dynamic sampling, before each stage: the stage's starting model answers every case
    # num_generations times and the stage trains only on cases whose rewards differ (trainer/dynamic_sampling.py).
    dynamic_sampling: bool = False


@dataclass(frozen=True)
class StageSpec:
    """One curriculum stage as it runs: its name, entropy bonus gamma and KL weight beta."""

    name: str
    gamma: float
    beta: float


@dataclass
class CurriculumSection:
    enabled: bool = True  # False: one stage "all" over every case (ablation)
    stages: list[str] = field(default_factory=lambda: list(STAGES))  # which stages to run, in this order
    entropy: bool = True  # False: gamma = 0 in every stage (ablation)
    fixed_entropy: bool = False  # True: one gamma (flat_gamma) in every stage (ablation)
    reverse: bool = False  # True: the stages run hard -> medium -> easy, each with its own gamma / beta (ablation)
    gamma: dict[str, float] = field(default_factory=lambda: {"easy": 1e-4, "medium": 5e-3, "hard": 3e-2})
    beta: dict[str, float] = field(default_factory=lambda: {"easy": 1e-3, "medium": 4e-3, "hard": 1e-2})
    flat_gamma: float = 5e-3  # the single stage without curriculum
    flat_beta: float = 4e-3
    min_specialists: int = 1  # cases with fewer usable opinions are left out of the curriculum


@dataclass
class OpinionsSection:
    panel: str | None = None  # panel YAML whose triage + specialists give the opinions; None: the default panel
    cache: str | None = None  # JSONL cache; None: $MMEDTUI_CACHE_DIR or ~/.cache/mmedtui, opinions.jsonl
    collect: bool = True  # collect the missing opinions before training the attending
    batch_size: int = 16  # cases per pipeline call (one cache flush each)


@dataclass
class SFTSection:
    max_length: int | None = None
    # Triage / attending: supervised warm-up steps on the role's own prompts and gold labels before GRPO (a
    # "cold start": teaches a random-init tiny model the output format and label space). 0: pure GRPO (paper).
    warmup_steps: int = 0
    warmup_learning_rate: float = 1e-3
    # Weight of the answer's tokens (between <answer> and </answer>) against the reasoning's in the SFT loss.
    # The answer is ~1 token in 16 of a tiny model's target; 1.0: the plain per-token mean.
    answer_weight: float = 1.0
    # Attending warm-up: this share of its cases is also shown once with no opinions, so the attending can
    # answer alone (the bench's `no-specialists` ablation asks it to). 0: every row carries the opinions.
    solo_share: float = 0.0


@dataclass
class TriageSection:
    extra_sources: bool = True  # BCCD, BreastMNIST, scikit-image and pydicom images beside VQA-RAD / SLAKE
    per_source: int = 200  # examples drawn from each extra source (augmented copies of its images)
    max_radiology: int | None = 400  # VQA-RAD / SLAKE examples kept (None: all), so one class does not swamp


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
        for stage in (reversed(cur.stages) if cur.reverse else cur.stages):
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
        raise ConfigError(f"{path}: not a readable YAML {what} ({str(exc).splitlines()[0]})") from None
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
        raise ConfigError(f"unknown config key {(where + '.' if where else '') + unknown[0]!s} "
                          f"(known: {', '.join(sorted(known))})")
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


def load_config(role: str, profile: str = "tiny", config_file: str | Path | None = None,
                sets: list[str] | None = None, **flags: Any) -> TrainConfig:
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
        raise ConfigError(f"data.val_share: {cfg.data.val_share} is not a share between 0 and 1 "
                          "(1 leaves nothing to train)")
    if cfg.data.closed_repeat < 1:
        raise ConfigError(f"data.closed_repeat: {cfg.data.closed_repeat} is not a positive count")
    if cfg.model.tiny_size not in ("micro", "small", "base"):
        raise ConfigError(f"model.tiny_size: {cfg.model.tiny_size!r} is not micro, small or base")
    _check_tower_size(cfg.model)
    g = cfg.grpo
    if g.num_generations < 2:
        raise ConfigError("grpo.num_generations: GRPO needs at least 2 rollouts per prompt")
    if g.vllm_mode not in ("colocate", "server"):
        raise ConfigError(f"grpo.vllm_mode: {g.vllm_mode!r} is not colocate or server")
    if cfg.train.learning_rate <= 0:
        raise ConfigError("train.learning_rate must be positive")
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
    info = Path(model.vision_init).expanduser() / "vision.json"
    try:
        size = json.loads(info.read_text()).get("tiny_size")
    except (OSError, ValueError, AttributeError):
        return  # no tower yet, or no record of its size: loading it says what is wrong
    if size and size != model.tiny_size:
        raise ConfigError(f"model.vision_init: the tower in {info.parent} is {size!r}, the model "
                          f"{model.tiny_size!r} (pass --set model.tiny_size={size})")
