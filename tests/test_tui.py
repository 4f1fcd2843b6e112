"""The consultation app, driven by a pilot with scripted panels (no model, no terminal, a few seconds)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from mmedtui import DISCLAIMER
from mmedtui.agents.roles import Decision
from mmedtui.consult import Event
from mmedtui.errors import UserError
from mmedtui.imaging import load_scan
from mmedtui.tui import create_app
from mmedtui.tui.app import ConsultStep
from mmedtui.tui.widgets import DecisionCard, HelpScreen, OpinionCard, PathPrompt, TriageCard
from support.panels import scripted_panel
from support.tui import GateBackend, plain, screen_text, settle, synthetic_scan, wait_for

SIZE = (120, 40)
# textual-image 0.12 calls Pillow's deprecated Image.getdata when it draws.
pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")


def app_for(panel=None, question="Is there a lesion?", scan=None, **kwargs):
    return create_app(scan or synthetic_scan(), question, panel or scripted_panel(), image_mode="unicode", **kwargs)


def opinions(app) -> list[OpinionCard]:
    return list(app.cards.query(OpinionCard))


def decision(app) -> DecisionCard:
    return app.cards.query_one(DecisionCard)


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_the_consultation_unfolds_in_the_cards():
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.question_box.value == "Is there a lesion?"
        triage = app.cards.query_one(TriageCard)
        assert triage.state == "done" and "Radiologist" in plain(triage.headline)
        assert "CT of the head" in plain(triage.reasoning)
        cards = opinions(app)
        assert [c.border_title for c in cards] == ["Specialist A", "Specialist B", "Specialist C"]
        assert [plain(c.headline) for c in cards] == ["yes", "yes", "no"]
        assert [plain(c.reasoning) for c in cards] == ["a", "b", "c"]
        assert all(c.border_subtitle == "Radiologist" and c.state == "done" for c in cards)
        verdict = decision(app)
        assert verdict.state == "done" and plain(verdict.headline) == "yes"
        assert "Specialist A, Specialist B" in plain(verdict.verdict) and "Specialist C" in plain(verdict.verdict)
        assert plain(verdict.reasoning_text) == "weighing" and not verdict.collapsible.collapsed
        assert app.record is not None and app.record.attending.answer == "yes"
        # The scan pane shows the non-identifying metadata, the disclaimer is on screen.
        meta = plain(app.scan_pane.query_one("#scan-meta"))
        assert "scan.png" in meta and "256×256" in meta and "CT" in meta and "HEAD" in meta
        assert DISCLAIMER in plain(app.query_one("#disclaimer"))
        assert "decided in" in app.topbar.plain


async def test_specialists_show_a_spinner_while_they_run():
    panel = scripted_panel()
    gate = GateBackend()
    panel._backends["s1"] = gate  # Specialist B is held until the gate opens
    app = app_for(panel)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(opinions(app)) == 3 and opinions(app)[0].state == "done")
        held = opinions(app)[1]
        assert held.state == "running" and held.spinner.display
        assert app.running and "consulting" in app.topbar.plain
        gate.gate.set()
        await settle(app, pilot)
        assert held.state == "done" and not held.spinner.display


async def test_a_failing_specialist_gets_an_error_card_and_the_decision_still_comes():
    panel = scripted_panel()
    panel.models["s1"] = {"backend": "scripted", "error": "timeout after 3 tries"}
    app = app_for(panel)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        cards = opinions(app)
        assert [c.state for c in cards] == ["done", "failed", "done"]
        assert "timeout after 3 tries" in plain(cards[1].error) and cards[1].has_class("-failed")
        verdict = decision(app)
        assert verdict.state == "done" and plain(verdict.headline) == "yes"
        assert "Specialist B" not in plain(verdict.verdict)  # a failed opinion is neither followed nor overruled


async def test_a_run_that_breaks_is_reported_not_raised():
    panel = scripted_panel()
    panel.models["triage"] = {"backend": "scripted", "no_such_option": 1}  # fails when the model is built
    app = app_for(panel)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert not app.running and app.record is None
        assert any("bad options" in n for n in notifications(app))
        assert "failed" in app.topbar.plain
        assert app.cards.query_one(TriageCard).state == "failed"


async def test_a_second_question_replaces_the_answers_and_stale_results_are_dropped():
    panel = scripted_panel()
    rules = {
        "first question": "<think>old</think><answer>alpha</answer>",
        "second question": "<think>new</think><answer>beta</answer>",
    }
    for key in ("s0", "s1", "s2"):
        # Slow enough that a loaded CI box cannot finish run 1 first.
        panel.models[key] = {"backend": "scripted", "rules": rules, "delay": 1.5}
    app = app_for(panel, question="first question?")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.cards.query_one(TriageCard).state == "done")
        first_generation = app.generation
        await pilot.press("a")
        assert app.focused is app.question_box
        app.question_box.value = "second question?"
        await pilot.press("enter")
        assert app.generation == first_generation + 1
        await settle(app, pilot)
        assert app.question == "second question?" and app.record.case.question == "second question?"
        assert [plain(c.headline) for c in opinions(app)] == ["beta"] * 3
        assert plain(decision(app).headline) == "yes"
        # The superseded run stopped at its next step: the attending only ever saw the second question.
        attending_calls = panel.backend("attending").calls
        assert len(attending_calls) == 1 and "second question" in attending_calls[0].user
        # A late message of the earlier run changes nothing.
        stale = Decision("alpha", "stale reasoning")
        app.post_message(ConsultStep(first_generation, Event("attending", "done", result=stale)))
        await pilot.pause()
        assert plain(decision(app).headline) == "yes"
        assert all("alpha" not in plain(c.headline) for c in opinions(app))
        assert app.focused is app.cards


async def test_rerun_and_options_follow_the_question():
    app = app_for(question="Which side?", options=["left", "right"])
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "A. left" in plain(app.options_line) and app.options_line.display
        await pilot.press("r")
        await settle(app, pilot)
        assert app.generation == 2 and app.record.case.options == ["left", "right"]
        await pilot.press("a")
        app.question_box.value = "Is it normal?"  # a yes/no question gets the options the agents train on
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.record.case.options == ["yes", "no"] and "A. yes" in plain(app.options_line)
        await pilot.press("a")
        app.question_box.value = "What organ is this?"  # an open question gets none
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.record.case.options is None and not app.options_line.display


async def test_escape_leaves_the_question_box_and_restores_it():
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("a", "x", "y")
        assert app.question_box.value.endswith("xy")
        await pilot.press("escape")
        assert app.focused is app.cards and app.question_box.value == "Is there a lesion?"
        await pilot.press("t")  # single-letter keys work again
        assert not app.show_reasoning


async def test_toggling_the_reasoning():
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        card = opinions(app)[0]
        assert card.reasoning.display and not decision(app).collapsible.collapsed
        await pilot.press("t")
        await pilot.pause()
        assert app.cards.has_class("-hide-reasoning")
        assert not card.reasoning.display and decision(app).collapsible.collapsed
        await pilot.press("t")
        await pilot.pause()
        assert card.reasoning.display and not decision(app).collapsible.collapsed
        # A run started while hidden keeps it hidden.
        await pilot.press("t", "r")
        await settle(app, pilot)
        assert not opinions(app)[0].reasoning.display and decision(app).collapsible.collapsed


async def test_help_screen_opens_and_closes():
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = " ".join(plain(w) for w in app.screen.query("Static"))
        assert "rerun" in text and "save the transcript" in text and DISCLAIMER in text and "unicode" in text
        await pilot.press("r")  # keys of the main screen do nothing while help is open
        assert app.generation == 1
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("question_mark")
        assert not isinstance(app.screen, HelpScreen)


async def test_saving_the_transcript_writes_markdown_and_json_without_paths(tmp_path, scan_image):
    patient_dir = tmp_path / "Doe_John_1970" / "study"
    patient_dir.mkdir(parents=True)
    scan_image.save(patient_dir / "head.png")
    scan = load_scan(patient_dir / "head.png")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    app = app_for(scan=scan)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        assert isinstance(app.screen, PathPrompt)
        prompt = app.screen.query_one("#path-input")
        name = Path(prompt.value).name  # the per-user folder, a time-and-hash name: never the image's name
        assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}\.md", name) and "head" not in name
        prompt.value = str(out_dir / "visit.md")
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, PathPrompt)
    md, js = (out_dir / "visit.md").read_text(), (out_dir / "visit.json").read_text()
    assert DISCLAIMER in md and DISCLAIMER in js
    for text in (md, js):
        assert str(tmp_path) not in text and "Doe_John" not in text
    data = json.loads(js)
    assert data["image"] == "head.png" and data["question"] == "Is there a lesion?"
    assert data["triage"]["department"] == "Radiologist"
    assert [s["answer"] for s in data["specialists"]] == ["yes", "yes", "no"]
    assert data["attending"]["answer"] == "yes" and data["scan"]["source"] == "head.png"
    assert "## Specialists" in md and "Specialist C" in md and "**Answer:** yes" in md
    assert not list(out_dir.glob("*.tmp"))  # written through temporary files, none left behind


async def test_saving_into_a_folder_and_to_a_bad_place(tmp_path):
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        md, js = app.save_transcript(str(tmp_path))
        assert md.parent == tmp_path and md.exists() and js.exists() and md.stem == app.default_transcript_stem()
        assert app.save_transcript(str(tmp_path / "missing" / "x.md")) is None
        await pilot.pause()
        assert any("does not exist" in n for n in notifications(app))


async def test_saving_before_the_decision_only_warns():
    panel = scripted_panel()
    gate = GateBackend()
    panel._backends["attending"] = gate
    app = app_for(panel)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.cards.cards.get("attending") is not None)
        await pilot.press("s")
        assert not isinstance(app.screen, PathPrompt)
        assert any("still running" in n for n in notifications(app))
        gate.gate.set()
        await settle(app, pilot)


async def test_opening_another_image_reruns_on_it_and_a_bad_path_only_notifies(tmp_path, scan_image):
    other = tmp_path / "other.png"
    scan_image.resize((128, 64)).save(other)
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("o")
        assert isinstance(app.screen, PathPrompt)
        app.screen.query_one("#path-input").value = str(tmp_path / "broken.png")
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("broken.png" in n for n in notifications(app)))
        assert app.scan.meta.source == "scan.png" and app.generation == 1
        await pilot.press("o")
        app.screen.query_one("#path-input").value = str(other)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.scan.meta.source == "other.png")
        await settle(app, pilot)
        assert app.generation == 2 and app.record.case.meta["source"] == "other.png"
        assert "128×64" in plain(app.scan_pane.query_one("#scan-meta"))
        assert str(tmp_path) not in app.topbar.plain
        await pilot.press("o", "escape")  # cancelling changes nothing
        assert app.generation == 2


async def test_path_suggestions_complete_names(tmp_path):
    from mmedtui.tui.widgets import PathSuggester

    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "head.png").write_bytes(b"x")
    suggester = PathSuggester()
    assert await suggester.get_suggestion(str(tmp_path / "sc")) == str(tmp_path / "scans") + "/"
    assert await suggester.get_suggestion(str(tmp_path / "scans" / "h")) == str(tmp_path / "scans" / "head.png")
    assert await suggester.get_suggestion(str(tmp_path / "nothing" / "x")) is None


async def test_model_text_is_never_markup_nor_terminal_control():
    panel = scripted_panel(
        specialist_replies=[
            "<answer>[bold red]x[/] \x1b[31mred\x1b[0m</answer>",
            "<answer>yes</answer>",
            "<answer>no</answer>",
        ]
    )
    panel.specialists["default"][1] = replace(panel.specialists["default"][1], name="Dr [b]Who[/b]")
    app = app_for(panel)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        text = plain(opinions(app)[0].headline)
        assert "[bold red]x[/]" in text and "\x1b" not in text
        assert "Dr [b]Who[/b]" in screen_text(app)


def test_image_modes():
    from textual_image.widget import HalfcellImage, UnicodeImage

    from mmedtui.tui.image import display_copy, widget_class

    assert widget_class("unicode") is UnicodeImage and widget_class("halfcell") is HalfcellImage
    assert widget_class("none") is None and widget_class("auto") is not None
    with pytest.raises(ValueError):
        widget_class("ascii-art")
    with pytest.raises(UserError):
        create_app(synthetic_scan(), "q?", scripted_panel(), image_mode="ascii-art")
    from PIL import Image

    big = display_copy(Image.new("L", (4000, 2000)))
    assert big.size == (1024, 512) and big.mode == "RGB"


async def test_image_mode_none_shows_the_metadata_only():
    app = create_app(synthetic_scan(), "q?", scripted_panel(), image_mode="none")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert "no image drawn" in plain(app.scan_pane.query_one("#scan-placeholder"))
        assert not app.scan_pane.query("#scan-image")
        assert "CT" in plain(app.scan_pane.query_one("#scan-meta"))


async def test_quit_key():
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


def test_importing_the_package_is_free_and_run_app_keeps_the_cli_signature():
    import inspect
    import subprocess
    import sys

    code = "import sys, mmedtui.tui; assert 'textual' not in sys.modules and 'textual_image' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    from mmedtui.tui import run_app

    assert list(inspect.signature(run_app).parameters) == [
        "scan",
        "question",
        "panel",
        "image_mode",
        "options",
        "auto_options",
        "save_dir",
        "image_path",
        "allow_burned_in",
    ]


def test_transcript_paths(tmp_path):
    from mmedtui.tui.transcript import transcript_paths

    assert transcript_paths(tmp_path, "scan-consult") == (tmp_path / "scan-consult.md", tmp_path / "scan-consult.json")
    assert transcript_paths(tmp_path / "a.json", "x") == (tmp_path / "a.md", tmp_path / "a.json")
    assert transcript_paths(tmp_path / "visit.2024", "x") == (tmp_path / "visit.2024.md", tmp_path / "visit.2024.json")


async def test_a_dicom_scan_shows_modality_and_never_patient_data(tmp_path):
    import shutil

    import pydicom
    from pydicom.data import get_testdata_file

    source = get_testdata_file("CT_small.dcm")
    patient = pydicom.dcmread(source, stop_before_pixels=True)
    identifying = [str(patient.PatientName), str(patient.PatientID)]
    shutil.copy(source, tmp_path / "ct.dcm")
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("o")
        app.screen.query_one("#path-input").value = str(tmp_path / "ct.dcm")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.scan.meta.source == "ct.dcm")
        await settle(app, pilot)
        screen = screen_text(app)
        assert "DICOM · 128×128 px" in screen and "modality  CT" in screen
        paths = app.save_transcript(str(tmp_path / "out"))
    saved = "".join(p.read_text() for p in paths)
    for text in (screen, saved, json.dumps(app.record.case.meta)):
        assert not any(value in text for value in identifying)
        assert str(tmp_path) not in text
