"""Files that are never left half-written: a temporary sibling, fsynced, then renamed over the target.

A crash or Ctrl-C leaves the old file or the new one, never a torn one, so a later run can trust what it finds.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def make_readable(fd: int) -> None:
    """mkstemp makes 0600 files; results, transcripts and configs are ordinary files: the umask decides."""
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> Path:
    """``durable=False`` skips the fsync: for files a later run can rebuild (a response cache), where one fsync
    per entry would cost more than the entry."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:40]}.", suffix=".tmp")
    try:
        make_readable(fd)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str, newline: str | None = None, durable: bool = True) -> Path:
    """Text as UTF-8; ``newline`` as ``open`` takes it (None: the platform's line ending)."""
    if newline != "":
        text = text.replace("\n", newline if newline is not None else os.linesep)
    return atomic_write_bytes(path, text.encode("utf-8"), durable)


_PSEUDO_FILESYSTEMS = ("/proc", "/sys", "/dev")


def check_output_dir(path: str | os.PathLike, flag: str = "--output") -> Path:
    """Refuse, in one line, an output folder that cannot be made: one under a file, under a pseudo-filesystem
    (/proc, /sys, /dev) or under a folder this user cannot write. Creates nothing."""
    from mmedtui.errors import UserError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path}: exists and is not a folder")
    existing = path.absolute()
    while not existing.exists():
        existing = existing.parent
    real = str(existing.resolve())
    if any(real == p or real.startswith(p + "/") for p in _PSEUDO_FILESYSTEMS):
        raise UserError(f"{flag} {path}: under {real}, a system folder that holds no files")
    if not existing.is_dir():
        raise UserError(f"{flag} {path}: {existing} is a file, not a folder")
    if existing != path.absolute() and not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: cannot create folders in {existing} (permission denied)")
    return path
