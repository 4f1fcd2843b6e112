"""The consultation's widgets: the scan pane, one card per step, and the small screens (help, path prompt).

Cards only display what the pipeline's events carry (``TriageDecision``, ``Opinion``, ``Decision``); all
model text goes through ``clean`` and is never parsed as markup.
"""

from __future__ import annotations

import os
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Collapsible, Input, Static

from mmedtui import DISCLAIMER
from mmedtui.agents.roles import Decision, Opinion, TriageDecision
from mmedtui.consult.display import clean, invalid_text, probability_text, readable
from mmedtui.tui.image import display_copy

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def _text(text: str | None, style: str = "") -> Content:
    """Model or file text as literal content (no markup), optionally styled."""
    content = Content(clean(text).strip())
    return content.stylize(style) if style else content


class Spinner(Widget):
    """A one-line braille spinner with a label. Repaints only itself (no layout pass) while shown."""

    DEFAULT_CSS = "Spinner { height: 1; width: 1fr; }"
    frame = reactive(0)

    def __init__(self, label: str = "thinking…", **kwargs) -> None:
        super().__init__(**kwargs)
        self.label = label

    def on_mount(self) -> None:
        self.set_interval(0.1, self._advance)

    def _advance(self) -> None:
        if self.display:
            self.frame = (self.frame + 1) % len(SPINNER)

    def render(self) -> Content:
        return Content.assemble((SPINNER[self.frame], "bold $accent"), " ", (self.label, "dim"))


class TopBar(Widget):
    """One line: what is open on the left, how the consultation stands on the right. Repaints only itself."""

    DEFAULT_CSS = "TopBar { height: 1; }"
    left: reactive[Content] = reactive(Content(""))
    right: reactive[Content] = reactive(Content(""))

    def render(self) -> Content:
        width = self.content_region.width
        gap = max(2, width - self.left.cell_length - self.right.cell_length)
        return Content.assemble(self.left, " " * gap, self.right)

    @property
    def plain(self) -> str:
        return f"{self.left.plain}  {self.right.plain}"


# --- the scan ------------------------------------------------------------------------------------
class ScanPane(Vertical):
    """The scan drawn by textual-image (or a placeholder), with its non-identifying metadata under it."""

    def __init__(self, scan, image_cls: type | None, note: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.scan = scan
        self.image_cls = image_cls
        self.note = note  # shown in place of the image when none is drawn

    def compose(self) -> ComposeResult:
        with Container(id="image-box"):
            if self.image_cls is None:
                yield Static(Content(f"no image drawn\n({self.note or 'image renderer: none'})"), id="scan-placeholder")
            else:
                yield self.image_cls(display_copy(self.scan.image), id="scan-image")
        yield Static(self._meta_content(), id="scan-meta")

    def on_mount(self) -> None:
        self.border_title = "Scan"

    def _meta_content(self) -> Content:
        meta = self.scan.meta
        size = f"{meta.format} · {meta.width}×{meta.height} px"
        if meta.frames > 1:
            size += f" · frame {meta.frame + 1}/{meta.frames}"
        rows = [Content.styled(clean(meta.source), "bold"), Content(size)]
        for label, value in (("modality ", meta.modality), ("body part", meta.body_part)):
            rows.append(Content.assemble((label, "dim"), " ", clean(value) if value else ("not recorded", "dim")))
        return Content("\n").join(rows)

    def set_scan(self, scan) -> None:
        self.scan = scan
        if self.image_cls is not None:
            self.query_one("#scan-image").image = display_copy(scan.image)
        self.query_one("#scan-meta", Static).update(self._meta_content())


# --- cards ---------------------------------------------------------------------------------------
class Card(Vertical):
    """A bordered card with a title, a spinner while its step runs, a headline, reasoning and an error.

    Its parts exist from ``__init__`` on, so a result can be shown before the card is mounted.
    """

    state = reactive("running")

    def __init__(self, title: str, subtitle: str = "", spinner: str = "thinking…", **kwargs) -> None:
        super().__init__(**kwargs)
        self.border_title = Content(clean(title))  # Content: a name is never read as markup
        self.border_subtitle = Content(clean(subtitle))
        self.spinner = Spinner(spinner, classes="spinner")
        self.headline = Static(classes="headline -empty")
        self.reasoning = Static(classes="reasoning -empty")
        self.error = Static(classes="error -empty")
        self.add_class("-running")

    def compose(self) -> ComposeResult:
        yield self.spinner
        yield self.headline
        yield self.reasoning
        yield self.error

    def watch_state(self, old: str, new: str) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")

    @staticmethod
    def _set(widget: Static, content: Content | None) -> None:
        widget.update(content if content is not None else "")
        widget.set_class(content is None or not content.plain.strip(), "-empty")

    def show_result(
        self,
        headline: Content | None,
        reasoning: str | None,
        error: str | None,
        invalid: str | None = None,
        declined: bool = False,
    ) -> None:
        """``invalid``: why an answer that came back is not valid; the card then warns instead of passing.
        ``declined``: ``error`` is the backend's reason for not answering (no answer by design, not a failure)."""
        self.spinner.display = False
        self._set(self.headline, headline)
        self._set(self.reasoning, _text(readable(reasoning)) if reasoning and reasoning.strip() else None)
        if error:
            label = "– declined: " if declined else "✗ failed: "
            self._set(self.error, Content.assemble((label, "bold"), clean(error)))
        else:
            self._set(self.error, Content.assemble(("⚠ not valid: ", "bold"), clean(invalid)) if invalid else None)
        self.state = "declined" if error and declined else "failed" if error else "invalid" if invalid else "done"


def _answer_line(result: Opinion | Decision) -> Content:
    """The answer in bold, then its probability (and 'likeliest option' when scored onto one), dim."""
    note = probability_text(result)
    return Content.assemble((clean(result.answer).strip(), "bold"), (f"  {note}" if note else "", "dim"))


class TriageCard(Card):
    def __init__(self, name: str = "Triage doctor", **kwargs) -> None:
        super().__init__("Triage", name or "Triage doctor", spinner="choosing a department…", **kwargs)
        self.department = ""

    def show(self, result: TriageDecision | None, error: str | None = None) -> None:
        if result is None:
            self.show_result(None, None, error or "no decision")
            return
        self.department = result.department
        note = {"scored": "  (model's most likely)", "default": "  (fallback)"}.get(result.fallback or "", "")
        headline = Content.assemble(("→ ", "$accent"), (clean(result.department), "bold"), (note, "dim"))
        self.show_result(headline, result.rationale, None)
        if error:  # the model failed but the pipeline fell back to a department: show both
            self._set(self.error, Content.assemble(("✗ model failed: ", "bold"), clean(error)))
            self.state = "failed"


class OpinionCard(Card):
    def __init__(self, name: str, department: str = "", **kwargs) -> None:
        super().__init__(name or "Specialist", department, **kwargs)

    def show(self, result: Opinion | None, error: str | None = None) -> None:
        if result is not None and result.department:
            self.border_subtitle = Content(clean(result.department))
        error = error or (result.error if result else "no opinion")
        headline = _answer_line(result) if result and result.answer else None
        self.show_result(
            headline,
            result.reasoning if result else None,
            error,
            invalid_text(result) if result else None,
            declined=bool(result and result.declined),
        )


class DecisionCard(Card):
    """The attending physician's answer, whom it followed or overruled, and its reasoning (collapsible)."""

    def __init__(self, name: str = "Attending physician", show_reasoning: bool = True, **kwargs) -> None:
        super().__init__("Decision", name or "Attending physician", spinner="weighing the opinions…", **kwargs)
        self.verdict = Static(classes="verdict -empty")
        self.reasoning_text = Static(classes="decision-reasoning-text")
        self.collapsible = Collapsible(
            self.reasoning_text, title="Reasoning", collapsed=not show_reasoning, classes="decision-reasoning"
        )
        self.collapsible.display = False

    def compose(self) -> ComposeResult:
        yield self.spinner
        yield self.headline
        yield self.verdict
        yield self.error
        yield self.collapsible

    def set_reasoning_visible(self, visible: bool) -> None:
        self.collapsible.collapsed = not visible

    def show(self, result: Decision | None, error: str | None = None) -> None:
        error = error or (result.error if result else "no decision")
        invalid = invalid_text(result) if result else None
        if invalid:  # never shown like a decision: a warning headline, the text it gave under it
            headline = Content.assemble(
                ("⚠ no valid answer", "bold $warning"), ("  it answered: ", "dim"), clean(result.answer).strip()
            )
        else:
            headline = _answer_line(result) if result and result.answer else None
        self.show_result(headline, None, error, invalid)
        lines = []
        if result is not None:
            if result.agreement:
                lines.append(Content.assemble(("  panel      ", "dim"), clean(result.agreement)))
            if result.followed:
                lines.append(Content.assemble(("✓ followed   ", "$success"), clean(", ".join(result.followed))))
            if result.overruled:
                lines.append(Content.assemble(("✗ overruled  ", "$warning"), clean(", ".join(result.overruled))))
            if result.votes:
                lines.append(Content.assemble(("  sampled    ", "dim"), clean(", ".join(result.votes))))
        self._set(self.verdict, Content("\n").join(lines) if lines else None)
        reasoning = readable(result.reasoning if result else "")
        self.reasoning_text.update(_text(reasoning))
        self.collapsible.display = bool(reasoning.strip())


class ConsultView(VerticalScroll):
    """The right-hand column's cards, rebuilt for every question. Cards are found by key, not DOM id."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cards: dict[str, Card] = {}

    def reset(self) -> None:
        self.cards = {}
        self.remove_children()
        self.scroll_home(animate=False)

    def ensure(self, key: str, factory) -> Card:
        card = self.cards.get(key)
        if card is None:
            card = self.cards[key] = factory()
            self.mount(card)
        return card


class QuestionInput(Input):
    """The question box; its border says what the keys do in each state."""

    IDLE_HINT, EDIT_HINT = "a to edit · enter to ask", "enter to ask · esc to cancel"

    def on_mount(self) -> None:
        self.border_title = "Question"
        self.border_subtitle = self.IDLE_HINT

    def on_focus(self) -> None:
        self.border_subtitle = self.EDIT_HINT

    def on_blur(self) -> None:
        self.border_subtitle = self.IDLE_HINT


# --- small screens -------------------------------------------------------------------------------
class PathSuggester(Suggester):
    """Completes file-system paths as you type (→ accepts)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        expanded = os.path.expanduser(value)
        folder, _, prefix = expanded.rpartition(os.sep)
        base = Path(folder + os.sep if folder or expanded.startswith(os.sep) else ".")
        try:
            names = sorted(
                e.name
                for e in os.scandir(base)
                if e.name.startswith(prefix) and (prefix.startswith(".") or not e.name.startswith("."))
            )
        except OSError:
            return None
        if not names or names[0] == prefix:
            return None
        completed = value[: len(value) - len(prefix)] + names[0]
        return completed + (os.sep if (base / names[0]).is_dir() else "")


class PathPrompt(ModalScreen[str | None]):
    """Ask for a path (open an image, save a transcript). Dismisses with the text, or None on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str = "", hint: str = "", placeholder: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.prompt_title, self.hint = title, hint
        self.initial_value, self.input_placeholder = value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Content(self.prompt_title), id="dialog-title")
            yield Input(
                value=self.initial_value, placeholder=self.input_placeholder, suggester=PathSuggester(), id="path-input"
            )
            yield Static(Content(self.hint), id="dialog-hint")
            yield Static(
                Content.assemble(
                    ("enter", "bold"), " ok  ", ("esc", "bold"), " cancel  ", ("→", "bold"), " complete the path"
                ),
                id="dialog-keys",
            )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def submit(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


HELP_KEYS = (
    ("a", "ask another question about this scan (then enter)"),
    ("r", "rerun the consultation"),
    ("o f", "open another image by path / with the file picker"),
    ("n p", "next / previous image in the same folder"),
    ("+ -", "zoom in / out"),
    ("shift+arrows", "pan a zoomed scan"),
    ("w  [ ]", "CT window (brain, lung, bone, abdomen) / DICOM frame"),
    ("t", "show / hide the reasoning"),
    ("s", "save the transcript (Markdown + JSON; see mmedtui history)"),
    ("h", "this session's consultations (enter reviews one)"),
    ("ctrl+p", "command palette: every action, themes"),
    ("↑ ↓ pgup pgdn", "scroll the consultation"),
    ("esc", "leave the question box / close a dialog"),
    ("? f1", "this help"),
    ("q ctrl+q", "quit"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark,f1", "close", "Close")]

    def __init__(self, renderer: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.renderer = renderer

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Content.assemble(("Keys", "bold")), id="help-title")
            rows = [Content.assemble((f"{key:<14}", "bold $accent"), what) for key, what in HELP_KEYS]
            yield Static(Content("\n").join(rows), id="help-keys")
            yield Static(
                Content(
                    "Triage picks a department; its specialists answer; the attending physician decides, "
                    "following or overruling them. Every opinion stays on screen for audit. A new question "
                    "or image supersedes the running one."
                ),
                id="help-about",
            )
            yield Static(Content.assemble(("⚠ ", "bold"), (DISCLAIMER, "bold")), id="help-disclaimer")
            footer = "esc closes"
            if self.renderer:
                footer = f"image renderer: {self.renderer}  ·  {footer}"
            yield Static(Content(footer), id="help-close")

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "mmedtui consult · help"

    def action_close(self) -> None:
        self.dismiss(None)
