"""Files that are never left half-written: atomic replace for whole files and folders, one-write JSONL appends.

A crash (or Ctrl-C) leaves either the old version or the new one, never a torn file: whole files are written to a
temporary sibling, fsynced and renamed over the target; folders (model snapshots) are written to a temporary
sibling folder and swapped in; JSONL lines go out in a single ``write`` of a complete line, and a torn last line
(a hard kill mid-write) is ignored by ``read_jsonl``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mmedtui.fileio import atomic_write_text as write_text_atomically


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> Path:
    path = write_text_atomically(path, text)
    _fsync_dir(path.parent)
    return path


def atomic_write_json(path: str | Path, data) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def append_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    """Append complete lines with one ``write`` each (O_APPEND: concurrent writers do not interleave)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        # A torn last line from a killed writer would glue onto ours: start on a fresh line.
        if os.fstat(fd).st_size:
            with open(path, "rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    os.write(fd, b"\n")
        for record in records:
            os.write(fd, (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Every complete, parseable line; torn or garbage lines are skipped."""
    path = Path(path)
    if not path.is_file():
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # torn last line
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):  # a damaged line, or JSON nested past the parser
                continue
            if isinstance(record, dict):
                yield record


def rewrite_jsonl(path: str | Path, records: Iterable[dict]) -> Path:
    return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


@contextmanager
def atomic_dir(target: str | Path):
    """``with atomic_dir(final) as tmp: save(tmp)`` -> ``final`` holds the new content or the old, never half."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_dir(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes 0700; a saved model folder gets the usual permissions
    try:
        yield tmp
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def recover_dir(target: str | Path) -> None:
    """Finish a swap that a crash cut between its two renames (the old copy is still the valid one)."""
    target = Path(target)
    old = target.with_name(f".{target.name}.old")
    if not target.exists() and old.is_dir():
        os.replace(old, target)


def clean_stale_tmp(folder: str | Path) -> None:
    """Remove temporary leftovers (``.name.*.tmp``) of an interrupted atomic write."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for p in folder.glob(".*.tmp"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
