"""Typed events of a consultation. The TUI, ``--plain``, ``--json`` and the bench all consume these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mmedtui.agents.roles import Decision, Opinion, TriageDecision

Step = Literal["triage", "specialist", "attending"]
Status = Literal["started", "done", "failed"]
Result = TriageDecision | Opinion | Decision | None


@dataclass(frozen=True)
class Event:
    step: Step
    status: Status
    case: int = 0  # index of the case in the batch
    index: int = 0  # specialist index within the panel
    name: str = ""  # agent name
    result: Result = None
    error: str | None = None
