"""``mmedtui bench``: systems x benchmarks -> a Rich table shaped like the paper's Table 1, and result files.

For example:

    mmedtui bench --task vqa-rad --split test --limit 20 --output runs/b1
    mmedtui bench --all --system mmedagent-rl --system majority-vote --metrics mc,closed,open
    mmedtui bench --task vqa-rad --blank-images     # every row again on grey scans: the image gain
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from mmedtui.errors import UserError


def _data_root(cli_value: Path | None) -> Path:
    from mmedtui.tasks.catalog import resolve_data_root

    root = Path(resolve_data_root(cli_value))
    # A root the user named must exist; a missing per-user default just means every benchmark is missing,
    # which the table's footer explains (with how to get each one).
    named = "--data-root" if cli_value else "MMEDTUI_DATA" if os.environ.get("MMEDTUI_DATA") else None
    if named and not root.is_dir():
        raise UserError(f"{named} {root}: not a folder (see `mmedtui data list`)")
    return root


def _metrics(value: str) -> tuple[str, ...]:
    from mmedtui.bench.score import METRICS

    names = [m.strip().lower().replace("-", "_") for m in value.split(",") if m.strip()]
    names = list(METRICS) if names == ["all"] else names
    bad = [m for m in names if m not in METRICS]
    if bad or not names:
        raise UserError(
            f"--metrics: unknown metric {', '.join(bad) or '(none)'} (choose from {', '.join(METRICS)}, all)"
        )
    return tuple(m for m in METRICS if m in names)


def _tasks(all_: bool, task: list[str] | None) -> tuple[str, ...]:
    from mmedtui.tasks import TASKS, get_task

    if all_ and task:
        raise UserError("--all and --task exclude each other")
    if not task:
        return tuple(TASKS)
    try:
        return tuple(dict.fromkeys(get_task(t).name for t in task))
    except UserError as exc:
        raise UserError(f"--task: {exc}") from None


def _check_split(split: str | None, tasks: tuple[str, ...]) -> None:
    """A split a chosen benchmark does not have is bad input, not an empty row."""
    from mmedtui.tasks import get_task

    lacking = [f"{t} has {', '.join(get_task(t).splits)}" for t in tasks if split and split not in get_task(t).splits]
    if lacking:
        raise UserError(f"--split {split}: unknown split ({'; '.join(lacking)})")


NOTHING_SCORED = (
    "nothing scored: no benchmark data found under {root}; point --data-root DIR or $MMEDTUI_DATA at "
    "the benchmarks, or see `mmedtui data list`"
)


def bench(
    all_: bool = typer.Option(False, "--all", help="Every benchmark (the default when no --task is given)."),
    task: list[str] | None = typer.Option(
        None, "--task", "-t", help="Benchmark: vqa-rad, slake, pathvqa, omnimedvqa, mmmu-med (repeatable)."
    ),
    system: list[str] | None = typer.Option(
        None,
        "--system",
        "-s",
        help="System row, e.g. mmedagent-rl, majority-vote, 'specialist:Specialist A' (repeatable; default: all).",
    ),
    split: str | None = typer.Option(None, "--split", help="Split for every benchmark (default: each one's own)."),
    limit: int | None = typer.Option(None, "--limit", help="At most N items per benchmark and metric."),
    seed: int = typer.Option(0, "--seed", help="Seed for sampling, distractors and bootstrap."),
    agents: Path | None = typer.Option(None, "--agents", help="Agent panel YAML (default: assets/panel.yaml)."),
    trust_remote_code: bool = typer.Option(
        False,
        "--trust-remote-code",
        help="Let panel models marked trust_remote_code run their folder's own Python (printed first).",
    ),
    data_root: Path | None = typer.Option(
        None, "--data-root", help="Benchmarks folder (else $MMEDTUI_DATA, else a per-user default)."
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Write results.json, results.csv, samples.jsonl here; a rerun resumes from its .work/ cache.",
    ),
    metrics: str = typer.Option("mc", "--metrics", help="Comma list of mc, open_mc, closed, open, or all."),
    samples: int = typer.Option(5, "--samples", help="Sampled answers for mmedagent-rl-tts and self-consistency."),
    chunk_size: int = typer.Option(32, "--chunk-size", help="Cases per batched pipeline run."),
    mc_protocol: str = typer.Option(
        "huatuo",
        "--mc-protocol",
        help="Closed-question options: huatuo "
        "(A-or-B questions on SLAKE only, as the paper's likely bundle) or closed.",
    ),
    blank_images: bool = typer.Option(
        False,
        "--blank-images",
        help="Score every system again with each scan "
        "replaced by a flat grey image of its size: rows get <metric>_blank and "
        "image_gain (what the pixels add).",
    ),
) -> None:
    """Benchmark the systems (specialists, majority vote, baselines, MMedAgent-RL, ablations) on medical VQA."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from mmedtui.bench import run_bench
    from mmedtui.bench.runner import BenchConfig
    from mmedtui.bench.systems import available_systems, load_bench_panel, resolve_systems
    from mmedtui.bench.units import Settings
    from mmedtui.tasks.choices import PROTOCOLS

    for flag, value in (("--limit", limit), ("--samples", samples), ("--chunk-size", chunk_size)):
        if value is not None and value < 1:
            raise UserError(f"{flag}: must be at least 1, not {value}")
    if mc_protocol not in PROTOCOLS:
        raise UserError(f"--mc-protocol: unknown protocol {mc_protocol!r} (choose from {', '.join(PROTOCOLS)})")
    if output is not None:
        from mmedtui.fileio import check_output_dir

        check_output_dir(output)
    tasks = _tasks(all_, task)
    _check_split(split, tasks)
    chosen_metrics = _metrics(metrics)
    root = _data_root(data_root)
    panel, baselines = load_bench_panel(agents, trust_remote_code)
    systems = resolve_systems(system, panel, baselines) if system else available_systems(panel, baselines)
    config = BenchConfig(
        root,
        tasks,
        tuple(systems),
        split,
        chosen_metrics,
        limit,
        Settings(samples, 1.0, seed),
        chunk_size,
        mc_protocol,
        blank_images=blank_images,
    )  # work cache: <output>/.work
    err = Console(stderr=True)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=not err.is_terminal,
    )
    try:
        with progress:
            report = run_bench(
                panel, baselines, config, output=output, progress=progress, argv=["mmedtui", *sys.argv[1:]]
            )
    except KeyboardInterrupt:
        if output is not None:
            err.print(f"interrupted: finished chunks are kept in {output / '.work'}; rerun the same command to resume")
        raise
    finally:
        panel.close()
    console = Console()
    console.print(report.table)
    for t in report.tasks:
        if not t.missing:
            rate = f"{t.items_per_second:.2f} items/s" if t.items_per_second else "nothing to compute"
            console.print(
                f"{t.task}/{t.split}: {t.n_cases} cases, {t.computed} computed in {t.seconds:.1f} s "
                f"({rate}), {t.n_cases - t.computed} from the work cache",
                style="dim",
            )
    if output is not None:
        console.print(f"wrote {output / 'results.json'}, results.csv, samples.jsonl", style="dim")
    if all(t.missing for t in report.tasks):  # a table of dashes is no result: exit 2 with where to look
        raise UserError(NOTHING_SCORED.format(root=root))
