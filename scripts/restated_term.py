"""How often a specialist's reasoning restates the question with a term the question does not contain.

    python scripts/restated_term.py runs/bench-all/samples.jsonl

The specialists learned to open a closed question's reasoning with "The question asks about X." (the asked term
beside what the image shows; assets/README.md, "Reading the scan"). Reads a bench run's ``samples.jsonl`` (the
real scans' answers, not ``--blank-images``' grey ones) and counts, per task and specialist, the reasonings that
restate, and those whose X has a word of four or more letters that is not part of the question: a restatement
that misreads the question ("asks about the abdomen" for a question about the vertebra).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

RESTATED = re.compile(r"The question asks about (?:the |an |a )?(.+?)\.(?:\s|$)")


def misread(term: str, question: str) -> bool:
    asked = question.lower()
    return any(word not in asked for word in re.findall(r"[a-z]{4,}", term.lower()))


def restated(samples: Path) -> dict[tuple[str, str], tuple[int, int, int]]:
    """Per (task, specialist): (answers, reasonings that restate the question, restatements that misread it)."""
    n, said, wrong = Counter(), Counter(), Counter()
    with samples.open(encoding="utf-8") as lines:
        for line in lines:
            s = json.loads(line)
            if s["metric"] != "mc" or not s["system"].startswith("specialist:"):
                continue
            name = s["system"].split(":", 1)[1]
            opinion = next((o for o in s["agents"]["specialists"] if o["name"] == name), None)
            if opinion is None:
                continue
            key = (s["task"], name)
            n[key] += 1
            found = RESTATED.search(opinion.get("reasoning") or "")
            said[key] += found is not None
            wrong[key] += found is not None and misread(found.group(1), s["question"])
    return {key: (n[key], said[key], wrong[key]) for key in sorted(n)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("samples", type=Path)
    args = parser.parse_args()
    for (task, name), (n, said, wrong) in restated(args.samples).items():
        share = f"{100 * wrong / said:5.1f} %" if said else "    –"
        print(f"{task:8s} {name:20s} n={n:4d}  restates {said:4d}  names a term the question lacks {share}")


if __name__ == "__main__":
    main()
