"""The options ``mmedtui train`` commands share, and the quieting of the libraries they load."""

from __future__ import annotations

import os
from typing import Literal

import typer

ProfileName = Literal["tiny", "paper"]  # a choice: --help lists both, anything else is a usage error (exit 2)
Profile = typer.Option("tiny", "--profile", help="tiny (CPU, minutes) or paper (Qwen2.5-VL-7B, GPUs).")
ConfigFile = typer.Option(None, "--config", help="YAML config on top of the profile.")
Output = typer.Option(None, "--output", "-o", help="Run folder (default: runs/<role>-<time>).")
RunProfile = typer.Option(
    None,
    "--profile",
    help="tiny (CPU, minutes; the default) or paper (Qwen2.5-VL-7B, GPUs). With --resume: the run's own unless given.",
)
MaxSteps = typer.Option(
    None,
    "--max-steps",
    help="Optimizer steps of the training stage(s), at least 1 (attending: "
    "split over the curriculum stages); an SFT warm-up (sft.warmup_steps) runs first and comes "
    "on top. Default: the profile's epochs.",
)
Resume = typer.Option(
    False,
    "--resume",
    help="Continue the run in --output from its last checkpoint (weights, "
    "optimizer, scheduler, step count). A changed config is refused unless --force-config.",
)
ForceConfig = typer.Option(
    False,
    "--force-config",
    help="With --resume: continue with a changed --config, "
    "--profile, --set or flag (the change is recorded in state.json).",
)
DataRoot = typer.Option(None, "--data-root", help="Benchmarks folder (else $MMEDTUI_DATA, else a per-user default).")
Sets = typer.Option(None, "--set", help="Override a config key: --set grpo.temperature=0.7 (repeatable).")
SftSets = typer.Option(None, "--set", help="Override a config key: --set train.learning_rate=3e-4 (repeatable).")
Model = typer.Option(None, "--model", help="Starting model folder or hub id (default: the profile's).")
Lora = typer.Option(None, "--lora/--no-lora", help="Train LoRA adapters (merged into the final model).")
Panel = typer.Option(None, "--panel", help="Panel YAML whose specialists give the opinions (default panel).")
Opinions = typer.Option(None, "--opinions", help="Opinion cache JSONL (default: ~/.cache/mmedtui/opinions.jsonl).")


def quiet() -> None:
    """Library warnings and progress bars off: the run prints its own progress."""
    import warnings

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*generation flags are not valid.*")
    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
