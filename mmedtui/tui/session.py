"""The consultations of this session, kept in a side list so that a new question never loses an earlier one.

``SessionMixin`` is the app's side of it (a mixin of ``ConsultApp``): it keeps each finished consultation and
shows an earlier one again, its scan, question and cards, when one is picked from the list (``h``, enter).
It also remembers whether the latest finished consultation reached a decision: what the app reports when the
user quits, so that ``mmedtui consult`` exits 3 as ``--plain`` and ``--json`` do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from mmedtui.consult.display import clean
from mmedtui.tui.widgets import DecisionCard, OpinionCard, TriageCard


@dataclass
class SessionEntry:
    scan: object  # the Scan consulted on (its display copy is what the list shows again)
    record: object  # the finished ConsultRecord
    image_path: Path | None
    when: float = field(default_factory=time.time)

    def label(self, number: int) -> Content:
        attending = self.record.attending
        if attending is None or attending.error:
            answer = ("no decision", "$error")
        elif not attending.valid:
            answer = ("no valid answer", "$warning")
        else:
            answer = (clean(attending.answer).strip()[:24], "bold")
        question = clean(self.record.case.question).strip()
        return Content.assemble(
            (f"{number}. {time.strftime('%H:%M', time.localtime(self.when))} ", "dim"),
            (clean(self.scan.meta.source)[:24], ""),
            " → ",
            answer,
            ("  ", ""),
            (question[:60], "dim"),
        )


class SessionList(OptionList):
    """One line per finished consultation, newest last; hidden until there are two to choose between."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entries: list[SessionEntry] = []
        self.display = False

    def on_mount(self) -> None:
        self.border_title = "This session"

    def add(self, entry: SessionEntry) -> int:
        """Keep ``entry``; returns its index."""
        self.entries.append(entry)
        self.add_option(Option(entry.label(len(self.entries)), id=f"c{len(self.entries)}"))
        self.display = len(self.entries) > 1
        self.highlighted = len(self.entries) - 1
        return len(self.entries) - 1


class SessionMixin:
    no_decision: str | None = None  # why the latest finished consultation reached no decision; None: it did

    def mount_session(self) -> None:
        self.session = SessionList(id="session")
        self.scan_pane.mount(self.session)

    def keep_consultation(self, record) -> None:
        """Keep a finished consultation (with the scan and file it was asked about) in the session list."""
        self.session.add(SessionEntry(self.scan, record, self.image_path))
        self.no_decision = record.no_decision

    def note_broken_run(self, error: str) -> None:
        """A run that broke (e.g. a model could not be loaded) reached no decision either."""
        self.no_decision = f"the consultation failed ({error})"

    def action_history(self) -> None:
        if len(self.session.entries) < 2:
            self.notify("The session list appears from the second consultation on.", timeout=3)
            return
        self.session.focus()

    def review(self, index: int) -> None:
        """Show consultation ``index`` of this session again: its scan, question and cards."""
        entry = self.session.entries[index]
        if self.running:
            self.generation += 1  # the running one is superseded (its messages are dropped)
            self.running = False
            self._status_timer.pause()
        self.scan, self.image_path, self.record = entry.scan, entry.image_path, entry.record
        self.reset_scan_tools()
        self.scan_pane.set_scan(self.scan)
        self.show_scan_tools()
        record = entry.record
        self.question, self.options = record.case.question, record.case.options
        self.question_box.value = self.question
        self._show_options()
        self.cards.reset()
        if record.triage is not None:
            self.cards.ensure("triage", lambda: TriageCard(self.panel.triage.name)).show(
                record.triage, record.triage.error
            )
        for i, opinion in enumerate(record.specialists):
            card = self.cards.ensure(f"specialist-{i}", lambda o=opinion: OpinionCard(o.name, o.department))
            card.show(opinion, opinion.error)
        if record.attending is not None:
            card = self.cards.ensure("attending", lambda: DecisionCard(self.panel.attending.name, self.show_reasoning))
            card.show(record.attending, record.attending.error)
        self._phase = "" if record.attending is None or not record.attending.error else "failed"
        self._finished = record.seconds
        self._tick_status()
        self.notify(f"Consultation {index + 1} of this session.", timeout=2)
