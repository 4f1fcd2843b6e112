"""How a consultation's parts read on any screen (the TUI, ``--plain``, transcripts): model text made safe to
show, reasoning that loops replaced by a note, an answer's probability and why an answer is not valid."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str | None) -> str:
    """Model text made safe to show or store: control and bidi-override characters become U+FFFD."""
    return _CONTROL.sub("\ufffd", text or "").replace("\t", " ")


UNREADABLE = "(no readable reasoning: the model repeated itself)"


def readable(reasoning: str | None) -> str:
    """Reasoning as a person should see it: a repeated-token loop ("An axial axial axial ...") is replaced by a note
    that says so, never shown as if it were an explanation (the JSON keeps the text as generated)."""
    from mmedtui.agents.parsing import degenerate

    return UNREADABLE if degenerate(reasoning) else (reasoning or "")


def probability_text(result) -> str:
    """'p = 0.82' for an Opinion / Decision whose backend gave a probability, plus how the answer was chosen."""
    parts = [] if result.probability is None else [f"p = {result.probability:.2f}"]
    if result.constrained:
        parts.append("likeliest option")
    return ", ".join(parts)


def invalid_text(result) -> str | None:
    """Why an answer that came back is not valid ('names no option'); None when valid or when it failed."""
    return None if result.error or result.valid else result.invalid
