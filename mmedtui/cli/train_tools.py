"""``mmedtui train vision|opinions|question-only|plot``: what the training roles build on and what shows a run.

Registered on ``mmedtui train`` by ``mmedtui.cli.train``; torch and transformers load inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mmedtui.cli.train_options import (
    ConfigFile,
    DataRoot,
    Opinions,
    Output,
    Panel,
    Profile,
    ProfileName,
    Sets,
    quiet,
)


def vision(
    profile: ProfileName = Profile,
    config: Path | None = ConfigFile,
    output: Path | None = Output,
    data_root: Path | None = DataRoot,
    sets: list[str] | None = Sets,
    epochs: int = typer.Option(60, "--epochs", min=1, help="Passes over the training images."),
) -> None:
    """Vision pre-training: a tiny vision tower learns the training images' own annotations (modality, region,
    plane, organs); `--set model.vision_init=OUTPUT` then starts a specialist from it."""
    from rich.console import Console

    from trainer.config import load_config
    from trainer.run import default_output
    from trainer.vision import VisionSettings, pretrain

    cfg = load_config("specialist", profile, config, sets, **{"data.root": str(data_root) if data_root else None})
    _ = cfg.data_root  # the property fails early (exit 2) on a missing data root
    out = Path(output) if output else default_output("vision")
    quiet()
    console = Console(stderr=True)
    info = pretrain(cfg, out, VisionSettings(epochs=epochs), log=console.print)
    console.print(f"[bold green]done[/]: {out} ({info['seconds']} s)")


def opinions_cmd(
    profile: ProfileName = Profile,
    config: Path | None = ConfigFile,
    data_root: Path | None = DataRoot,
    sets: list[str] | None = Sets,
    panel: Path | None = Panel,
    cache: Path | None = Opinions,
    tasks: str | None = typer.Option(None, "--tasks", help="Comma-separated, e.g. vqa-rad,slake."),
    split: str | None = typer.Option(None, "--split", help="train (default) or validation; never test."),
    limit: int | None = typer.Option(None, "--limit", help="Items per task."),
    all_items: bool = typer.Option(False, "--all", help="No per-task limit (the profile's is the default)."),
) -> None:
    """Run the specialist panel over a training set once and cache every opinion; print the curriculum split."""
    from rich.console import Console
    from rich.table import Table

    from trainer.config import load_config

    flags = {
        "data.root": str(data_root) if data_root else None,
        "opinions.panel": str(panel) if panel else None,
        "opinions.cache": str(cache) if cache else None,
        "data.split": split,
        "data.limit": limit,
        "data.tasks": [t.strip() for t in tasks.split(",") if t.strip()] if tasks else None,
    }
    cfg = load_config("attending", profile, config, sets, **flags)
    if all_items:
        cfg.data.limit = None
    _ = cfg.data_root  # the property fails early (exit 2) on a missing data root
    quiet()
    if cfg.train.torch_threads:  # the panel's local models run in this process
        import torch

        torch.set_num_threads(cfg.train.torch_threads)
    from trainer.data.items import load_items
    from trainer.train import attending_groups

    console = Console()
    items = load_items(cfg.data)
    _, _, summary = attending_groups(cfg, items, console)
    table = Table(
        title=f"Curriculum split ({cfg.data.split}; {summary['cases_with_opinions']} cases with opinions; "
        f"cache {summary['cache']})"
    )
    for column in ("task", "easy", "medium", "hard", "total"):
        table.add_column(column, justify="right" if column != "task" else "left")
    for task, counts in sorted(summary["by_task"].items()):
        table.add_row(task, *(str(counts[s]) for s in ("easy", "medium", "hard")), str(sum(counts.values())))
    sizes = summary["sizes"]
    table.add_row("all", *(str(sizes[s]) for s in ("easy", "medium", "hard")), str(sum(sizes.values())), style="bold")
    console.print(table)
    console.print(
        "specialists right on these cases: " + ", ".join(f"{k} {v}%" for k, v in summary["specialist_accuracy"].items())
    )


def question_only(
    output: Path = typer.Option(
        Path("runs/question-only"),
        "--output",
        "-o",
        help="Model folder (the shipped one: assets/models/question-only).",
    ),
    data_root: Path | None = DataRoot,
) -> None:
    """Fit the question-only baseline (the language prior; no image) on the specialists' training split."""
    from trainer.question_only import train_question_only

    summary = train_question_only(data_root, output)
    typer.echo(
        f"question-only: {summary['items']} training items ({summary['items_kept']} with a kept answer), "
        f"{summary['features']} features, {summary['answers']} answers -> {output}"
    )


def nearest_image(
    output: Path = typer.Option(
        Path("runs/nearest-image"),
        "--output",
        "-o",
        help="Model folder (the shipped one: assets/models/nearest-image).",
    ),
    k: int | None = typer.Option(
        None, "--k", min=1, help="Training images that vote on each answer (default 3, chosen on the training holdout)."
    ),
    part: str = typer.Option(
        "all",
        "--part",
        help="all: the whole training split (the bench row); fit: its fit part only, so that its opinions on the "
        "holdout part are honest (a panel member the attending learns from).",
    ),
    data_root: Path | None = DataRoot,
) -> None:
    """Build the nearest-image baseline (the image prior; no language model) from the specialists' training split."""
    from mmedtui.errors import UserError
    from trainer.image_prior import K, train_nearest_image

    if part not in ("all", "fit"):
        raise UserError(f"--part must be all or fit, not {part!r}")
    summary = train_nearest_image(data_root, output, k or K, part=part)
    typer.echo(
        f"nearest-image: {summary['items']} training items, {summary['images']} images, "
        f"{summary['questions']} image-question pairs -> {output}"
    )


def plot(
    run_dir: Path = typer.Argument(..., help="A run folder (holds metrics.jsonl)."),
    width: int | None = typer.Option(None, "--width", help="Plot width in characters."),
    height: int | None = typer.Option(None, "--height", help="Height of each plot in lines."),
    png: Path | None = typer.Option(
        None, "--png", help="Also draw the plot to this PNG file (a run writes RUN/metrics.png itself)."
    ),
) -> None:
    """Plot a run per stage: reward, held-back accuracy, training accuracy, entropy, frac_reward_zero_std."""
    import sys

    from trainer.plot import render

    typer.echo(render(run_dir, width, height, color=sys.stdout.isatty()))
    if png is not None:
        from trainer.plot_png import render_png

        typer.echo(f"plot: {render_png(run_dir, png)}", err=True)
