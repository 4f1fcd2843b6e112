"""``consult --plain``: Rich panels printed as each step of the consultation finishes."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from mmedtui import DISCLAIMER
from mmedtui.agents.roles import Decision, Opinion, TriageDecision
from mmedtui.consult.events import Event
from mmedtui.consult.record import ConsultRecord


class PlainView:
    def __init__(self, scan, question: str, options: list[str] | None = None, console: Console | None = None):
        self.console = console or Console()
        meta = scan.meta
        facts = [f"{meta.format} {meta.width}x{meta.height}"]
        facts += [v for v in (meta.modality, meta.body_part) if v]
        body = Text(question, style="bold")
        if options:
            body.append("\n" + "  ".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(options)))
        self.console.print(Panel(body, title=f"{meta.source} - {', '.join(facts)}", subtitle=DISCLAIMER,
                                 border_style="cyan"))

    def on_event(self, event: Event) -> None:
        if event.status == "started":
            return
        result = event.result
        if isinstance(result, TriageDecision):
            how = {"scored": " (most likely by the model)", "default": " (fallback)"}.get(result.fallback or "", "")
            self._card("Triage", f"[bold]{escape(result.department)}[/]{how}", result.rationale, event.error)
        elif isinstance(result, Opinion):
            self._card(f"{result.name} - {result.department}", f"[bold]{escape(result.answer or '-')}[/]",
                       result.reasoning, result.error)
        elif isinstance(result, Decision):
            lines = f"[bold green]{escape(result.answer or '-')}[/]"
            if result.followed:
                lines += f"\nfollowed: {escape(', '.join(result.followed))}"
            if result.overruled:
                lines += f"\noverruled: {escape(', '.join(result.overruled))}"
            if result.votes:
                lines += f"\nsampled answers: {escape(', '.join(result.votes))}"
            self._card("Attending physician", lines, result.reasoning, result.error, style="green")

    def _card(self, title: str, headline: str, reasoning: str, error: str | None, style: str = "blue") -> None:
        parts = [Text.from_markup(headline)]
        if reasoning:
            parts.append(Text(reasoning, style="dim"))
        if error:
            parts.append(Text(f"failed: {error}", style="red"))
        self.console.print(Panel(Group(*parts), title=title, border_style="red" if error else style))

    def finish(self, record: ConsultRecord) -> None:
        self.console.print(f"[dim]{record.seconds:.2f} s - {DISCLAIMER}[/]")
