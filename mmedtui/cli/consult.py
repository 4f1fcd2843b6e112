"""``mmedtui consult [IMAGE]``: one consultation, shown in the Textual app, as Rich panels, or as JSON.

With no IMAGE it opens a shipped sample scan (``--sample NAME``) with a question that fits it. Exit 3 when no
decision was reached (the attending physician failed): the record is still printed, the reason goes to stderr.
In the app, the consultation that counts is the session's latest finished one, and the reason is printed once
the app has closed.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path

import typer

from mmedtui.errors import UserError
from mmedtui.samples import SAMPLE_NAMES

DEFAULT_QUESTION = "What abnormality, if any, is seen in this image?"
NO_DECISION = 3  # design.md: a consultation that reached no decision because every agent that could decide failed


class ImageMode(str, Enum):
    auto = "auto"
    tgp = "tgp"
    sixel = "sixel"
    halfcell = "halfcell"
    unicode = "unicode"
    none = "none"


def consult(
    image: Path | None = typer.Argument(
        None,
        metavar="IMAGE",
        show_default=False,
        help="PNG, JPEG, BMP, TIFF or DICOM file (default: a shipped sample scan, see --sample).",
    ),
    question: str | None = typer.Option(
        None,
        "-q",
        "--question",
        show_default=False,
        help=f"The question about the image (default: the sample's own, else {DEFAULT_QUESTION!r}).",
    ),
    sample: str | None = typer.Option(
        None,
        "--sample",
        metavar="NAME",
        help=f"Open a shipped sample scan instead of IMAGE: {', '.join(SAMPLE_NAMES)} (default {SAMPLE_NAMES[0]}).",
    ),
    options: str = typer.Option("", "--options", help="Multiple choice: options separated by '|'."),
    free_text: bool = typer.Option(
        False,
        "--free-text",
        help="Ask a yes/no or 'A or B?' question without "
        "options (by default it gets them: the form the agents are trained on).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object; no TUI."),
    plain: bool = typer.Option(False, "--plain", help="Print readable panels as the steps finish; no TUI."),
    agents: Path | None = typer.Option(None, "--agents", help="Agent panel YAML (default: assets/panel.yaml)."),
    trust_remote_code: bool = typer.Option(
        False,
        "--trust-remote-code",
        help="Let panel models marked trust_remote_code run their folder's own Python (printed first).",
    ),
    image_mode: ImageMode = typer.Option(ImageMode.auto, "--image-mode", help="Terminal image renderer."),
    frame: int | None = typer.Option(None, "--frame", help="Frame of a multi-frame DICOM (default: middle)."),
    allow_burned_in: bool = typer.Option(
        False,
        "--allow-burned-in",
        help="Send a DICOM marked BurnedInAnnotation YES (text such as a name drawn into the pixels) to remote models.",
    ),
    save_dir: Path | None = typer.Option(
        None,
        "--save-dir",
        help="Where the app saves transcripts (default: $XDG_DATA_HOME/mmedtui/consultations, see `mmedtui history`).",
    ),
) -> None:
    """Consult the triage doctor, the specialist panel and the attending physician about a scan."""
    from mmedtui.agents.case import check_question
    from mmedtui.agents.panel import load_panel
    from mmedtui.agents.panel_checks import check_burned_in
    from mmedtui.imaging import load_scan

    if as_json and plain:
        raise UserError("--json and --plain exclude each other (pick one output)")
    image, question = _image_and_question(image, sample, question)
    check_question(question)
    scan = load_scan(image, frame=frame)
    panel = load_panel(agents, trust_remote_code)
    check_burned_in(scan.meta, panel.models, allow_burned_in)
    choices = [o.strip() for o in options.split("|") if o.strip()] or None
    if choices is None and not free_text:
        from mmedtui.tasks.choices import question_options

        choices = question_options(question)
    if not (as_json or plain) and sys.stdout.isatty():
        _run_tui(scan, question, panel, image_mode.value, choices, free_text, save_dir, Path(image), allow_burned_in)
        return
    from mmedtui.consult import Case, Pipeline

    case = Case(scan.image, question, choices, scan.meta.to_dict(), id=scan.meta.source)
    try:
        if as_json:
            record = Pipeline(panel).run([case])[0]
            print(json.dumps(record.to_dict(image=scan.meta.source), ensure_ascii=False, indent=2))
        else:
            from mmedtui.consult.plain import PlainView

            view = PlainView(scan, question, choices)
            record = Pipeline(panel).run([case], emit=view.on_event)[0]
            view.finish(record)
    finally:
        panel.close()
    _exit_if_undecided(record.no_decision)


def _exit_if_undecided(reason: str | None) -> None:
    """Exit 3 with the one-line reason on stderr when the consultation reached no decision."""
    if reason:
        sys.stdout.flush()
        typer.echo(f"mmedtui: no decision: {reason}", err=True)
        raise SystemExit(NO_DECISION)


def _image_and_question(image: Path | None, sample: str | None, question: str | None) -> tuple[Path, str]:
    """The file to open and the question to ask: IMAGE, or a shipped sample with its own question."""
    if image is not None and sample is not None:
        raise UserError("IMAGE and --sample exclude each other")
    if image is not None:
        return image, DEFAULT_QUESTION if question is None else question
    from mmedtui.samples import get_sample

    chosen = get_sample(sample)
    return chosen.path, chosen.question if question is None else question


def _run_tui(
    scan, question, panel, image_mode, choices, free_text, save_dir, image_path: Path, allow_burned_in: bool
) -> None:
    """The app until the user quits; then exit 3 if the session's latest consultation reached no decision."""
    from mmedtui.tui import run_app

    try:
        reason = run_app(
            scan=scan,
            question=question,
            panel=panel,
            image_mode=image_mode,
            options=choices,
            auto_options=not free_text,
            save_dir=save_dir,
            image_path=image_path,
            allow_burned_in=allow_burned_in,
        )
    finally:
        panel.close()
    _exit_if_undecided(reason)
