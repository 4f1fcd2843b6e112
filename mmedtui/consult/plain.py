"""``consult --plain``: Rich panels printed as each step of the consultation finishes."""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from mmedtui import DISCLAIMER
from mmedtui.agents.roles import Decision, Opinion, TriageDecision
from mmedtui.consult.display import clean as _clean_codes
from mmedtui.consult.display import invalid_text, probability_text, readable
from mmedtui.consult.events import Event
from mmedtui.consult.record import ConsultRecord
from mmedtui.tasks.scoring import lettered


def clean(text: str | None) -> str:
    """Model and server text is untrusted: terminal control codes and bidi overrides are defused (CRLF kept)."""
    return _clean_codes((text or "").replace("\r\n", "\n"))


def _safe(text: str) -> str:
    """Untrusted text for a markup string: control codes defused, brackets escaped."""
    return escape(clean(text))


def _note(result: Opinion | Decision) -> str:
    """' (p = 0.82)' after an answer, where there is a probability or the answer was scored onto an option."""
    note = probability_text(result)
    return f" [dim]({_safe(note)})[/]" if note else ""


class PlainView:
    def __init__(self, scan, question: str, options: list[str] | None = None, console: Console | None = None):
        self.console = console or Console()
        meta = scan.meta
        facts = [f"{meta.format} {meta.width}x{meta.height}"]
        facts += [v for v in (meta.modality, meta.body_part) if v]
        body = Text(clean(question), style="bold")
        if options:
            body.append(clean("\n" + "  ".join(lettered(options))))
        title = escape(clean(f"{meta.source} - {', '.join(facts)}"))  # a file name is not markup
        self.console.print(Panel(body, title=title, subtitle=DISCLAIMER, border_style="cyan"))

    def on_event(self, event: Event) -> None:
        if event.status == "started":
            return
        result = event.result
        if isinstance(result, TriageDecision):
            how = {"scored": " (most likely by the model)", "default": " (fallback)"}.get(result.fallback or "", "")
            self._card("Triage", f"[bold]{_safe(result.department)}[/]{how}", result.rationale, event.error)
        elif isinstance(result, Opinion):
            self._card(
                f"{result.name} - {result.department}",
                f"[bold]{_safe(result.answer or '-')}[/]{_note(result)}",
                result.reasoning,
                result.error,
                invalid=invalid_text(result),
                declined=result.declined,
            )
        elif isinstance(result, Decision):
            invalid = invalid_text(result)
            if invalid:  # never printed like a decision
                lines = f"[bold yellow]no valid answer[/] [dim](it answered: {_safe(result.answer or '-')})[/]"
            else:
                lines = f"[bold green]{_safe(result.answer or '-')}[/]{_note(result)}"
            if result.agreement:
                lines += f"\npanel agreement: {_safe(result.agreement)}"
            if result.followed:
                lines += f"\nfollowed: {_safe(', '.join(result.followed))}"
            if result.overruled:
                lines += f"\noverruled: {_safe(', '.join(result.overruled))}"
            if result.votes:
                lines += f"\nsampled answers: {_safe(', '.join(result.votes))}"
            self._card("Attending physician", lines, result.reasoning, result.error, style="green", invalid=invalid)

    def _card(
        self,
        title: str,
        headline: str,
        reasoning: str,
        error: str | None,
        style: str = "blue",
        invalid: str | None = None,
        declined: bool = False,
    ) -> None:
        parts = [Text.from_markup(headline)]
        if reasoning:
            parts.append(Text(clean(readable(reasoning)), style="dim"))
        if error:  # a decline is no answer by design, not a failure
            line = f"{'declined' if declined else 'failed'}: {clean(error)}"
            parts.append(Text(line, style="dim" if declined else "red"))
        elif invalid:
            parts.append(Text(f"WARNING: not a valid answer ({clean(invalid)})", style="bold yellow"))
        border = "dim" if declined else "red" if error else "yellow" if invalid else style
        self.console.print(Panel(Group(*parts), title=_safe(title), border_style=border))

    def finish(self, record: ConsultRecord) -> None:
        self.console.print(f"[dim]{record.seconds:.2f} s - {DISCLAIMER}[/]")
