"""The messages the app's workers post (thread-safe): each step of a consultation run, and scans loaded.

Every run carries its generation number and every load its ticket, so that the app drops a message of an
older run or load (an earlier question, a previous image).
"""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from mmedtui.consult import ConsultRecord, Event


class ConsultStep(Message):
    """One pipeline event (a step started, finished or failed) of run ``generation``."""

    def __init__(self, generation: int, event: Event) -> None:
        super().__init__()
        self.generation, self.event = generation, event


class ConsultDone(Message):
    def __init__(self, generation: int, record: ConsultRecord) -> None:
        super().__init__()
        self.generation, self.record = generation, record


class ConsultFailed(Message):
    """The run itself broke (e.g. a model could not be loaded); per-agent failures arrive as steps."""

    def __init__(self, generation: int, error: str) -> None:
        super().__init__()
        self.generation, self.error = generation, error


class ScanLoaded(Message):
    """A file (re)loaded: ``restart`` for a new scan (a new consultation), not for another frame or window."""

    def __init__(self, ticket: int, scan, path: Path | None = None, restart: bool = True) -> None:
        super().__init__()
        self.ticket, self.scan, self.path, self.restart = ticket, scan, path, restart


class ScanFailed(Message):
    def __init__(self, ticket: int, error: str) -> None:
        super().__init__()
        self.ticket, self.error = ticket, error


class Superseded(Exception):
    """Raised inside an outdated run's emit callback to stop that run early."""
