"""Which answers count as the same when agents vote (majority vote over the panel, TTS over samples).

Keys come from the one scorer, so two answers the bench would score alike always vote together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Protocol, TypeVar

from mmedtui.tasks.scoring import normalize, parse_choice, yes_no


class Vote(Protocol):
    """What a vote needs of an agent's opinion (``agents.roles.Opinion`` is one)."""

    answer: str

    @property
    def valid(self) -> bool: ...


V = TypeVar("V", bound=Vote)


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


def panel_majority(opinions: Sequence[V], options: Sequence[str] | None = None) -> V | None:
    """The panel's majority opinion, an invalid opinion counting as missing (None: no valid opinion)."""
    valid = [o for o in opinions if o.valid]
    best, _ = majority([o.answer for o in valid], options)
    return valid[best] if best is not None else None


def agreement(opinions: Sequence[Vote], options: Sequence[str] | None = None) -> str | None:
    """The panel's agreement as the views show it: "k/n say ANSWER", k the largest bloc of valid opinions that give
    the same answer over the whole panel; "k/n (no majority)" when another bloc is as large (None: no panel).

    An invalid opinion joins no bloc, so a panel of one valid and two invalid opinions agrees "1/3 say ...".
    """
    if not opinions:
        return None
    valid = [o for o in opinions if o.valid]
    best, keys = majority([o.answer for o in valid], options)
    counts = Counter(k for k in keys if k)
    top = max(counts.values(), default=0)
    if best is None or list(counts.values()).count(top) > 1:
        return f"{top}/{len(opinions)} (no majority)"
    return f"{top}/{len(opinions)} say {valid[best].answer.strip()}"
