"""Where transcripts are kept: the per-user consultations folder, names that never overwrite, the listing.

Names are the time and a short hash of the consultation (``20261202-063015-3fa2c1.md``), never the image's
file name, which may name the patient. ``mmedtui history`` reads the JSON halves back.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


def consultations_dir(environ=os.environ) -> Path:
    """``$XDG_DATA_HOME/mmedtui/consultations`` (XDG's default ``~/.local/share`` when unset or relative)."""
    base = environ.get("XDG_DATA_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "mmedtui" / "consultations"


def transcript_stem(record, when: datetime | None = None) -> str:
    """Time and a six-digit hash of what was asked and answered, e.g. ``20261202-063015-3fa2c1``."""
    digest = hashlib.sha256(json.dumps(record.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:6]
    return f"{(when or datetime.now()):%Y%m%d-%H%M%S}-{digest}"


def free_stem(folder: Path, stem: str) -> str:
    """``stem``, or ``stem-2``, ``stem-3``... : the first whose .md and .json are both unused in ``folder``."""
    candidate, n = stem, 1
    while (folder / f"{candidate}.md").exists() or (folder / f"{candidate}.json").exists():
        n += 1
        candidate = f"{stem}-{n}"
    return candidate


@dataclass(frozen=True)
class Saved:
    path: Path
    when: datetime
    question: str
    answer: str
    valid: bool


def list_saved(folder: Path) -> list[Saved]:
    """The transcripts in ``folder``, oldest first; files that are not transcripts are skipped."""
    found = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            attending = data.get("attending") or {}
            found.append(
                Saved(
                    path.with_suffix(".md"),
                    datetime.fromtimestamp(path.stat().st_mtime),
                    str(data["question"]),
                    str(attending.get("answer") or ""),
                    bool(attending.get("valid", not attending.get("error"))),
                )
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return sorted(found, key=lambda s: (s.when, s.path.name))
