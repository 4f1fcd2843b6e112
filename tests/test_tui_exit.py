"""What the app reports when it closes: why the session's latest consultation reached no decision, and the exit
code 3 that `mmedtui consult` turns it into, as --plain and --json do (pilot, scripted panels)."""

from __future__ import annotations

import asyncio
import sys

import pytest
import yaml

from mmedtui.cli import main
from mmedtui.tui import create_app
from mmedtui.tui.app import ConsultApp
from support.panels import scripted_panel
from support.tui import settle, synthetic_scan

SIZE = (120, 40)
REFUSED = "connection refused after 3 tries"
pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")


def failing_panel():
    """Every agent errors, as with an unreachable server: no opinion, no decision."""
    panel = scripted_panel()
    for key in panel.models:
        panel.models[key] = {"backend": "scripted", "error": REFUSED}
    return panel


def set_failing(panel, failing: bool) -> None:
    for key in panel.models:
        panel.backend(key).error = REFUSED if failing else None


async def consult_and_quit(app, *reruns) -> None:
    """Let the first consultation finish, then for each of ``reruns`` change the panel and press r; then q."""
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for change in reruns:
            change()
            await pilot.press("r")
            await settle(app, pilot)
        await pilot.press("q")
        await pilot.pause()


async def test_quitting_after_a_consultation_with_no_decision_reports_why():
    app = create_app(synthetic_scan(), "Is there a lesion?", failing_panel(), image_mode="unicode")
    await consult_and_quit(app)
    reason = app.return_value
    assert reason is not None and "\n" not in reason
    assert "attending physician failed" in reason and REFUSED in reason and "3 of 3 specialists failed" in reason


async def test_a_decided_consultation_reports_nothing():
    app = create_app(synthetic_scan(), "Is there a lesion?", scripted_panel(), image_mode="unicode")
    await consult_and_quit(app)
    assert app.record.attending.answer == "yes"
    assert app.return_value is None and app.return_code == 0


async def test_the_latest_finished_consultation_of_the_session_counts():
    panel = failing_panel()
    app = create_app(synthetic_scan(), "Is there a lesion?", panel, image_mode="unicode")
    await consult_and_quit(app, lambda: set_failing(panel, False))  # no decision, then a decision
    assert len(app.session.entries) == 2 and app.return_value is None

    panel = scripted_panel()
    app = create_app(synthetic_scan(), "Is there a lesion?", panel, image_mode="unicode")
    await consult_and_quit(app, lambda: set_failing(panel, True))  # a decision, then none
    assert len(app.session.entries) == 2 and "attending physician failed" in app.return_value


async def test_a_run_that_breaks_reaches_no_decision_either():
    panel = scripted_panel()
    panel.models["triage"] = {"backend": "scripted", "no_such_option": 1}  # fails when the model is built
    app = create_app(synthetic_scan(), "Is there a lesion?", panel, image_mode="unicode")
    await consult_and_quit(app)
    assert app.record is None and app.return_value.startswith("the consultation failed (")
    assert "bad options" in app.return_value


# -- through `mmedtui consult` on a terminal: the app runs headless in place of the real one -------------------
def _panel_file(tmp_path, failing: bool) -> str:
    from trainer.testing import scripted_panel_file

    path = scripted_panel_file(tmp_path / "panel.yaml")
    if failing:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["models"] = {key: {"backend": "scripted", "error": REFUSED} for key in data["models"]}
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def _consult_in_the_app(tmp_path, scan_image, capsys, monkeypatch, failing: bool):
    def headless_run(app, *args, **kwargs):
        asyncio.run(consult_and_quit(app))
        return app.return_value

    scan_image.save(tmp_path / "scan.png")
    monkeypatch.setattr(ConsultApp, "run", headless_run)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)  # the app, not --plain output
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "mmedtui",
            "consult",
            str(tmp_path / "scan.png"),
            "--image-mode",
            "unicode",
            "--agents",
            _panel_file(tmp_path, failing),
            "--save-dir",
            str(tmp_path),
        ],
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_the_app_exits_3_with_the_reason_once_it_has_closed(tmp_path, scan_image, capsys, monkeypatch):
    code, out, err = _consult_in_the_app(tmp_path, scan_image, capsys, monkeypatch, failing=True)
    assert code == 3, err
    assert err.strip().splitlines() == [err.strip()] and err.startswith("mmedtui: no decision: ")
    assert "attending physician failed" in err and REFUSED in err and "Traceback" not in err


def test_the_app_exits_0_after_a_decision(tmp_path, scan_image, capsys, monkeypatch):
    code, out, err = _consult_in_the_app(tmp_path, scan_image, capsys, monkeypatch, failing=False)
    assert code == 0, err
    assert "no decision" not in err
