"""Supervised fine-tuning of a vision-language model on medical VQA (TRL ``SFTTrainer``, prompt-completion rows).

The prompt is the specialist prompt of inference (``roles.specialist_prompt``), the target
``<think>{what the image is}</think><answer>{gold answer}</answer>``; the loss covers the completion only.
Used for the embedded specialists and as the SFT baseline.

    mmedtui train specialist --profile tiny --data-root ../shared/data --output runs/specialist-a
    accelerate launch --config_file trainer/recipes/accelerate/ddp.yaml -m mmedtui train specialist --profile paper ...
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


def answer_weighted_loss(tokenizer, weight: float, accumulation: int = 1):
    """A TRL ``compute_loss_func``: the per-token cross-entropy with the answer's tokens (after ``<answer>``, up
    to and including ``</answer>``) weighted ``weight`` times the others, averaged by weight per micro-batch.
    Divided by ``accumulation``: transformers' Trainer leaves that to a custom loss function."""
    import torch

    from mmedtui.errors import ConfigError

    ids = []
    for tag in ("<answer>", "</answer>"):
        if tokenizer.tokenize(tag) != [tag]:
            raise ConfigError(f"sft.answer_weight needs {tag} as one token (the tiny models' tokenizer has it)")
        ids.append(tokenizer.convert_tokens_to_ids(tag))
    open_id, close_id = ids

    def loss(outputs, labels, num_items_in_batch=None):
        logits, target = outputs.logits[:, :-1].float(), labels[:, 1:]
        counted = target != -100
        per_token = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target.clamp(min=0), reduction="none")
        opened = (target == open_id).cumsum(1) - (target == open_id).long()  # tags seen before this token
        closed = (target == close_id).cumsum(1) - (target == close_id).long()
        weights = torch.where(opened > closed, weight, 1.0) * counted
        return (per_token * weights).sum() / weights.sum().clamp(min=1) / accumulation

    return loss


def make_sft_trainer(cfg: TrainConfig, learning_rate: float | None = None):
    """A ``MakeTrainer`` for ``trainer.stages.run_stages`` (``learning_rate``: a warm-up's own rate)."""

    def make(stage: Stage, model_path, output_dir: Path, max_steps: int):
        model = load_model(str(model_path), cfg)
        processor = load_processor(str(model_path))
        weighted = cfg.sft.answer_weight != 1.0
        return _trainer_class()(
            model=model,
            args=sft_args(cfg, output_dir, max_steps, learning_rate),
            train_dataset=stage.dataset,
            processing_class=processor,
            peft_config=lora_config(cfg.model),
            compute_loss_func=answer_weighted_loss(
                processor.tokenizer, cfg.sft.answer_weight, cfg.train.gradient_accumulation_steps
            )
            if weighted
            else None,
        )

    return make
