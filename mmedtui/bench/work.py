"""The per-run work cache: every unit output the bench computed, so an interrupted run resumes where it stopped.

``<output>/.work/<task>-<split>.jsonl``, one line per (item, unit) ``{"k": key, "id": ..., "unit": ...,
"data": {...}}``, appended after each chunk with flush + fsync. The key hashes everything the output depends
on: the item's question, options and image names, the unit's agents and settings (model entries, prompt
templates, weight-file stamps), and the outputs it was computed from. A changed panel or prompt therefore
misses instead of replaying stale answers, and a resumed run equals an uninterrupted one. A damaged line (cut
short by a kill, a torn UTF-8 character, any bad byte) is skipped on reading, so its unit is computed again.
Failed units are never written: the next run retries them. Temporary files a killed run left in the output
folder (``.<name>.*.tmp`` of the atomic writes) are removed when the cache is opened.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from mmedtui.fileio import append_jsonl, read_jsonl

WORK_VERSION = 1
_STARTED = time.time() - 1.0  # imported before the bench writes anything; a second for coarse file clocks


def digest(obj: object) -> str:
    """A stable sha256 of any JSON-able structure (dataclasses and paths through ``str``)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False).encode()).hexdigest()


def weights_stamp(model: dict, base_dir: Path) -> list:
    """A local checkpoint's file stamp (``locate.weights_stamp``): retraining in place changes the key."""
    from mmedtui.agents.locate import LOCAL_BACKENDS, model_folder
    from mmedtui.agents.locate import weights_stamp as stamp

    if model.get("backend") not in LOCAL_BACKENDS or "path" not in model:
        return []
    return stamp(model_folder(model["path"], base_dir))


def clean_stale_tmp(folder: Path) -> list[Path]:
    """Remove ``.<name>.<random>.tmp`` files that an earlier process left (an atomic write a kill cut short).
    Files this process made since it started are being written: they stay."""
    removed = []
    if folder.is_dir():
        for p in folder.glob(".*.tmp"):
            if p.is_file() and p.name.count(".") >= 3 and p.stat().st_mtime < _STARTED:
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


class WorkCache:
    """Unit outputs by key; ``path=None`` keeps them in memory only (a run without ``--output``)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: dict[str, dict] = {}
        self._pending: list[dict] = []
        self.skipped = 0
        if path is not None:
            clean_stale_tmp(path.parent)
            if path.parent.name == ".work":
                clean_stale_tmp(path.parent.parent)  # the output folder: results, samples
        if path is not None and path.is_file():
            self.skipped = self._read(path)

    def _read(self, path: Path) -> int:
        """Load every whole line; return how many damaged ones were skipped (their units are recomputed)."""
        damaged: list[bytes] = []
        for row in read_jsonl(path, damaged.append):
            if isinstance(row.get("data"), dict) and isinstance(row.get("k"), str):
                self.entries[row["k"]] = row["data"]
            else:  # a whole line of the wrong shape is damage too, never a unit's output
                damaged.append(b"")
        return len(damaged)

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, data: dict, *, item_id: str, unit: str, persist: bool = True) -> None:
        self.entries[key] = data
        if persist and self.path is not None:
            self._pending.append({"k": key, "id": item_id, "unit": unit, "data": data})

    def flush(self) -> None:
        """Append this chunk's lines durably; a kill after this returns loses nothing already computed."""
        if self._pending and self.path is not None:
            append_jsonl(self.path, self._pending)
        self._pending.clear()
