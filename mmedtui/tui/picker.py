"""Opening scans from inside the app: a file picker, and the next / previous image in the same folder."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Static

from mmedtui.imaging import SUPPORTED_SUFFIXES


def is_scan_file(path: Path) -> bool:
    """A file the app can open, by name: PNG, JPEG, BMP, TIFF, DICOM (.dcm / .dicom)."""
    return path.suffix.lower() in SUPPORTED_SUFFIXES and not path.name.startswith(".")


def neighbour(path: Path, step: int) -> Path | None:
    """The scan ``step`` places after (negative: before) ``path`` among its folder's scans, by name; wraps
    around; None when the folder holds no other scan (or cannot be read)."""
    try:
        scans = sorted(
            (p for p in path.parent.iterdir() if p.is_file() and is_scan_file(p)), key=lambda p: p.name.lower()
        )
    except OSError:
        return None
    others = [p for p in scans if p.name != path.name]
    if not others:
        return None
    names = [p.name for p in scans]
    index = names.index(path.name) if path.name in names else -1 if step > 0 else 0
    return scans[(index + step) % len(scans)]


class ScanTree(DirectoryTree):
    """A directory tree showing folders and the files the app can open (hidden ones left out)."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".") and (p.is_dir() or is_scan_file(p))]


class FilePicker(ModalScreen[Path | None]):
    """Pick a scan from a folder tree; dismisses with its path, or None on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("backspace", "parent", "Up a folder")]

    def __init__(self, folder: Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.folder = folder

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static(Content(f"Open a scan from {self.folder}"), id="picker-title")
            yield ScanTree(self.folder, id="picker-tree")
            yield Static(
                Content.assemble(
                    ("enter", "bold"),
                    " open  ",
                    ("backspace", "bold"),
                    " up a folder  ",
                    ("esc", "bold"),
                    " cancel  ·  PNG, JPEG, BMP, TIFF, DICOM",
                ),
                id="picker-keys",
            )

    def on_mount(self) -> None:
        self.query_one(ScanTree).focus()

    @on(DirectoryTree.FileSelected)
    def _picked(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.dismiss(Path(event.path))

    def action_parent(self) -> None:
        tree = self.query_one(ScanTree)
        parent = Path(tree.path).resolve().parent
        tree.path = parent
        self.query_one("#picker-title", Static).update(Content(f"Open a scan from {parent}"))

    def action_cancel(self) -> None:
        self.dismiss(None)
