"""How often each specialist's reasoning names the scan's modality, and the right one, on SLAKE validation.

    python scripts/stated_modality.py runs/bench-all/samples.jsonl --data-root ../shared/data

Reads a bench run's ``samples.jsonl`` (the real scans' answers, not ``--blank-images``' grey ones) and SLAKE's
``validate.json`` (each question's ``modality``). "Right": the reasoning names that modality and no other of CT,
MRI and X-ray, as ``scripts/eval_triage.py`` judges the triage doctor's rationale.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from eval_triage import MODALITY_WORDS


def stated(samples: Path, validate: Path) -> dict[str, tuple[int, int, int]]:
    """Per specialist: (answers, answers whose reasoning names a modality, those naming the right one only)."""
    modality = {str(r["qid"]): r["modality"] for r in json.loads(validate.read_text(encoding="utf-8"))}
    n, named, right = Counter(), Counter(), Counter()
    with samples.open(encoding="utf-8") as lines:
        for line in lines:
            s = json.loads(line)
            if s["task"] != "slake" or s["metric"] != "mc" or not s["system"].startswith("specialist:"):
                continue
            name = s["system"].split(":", 1)[1]
            opinion = next((o for o in s["agents"]["specialists"] if o["name"] == name), None)
            if opinion is None or s["id"] not in modality:
                continue
            said = {m for m, pattern in MODALITY_WORDS.items() if pattern.search(opinion["reasoning"] or "")}
            n[name] += 1
            named[name] += bool(said)
            right[name] += said == {modality[s["id"]]}
    return {name: (n[name], named[name], right[name]) for name in n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path)
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    for name, (n, named, right) in stated(args.samples, args.data_root / "slake" / "validate.json").items():
        print(f"{name:20s} n={n:4d}  names a modality {100 * named / n:5.1f} %  the right one {100 * right / n:5.1f} %")


if __name__ == "__main__":
    main()
