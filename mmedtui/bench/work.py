"""The per-run work cache: every unit output the bench computed, so an interrupted run resumes where it stopped.

``<output>/.work/<task>-<split>.jsonl``, one line per (item, unit) ``{"k": key, "id": ..., "unit": ...,
"data": {...}}``, appended after each chunk with flush + fsync. The key hashes everything the output depends
on: the item's question, options and image names, the unit's agents and settings (model entries, prompt
templates, weight-file stamps), and the outputs it was computed from. A changed panel or prompt therefore
misses instead of replaying stale answers, and a resumed run equals an uninterrupted one. A line cut short by
a kill is ignored on reading. Failed units are never written: the next run retries them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

WORK_VERSION = 1


def digest(obj: object) -> str:
    """A stable sha256 of any JSON-able structure (dataclasses and paths through ``str``)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def weights_stamp(model: dict, base_dir: Path) -> list:
    """Names, sizes and mtimes of a local checkpoint's files: retraining in place changes the key."""
    if model.get("backend") != "transformers" or "path" not in model:
        return []
    path = Path(str(model["path"])).expanduser()
    folder = path if path.is_absolute() else base_dir / path
    if not folder.is_dir():
        return []
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file())


class WorkCache:
    """Unit outputs by key; ``path=None`` keeps them in memory only (a run without ``--output``)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, dict] = {}
        self._pending: list[str] = []
        if path is not None and path.is_file():
            self._read(path)

    def _read(self, path: Path) -> None:
        with path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                    if isinstance(row["data"], dict):  # anything else is damage, never a unit's output
                        self.entries[row["k"]] = row["data"]
                except (ValueError, KeyError, TypeError):  # a line cut short by an interruption
                    continue

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, data: dict, *, item_id: str, unit: str, persist: bool = True) -> None:
        self.entries[key] = data
        if persist and self.path is not None:
            self._pending.append(json.dumps({"k": key, "id": item_id, "unit": unit, "data": data},
                                            ensure_ascii=False, default=str))

    def flush(self) -> None:
        """Append this chunk's lines durably; a kill after this returns loses nothing already computed."""
        if not self._pending or self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as f:
            # A line cut short by a kill has no newline: start a fresh line so ours stays whole.
            torn = f.tell() > 0 and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n"
            f.write(("\n" if torn else "").encode() + "".join(line + "\n" for line in self._pending).encode())
            f.flush()
            os.fsync(f.fileno())
        self._pending.clear()
