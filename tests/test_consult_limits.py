"""What a consultation refuses before any agent runs: an over-long question, and a DICOM with identifying text
burned into its pixels when the panel would send it to a remote model."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import yaml

from mmedtui.agents.case import MAX_QUESTION_CHARS
from support.dicom import write_dicom


def _consult(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    from mmedtui import cli

    monkeypatch.setattr(sys, "argv", ["mmedtui", "consult", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        cli.main()
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def _panel(tmp_path, remote: bool):
    backend = (
        {"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "timeout": 0.2, "max_retries": 0}
        if remote
        else {"backend": "scripted", "replies": ["<think>t</think><answer>yes</answer>"]}
    )
    data = {
        "models": {"m": backend},
        "triage": {"model": "m"},
        "attending": {"model": "m"},
        "specialists": {"default": [{"model": "m"}]},
    }
    path = tmp_path / ("remote.yaml" if remote else "local.yaml")
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_an_over_long_question_is_refused_in_one_line(tmp_path, scan_image, monkeypatch, capsys):
    image = tmp_path / "scan.png"
    scan_image.save(image)
    code, _, err = _consult(
        monkeypatch,
        capsys,
        str(image),
        "--json",
        "-q",
        "x" * (MAX_QUESTION_CHARS + 1),
        "--agents",
        str(_panel(tmp_path, remote=False)),
    )
    assert code == 2 and err.strip() == (
        f"mmedtui: --question: {MAX_QUESTION_CHARS + 1:,} characters; a question "
        f"may have at most {MAX_QUESTION_CHARS:,}"
    )
    code, out, err = _consult(
        monkeypatch,
        capsys,
        str(image),
        "--json",
        "-q",
        "Is it " + "x" * 3000 + "?",
        "--agents",
        str(_panel(tmp_path, remote=False)),
    )
    assert code == 0, err


async def test_the_question_box_stops_at_the_limit():
    from mmedtui.tui import create_app
    from support.panels import scripted_panel
    from support.tui import synthetic_scan

    app = create_app(synthetic_scan(), "Is there a lesion?", scripted_panel(), image_mode="unicode")
    async with app.run_test(size=(120, 40)):
        app.question_box.value = ""
        app.question_box.insert_text_at_cursor("y" * (MAX_QUESTION_CHARS + 500))  # a huge paste is refused
        assert app.question_box.value == ""
        app.question_box.insert_text_at_cursor("y" * MAX_QUESTION_CHARS)
        assert len(app.question_box.value) == MAX_QUESTION_CHARS


def test_burned_in_text_does_not_go_to_a_remote_model_unless_allowed(tmp_path, monkeypatch, capsys):
    pixels = np.full((32, 32), 120, dtype=np.uint8)
    marked = write_dicom(tmp_path / "marked.dcm", pixels, BurnedInAnnotation="YES")
    clean = write_dicom(tmp_path / "clean.dcm", pixels, BurnedInAnnotation="NO")
    remote, local = _panel(tmp_path, remote=True), _panel(tmp_path, remote=False)
    code, _, err = _consult(monkeypatch, capsys, str(marked), "--json", "--agents", str(remote))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "marked.dcm: BurnedInAnnotation is YES" in err and "--allow-burned-in" in err and "Doe" not in err
    # A local panel, an unmarked file, or the explicit flag: the consultation runs (the remote one fails in-band).
    for image, panel, flags in ((marked, local, ()), (clean, remote, ()), (marked, remote, ("--allow-burned-in",))):
        code, out, err = _consult(monkeypatch, capsys, str(image), "--json", "--agents", str(panel), *flags)
        assert code in (0, 3), err
        assert "BurnedInAnnotation" not in err and json.loads(out)


@pytest.mark.parametrize("allowed", [False, True])
async def test_a_scan_opened_in_the_app_is_checked_for_burned_in_text(tmp_path, allowed):
    from mmedtui.agents.panel import load_panel
    from mmedtui.tui import create_app
    from support.tui import synthetic_scan

    marked = write_dicom(tmp_path / "marked.dcm", np.full((32, 32), 120, dtype=np.uint8), BurnedInAnnotation="YES")
    panel = load_panel(_panel(tmp_path, remote=True))
    app = create_app(synthetic_scan(), "Is there a lesion?", panel, image_mode="unicode", allow_burned_in=allowed)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        first, generation = app.scan, app.generation
        app.reload_scan(marked)  # what `o`, the file picker and next / previous do
        await app.workers.wait_for_complete()
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        if allowed:
            assert app.scan is not first and app.generation == generation + 1
        else:  # not shown, not consulted on: the remote model never gets it
            assert app.scan is first and app.generation == generation
            assert any("BurnedInAnnotation is YES" in m and "--allow-burned-in" in m for m in messages), messages
    panel.close()
