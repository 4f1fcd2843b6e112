"""Supervised fine-tuning of a vision-language model on medical VQA (TRL ``SFTTrainer``, prompt-completion rows).

The prompt is the specialist prompt of inference (``roles.specialist_prompt``), the target
``<think>{what the image is}</think><answer>{gold answer}</answer>``; the loss covers the completion only.
Used for the embedded specialists and as the SFT baseline.

    mmedtui train specialist --profile tiny --data-root ../shared/data --output runs/specialist-a
    accelerate launch --config_file trainer/accelerate/ddp.yaml -m mmedtui train specialist --profile paper ...
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from trainer.callbacks import CheckpointCommitMixin
from trainer.models import common_args, load_model, load_processor, lora_config

if TYPE_CHECKING:
    from trainer.config import TrainConfig
    from trainer.stages import Stage


def sft_args(cfg: TrainConfig, output_dir: Path, max_steps: int, learning_rate: float | None = None):
    from trl import SFTConfig

    args = common_args(cfg, output_dir, max_steps)
    if learning_rate is not None:
        args["learning_rate"] = learning_rate
    return SFTConfig(**args, max_length=cfg.sft.max_length)


def _trainer_class():
    from trl import SFTTrainer

    class StageSFTTrainer(CheckpointCommitMixin, SFTTrainer):
        """TRL's SFTTrainer whose checkpoints get a commit marker (trainer.callbacks)."""

    return StageSFTTrainer


def make_sft_trainer(cfg: TrainConfig, learning_rate: float | None = None):
    """A ``MakeTrainer`` for ``trainer.stages.run_stages`` (``learning_rate``: a warm-up's own rate)."""

    def make(stage: Stage, model_path, output_dir: Path, max_steps: int):
        model = load_model(str(model_path), cfg)
        processor = load_processor(str(model_path))
        return _trainer_class()(model=model, args=sft_args(cfg, output_dir, max_steps, learning_rate),
                                train_dataset=stage.dataset, processing_class=processor,
                                peft_config=lora_config(cfg))

    return make
