"""Where a panel's model lives: a local folder (relative to the panel file) or a Hugging Face Hub id, and a
stamp of its weight files. One rule for the panel loader, its checks, the bench's cache keys and the trainer."""

from __future__ import annotations

from pathlib import Path


def looks_like_hub_id(text: str | Path) -> bool:
    """An "owner/name" text, not a relative or absolute path: a Hub id, loadable only when online."""
    text = str(text)
    return text.count("/") == 1 and not text.startswith((".", "/", "~"))


def model_folder(path: str | Path, base_dir: Path) -> Path:
    """A model path as a panel writes it: ``~`` expanded, relative to the panel file's folder."""
    path = Path(str(path)).expanduser()
    return path if path.is_absolute() else base_dir / path


# Backends whose ``path`` names files on this machine: their weights stamp keys the opinion and bench caches.
LOCAL_BACKENDS = ("transformers", "nearest-image")


def weights_stamp(folder: Path) -> list:
    """Names, sizes and mtimes of a local checkpoint's files: retraining in place changes any key built on it.
    Its Markdown (the model card) is left out: rewriting a card must not throw away opinion or bench caches."""
    if not folder.is_dir():
        return []
    return sorted(
        [p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in folder.iterdir() if p.is_file() and p.suffix != ".md"
    )
