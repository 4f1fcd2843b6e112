"""The consultation app: the scan on the left, the consultation unfolding on the right.

The app holds no model logic: a thread worker runs ``Pipeline(panel).run`` and turns each pipeline
``Event`` into a message. Every run is tagged with a generation number; a message from an older run
(an earlier question, a previous image) is dropped, and the older run stops at its next step.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from mmedtui import DISCLAIMER
from mmedtui.consult import Case, ConsultRecord, Event, Pipeline
from mmedtui.consult.case import MAX_QUESTION_CHARS
from mmedtui.tasks.choices import question_options
from mmedtui.tui import transcript
from mmedtui.tui.image import renderer_label
from mmedtui.tui.widgets import (
    SPINNER,
    Card,
    ConsultView,
    DecisionCard,
    HelpScreen,
    OpinionCard,
    PathPrompt,
    QuestionInput,
    ScanPane,
    TopBar,
    TriageCard,
)


# --- messages the workers post (thread-safe) ----------------------------------------------------
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
    def __init__(self, ticket: int, scan) -> None:
        super().__init__()
        self.ticket, self.scan = ticket, scan


class ScanFailed(Message):
    def __init__(self, ticket: int, error: str) -> None:
        super().__init__()
        self.ticket, self.error = ticket, error


class _Superseded(Exception):
    """Raised inside an outdated run's emit callback to stop that run early."""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


class ConsultApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "mmedtui"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-normal"), (170, "-wide")]
    BINDINGS = [
        Binding("a", "ask", "Ask"),
        Binding("r", "rerun", "Rerun"),
        Binding("o", "open", "Open"),
        Binding("t", "toggle_reasoning", "Reasoning"),
        Binding("s", "save", "Save"),
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("escape", "leave_input", "Leave", show=False),
    ]

    def __init__(self, scan, question: str, panel, image_cls: type | None, options: list[str] | None = None,
                 renderer: str = "", auto_options: bool = True, save_dir: Path | None = None,
                 image_path: Path | None = None, warning: str = "") -> None:
        super().__init__()
        self.scan, self.panel = scan, panel
        self.save_dir = save_dir      # None: the per-user consultations folder (history.consultations_dir)
        self.image_path = Path(image_path).absolute() if image_path else None  # for next / previous, frames
        self.start_warning = warning  # shown once when the app starts (e.g. a graphics protocol inside tmux)
        self.question = question.strip()
        self.options = list(options) if options else None
        self.auto_options = auto_options  # a closed question without options gets them (choices.question_options)
        self.image_cls, self.renderer = image_cls, renderer or renderer_label(image_cls)
        self.generation = 0          # bumped by every new run; messages of older runs are dropped
        self.scan_ticket = 0         # same for image loads
        self.record: ConsultRecord | None = None  # the latest finished consultation (what "save" writes)
        self.show_reasoning = True
        self.running = False
        self._started = 0.0
        self._phase = ""
        self._finished = 0.0
        self._department = ""
        self._pipeline_lock = threading.Lock()  # one run at a time: backends and seeds are shared

    # -- layout ----------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # Kept as attributes: while a dialog is open, ``self.query`` would search the dialog's screen.
        self.topbar = TopBar(id="topbar")
        self.scan_pane = ScanPane(self.scan, self.image_cls, note=f"image renderer: {self.renderer}",
                                  id="scan-pane")
        self.question_box = QuestionInput(value=self.question, placeholder="Ask a question about this scan",
                                          max_length=MAX_QUESTION_CHARS, id="question")  # a longer paste is refused
        self.options_line = Static(id="options")
        self.cards = ConsultView(id="cards", can_focus=True)
        yield self.topbar
        with Horizontal(id="main"):
            yield self.scan_pane
            with Vertical(id="consult-pane"):
                yield self.question_box
                yield self.options_line
                yield self.cards
        yield Static(Content.assemble(("⚠ ", "bold"), DISCLAIMER), id="disclaimer")
        yield Footer()

    def on_mount(self) -> None:
        self._status_timer = self.set_interval(0.1, self._tick_status, pause=True)  # runs while consulting
        self._show_options()
        self.cards.focus()
        self.start_consult(self.question, self.options)

    # -- running a consultation -------------------------------------------------------------------
    def start_consult(self, question: str, options: list[str] | None = None) -> int:
        """Start a new run (superseding any running one); returns its generation number."""
        self.generation += 1
        if options is None and self.auto_options:
            options = question_options(question)
        self.question, self.options, self.record = question, options, None
        self.running, self._started, self._phase = True, time.monotonic(), "triage"
        self._department = ""
        if self.question_box.value != question:
            self.question_box.value = question
        self._show_options()
        self.cards.reset()
        self.cards.ensure("triage", lambda: TriageCard(self.panel.triage.name))
        case = Case(self.scan.image, question, options, self.scan.meta.to_dict(), id=self.scan.meta.source)
        self._run_pipeline(self.generation, case)
        self._status_timer.resume()
        self._tick_status()
        return self.generation

    @work(thread=True, exclusive=True, group="consult", exit_on_error=False)
    def _run_pipeline(self, generation: int, case: Case) -> None:
        """Run the pipeline in a daemon thread and wait for it, or stop waiting when superseded or quitting.

        The daemon thread is what lets the app quit at once while a model is still loading or generating:
        the abandoned run stops at its next step (its ``emit`` raises) or ends with the process.
        """
        worker = get_current_worker()
        finished = threading.Event()

        def current() -> bool:
            return generation == self.generation and not worker.is_cancelled

        def emit(event: Event) -> None:
            if not current():
                raise _Superseded
            self.post_message(ConsultStep(generation, event))

        def run() -> None:
            try:
                with self._pipeline_lock:  # a superseded run holds it until its next step
                    if not current():
                        return
                    try:
                        record = Pipeline(self.panel).run([case], emit=emit)[0]
                    except _Superseded:
                        return
                    except Exception as exc:  # noqa: BLE001 - a broken run is shown, never a crash
                        self.post_message(ConsultFailed(generation, _one_line(exc)))
                        return
                self.post_message(ConsultDone(generation, record))
            finally:
                finished.set()

        threading.Thread(target=run, name=f"mmedtui-consult-{generation}", daemon=True).start()
        while not finished.wait(0.05):
            if worker.is_cancelled:
                return

    @on(ConsultStep)
    def _on_step(self, message: ConsultStep) -> None:
        if message.generation != self.generation:
            return  # from an earlier question or image: never overwrite the newer one
        event, cards = message.event, self.cards
        self._phase = event.step
        follow = cards.scroll_y >= cards.max_scroll_y - 1  # sticky bottom unless the user scrolled up
        if event.step == "triage":
            card = cards.ensure("triage", lambda: TriageCard(event.name))
        elif event.step == "specialist":
            card = cards.ensure(f"specialist-{event.index}", lambda: OpinionCard(event.name, self._department))
        elif event.step == "attending":
            card = cards.ensure("attending", lambda: DecisionCard(event.name, self.show_reasoning))
        else:
            return
        if event.status != "started":
            card.show(event.result, event.error)
            if event.step == "triage" and event.result is not None:
                self._department = event.result.department
        if follow:
            self._follow()

    def _follow(self) -> None:
        """Keep the newest card in view once the layout has taken the new content in."""
        self.call_after_refresh(lambda: self.call_after_refresh(self.cards.scroll_end, animate=False))

    @on(ConsultDone)
    def _on_done(self, message: ConsultDone) -> None:
        if message.generation != self.generation:
            return
        self.record, self.running = message.record, False
        self._finished = time.monotonic() - self._started
        self._status_timer.pause()
        self._tick_status()

    @on(ConsultFailed)
    def _on_failed(self, message: ConsultFailed) -> None:
        if message.generation != self.generation:
            return
        self.running = False
        self._status_timer.pause()
        for card in self.cards.query(Card):
            if card.state == "running":
                card.show_result(None, None, "not run")
        self._phase = "failed"
        self._tick_status()
        self.notify(message.error, title="The consultation failed", severity="error", markup=False, timeout=10)

    def _tick_status(self) -> None:
        bar = self.topbar
        left = Content.assemble(("mmedtui", "bold"), ("  ·  ", "dim"), transcript.clean(self.scan.meta.source))
        if self.running:
            frame = SPINNER[int(time.monotonic() * 10) % len(SPINNER)]
            steps = {"triage": "triage", "specialist": "specialists", "attending": "attending physician"}
            right = Content.assemble((frame, "bold $accent"), f" consulting: {steps.get(self._phase, '…')}")
        elif self._phase == "failed":
            right = Content.assemble(("✗ ", "bold $error"), "consultation failed")
        elif self.record is not None and self.record.attending is not None and not self.record.attending.valid:
            right = Content.assemble(("⚠ ", "bold $warning"), f"no valid answer ({self._finished:.1f} s)")
        elif self.record is not None:
            right = Content.assemble(("✓ ", "bold $success"), f"decided in {self._finished:.1f} s")
        else:
            right = Content("")
        if not left.is_same(bar.left):
            bar.left = left
        if not right.is_same(bar.right):
            bar.right = right  # an idle app repaints nothing

    # -- actions ------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # While a dialog or the help screen is open, only quitting and the dialog's own keys work.
        if self.screen is not self.screen_stack[0] and action not in ("quit", "help"):
            return False
        return True

    def action_ask(self) -> None:
        self.question_box.focus()
        self.question_box.action_end()

    def action_leave_input(self) -> None:
        if isinstance(self.focused, Input):
            self.question_box.value = self.question
            self.cards.focus()

    @on(Input.Submitted, "#question")
    def _ask(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            self.notify("Type a question first.", severity="warning")
            return
        # Options belong to the question they came with: a new question is free text.
        self.start_consult(question, self.options if question == self.question else None)
        self.cards.focus()

    def action_rerun(self) -> None:
        self.start_consult(self.question, self.options)

    def action_toggle_reasoning(self) -> None:
        self.show_reasoning = not self.show_reasoning
        self.cards.set_class(not self.show_reasoning, "-hide-reasoning")
        for card in self.cards.query(DecisionCard):
            card.set_reasoning_visible(self.show_reasoning)
        self.notify(f"Reasoning {'shown' if self.show_reasoning else 'hidden'}.", timeout=2)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
        elif self.screen is self.screen_stack[0]:
            self.push_screen(HelpScreen(renderer=self.renderer))

    def action_open(self) -> None:
        hint = "PNG, JPEG, BMP, TIFF or DICOM. The current question is asked about it."
        self.push_screen(PathPrompt("Open another image", "", hint, placeholder="path/to/scan.dcm"), self._open_path)

    def _open_path(self, path: str | None) -> None:
        if path:
            self.scan_ticket += 1
            self._load_scan(self.scan_ticket, path)

    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)
    def _load_scan(self, ticket: int, path: str) -> None:
        import os

        from mmedtui.imaging import load_scan

        try:
            scan = load_scan(os.path.expanduser(path))
        except Exception as exc:  # noqa: BLE001 - ImageError is one line naming the file; others too
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.post_message(ScanFailed(ticket, message))
        else:
            self.post_message(ScanLoaded(ticket, scan))

    @on(ScanLoaded)
    def _on_scan_loaded(self, message: ScanLoaded) -> None:
        if message.ticket != self.scan_ticket:
            return
        self.scan = message.scan
        self.scan_pane.set_scan(self.scan)
        self.notify(f"Opened {self.scan.meta.source}.", markup=False, timeout=3)
        self.start_consult(self.question, self.options)

    @on(ScanFailed)
    def _on_scan_failed(self, message: ScanFailed) -> None:
        if message.ticket == self.scan_ticket:
            self.notify(message.error, title="Cannot open the image", severity="error", markup=False, timeout=8)

    def default_transcript_stem(self) -> str:
        return f"{Path(self.scan.meta.source).stem or 'scan'}-consult"

    def action_save(self) -> None:
        if self.record is None:
            what = "still running" if self.running else "not finished"
            self.notify(f"Nothing to save yet: the consultation is {what}.", severity="warning")
            return
        hint = f"Writes NAME.md and NAME.json (no patient data, no full paths). Folder: {Path.cwd()}"
        self.push_screen(PathPrompt("Save the transcript as", f"{self.default_transcript_stem()}.md", hint),
                         self._save_to)

    def _save_to(self, target: str | None) -> None:
        if not target or self.record is None:
            return
        self.save_transcript(target)

    def save_transcript(self, target: str) -> tuple[Path, Path] | None:
        """Write the latest consultation as Markdown + JSON at ``target``; errors become a notification."""
        try:
            md_path, json_path = transcript.save(
                self.record, self.scan.meta.source, target, self.default_transcript_stem(),
                triage_name=self.panel.triage.name, attending_name=self.panel.attending.name)
        except OSError as exc:
            reason = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)
            self.notify(reason, title="Cannot save the transcript", severity="error", markup=False, timeout=8)
            return None
        self.notify(f"Saved {md_path.name} and {json_path.name}\nin {md_path.parent}", title="Transcript saved",
                    markup=False, timeout=5)
        return md_path, json_path

    def _show_options(self) -> None:
        box = self.options_line
        if self.options:
            box.update(Content.assemble(("options  ", "dim"), transcript.clean(
                "   ".join(f"{chr(65 + i)}. {o}" for i, o in enumerate(self.options)))))
        box.display = bool(self.options)
