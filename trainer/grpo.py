"""GRPO with TRL: one ``GRPOTrainer`` per stage, ``entropy_coef = gamma_s`` and ``beta = beta_s``.

With ``beta > 0`` TRL builds the KL reference from ``model.config._name_or_path``, i.e. the stage's starting
checkpoint (the previous stage's final model), because every stage loads its model from a folder.

    # one GPU / CPU
    mmedtui train attending --profile tiny --output runs/attending
    # many GPUs, one node (DDP) / DeepSpeed ZeRO-3 / FSDP; multi-node: set num_machines, machine_rank, main_process_ip
    accelerate launch --config_file trainer/recipes/accelerate/zero3.yaml -m mmedtui train attending --profile paper \\
        --data-root /data/mmedtui --output runs/attending-7b
    # vLLM rollouts (where vLLM is installed): --set grpo.use_vllm=true --set grpo.vllm_mode=colocate
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import TYPE_CHECKING

from mmedtui.errors import ConfigError
from trainer.callbacks import CheckpointCommitMixin
from trainer.models import common_args, load_model, load_processor, lora_config, world_size

if TYPE_CHECKING:
    from trainer.config import TrainConfig
    from trainer.stages import Stage


def micro_batch(cfg: TrainConfig) -> int:
    """Completions per device per GRPO micro-step."""
    return cfg.grpo.micro_batch or cfg.train.per_device_train_batch_size


def gradient_accumulation(cfg: TrainConfig) -> int:
    """From ``grpo.prompts_per_step`` when set (prompts x rollouts = completions per optimizer step)."""
    g, t = cfg.grpo, cfg.train
    if not g.prompts_per_step:
        return t.gradient_accumulation_steps
    completions = g.prompts_per_step * g.num_generations
    return max(1, math.ceil(completions / (micro_batch(cfg) * world_size())))


def grpo_args(cfg: TrainConfig, output_dir: Path, max_steps: int, gamma: float, beta: float):
    from trl import GRPOConfig

    g = cfg.grpo
    if g.use_vllm and importlib.util.find_spec("vllm") is None:
        raise ConfigError("grpo.use_vllm: vLLM is not installed here (pip install vllm on a GPU machine)")
    if (micro_batch(cfg) * gradient_accumulation(cfg) * world_size()) % g.num_generations:
        raise ConfigError(
            "grpo.micro_batch (or per_device_train_batch_size) x gradient_accumulation_steps x "
            f"processes must be a multiple of grpo.num_generations ({g.num_generations})"
        )
    args = common_args(cfg, output_dir, max_steps)
    args["per_device_train_batch_size"] = micro_batch(cfg)
    args["gradient_accumulation_steps"] = gradient_accumulation(cfg)
    vllm = {}
    if g.use_vllm:
        vllm = dict(
            use_vllm=True,
            vllm_mode=g.vllm_mode,
            vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
            vllm_tensor_parallel_size=g.vllm_tensor_parallel_size,
        )
        if g.vllm_server_base_url:
            vllm["vllm_server_base_url"] = g.vllm_server_base_url
    return GRPOConfig(
        **args,
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        top_p=g.top_p,
        loss_type=g.loss_type,
        beta=beta,
        entropy_coef=gamma,
        num_iterations=g.num_iterations,
        epsilon=g.epsilon,
        reward_weights=[g.format_weight, g.accuracy_weight],
        log_completions=False,
        remove_unused_columns=False,
        steps_per_generation=g.steps_per_generation,
        **vllm,
    )


def stage_trainer_class():
    from trl import GRPOTrainer

    class StageGRPOTrainer(CheckpointCommitMixin, GRPOTrainer):
        """TRL's GRPOTrainer whose checkpoints get a commit marker (trainer.callbacks) and whose logged steps
        carry ``groups_filtered``: the groups the stage's dynamic-sampling filter dropped (trainer.dynamic_sampling)."""

        groups_filtered: int | None = None

        def _get_train_sampler(self, dataset=None):
            return EpochSeeded(super()._get_train_sampler(dataset))

        def log(self, logs, start_time=None):
            if self.groups_filtered is not None and "train_runtime" not in logs:
                logs = {**logs, "groups_filtered": float(self.groups_filtered)}
            return super().log(logs, start_time)

    return StageGRPOTrainer


class EpochSeeded:
    """TRL's RepeatSampler with each epoch's order a function of the seed and the epoch alone. Its generator
    otherwise advances once per epoch, and a resumed run, which does not replay the epochs before the one it
    resumes in, drew the first epoch's order again (a GRPO stage over few cases runs many epochs)."""

    def __init__(self, sampler) -> None:
        self.sampler = sampler

    def set_epoch(self, epoch: int) -> None:  # the Trainer calls it before each epoch, resumed ones included
        if getattr(self.sampler, "shuffle", False):
            self.sampler.generator.manual_seed((self.sampler.seed or 0) + epoch)

    def __iter__(self):
        return iter(self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


def prompts_per_generation(args) -> int:
    return max(
        1, args.per_device_train_batch_size * args.gradient_accumulation_steps * world_size() // args.num_generations
    )


def fit_dataset(dataset, args):
    """Repeat a stage's rows when it has fewer prompts than one generation batch needs (a tiny hard stage)."""
    from datasets import concatenate_datasets

    need = prompts_per_generation(args)
    if 0 < len(dataset) < need:
        dataset = concatenate_datasets([dataset] * math.ceil(need / len(dataset)))
    return dataset


def make_grpo_trainer(cfg: TrainConfig, reward_funcs: list):
    """A ``MakeTrainer`` for ``trainer.stages.run_stages``."""

    def make(stage: Stage, model_path, output_dir: Path, max_steps: int):
        gamma = stage.gamma or 0.0
        beta = stage.beta or 0.0
        args = grpo_args(cfg, output_dir, max_steps, gamma, beta)
        model = load_model(str(model_path), cfg)
        processor = load_processor(str(model_path))
        # TRL re-pads prompt ids on the LEFT but gets the processor's extra inputs (Qwen's mm_token_type_ids) with
        # the tokenizer's own padding side: a right-padding tokenizer misaligns them with the ids, so the loss and
        # reference forwards get wrong M-RoPE positions, or a shape error when a batch mixes image sizes.
        getattr(processor, "tokenizer", processor).padding_side = "left"
        trainer = stage_trainer_class()(
            model=model,
            reward_funcs=reward_funcs,
            args=args,
            train_dataset=fit_dataset(stage.dataset, args),
            processing_class=processor,
            peft_config=lora_config(cfg.model),
        )
        if cfg.grpo.dynamic_sampling:
            keep_informative(trainer, stage, output_dir, cfg.train.seed)
        return trainer

    return make


def keep_informative(trainer, stage: Stage, output_dir: Path, seed: int) -> None:
    """Dynamic sampling: the stage trains only on the cases whose G rollouts by its starting model got differing
    rewards (trainer.dynamic_sampling); the filter's figures go to state.json (``stage.info``)."""
    from trainer.dynamic_sampling import filter_stage

    result = filter_stage(trainer, stage.dataset, output_dir, seed)
    trainer.train_dataset = fit_dataset(stage.dataset.select(result.keep), trainer.args)
    trainer.groups_filtered = result.dropped
    stage.info["dynamic_sampling"] = result.summary()
