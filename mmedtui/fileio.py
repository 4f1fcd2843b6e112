"""Files that are never left half-written: a temporary sibling, fsynced, then renamed over the target; JSONL
lines appended in one write of whole lines.

A crash or Ctrl-C leaves the old file or the new one, never a torn one, so a later run can trust what it finds.
A JSONL line a hard kill cut short is skipped on reading, and the next append starts on a fresh line.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


def make_readable(fd: int) -> None:
    """mkstemp makes 0600 files; results, transcripts and configs are ordinary files: the umask decides."""
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)


class AtomicFile:
    """A file written in pieces and published whole: writes go to a temporary sibling; ``commit`` (or leaving the
    ``with`` block) renames it over the target, ``discard`` (or an exception in the block) drops it.

    ``durable=False`` skips the fsync: for files a later run can rebuild (a response cache), where one fsync per
    entry would cost more than the entry."""

    def __init__(self, path: str | os.PathLike, durable: bool = True) -> None:
        self.path, self.durable = Path(path), durable
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name[:40]}.", suffix=".tmp")
        try:
            make_readable(fd)
        except BaseException:
            os.close(fd)
            Path(self._tmp).unlink(missing_ok=True)
            raise
        self._file = os.fdopen(fd, "wb")

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def commit(self) -> Path:
        try:
            if self.durable:
                self._file.flush()
                os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.discard()
            raise
        return self.path

    def discard(self) -> None:
        if not self._file.closed:
            self._file.close()
        Path(self._tmp).unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> Path:
    """``data`` as the whole new content of ``path`` (``durable``: see ``AtomicFile``)."""
    with AtomicFile(path, durable) as f:
        f.write(data)
    return f.path


def atomic_write_text(path: str | os.PathLike, text: str, newline: str | None = None, durable: bool = True) -> Path:
    """Text as UTF-8; ``newline`` as ``open`` takes it (None: the platform's line ending)."""
    if newline != "":
        text = text.replace("\n", newline if newline is not None else os.linesep)
    return atomic_write_bytes(path, text.encode("utf-8"), durable)


def json_line(record: dict) -> str:
    """One JSONL line: the record as UTF-8-friendly JSON, newline-terminated."""
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def append_jsonl(path: str | os.PathLike, records: Iterable[dict], durable: bool = True) -> None:
    """Append whole lines in one ``write`` (O_APPEND: concurrent writers do not interleave); ``durable``: fsync
    before returning, so a kill after this loses nothing already appended."""
    data = "".join(json_line(r) for r in records).encode("utf-8")
    if not data:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn last line would glue onto ours
            data = b"\n" + data
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: str | os.PathLike, on_damaged: Callable[[bytes], None] | None = None) -> Iterator[dict]:
    """Every line that holds a whole JSON object; a torn line (a kill mid-write), bad bytes or anything else is
    skipped and handed to ``on_damaged`` (blank lines are not damage). A missing file has no lines."""
    path = Path(path)
    if not path.is_file():
        return
    with path.open("rb") as f:
        for raw in f:
            try:
                record = json.loads(raw.decode("utf-8"))
            except (ValueError, RecursionError):  # torn, not UTF-8, not JSON, or nested past the parser
                record = None
            if isinstance(record, dict):
                yield record
            elif raw.strip() and on_damaged is not None:
                on_damaged(raw)


def rewrite_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> Path:
    """Replace the whole file atomically (a run dropping the metrics past its checkpoint)."""
    return atomic_write_text(path, "".join(json_line(r) for r in records), newline="")


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
