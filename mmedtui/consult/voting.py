"""Which answers count as the same when agents vote (majority vote over the panel, TTS over samples).

Keys come from the one scorer, so two answers the bench would score alike always vote together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from mmedtui.tasks.scoring import normalize, parse_choice, yes_no


def answer_key(answer: str, options: Sequence[str] | None = None) -> str:
    """``"opt:<i>"`` for a parsed option, ``"yes"``/``"no"`` for a yes/no commitment, else the normalised text."""
    if not answer or not answer.strip():
        return ""
    if options:
        choice = parse_choice(answer, options)
        return f"opt:{choice}" if choice is not None else ""
    return yes_no(answer) or normalize(answer)


def majority(answers: Sequence[str], options: Sequence[str] | None = None) -> tuple[int | None, list[str]]:
    """Index of the first answer in the biggest voting bloc (ties: first seen), and every answer's key."""
    keys = [answer_key(a, options) for a in answers]
    counts = Counter(k for k in keys if k)
    if not counts:
        return None, keys
    top = max(counts.values())
    winner = next(k for k in keys if k and counts[k] == top)
    return keys.index(winner), keys
