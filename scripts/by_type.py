"""Each system's `mc` by question type, on the scans and on grey images: where the image gain comes from.

    python scripts/by_type.py runs/bench-all --data-root ../shared/data --output assets/results/by_type.json

Reads a ``--blank-images`` bench run's ``samples.jsonl`` and the benchmarks' own type of each question (SLAKE's
``content_type``, VQA-RAD's ``question_type``; a VQA-RAD question of several types counts under its first). Prints
per benchmark and system: accuracy on the scans, on grey images and the difference, per type with n. With
``--output`` it writes the same figures as JSON, which ``scripts/results_page.py`` renders in assets/README.md.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from mmedtui.tasks import get_task

SPLITS = {"slake": "validation", "vqa-rad": "test"}
FIELD = {"slake": "content_type", "vqa-rad": "question_type"}


def question_types(root: Path) -> dict[tuple[str, str], str]:
    """(task, item id) -> the benchmark's own question type."""
    types = {}
    for task, split in SPLITS.items():
        opts = {"lang": "en"} if task == "slake" else {}
        for item in get_task(task).load(root, split, **opts).items:
            types[task, item.id] = str(item.meta.get(FIELD[task]) or "other").split(",")[0].strip()
    return types


def tally(samples: Path, types: dict) -> dict:
    """{task: {system: {type: {"n", "mc", "mc_blank", "gain"}}}}, accuracies in %."""
    right: dict = defaultdict(lambda: [0, 0])  # (task, system, type, metric) -> [right, n]
    with samples.open(encoding="utf-8") as lines:
        for line in lines:
            s = json.loads(line)
            if s["metric"] not in ("mc", "mc_blank") or (s["task"], s["id"]) not in types:
                continue
            cell = right[s["task"], s["system"], types[s["task"], s["id"]], s["metric"]]
            cell[0] += bool(s["correct"][s["metric"]])
            cell[1] += 1
    out: dict = {}
    for (task, system, kind, metric), (hits, n) in sorted(right.items()):
        row = out.setdefault(task, {}).setdefault(system, {}).setdefault(kind, {"n": n})
        row[metric] = round(100 * hits / n, 1)
    for systems in out.values():
        for kinds in systems.values():
            for row in kinds.values():
                if "mc" in row and "mc_blank" in row:
                    row["gain"] = round(row["mc"] - row["mc_blank"], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a bench run's output folder (with samples.jsonl)")
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--output", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    figures = tally(args.run / "samples.jsonl", question_types(args.data_root))
    if not figures:
        raise SystemExit(f"{args.run / 'samples.jsonl'}: no SLAKE validation or VQA-RAD test answers")
    for task, systems in figures.items():
        print(f"\n{task} {SPLITS[task]}: mc on the scans / on grey images (n)")
        for system, kinds in systems.items():
            cells = [f"{k} {r.get('mc', '–')} / {r.get('mc_blank', '–')} ({r['n']})" for k, r in kinds.items()]
            print(f"  {system:28s} " + " · ".join(cells))
    if args.output:
        args.output.write_text(
            json.dumps({"run": str(args.run), "by_type": figures}, indent=1) + "\n", encoding="utf-8"
        )
        print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
