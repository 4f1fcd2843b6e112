"""Where the speed scripts keep what they measured: one JSON file of entries, each with its figures, the command
that measured them, the date, the commit and the machine, so the results page quotes them and nobody retypes one.

    python scripts/latency.py IMAGE --output assets/results/speed.json
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from mmedtui.fileio import atomic_write_text
from trainer.model_card import portable

ROOT = Path(__file__).resolve().parents[1]


def _commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def record(path: Path | None, key: str, figures: dict, module: str | None = None) -> None:
    """Replace entry ``key`` of ``path`` (made if missing) with ``figures`` and how they were measured (as
    ``python -m module`` where the script only records what that module measured)."""
    if path is None:
        return
    doc = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    script = Path(sys.argv[0]).resolve()
    where = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script.name
    args = [a for a in sys.argv[1:]]
    if "--output" in args:  # where it was written is not part of what was measured
        i = args.index("--output")
        del args[i : i + 2]
    doc[key] = {
        "figures": figures,
        "command": portable(shlex.join(["python", *(["-m", module] if module else [str(where)]), *args])),
        "date": time.strftime("%Y-%m-%d"),
        "commit": _commit(),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, {platform.system()}",
    }
    atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"recorded {key!r} in {path}")
