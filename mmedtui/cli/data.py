"""``mmedtui data list|verify|fetch``: where each benchmark is, whether a local copy is sound, getting it."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="List, verify and fetch the benchmarks.", no_args_is_help=True)

DataRoot = typer.Option(None, "--data-root", help="Benchmarks folder (else $MMEDTUI_DATA, else a per-user default).")


@app.command("list")
def list_(data_root: Path | None = DataRoot) -> None:
    """Each benchmark: where it was found (or how to get it), its layout, splits and counts."""
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
    console = Console()
    console.print(table)
    for line in missing:
        console.print(line)


@app.command()
def verify(name: str = typer.Argument(..., help="Benchmark name, e.g. vqa-rad."),
           data_root: Path | None = DataRoot) -> None:
    """Load a local copy, count items and check a sample of images; exit 2 on problems."""
    from mmedtui.errors import DataError
    from mmedtui.tasks.catalog import resolve_data_root, verify as run_verify

    report = run_verify(resolve_data_root(data_root), name)
    for line in report.get("lines", []):
        typer.echo(line)
    if report.get("problems"):
        raise DataError(f"{name}: {len(report['problems'])} problem(s): {report['problems'][0]}")


@app.command()
def fetch(name: str = typer.Argument(..., help="Benchmark name, e.g. slake."),
          data_root: Path | None = DataRoot) -> None:
    """Download a benchmark from the Hugging Face hub into <data root>/<name> (needs network access)."""
    from mmedtui.tasks.catalog import fetch as run_fetch, resolve_data_root

    typer.echo(str(run_fetch(resolve_data_root(data_root), name)))
