"""Loading the starting model and processor, building a tiny one when the run has none, LoRA, common Trainer args."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from mmedtui.errors import ConfigError, error_line

if TYPE_CHECKING:
    from trainer.config import TrainConfig
    from trainer.run import RunDir
    from trainer.sections import ModelSection, TrainingSection

_QWEN_TYPES = {"qwen2_5_vl", "qwen2_vl"}


def starting_model(cfg: TrainConfig, run: RunDir, corpus_texts) -> str:
    """``model.path``, or a tiny Qwen2.5-VL built once into ``<run>/base-model`` (tokenizer trained on the corpus)."""
    if cfg.model.path:
        path = Path(cfg.model.path).expanduser()
        if path.is_dir():
            return str(path.resolve())
        from mmedtui.agents.locate import looks_like_hub_id

        if looks_like_hub_id(cfg.model.path):
            return str(cfg.model.path)  # a hub id: transformers resolves it (needs network)
        raise ConfigError(f"model.path: {cfg.model.path}: model folder not found")
    from trainer.stages import is_main_process, main_first

    target = run.base_model_dir
    with main_first():
        if is_main_process() and not (target / "config.json").is_file():
            from trainer.io import atomic_dir
            from trainer.tiny import build_tiny

            with atomic_dir(target) as tmp:
                build_tiny(tmp, size=cfg.model.tiny_size, seed=cfg.train.seed, corpus=list(corpus_texts))
                if cfg.model.vision_init:
                    _init_vision(tmp, cfg.model.vision_init)
    return str(target.resolve())


def _init_vision(model_dir: Path, vision_run: str) -> None:
    """Replace a freshly built tiny model's vision tower with a pre-trained one (``trainer/vision.py``)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from trainer.vision import load_into

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir)
    load_into(model, vision_run)
    model.save_pretrained(model_dir, safe_serialization=True)


def torch_dtype(cfg: TrainConfig):
    import torch

    name = cfg.model.dtype
    if name == "auto":
        name = "bfloat16" if cfg.train.bf16 else "float32"
    try:
        return getattr(torch, name)
    except AttributeError:
        raise ConfigError(f"model.dtype: unknown dtype {cfg.model.dtype!r}") from None


def load_processor(path: str):
    from transformers import AutoConfig, AutoProcessor

    from mmedtui.agents.qwen_processor import ImageOnlyQwen2_5_VLProcessor

    try:
        config = AutoConfig.from_pretrained(path)
        cls = ImageOnlyQwen2_5_VLProcessor if config.model_type in _QWEN_TYPES else AutoProcessor
        return cls.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot load the processor: {error_line(exc, typed=False)}") from exc


def load_model(path: str, cfg: TrainConfig):
    from transformers import AutoModelForImageTextToText

    try:
        model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch_dtype(cfg), use_safetensors=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot load the model: {error_line(exc, typed=False)}") from exc
    if cfg.model.freeze_vision:  # the Trainer's optimizer only takes parameters that require a gradient
        tower = getattr(getattr(model, "model", model), "visual", None)
        if tower is None:
            raise ConfigError(f"{path}: model.freeze_vision: the model has no vision tower (model.visual)")
        tower.requires_grad_(False)
    return model


def lora_config(m: ModelSection):
    if not m.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=m.lora_r,
        lora_alpha=m.lora_alpha,
        lora_dropout=m.lora_dropout,
        target_modules=m.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def report_to(train: TrainingSection) -> list[str]:
    """The configured loggers that are installed (a missing one is dropped with a warning, not an error)."""
    import sys

    kept = []
    for name in train.report_to:
        if name in ("none", ""):
            continue
        modules = {"tensorboard": ("tensorboard", "tensorboardX")}.get(name, (name,))
        if not any(importlib.util.find_spec(m) for m in modules):
            print(f"warning: report_to {name!r} is not installed; skipped", file=sys.stderr)
            continue
        kept.append(name)
    return kept or ["none"]


def common_args(cfg: TrainConfig, output_dir: Path, max_steps: int) -> dict:
    """TrainingArguments shared by the SFT and GRPO configs."""
    t = cfg.train
    return dict(
        output_dir=str(output_dir),
        learning_rate=t.learning_rate,
        per_device_train_batch_size=t.per_device_train_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        num_train_epochs=t.num_train_epochs,
        max_steps=max_steps,
        warmup_steps=t.warmup_ratio,
        lr_scheduler_type=t.lr_scheduler_type,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        logging_steps=t.logging_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        seed=t.seed,
        use_cpu=t.use_cpu,
        bf16=t.bf16,
        activation_checkpointing=t.gradient_checkpointing,
        report_to=report_to(cfg.train),
        disable_tqdm=True,
        dataloader_num_workers=t.dataloader_num_workers,
    )


def world_size() -> int:
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))
