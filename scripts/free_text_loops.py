"""How often free-form answers degenerate into loops ("An axial axial axial ...") on images outside the
training domain: the three shipped samples, BCCD test smears and BreastMNIST test ultrasounds, each asked
open questions with no options (as ``consult --free-text`` asks them).

    python scripts/free_text_loops.py --data-root ../shared/data [--agents PANEL] [--per-source 4]

Prints, per agent, the replies whose reasoning or answer is caught in a loop (``agents.parsing.degenerate``).
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

QUESTIONS = (
    "What does this image show?",
    "What is the most striking finding?",
    "Which organ is shown?",
    "What modality is used to take this image?",
    "Is anything abnormal here?",
)


def images(root: Path | None, per_source: int):
    """(source, RGB image) pairs: the shipped samples, then the first held-out smears and ultrasounds of
    ``scripts/eval_triage.py`` (never trained on)."""
    from eval_triage import held_out
    from mmedtui.imaging import load_scan
    from mmedtui.samples import SAMPLES

    for sample in SAMPLES:
        yield sample.name, load_scan(sample.path).image
    if root is None:
        return
    taken = Counter()
    for source, _, image in held_out(root):
        if source.startswith("VQA-RAD"):  # radiology is the training domain
            break
        taken[source] += 1
        if taken[source] <= per_source:
            yield source, image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--agents", default=None)
    parser.add_argument("--per-source", type=int, default=4)
    args = parser.parse_args()
    from mmedtui.agents.panel import load_panel
    from mmedtui.agents.parsing import degenerate
    from mmedtui.consult import Case, Pipeline

    cases, sources = [], []
    for source, image in images(args.data_root, args.per_source):
        for q in QUESTIONS:
            cases.append(Case(image, q, None))
            sources.append(source)
    records = Pipeline(load_panel(args.agents)).run(cases)
    replies, loops, examples = Counter(), Counter(), {}
    for source, rec in zip(sources, records):
        agents = [(o.name, o.reasoning, o.answer) for o in rec.specialists]
        if rec.attending is not None:
            agents.append(("attending", rec.attending.reasoning, rec.attending.answer))
        if rec.triage is not None:
            agents.append(("triage", rec.triage.rationale, ""))
        for name, reasoning, answer in agents:
            replies[name] += 1
            looping = next((text for text in (reasoning, answer) if degenerate(text)), None)
            if looping is not None:
                loops[name] += 1
                examples.setdefault(name, f"{source}: {looping[:80]!r}")
    total = sum(replies.values())
    print(f"{len(cases)} free-form questions on {len(set(sources))} image sources; {total} replies")
    for name in replies:
        print(f"  {name:<22} loops {loops[name]:>3} of {replies[name]}  {examples.get(name, '')}")
    print(f"loops in all: {sum(loops.values())} of {total}")


if __name__ == "__main__":
    main()
