"""The consultation app: the scan on the left, the consultation unfolding on the right.

The app holds no model logic: a thread worker runs ``Pipeline(panel).run`` and turns each pipeline
``Event`` into a message. Every run is tagged with a generation number; a message from an older run
(an earlier question, a previous image) is dropped, and the older run stops at its next step.

The app wires widgets, keys and messages; the rest lives beside it: ``messages`` (what the workers post),
``scan_tools`` (opening files, zoom, windows, frames), ``session`` (the consultations kept this session and
reviewing one), ``saving`` (the ``s`` key's transcript).
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
from textual.widgets import Footer, Input, OptionList, Static
from textual.worker import get_current_worker

from mmedtui import DISCLAIMER
from mmedtui.agents.case import MAX_QUESTION_CHARS
from mmedtui.consult import Case, ConsultRecord, Event, Pipeline
from mmedtui.consult.display import clean
from mmedtui.errors import error_line
from mmedtui.tasks.choices import question_options
from mmedtui.tasks.scoring import lettered
from mmedtui.tui.image import renderer_label
from mmedtui.tui.messages import ConsultDone, ConsultFailed, ConsultStep, Superseded
from mmedtui.tui.saving import TranscriptSavingMixin
from mmedtui.tui.scan_tools import SCAN_BINDINGS, ScanToolsMixin
from mmedtui.tui.session import SessionMixin
from mmedtui.tui.widgets import (
    SPINNER,
    Card,
    ConsultView,
    DecisionCard,
    HelpScreen,
    OpinionCard,
    QuestionInput,
    ScanPane,
    TopBar,
    TriageCard,
)


class ConsultApp(ScanToolsMixin, SessionMixin, TranscriptSavingMixin, App):
    CSS_PATH = "app.tcss"
    TITLE = "mmedtui"
    ENABLE_COMMAND_PALETTE = True  # ctrl+p: the app's actions below, and Textual's themes
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
        Binding("h", "history", "History", show=False),
        *SCAN_BINDINGS,
    ]

    def __init__(
        self,
        scan,
        question: str,
        panel,
        image_cls: type | None,
        options: list[str] | None = None,
        renderer: str = "",
        auto_options: bool = True,
        save_dir: Path | None = None,
        image_path: Path | None = None,
        warning: str = "",
        allow_burned_in: bool = False,
    ) -> None:
        super().__init__()
        self.scan, self.panel = scan, panel
        self.save_dir = save_dir  # None: the per-user consultations folder (history.consultations_dir)
        self.image_path = Path(image_path).absolute() if image_path else None  # for next / previous, frames
        self.allow_burned_in = allow_burned_in  # a scan opened here is checked as the command line's was
        self.start_warning = warning  # shown once when the app starts (e.g. a graphics protocol inside tmux)
        self.question = question.strip()
        self.options = list(options) if options else None
        self.auto_options = auto_options  # a closed question without options gets them (choices.question_options)
        self.image_cls, self.renderer = image_cls, renderer or renderer_label(image_cls)
        self.generation = 0  # bumped by every new run; messages of older runs are dropped
        self.scan_ticket = 0  # same for image loads
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
        self.scan_pane = ScanPane(self.scan, self.image_cls, note=f"image renderer: {self.renderer}", id="scan-pane")
        self.question_box = QuestionInput(
            value=self.question,
            placeholder="Ask a question about this scan",
            max_length=MAX_QUESTION_CHARS,
            id="question",
        )  # a longer paste is refused
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
        self.mount_scan_tools()
        self.mount_session()
        self.cards.focus()
        if self.start_warning:
            self.notify(self.start_warning, title="Image renderer", severity="warning", markup=False, timeout=10)
        self.start_consult(self.question, self.options)

    def get_system_commands(self, screen):
        """The command palette (ctrl+p): Textual's own (themes, keys, quit) and every action of the app."""
        from textual.app import SystemCommand

        yield from super().get_system_commands(screen)
        for title, help_text, action in PALETTE:
            if not self.scan_action_available(action.split("(")[0]):
                continue
            yield SystemCommand(title, help_text, lambda a=action: self.run_action(a))

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
                raise Superseded
            self.post_message(ConsultStep(generation, event))

        def run() -> None:
            try:
                with self._pipeline_lock:  # a superseded run holds it until its next step
                    if not current():
                        return
                    try:
                        record = Pipeline(self.panel).run([case], emit=emit)[0]
                    except Superseded:
                        return
                    except Exception as exc:  # noqa: BLE001 - a broken run is shown, never a crash
                        self.post_message(ConsultFailed(generation, error_line(exc)))
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
        self.keep_consultation(message.record)
        self._finished = time.monotonic() - self._started
        self._status_timer.pause()
        self._tick_status()

    @on(ConsultFailed)
    def _on_failed(self, message: ConsultFailed) -> None:
        if message.generation != self.generation:
            return
        self.running = False
        self.note_broken_run(message.error)
        self._status_timer.pause()
        for card in self.cards.query(Card):
            if card.state == "running":
                card.show_result(None, None, "not run")
        self._phase = "failed"
        self._tick_status()
        self.notify(message.error, title="The consultation failed", severity="error", markup=False, timeout=10)

    def _tick_status(self) -> None:
        bar = self.topbar
        left = Content.assemble(("mmedtui", "bold"), ("  ·  ", "dim"), clean(self.scan.meta.source))
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
        return super().check_action(action, parameters)  # the scan tools hide panning until zoomed

    async def action_quit(self) -> None:
        """Quit (q, ctrl+q, the palette); the app's result is why the latest consultation reached no decision
        (None when it did, or when none finished), which the CLI turns into exit 3."""
        self.exit(self.no_decision)

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

    @on(OptionList.OptionSelected, "#session")
    def _review(self, event: OptionList.OptionSelected) -> None:
        self.review(event.option_index)

    def _show_options(self) -> None:
        box = self.options_line
        if self.options:
            box.update(Content.assemble(("options  ", "dim"), clean("   ".join(lettered(self.options)))))
        box.display = bool(self.options)


# (title, help, action) of the command palette: every key's action, findable by name.
PALETTE = (
    ("Ask a question", "Edit the question and ask it (a)", "ask"),
    ("Rerun", "Run the consultation again (r)", "rerun"),
    ("Open an image by path", "Type the path of another scan (o)", "open"),
    ("Open with the file picker", "Browse folders for a scan (f)", "pick"),
    ("Next image", "The next scan in the same folder (n)", "step_image(1)"),
    ("Previous image", "The previous scan in the same folder (p)", "step_image(-1)"),
    ("Zoom in", "Zoom into the centre of the scan (+)", "zoom(1)"),
    ("Zoom out", "Back towards the whole scan (-)", "zoom(-1)"),
    ("Pan left", "Move a zoomed view of the scan left (shift+left)", "pan(-1, 0)"),
    ("Pan right", "Move a zoomed view of the scan right (shift+right)", "pan(1, 0)"),
    ("Pan up", "Move a zoomed view of the scan up (shift+up)", "pan(0, -1)"),
    ("Pan down", "Move a zoomed view of the scan down (shift+down)", "pan(0, 1)"),
    ("Window preset", "CT window: file's own, brain, lung, bone, abdomen (w)", "window"),
    ("Next frame", "The next frame of a multi-frame DICOM (])", "frame(1)"),
    ("Previous frame", "The previous frame of a multi-frame DICOM ([)", "frame(-1)"),
    ("Show or hide the reasoning", "Toggle the reasoning of every card (t)", "toggle_reasoning"),
    ("Save the transcript", "Markdown + JSON in the consultations folder (s)", "save"),
    ("Session history", "Review an earlier consultation of this session (h)", "history"),
    ("Help", "The keys and what the app shows (?)", "help"),
)
