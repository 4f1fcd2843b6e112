"""The sections of a training config (``model:``, ``data:``, ``train:``, ``grpo:``, ``curriculum:``, ``opinions:``,
``sft:``, ``triage:``), one dataclass each, with their defaults; ``trainer.config`` assembles and loads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmedtui.errors import ConfigError

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
    # Each stage after the first also replays this share (of its own size) of the earlier stages' cases, so
    # a stage of "overrule the panel" cases does not teach contradicting a right consensus (0: the paper's).
    rehearsal: float = 0.0
    # Per stage and task, as many yes / no cases answered "yes" as "no" (curriculum.balance_yes_no); False: the paper's.
    balance_yes_no: bool = False


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
    # This share of every source's examples asks a question that names no kind of image (data/triage.py GENERIC),
    # so the department is learnt from the image, not from the question's wording. 0: each source's own questions.
    generic_share: float = 0.0
