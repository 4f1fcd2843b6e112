"""Validity, probability and agreement in every view: --json, --plain, the transcript and the TUI."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from mmedtui.tui import create_app
from mmedtui.tui.transcript import to_markdown
from mmedtui.tui.widgets import DecisionCard, OpinionCard
from support.cli import run_cli
from support.panels import scripted_panel
from support.tui import plain, settle, synthetic_scan

pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")
OFF_OPTION = "<think>the mediastinum</think><answer>Paratracheal area</answer>"


def _panel_yaml(path, attending_reply: str, attending_scores: list[float] | None = None):
    models = {
        "triage": {"backend": "scripted", "replies": ["<answer>Radiologist</answer>"]},
        "att": {
            "backend": "scripted",
            "replies": [attending_reply],
            **({"scores": attending_scores} if attending_scores else {}),
        },
    }
    replies = ["<answer>yes</answer>", "<answer>yes</answer>", OFF_OPTION]
    for i, reply in enumerate(replies):
        # Specialist A can score: it answers with an option and the softmax of these log-likelihoods.
        models[f"s{i}"] = {"backend": "scripted", "replies": [reply], **({"scores": [-1.0, -2.0]} if i == 0 else {})}
    path.write_text(
        yaml.safe_dump(
            {
                "models": models,
                "triage": {"model": "triage"},
                "attending": {"model": "att"},
                "specialists": {"default": [{"name": f"S{chr(65 + i)}", "model": f"s{i}"} for i in range(3)]},
            }
        )
    )
    return path


def test_json_carries_validity_probability_and_agreement(tmp_path, scan_image, capsys, monkeypatch):
    scan_image.save(tmp_path / "scan.png")
    panel = _panel_yaml(tmp_path / "panel.yaml", OFF_OPTION)
    code, out, err = run_cli(
        capsys,
        monkeypatch,
        "consult",
        str(tmp_path / "scan.png"),
        "-q",
        "Is there a mass?",
        "--json",
        "--agents",
        str(panel),
    )
    assert code in (0, 3), err  # an invalid decision is no decision: the exit code is the CLI's to choose
    record = json.loads(out)
    a, b, c = record["specialists"]
    assert (a["valid"], a["answer"], a["constrained"]) == (True, "yes", False)
    assert a["probability"] == pytest.approx(1 / (1 + math.exp(-1)), abs=1e-3)  # softmax(-1, -2)[0]
    assert (b["valid"], b["probability"]) == (True, None)  # cannot score, gave no logprobs
    assert (c["valid"], c["invalid"], c["answer"]) == (False, "names no option", "Paratracheal area")
    attending = record["attending"]
    assert attending["valid"] is False and attending["invalid"] == "names no option"
    assert attending["probability"] is None and record["agreement"] == "2/3 say yes"


def test_plain_warns_of_an_invalid_answer_and_shows_agreement(tmp_path, scan_image, capsys, monkeypatch):
    scan_image.save(tmp_path / "scan.png")
    panel = _panel_yaml(tmp_path / "panel.yaml", OFF_OPTION)
    code, out, err = run_cli(
        capsys,
        monkeypatch,
        "consult",
        str(tmp_path / "scan.png"),
        "-q",
        "Is there a mass?",
        "--plain",
        "--agents",
        str(panel),
    )
    assert code in (0, 3), err
    text = " ".join(out.split())
    assert "WARNING: not a valid answer (names no option)" in text
    assert "no valid answer" in text and "panel agreement: 2/3 say yes" in text and "p = 0.73" in text


def test_plain_shows_a_valid_decision_with_its_probability(tmp_path, scan_image, capsys, monkeypatch):
    scan_image.save(tmp_path / "scan.png")
    panel = _panel_yaml(tmp_path / "panel.yaml", "<answer>yes</answer>")
    code, out, err = run_cli(
        capsys,
        monkeypatch,
        "consult",
        str(tmp_path / "scan.png"),
        "-q",
        "Is there a mass?",
        "--plain",
        "--agents",
        str(panel),
    )
    assert code == 0, err
    text = " ".join(out.split())
    assert "no valid answer" not in text and "panel agreement: 2/3 say yes" in text
    assert text.count("WARNING: not a valid answer") == 1  # specialist C only


async def test_the_tui_shows_no_valid_answer_instead_of_a_decision():
    # The attending plays on specialist C's model, which answers off the options.
    panel = scripted_panel(["<answer>yes</answer>", "<answer>no</answer>", OFF_OPTION], attending={"model": "s2"})
    app = create_app(synthetic_scan(), "Is there a lesion?", panel, image_mode="unicode")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        card = app.cards.query_one(DecisionCard)
        assert card.state == "invalid" and card.has_class("-invalid") and not card.has_class("-done")
        assert "no valid answer" in plain(card.headline) and "Paratracheal area" in plain(card.headline)
        assert "names no option" in plain(card.error)
        assert "2/3" not in plain(card.verdict) and "1/3 (no majority)" in plain(card.verdict)
        c = list(app.cards.query(OpinionCard))[2]
        assert c.state == "invalid" and "names no option" in plain(c.error)
        assert "no valid answer" in app.topbar.plain and "decided" not in app.topbar.plain
        markdown = to_markdown(app.record, "scan.png")
        assert "**No valid answer.**" in markdown and "Panel agreement: 1/3 (no majority)" in markdown
        assert "not valid: names no option" in markdown


async def test_the_tui_shows_agreement_on_a_valid_decision():
    app = create_app(synthetic_scan(), "Is there a lesion?", scripted_panel(), image_mode="unicode")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        card = app.cards.query_one(DecisionCard)
        assert card.state == "done" and plain(card.headline) == "yes"
        assert "2/3 say yes" in plain(card.verdict)  # who agrees, beside the count


LOOPING = "<think>An axial " + "axial " * 30 + "</think><answer>no</answer>"


async def test_reasoning_that_loops_is_shown_as_unreadable_not_as_an_explanation():
    from mmedtui.consult.display import UNREADABLE
    from mmedtui.consult.plain import PlainView

    panel = scripted_panel(
        ["<think>a CT of the head</think><answer>yes</answer>", LOOPING, "<think>c</think><answer>no</answer>"]
    )
    app = create_app(synthetic_scan(), "Is there a lesion?", panel, image_mode="unicode")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        a, b, _ = app.cards.query(OpinionCard)
        assert plain(a.reasoning) == "a CT of the head" and plain(b.reasoning) == UNREADABLE
        assert "axial axial" not in to_markdown(app.record, "scan.png") and UNREADABLE in to_markdown(
            app.record, "scan.png"
        )
        record = app.record
    assert record.specialists[1].valid and "axial axial" in record.specialists[1].reasoning  # the JSON keeps it
    from rich.console import Console

    from mmedtui.consult import Case, Pipeline

    scan = synthetic_scan()
    view = PlainView(scan, "Is there a lesion?", ["yes", "no"], console=Console(record=True, width=100))
    Pipeline(panel).run([Case(scan.image, "Is there a lesion?", ["yes", "no"])], emit=view.on_event)
    text = " ".join(view.console.export_text().split())
    assert UNREADABLE in text and "axial axial" not in text and "a CT of the head" in text


async def test_the_attendings_probability_shows_in_every_view(tmp_path, scan_image, capsys, monkeypatch):
    from mmedtui.agents.panel import load_panel

    scan_image.save(tmp_path / "scan.png")
    panel = _panel_yaml(tmp_path / "panel.yaml", "<answer>yes</answer>", attending_scores=[-1.0, -3.0])
    p = f"p = {1 / (1 + math.exp(-2)):.2f}"  # softmax(-1, -3)[0] = 0.88
    code, out, err = run_cli(
        capsys,
        monkeypatch,
        "consult",
        str(tmp_path / "scan.png"),
        "-q",
        "Is there a mass?",
        "--json",
        "--agents",
        str(panel),
    )
    assert code == 0, err
    assert json.loads(out)["attending"]["probability"] == pytest.approx(1 / (1 + math.exp(-2)), abs=1e-3)
    code, out, err = run_cli(
        capsys,
        monkeypatch,
        "consult",
        str(tmp_path / "scan.png"),
        "-q",
        "Is there a mass?",
        "--plain",
        "--agents",
        str(panel),
    )
    decision = " ".join(out.split()).split("Attending physician")[-1]
    assert code == 0 and p in decision, out
    app = create_app(synthetic_scan(), "Is there a mass?", load_panel(panel), image_mode="unicode")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert plain(app.cards.query_one(DecisionCard).headline) == f"yes  {p}"
        assert p in to_markdown(app.record, "scan.png").split("## Decision")[1]
