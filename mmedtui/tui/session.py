"""The consultations of this session, kept in a side list so that a new question never loses an earlier one."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from mmedtui.tui.transcript import clean


@dataclass
class SessionEntry:
    scan: object                 # the Scan consulted on (its display copy is what the list shows again)
    record: object               # the finished ConsultRecord
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
        return Content.assemble((f"{number}. {time.strftime('%H:%M', time.localtime(self.when))} ", "dim"),
                                (clean(self.scan.meta.source)[:24], ""), " → ", answer, ("  ", ""),
                                (question[:60], "dim"))


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
