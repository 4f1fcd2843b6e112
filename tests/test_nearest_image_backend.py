"""The case-based specialist: a nearest-image model seated in a panel, its answers and its reasoning."""

from __future__ import annotations

import pytest

from mmedtui.agents.image_prior import Reading
from mmedtui.agents.nearest_image_backend import explain
from mmedtui.agents.panel import parse_panel
from mmedtui.consult import Case, Pipeline
from mmedtui.errors import ConfigError
from support.scans import prior, scan


def test_the_reasoning_says_what_the_likest_training_scans_were_answered():
    assert explain(Reading("yes", ["yes"], ["CT"])) == (
        "The training scan most like this one that was asked this question (CT) was answered yes."
    )
    assert explain(Reading("no", ["no", "no", "no"], ["CT", "CT", "CT"])) == (
        "The 3 training scans most like this one that were asked this question (all CT) were all answered no."
    )
    assert explain(Reading("yes", ["yes", "no", "yes"], ["CT", "MRI", None])) == (
        "Of the 3 training scans most like this one that were asked this question (CT and MRI), "
        "2 were answered yes and 1 no."
    )
    assert explain(Reading("left", ["left", "right"], [])).endswith("1 was answered left and 1 right.")
    assert explain(Reading("yes", [], [], "question")) == (
        "No training scan like this one was asked this; its most common training answer is yes."
    )


@pytest.fixture
def panel(tmp_path):
    prior(3).save(tmp_path / "nn", {})
    data = {
        "models": {
            "triage": {"backend": "scripted", "replies": ["<think>CT</think><answer>Radiologist</answer>"]},
            "cases": {"backend": "nearest-image", "path": "nn"},  # relative to the panel file's folder
            "attending": {"backend": "scripted", "replies": ["<think>w</think><answer>yes</answer>"]},
        },
        "triage": {"model": "triage"},
        "specialists": {"default": [{"name": "Case-based", "model": "cases"}]},
        "attending": {"model": "attending"},
    }
    return parse_panel(data, base_dir=tmp_path)


def test_in_a_consultation_it_names_an_option_or_answers_nothing(panel):
    cases = [
        Case(scan("down", 15), "Is there a mass?", ["Yes", "No"]),
        Case(scan("ring"), "Which side?"),
        Case(scan("down"), "What is the diagnosis?"),  # never asked, no options: nothing to go on
        Case(scan("down"), "Is this a CT?", ["yes", "no"]),  # never asked: a guess among options is no better
    ]
    first, second, third, fourth = (r.specialists[0] for r in Pipeline(panel).run(cases))
    assert (first.answer, first.valid, first.error) == ("Yes", True, None)
    assert first.probability == pytest.approx(2 / 3)  # its share of the votes
    assert first.reasoning == (
        "Of the 3 training scans most like this one that were asked this question (CT and MRI), "
        "2 were answered yes and 1 no."
    )
    assert (second.answer, second.error) == ("right", None)
    assert third.answer == "" and third.error == "no training scan was asked this question" and not third.valid
    assert (fourth.answer, fourth.error, fourth.valid) == ("", third.error, False)
    assert (first.declined, third.declined, fourth.declined) == (False, True, True)  # declined, not failed
    assert third.to_dict()["declined"] is True and third.to_dict()["valid"] is False


def test_it_needs_a_question_about_a_scan_and_answers_alike_at_any_temperature(panel):
    from mmedtui.agents.base import Prompt, Sampling

    backend = panel.backend("cases")
    (gen,) = backend.generate([Prompt("s", "u")])
    assert gen.error == "nearest-image answers a question about a scan only"
    ask = Prompt("s", "u", (scan("across"),), "Is there a mass?", ("yes", "no"))
    assert backend.generate([ask], Sampling(temperature=1.0, seed=1)) == backend.generate([ask])


def test_a_missing_model_folder_is_one_clear_error(tmp_path):
    data = {
        "models": {"cases": {"backend": "nearest-image", "path": "nowhere"}},
        "triage": {"model": "cases"},
        "specialists": {"default": [{"name": "Case-based", "model": "cases"}]},
        "attending": {"model": "cases"},
    }
    with pytest.raises(ConfigError, match="not a nearest-image model"):
        parse_panel(data, base_dir=tmp_path).backend("cases")


def test_its_refusals_are_cached_like_answers_not_asked_again_every_run(panel, tmp_path):
    from dataclasses import replace

    from trainer.config import load_config
    from trainer.data.images import ImageCache
    from trainer.data.items import load_items
    from trainer.opinions import OpinionStore, collect
    from trainer.testing import fake_vqa_rad

    root = fake_vqa_rad(tmp_path / "data", per_kind=2)
    cfg = load_config("attending", "tiny", **{"data.root": str(root), "data.tasks": ["vqa-rad"]})
    open_items = [replace(it, options=None) for it in load_items(cfg.data)]  # no options: it declines
    store = tmp_path / "op.jsonl"
    first = collect(open_items, panel, OpinionStore(store), ImageCache(64))
    assert {c.opinions[0].error for c in first.values()} == {"no training scan was asked this question"}
    again = collect(open_items, panel, OpinionStore(store), ImageCache(64), only_cached=True)
    assert again.keys() == first.keys()  # read back from the cache, the refusal with them
    assert [c.opinions[0].error for c in again.values()] == [c.opinions[0].error for c in first.values()]
    assert all(c.opinions[0].declined for c in again.values())


async def test_a_decline_reads_as_one_in_plain_output_and_the_tui_not_as_a_failure(panel):
    from rich.console import Console

    from mmedtui.consult.plain import PlainView
    from mmedtui.tui import create_app
    from mmedtui.tui.widgets import OpinionCard
    from support.tui import plain, settle, synthetic_scan

    scan_file, question = synthetic_scan(), "What is the diagnosis?"  # never asked of a training scan
    view = PlainView(scan_file, question, console=Console(record=True, width=100))
    Pipeline(panel).run([Case(scan_file.image, question)], emit=view.on_event)
    text = " ".join(view.console.export_text().split())
    assert "declined: no training scan was asked this question" in text and "failed" not in text
    app = create_app(scan_file, question, panel, image_mode="unicode")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        (card,) = app.cards.query(OpinionCard)
        assert card.state == "declined" and card.has_class("-declined") and not card.has_class("-failed")
        assert plain(card.error) == "– declined: no training scan was asked this question"
        record = app.record
    from mmedtui.tui.transcript import to_markdown

    assert "**Declined:** no training scan was asked this question" in to_markdown(record, "scan.png")
