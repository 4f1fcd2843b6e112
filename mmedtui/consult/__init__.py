"""The consultation: triage -> specialist panel -> attending, as a stream of events (one pipeline, many views)."""

from mmedtui.agents.case import Case
from mmedtui.consult.events import Event
from mmedtui.consult.pipeline import Pipeline
from mmedtui.consult.record import ConsultRecord

__all__ = ["Case", "ConsultRecord", "Event", "Pipeline"]
