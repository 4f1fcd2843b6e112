"""``mmedtui consult IMAGE``: one consultation, shown in the Textual app, as Rich panels, or as JSON."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path

import typer

DEFAULT_QUESTION = "What abnormality, if any, is seen in this image?"


class ImageMode(str, Enum):
    auto = "auto"
    tgp = "tgp"
    sixel = "sixel"
    halfcell = "halfcell"
    unicode = "unicode"
    none = "none"


def consult(
    image: Path = typer.Argument(..., help="PNG, JPEG, BMP, TIFF or DICOM file.", show_default=False),
    question: str = typer.Option(DEFAULT_QUESTION, "-q", "--question", help="The question about the image."),
    options: str = typer.Option("", "--options", help="Multiple choice: options separated by '|'."),
    free_text: bool = typer.Option(False, "--free-text", help="Ask a yes/no or 'A or B?' question without "
                                   "options (by default it gets them: the form the agents are trained on)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object; no TUI."),
    plain: bool = typer.Option(False, "--plain", help="Print readable panels as the steps finish; no TUI."),
    agents: Path | None = typer.Option(None, "--agents", help="Agent panel YAML (default: assets/panel.yaml)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Let panel models marked "
                                           "trust_remote_code run their folder's own Python (printed first)."),
    image_mode: ImageMode = typer.Option(ImageMode.auto, "--image-mode", help="Terminal image renderer."),
    frame: int | None = typer.Option(None, "--frame", help="Frame of a multi-frame DICOM (default: middle)."),
    allow_burned_in: bool = typer.Option(False, "--allow-burned-in", help="Send a DICOM marked BurnedInAnnotation "
                                         "YES (text such as a name drawn into the pixels) to remote models."),
) -> None:
    """Consult the triage doctor, the specialist panel and the attending physician about a scan."""
    from mmedtui.agents.panel import load_panel
    from mmedtui.agents.panel_checks import check_burned_in
    from mmedtui.consult.case import check_question
    from mmedtui.imaging import load_scan

    check_question(question)
    scan = load_scan(image, frame=frame)
    panel = load_panel(agents, trust_remote_code)
    check_burned_in(scan.meta, panel.models, allow_burned_in)
    choices = [o.strip() for o in options.split("|") if o.strip()] or None
    if choices is None and not free_text:
        from mmedtui.tasks.choices import question_options

        choices = question_options(question)
    if not (as_json or plain) and sys.stdout.isatty():
        try:
            from mmedtui.tui import run_app
        except ImportError:  # the TUI is optional until it ships; fall back to panels
            pass
        else:
            try:
                run_app(scan=scan, question=question, panel=panel, image_mode=image_mode.value, options=choices,
                        auto_options=not free_text)
            finally:
                panel.close()
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
