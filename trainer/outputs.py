"""What a finished run writes beside its model: ``<run>/panel.yaml`` (the trained model in its role) and the
model card (``README.md``, Hugging Face front matter, no machine paths)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mmedtui.agents.locate import model_folder
from trainer import curriculum
from trainer.config import TrainConfig
from trainer.data.items import get_task
from trainer.run import RunDir
from trainer.stages import is_main_process


def _panel_data(panel) -> dict:
    """A loaded panel back to YAML data, transformers paths made absolute (the new file lives elsewhere)."""
    from dataclasses import asdict

    models = {}
    for key, spec in panel.models.items():
        spec = dict(spec)
        if spec.get("backend") == "transformers" and "path" in spec:
            resolved = model_folder(spec["path"], panel.base_dir)
            if resolved.exists():
                spec["path"] = str(resolved.resolve())
        models[key] = spec

    def agent(a):
        return {k: v for k, v in asdict(a).items() if v is not None}

    return {
        "departments": list(panel.departments),
        "models": models,
        "triage": agent(panel.triage),
        "specialists": {d: [agent(a) for a in agents] for d, agents in panel.specialists.items()},
        "attending": agent(panel.attending),
    }


def write_panel(cfg: TrainConfig, run: RunDir, final: Path) -> Path | None:
    """``<run>/panel.yaml``: the opinions panel (or the default one) with the trained model in its role."""
    import yaml

    from mmedtui.agents.panel import DEFAULT_PANEL, load_panel
    from mmedtui.errors import UserError
    from trainer.io import atomic_write_text

    if not is_main_process():
        return None
    try:
        data = _panel_data(load_panel(cfg.opinions.panel or DEFAULT_PANEL))
    except UserError:
        data = {"models": {}, "specialists": {}}
    rel = Path(final).resolve()
    try:
        rel = rel.relative_to(run.path.resolve())
    except ValueError:
        pass
    data["models"]["trained"] = {"backend": "transformers", "path": str(rel), "device": "auto", "dtype": "auto"}
    tokens = cfg.grpo.max_completion_length
    if cfg.role == "attending":
        data["attending"] = {"name": "Attending physician (trained)", "model": "trained", "max_new_tokens": tokens}
    elif cfg.role == "triage":
        data["triage"] = {"name": "Triage doctor (trained)", "model": "trained", "max_new_tokens": tokens}
    else:
        data["specialists"] = {"default": [{"name": "Specialist (SFT)", "model": "trained", "max_new_tokens": 64}]}
    for role in ("triage", "attending"):
        data.setdefault(role, {"name": role, "model": "trained"})
    if not data.get("specialists"):
        data["specialists"] = {"default": [{"name": "Specialist (trained)", "model": "trained"}]}
    header = (
        f"# Panel written by `mmedtui train {cfg.role}`: the trained model plays the {cfg.role}.\n"
        "# Paths are relative to this file. Research use only. Not for clinical decisions.\n"
    )
    return atomic_write_text(run.path / "panel.yaml", header + yaml.safe_dump(data, sort_keys=False))


def write_model_card(cfg: TrainConfig, run: RunDir, target: Path, items: list, measured: Sequence[str] = ()) -> None:
    from mmedtui import DISCLAIMER
    from mmedtui.fileio import read_jsonl
    from trainer.io import atomic_write_text
    from trainer.model_card import ROLE_TAGS, front_matter, hub_datasets, hub_id, model_ref, portable

    tasks = sorted({it.task for it in items})
    licences = []
    for name in tasks:
        try:
            task = get_task(name)
            licences.append(f"- {name} ({cfg.data.split} split): licence {task.licence}")
        except Exception:  # noqa: BLE001 - a card must not fail a run
            licences.append(f"- {name} ({cfg.data.split} split)")
    metrics = [m for m in read_jsonl(run.metrics_path)]
    last = metrics[-1] if metrics else {}
    method = {
        "specialist": "supervised fine-tuning (TRL SFTTrainer)",
        "triage": "GRPO (TRL), reward = format 0.5 + right department 1.0",
        "attending": curriculum.describe(cfg),
    }[cfg.role]
    logged = ", ".join(
        f"{k} {v:.3f}"
        for k, v in last.items()
        if k in ("reward", "accuracy", "entropy", "loss") and isinstance(v, (int, float))
    )
    start = model_ref(cfg.model.path) if cfg.model.path else None
    text = f"""# mmedtui {cfg.role} model

{DISCLAIMER}

- Role: {cfg.role}; trained by `mmedtui train {cfg.role} --profile {cfg.profile}` ({method}).
- Starting model: {start or f"random-init tiny Qwen2.5-VL ({cfg.model.tiny_size}), trainer/tiny.py"}.
- Training data ({len(items)} questions; test splits never used):
{chr(10).join(licences)}
- Steps: {last.get("step", 0)}; last logged: {logged}.
- Full configuration: `config.yaml` of the run; per-step metrics: `metrics.jsonl`.
{"".join(f"- {line}.{chr(10)}" for line in measured)}
Attribution: VQA-RAD (Lau et al., Sci Data 2018, CC0 1.0); SLAKE (Liu et al., ISBI 2021, CC BY 4.0).
"""
    meta = front_matter(
        f"mmedtui-{cfg.role}", hub_datasets(tasks), base_model=hub_id(cfg.model.path), tags=ROLE_TAGS[cfg.role]
    )
    atomic_write_text(Path(target) / "README.md", meta + portable(text))
