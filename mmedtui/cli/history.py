"""``mmedtui history``: the transcripts saved from the app (``s``), newest last."""

from __future__ import annotations

from pathlib import Path

import typer


def history(
    save_dir: Path | None = typer.Option(
        None, "--save-dir", help="The folder to list (default: $XDG_DATA_HOME/mmedtui/consultations)."
    ),
) -> None:
    """List the saved consultations: when, the question, the decision and the transcript's path."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from mmedtui.tui.history import consultations_dir, list_saved

    folder = save_dir or consultations_dir()
    saved = list_saved(folder)
    console = Console()
    if not saved:
        console.print(f"No saved consultations in {escape(str(folder))} (press s in `mmedtui consult` to save one).")
        return
    table = Table(title=f"{len(saved)} saved consultation(s) in {escape(str(folder))}")
    for column in ("saved", "question", "decision", "transcript"):
        table.add_column(column, overflow="fold")
    for item in saved:
        decision = escape(item.answer) if item.valid else f"[yellow]no valid answer[/] {escape(item.answer)}"
        table.add_row(f"{item.when:%Y-%m-%d %H:%M}", escape(item.question), decision, item.path.name)
    console.print(table)
