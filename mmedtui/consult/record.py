"""The outcome of one consultation, and its JSON form (design.md's ``consult --json`` shape)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmedtui import DISCLAIMER
from mmedtui.agents.case import Case
from mmedtui.agents.roles import Decision, Opinion, TriageDecision
from mmedtui.tasks.voting import agreement


@dataclass
class ConsultRecord:
    case: Case
    triage: TriageDecision | None = None
    specialists: list[Opinion] = field(default_factory=list)
    attending: Decision | None = None
    seconds: float = 0.0

    @property
    def agreement(self) -> str | None:
        """The panel's agreement ("2/3 say yes", "1/3 (no majority)"): see ``voting.agreement``."""
        return agreement(self.specialists, self.case.options)

    @property
    def no_decision(self) -> str | None:
        """Why no decision was reached (the attending, the one agent that decides, failed), else None."""
        attending = self.attending
        if attending is not None and attending.error is None:
            return None
        failed = sum(1 for o in self.specialists if o.error and not o.declined)
        panel = f"; {failed} of {len(self.specialists)} specialists failed too" if failed else ""
        return f"the attending physician failed ({attending.error if attending else 'it did not run'}){panel}"

    def to_dict(self, image: str = "") -> dict:
        return {
            "image": image,
            "question": self.case.question,
            "options": self.case.options,
            "scan": self.case.meta,
            "triage": self.triage.to_dict() if self.triage else None,
            "specialists": [o.to_dict() for o in self.specialists],
            "attending": self.attending.to_dict() if self.attending else None,
            "agreement": self.agreement,
            "seconds": round(self.seconds, 3),
            "disclaimer": DISCLAIMER,
        }
