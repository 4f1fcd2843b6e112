"""``mmedtui data list|verify|fetch``: where each benchmark is, whether a local copy is sound, getting it."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="List, verify and fetch the benchmarks.", no_args_is_help=True)

DataRoot = typer.Option(None, "--data-root", help="Benchmarks folder (else $MMEDTUI_DATA, else a per-user default).")

# Not benchmarks: image sources the triage doctor trains on (trainer/data/triage.py), listed so a user can see
# whether a build will find them. (name, what, the file or folder looked for, how to get it)
TRAINING_SOURCES = (
    (
        "bccd",
        "blood smears, JPEG (triage: Pathologist)",
        "bccd/BCCD/JPEGImages",
        "github.com/Shenggan/BCCD_Dataset (MIT): put its BCCD/ folder in <data root>/bccd/",
    ),
    (
        "breastmnist",
        "breast ultrasound, 28x28 (triage: Radiologist)",
        "breastmnist/breastmnist.npz",
        "MedMNIST v2, medmnist.com (CC BY 4.0): put breastmnist.npz in <data root>/breastmnist/",
    ),
)


def _source_contents(path: Path) -> str:
    if path.is_dir():
        return f"{sum(1 for _ in path.glob('*.jpg'))} images"
    import numpy as np

    try:
        with np.load(path) as arrays:
            return ", ".join(
                f"{k.removesuffix('_images')} {len(arrays[k])}" for k in arrays.files if k.endswith("_images")
            )
    except (OSError, ValueError) as exc:
        return f"[red]unreadable[/] ({type(exc).__name__})"


@app.command("list")
def list_(data_root: Path | None = DataRoot) -> None:
    """Each benchmark: where it was found (or how to get it), its layout, splits and counts; then the triage's
    training-only sources (BCCD, BreastMNIST)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from mmedtui.tasks.catalog import list_tasks, resolve_data_root

    root = resolve_data_root(data_root)
    table = Table(title=f"Benchmarks under {root}")
    for column in ("name", "domain", "found", "layout", "splits"):
        table.add_column(column)
    missing = []
    for row in list_tasks(root):
        splits = ", ".join(f"{k} {v}" for k, v in (row.get("splits") or {}).items())
        found = str(row["path"]) if row.get("path") else "[yellow]missing[/]"
        if not row.get("path"):
            missing.append(f"[bold]{row['name']}[/]: {escape(row.get('how_to_get', ''))}")
        table.add_row(row["name"], row.get("domain", ""), found, row.get("layout") or "-", splits or "-")
    sources = Table(title="Training-only sources (the triage doctor's extra images; not benchmarks)")
    for column in ("name", "what", "found", "contents"):
        sources.add_column(column)
    for name, what, relative, how in TRAINING_SOURCES:
        path = root / relative
        there = path.exists()
        sources.add_row(
            name, what, escape(str(path)) if there else "[yellow]missing[/]", _source_contents(path) if there else "-"
        )
        if not there:
            missing.append(f"[bold]{name}[/]: {escape(how)}")
    console = Console()
    console.print(table)
    console.print(sources)
    for line in missing:
        console.print(line)


@app.command()
def verify(
    name: str | None = typer.Argument(
        None, metavar="NAME", help="Benchmark name, e.g. vqa-rad (default: every benchmark found)."
    ),
    data_root: Path | None = DataRoot,
) -> None:
    """Load a local copy, count items and check a sample of images; exit 2 on problems (listed on stderr)."""
    from mmedtui.errors import DataError
    from mmedtui.tasks import TASKS
    from mmedtui.tasks.catalog import resolve_data_root
    from mmedtui.tasks.catalog import verify as run_verify

    root = resolve_data_root(data_root)
    if name is not None:
        reports = [run_verify(root, name)]
    else:
        reports = [run_verify(root, n) for n in TASKS if TASKS[n].locate(root) is not None]
        absent = [n for n in TASKS if TASKS[n].locate(root) is None]
        if not reports:
            raise DataError(f"no benchmark found under {root} (see `mmedtui data list`)")
        if absent:
            typer.echo(f"not found under {root}: {', '.join(absent)} (see `mmedtui data list`)")
    problems = [(r["name"], p) for r in reports for p in r.get("problems", [])]
    for report in reports:
        for line in report.get("lines", []):
            if line not in report.get("problems", []):  # a problem is said once, on stderr
                typer.echo(line)
    for bench_name, problem in problems[1:]:
        typer.echo(f"mmedtui: {bench_name}: {problem}", err=True)
    if problems:
        first_name, first = problems[0]
        raise DataError(
            f"{first_name}: {first}" + (f" ({len(problems)} problems, listed above)" if len(problems) > 1 else "")
        )


@app.command()
def fetch(
    name: str = typer.Argument(..., metavar="NAME", help="Benchmark name, e.g. slake."),
    data_root: Path | None = DataRoot,
) -> None:
    """Download a benchmark from the Hugging Face hub into <data root>/<name> (needs network access)."""
    from mmedtui.tasks.catalog import fetch as run_fetch
    from mmedtui.tasks.catalog import resolve_data_root

    typer.echo(str(run_fetch(resolve_data_root(data_root), name)))
