"""``mmedtui train triage|specialist|attending|vision|opinions|question-only|nearest-image|plot``: the trainer
(code in ``trainer/``).

torch, transformers and TRL are imported inside the commands, so ``mmedtui --help`` stays fast.

    mmedtui train attending --profile tiny --max-steps 6 --data-root ../shared/data --output runs/att
    mmedtui train attending --resume --output runs/att          # continue an interrupted run
    accelerate launch --config_file trainer/recipes/accelerate/zero3.yaml -m mmedtui train attending --profile paper ...
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from mmedtui.cli import train_tools
from mmedtui.cli.train_options import (
    ConfigFile,
    DataRoot,
    ForceConfig,
    Lora,
    MaxSteps,
    Model,
    Opinions,
    Output,
    Panel,
    ProfileName,
    Resume,
    RunProfile,
    Sets,
    SftSets,
    quiet,
)

app = typer.Typer(
    help="Train the agents: SFT specialists, GRPO triage, curriculum-RL (C-MARL) attending.", no_args_is_help=True
)


def _resume_config(
    role: str,
    output: Path | None,
    profile: str | None,
    config: Path | None,
    sets: list[str] | None,
    flags: dict,
    force: bool,
):
    """The config of a resumed run: the saved one, unless this invocation changes it (exit 2 naming the
    change, or with ``--force-config`` the change is recorded). A finished run: nothing to do (exit 0)."""
    from mmedtui.errors import UserError
    from trainer.config import load_config, load_run_config
    from trainer.run import RunDir, config_changes

    if output is None:
        raise UserError("--resume needs --output RUN_DIR (the run to continue)")
    run = RunDir(output)
    if not run.config_path.is_file():
        raise UserError(f"{output}: nothing to resume (no config.yaml); start a run without --resume")
    saved = load_run_config(output)
    if saved.role != role:
        raise UserError(f"{output}: that run trains the {saved.role}, not the {role}")
    if run.finished():
        typer.echo(
            f"nothing to do: {output} has finished (final model in {run.final_dir}); "
            "start a new run with another --output",
            err=True,
        )
        raise typer.Exit(0)
    if profile is not None or config is not None:  # the original command line again, or another profile
        cfg = load_config(role, profile or saved.profile, config, sets, **flags)
    else:
        cfg = load_run_config(output, sets, **flags)
    changes = config_changes(saved.to_dict(), cfg.to_dict())
    changes.sort(key=lambda c: "." in c.split(":")[0])  # a changed profile first: it explains the rest
    if changes and not force:
        shown = "; ".join(changes[:4]) + (f"; and {len(changes) - 4} more" if len(changes) > 4 else "")
        raise UserError(f"{output}: --resume with a changed config ({shown}); pass --force-config to continue with it")
    if changes:
        run.record_config_changes(changes)
    return cfg


def _terminated(signum, frame) -> None:
    """SIGTERM before training starts (loading data, building the model): stop like Ctrl-C, exit 143."""
    raise typer.Exit(143)


def _run(
    role: str,
    profile: str | None,
    config: Path | None,
    output: Path | None,
    max_steps: int | None,
    resume: bool,
    data_root: Path | None,
    sets: list[str] | None,
    force_config: bool = False,
    **flags,
) -> None:
    import signal

    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        _train(role, profile, config, output, max_steps, resume, data_root, sets, force_config, **flags)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _train(role, profile, config, output, max_steps, resume, data_root, sets, force_config, **flags) -> None:
    from rich.console import Console

    from mmedtui.errors import UserError
    from trainer.config import load_config
    from trainer.run import default_output

    if max_steps is not None and max_steps < 1:
        raise UserError(f"--max-steps: must be at least 1 (got {max_steps})")
    if force_config and not resume:
        raise UserError("--force-config only applies with --resume")
    flags = {"train.max_steps": max_steps, "data.root": str(data_root) if data_root else None, **flags}
    if resume:
        cfg = _resume_config(role, output, profile, config, sets, flags, force_config)
    else:
        cfg = load_config(role, profile or "tiny", config, sets, **flags)
    from mmedtui.fileio import check_output_dir

    run_dir = check_output_dir(Path(output) if output else default_output(role))
    cfg.output = str(run_dir)
    _ = cfg.data_root  # the property fails early (exit 2) on a missing data root, before any model is loaded
    console = Console(quiet=int(os.environ.get("RANK", "0")) != 0)  # accelerate launch: rank 0 speaks
    console.rule(f"mmedtui train {role} - profile {cfg.profile} - {run_dir}" + (" (resume)" if resume else ""))
    console.print(config_summary(cfg, run_dir), highlight=False)  # the full config: <run>/config.yaml
    quiet()
    import signal

    from trainer.callbacks import Interrupt
    from trainer.stages import Interrupted
    from trainer.train import train

    try:
        result = train(cfg, run_dir, resume=resume, console=console)
    except Interrupted as exc:
        console.print(f"[yellow]{exc}[/]")
        raise typer.Exit(143 if Interrupt.last_signal == signal.SIGTERM else 130) from None
    console.print(f"[bold green]done[/]: final model {result.final}")
    if result.panel:
        console.print(f"panel: {result.panel}  (mmedtui consult IMAGE --agents {result.panel})")


def config_summary(cfg, run_dir: Path) -> str:
    """A few lines on what will train: model, data, steps, learning rate (the full config goes to config.yaml)."""
    d = cfg.to_dict()
    model, data, train = d.get("model", {}), d.get("data", {}), d.get("train", {})
    steps = train.get("max_steps")
    lines = [
        f"model   {model.get('path') or 'tiny ' + str(model.get('tiny_size'))}"
        + (" + LoRA" if model.get("lora") else ""),
        f"data    {', '.join(data.get('tasks') or [])} / {data.get('split')}"
        f" under {data.get('root') or '$MMEDTUI_DATA'}" + (f", limit {data['limit']}" if data.get("limit") else ""),
        f"steps   {steps if steps and steps > 0 else str(train.get('num_train_epochs')) + ' epoch(s)'}, "
        f"lr {train.get('learning_rate')}, batch {train.get('per_device_train_batch_size')}"
        f" x {train.get('gradient_accumulation_steps')}, seed {train.get('seed')}",
        f"config  {run_dir / 'config.yaml'} (every setting)",
    ]
    return "\n".join(lines)


@app.command()
def specialist(
    profile: ProfileName | None = RunProfile,
    config: Path | None = ConfigFile,
    output: Path | None = Output,
    max_steps: int | None = MaxSteps,
    resume: bool = Resume,
    data_root: Path | None = DataRoot,
    sets: list[str] | None = SftSets,
    model: str | None = Model,
    lora: bool | None = Lora,
    force_config: bool = ForceConfig,
) -> None:
    """Supervised fine-tuning on medical VQA (the embedded specialists; the SFT baseline)."""
    _run(
        "specialist",
        profile,
        config,
        output,
        max_steps,
        resume,
        data_root,
        sets,
        force_config,
        **{"model.path": model, "model.lora": lora},
    )


@app.command()
def triage(
    profile: ProfileName | None = RunProfile,
    config: Path | None = ConfigFile,
    output: Path | None = Output,
    max_steps: int | None = MaxSteps,
    resume: bool = Resume,
    data_root: Path | None = DataRoot,
    sets: list[str] | None = Sets,
    model: str | None = Model,
    lora: bool | None = Lora,
    force_config: bool = ForceConfig,
) -> None:
    """GRPO for the triage doctor: reward = format (0.5) + right department (1.0)."""
    _run(
        "triage",
        profile,
        config,
        output,
        max_steps,
        resume,
        data_root,
        sets,
        force_config,
        **{"model.path": model, "model.lora": lora},
    )


@app.command()
def attending(
    profile: ProfileName | None = RunProfile,
    config: Path | None = ConfigFile,
    output: Path | None = Output,
    max_steps: int | None = MaxSteps,
    resume: bool = Resume,
    data_root: Path | None = DataRoot,
    sets: list[str] | None = Sets,
    model: str | None = Model,
    lora: bool | None = Lora,
    force_config: bool = ForceConfig,
    stage: list[str] | None = typer.Option(
        None, "--stage", help="Run only these stages, in order (easy, medium, hard; repeatable or comma-separated)."
    ),
    curriculum: bool | None = typer.Option(
        None, "--curriculum/--no-curriculum", help="Ablation: one stage over all cases."
    ),
    entropy: bool | None = typer.Option(
        None, "--entropy/--no-entropy", help="Ablation: no entropy bonus (gamma = 0 in every stage)."
    ),
    fixed_entropy: bool | None = typer.Option(
        None, "--fixed-entropy", help="Ablation: one gamma (curriculum.flat_gamma) for every stage."
    ),
    reverse_curriculum: bool | None = typer.Option(
        None, "--reverse-curriculum", help="Ablation: hard -> medium -> easy."
    ),
    panel: Path | None = Panel,
    opinions: Path | None = Opinions,
    collect: bool | None = typer.Option(
        None, "--collect/--no-collect", help="Collect missing opinions first (default: yes)."
    ),
) -> None:
    """C-MARL: curriculum GRPO for the attending physician, easy -> medium -> hard."""
    stages = [s.strip() for part in (stage or []) for s in part.split(",") if s.strip()] or None
    _run(
        "attending",
        profile,
        config,
        output,
        max_steps,
        resume,
        data_root,
        sets,
        force_config,
        **{
            "model.path": model,
            "model.lora": lora,
            "curriculum.stages": stages,
            "curriculum.enabled": curriculum,
            "curriculum.entropy": entropy,
            "curriculum.fixed_entropy": fixed_entropy,
            "curriculum.reverse": reverse_curriculum,
            "opinions.panel": str(panel) if panel else None,
            "opinions.cache": str(opinions) if opinions else None,
            "opinions.collect": collect,
        },
    )


# What the roles build on, and what shows a run: after the roles, so `--help` lists them in this order.
app.command()(train_tools.vision)
app.command("opinions")(train_tools.opinions_cmd)
app.command("question-only")(train_tools.question_only)
app.command("nearest-image")(train_tools.nearest_image)
app.command()(train_tools.plot)
