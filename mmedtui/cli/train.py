"""``mmedtui train triage|specialist|attending|opinions|plot``: the trainer (code in ``trainer/``).

torch, transformers and TRL are imported inside the commands, so ``mmedtui --help`` stays fast.

    mmedtui train attending --profile tiny --max-steps 6 --data-root ../shared/data --output runs/att
    mmedtui train attending --resume --output runs/att          # continue an interrupted run
    accelerate launch --config_file trainer/accelerate/zero3.yaml -m mmedtui train attending --profile paper ...
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

app = typer.Typer(help="Train the agents: SFT specialists, GRPO triage, curriculum-RL (C-MARL) attending.",
                  no_args_is_help=True)

Profile = typer.Option("tiny", "--profile", help="tiny (CPU, minutes) or paper (Qwen2.5-VL-7B, GPUs).")
ConfigFile = typer.Option(None, "--config", help="YAML config on top of the profile.")
Output = typer.Option(None, "--output", "-o", help="Run folder (default: runs/<role>-<time>).")
MaxSteps = typer.Option(None, "--max-steps", help="Total optimizer steps (attending: split over the stages).")
Resume = typer.Option(False, "--resume", help="Continue the run in --output from its last checkpoint.")
DataRoot = typer.Option(None, "--data-root", help="Benchmarks folder (else $MMEDTUI_DATA).")
Sets = typer.Option(None, "--set", help="Override a config key: --set grpo.temperature=0.7 (repeatable).")
Model = typer.Option(None, "--model", help="Starting model folder or hub id (default: the profile's).")
Lora = typer.Option(None, "--lora/--no-lora", help="Train LoRA adapters (merged into the final model).")
Panel = typer.Option(None, "--panel", help="Panel YAML whose specialists give the opinions (default panel).")
Opinions = typer.Option(None, "--opinions", help="Opinion cache JSONL (default: ~/.cache/mmedtui/opinions.jsonl).")


def _quiet() -> None:
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


def _run(role: str, profile: str, config: Path | None, output: Path | None, max_steps: int | None, resume: bool,
         data_root: Path | None, sets: list[str] | None, **flags) -> None:
    from rich.console import Console
    from rich.syntax import Syntax

    from mmedtui.errors import UserError
    from trainer.config import load_config, load_run_config
    from trainer.run import default_output

    flags = {"train.max_steps": max_steps, "data.root": str(data_root) if data_root else None, **flags}
    if resume:
        if output is None:
            raise UserError("--resume needs --output RUN_DIR (the run to continue)")
        if not (Path(output) / "config.yaml").is_file():
            raise UserError(f"{output}: nothing to resume (no config.yaml); start a run without --resume")
        cfg = load_run_config(output, sets, **flags)
        if cfg.role != role:
            raise UserError(f"{output}: that run trains the {cfg.role}, not the {role}")
    else:
        cfg = load_config(role, profile, config, sets, **flags)
    run_dir = Path(output) if output else default_output(role)
    cfg.output = str(run_dir)
    cfg.data_root  # fail early (exit 2) on a missing data root, before any model is loaded
    console = Console(quiet=int(os.environ.get("RANK", "0")) != 0)  # accelerate launch: rank 0 speaks
    console.rule(f"mmedtui train {role} - profile {cfg.profile} - {run_dir}" + (" (resume)" if resume else ""))
    console.print(Syntax(cfg.to_yaml(), "yaml", theme="ansi_dark", background_color="default"))
    _quiet()
    from trainer.stages import Interrupted
    from trainer.train import train

    try:
        result = train(cfg, run_dir, resume=resume, console=console)
    except Interrupted as exc:
        console.print(f"[yellow]{exc}[/]")
        raise typer.Exit(130) from None
    console.print(f"[bold green]done[/]: final model {result.final}")
    if result.panel:
        console.print(f"panel: {result.panel}  (mmedtui consult IMAGE --agents {result.panel})")


@app.command()
def specialist(profile: str = Profile, config: Path | None = ConfigFile, output: Path | None = Output,
               max_steps: int | None = MaxSteps, resume: bool = Resume, data_root: Path | None = DataRoot,
               sets: list[str] | None = Sets, model: str | None = Model, lora: bool | None = Lora) -> None:
    """Supervised fine-tuning on medical VQA (the embedded specialists; the SFT baseline)."""
    _run("specialist", profile, config, output, max_steps, resume, data_root, sets,
         **{"model.path": model, "model.lora": lora})


@app.command()
def triage(profile: str = Profile, config: Path | None = ConfigFile, output: Path | None = Output,
           max_steps: int | None = MaxSteps, resume: bool = Resume, data_root: Path | None = DataRoot,
           sets: list[str] | None = Sets, model: str | None = Model, lora: bool | None = Lora) -> None:
    """GRPO for the triage doctor: reward = format (0.5) + right department (1.0)."""
    _run("triage", profile, config, output, max_steps, resume, data_root, sets,
         **{"model.path": model, "model.lora": lora})


@app.command()
def attending(profile: str = Profile, config: Path | None = ConfigFile, output: Path | None = Output,
              max_steps: int | None = MaxSteps, resume: bool = Resume, data_root: Path | None = DataRoot,
              sets: list[str] | None = Sets, model: str | None = Model, lora: bool | None = Lora,
              stage: list[str] | None = typer.Option(None, "--stage", help="Run only these stages, in order "
                                                       "(easy, medium, hard; repeatable or comma-separated)."),
              curriculum: bool | None = typer.Option(None, "--curriculum/--no-curriculum",
                                                     help="Ablation: one stage over all cases."),
              entropy: bool | None = typer.Option(None, "--entropy/--no-entropy",
                                                  help="Ablation: no entropy bonus (gamma = 0)."),
              panel: Path | None = Panel, opinions: Path | None = Opinions,
              collect: bool | None = typer.Option(None, "--collect/--no-collect",
                                                  help="Collect missing opinions first (default: yes).")) -> None:
    """C-MARL: curriculum GRPO for the attending physician, easy -> medium -> hard."""
    stages = [s.strip() for part in (stage or []) for s in part.split(",") if s.strip()] or None
    _run("attending", profile, config, output, max_steps, resume, data_root, sets,
         **{"model.path": model, "model.lora": lora, "curriculum.stages": stages, "curriculum.enabled": curriculum,
            "curriculum.entropy": entropy, "opinions.panel": str(panel) if panel else None,
            "opinions.cache": str(opinions) if opinions else None, "opinions.collect": collect})


@app.command("opinions")
def opinions_cmd(profile: str = Profile, config: Path | None = ConfigFile, data_root: Path | None = DataRoot,
                 sets: list[str] | None = Sets, panel: Path | None = Panel, cache: Path | None = Opinions,
                 tasks: str | None = typer.Option(None, "--tasks", help="Comma-separated, e.g. vqa-rad,slake."),
                 split: str | None = typer.Option(None, "--split", help="train (default) or validation; "
                                                  "never test."),
                 limit: int | None = typer.Option(None, "--limit", help="Items per task."),
                 all_items: bool = typer.Option(False, "--all", help="No per-task limit (the profile's is the "
                                                                      "default).")) -> None:
    """Run the specialist panel over a training set once and cache every opinion; print the curriculum split."""
    from rich.console import Console
    from rich.table import Table

    from trainer.config import load_config

    flags = {"data.root": str(data_root) if data_root else None, "opinions.panel": str(panel) if panel else None,
             "opinions.cache": str(cache) if cache else None, "data.split": split, "data.limit": limit,
             "data.tasks": [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None}
    cfg = load_config("attending", profile, config, sets, **flags)
    if all_items:
        cfg.data.limit = None
    cfg.data_root
    _quiet()
    if cfg.train.torch_threads:  # the panel's local models run in this process
        import torch

        torch.set_num_threads(cfg.train.torch_threads)
    from trainer import datasets
    from trainer.train import attending_groups

    console = Console()
    items = datasets.load_items(cfg)
    _, _, summary = attending_groups(cfg, items, console)
    table = Table(title=f"Curriculum split ({cfg.data.split}; {summary['cases_with_opinions']} cases with opinions; "
                        f"cache {summary['cache']})")
    for column in ("task", "easy", "medium", "hard", "total"):
        table.add_column(column, justify="right" if column != "task" else "left")
    for task, counts in sorted(summary["by_task"].items()):
        table.add_row(task, *(str(counts[s]) for s in ("easy", "medium", "hard")), str(sum(counts.values())))
    sizes = summary["sizes"]
    table.add_row("all", *(str(sizes[s]) for s in ("easy", "medium", "hard")), str(sum(sizes.values())),
                  style="bold")
    console.print(table)
    console.print("specialists right on these cases: "
                  + ", ".join(f"{k} {v}%" for k, v in summary["specialist_accuracy"].items()))


@app.command()
def plot(run_dir: Path = typer.Argument(..., help="A run folder (holds metrics.jsonl)."),
         width: int | None = typer.Option(None, "--width", help="Plot width in characters."),
         height: int | None = typer.Option(None, "--height", help="Height of each plot in lines.")) -> None:
    """Plot a run's reward, accuracy and entropy per stage in the terminal."""
    import sys

    from trainer.plot import render

    typer.echo(render(run_dir, width, height, color=sys.stdout.isatty()))
