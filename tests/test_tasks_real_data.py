"""Loaders on the real VQA-RAD and SLAKE releases in ../shared/data (skipped when the pack is absent)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mmedtui.tasks import TASKS
from mmedtui.tasks.choices import YES_NO, mc_set, open_mc_set

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(
    not (DATA / "vqa-rad").is_dir() or not (DATA / "slake").is_dir(), reason=f"{DATA} not present"
)


def sample_loads(items, n=12):
    step = max(1, len(items) // n)
    for it in items[::step]:
        (image,) = it.image_ref.load()
        assert image.mode == "RGB" and min(image.size) > 0


def test_vqa_rad_test_counts_and_mc():
    res = TASKS["vqa-rad"].load(DATA, "test")
    assert res.layout == "official" and res.skipped == 0
    assert len(res.items) == 451
    kinds = Counter(i.kind for i in res.items)
    assert kinds == {"closed": 272, "open": 179}
    huatuo = mc_set(res.items)  # the paper-comparable protocol: the 251 yes/no questions
    assert len(huatuo) == 251 and all(opts == YES_NO for _, opts in huatuo.entries)
    assert Counter(i.answer.lower() for i, _ in huatuo.entries) == {"no": 133, "yes": 118}
    closed = mc_set(res.items, protocol="closed")  # plus 20 of the 21 "A or B?" questions
    assert len(closed) == 271 and closed.skipped == 1
    assert len(open_mc_set(res.items)) == 179
    assert len({i.id for i in res.items}) == 451
    sample_loads(res.items)


def test_vqa_rad_train_quirks():
    res = TASKS["vqa-rad"].load(DATA, "train")
    assert len(res.items) == 1797 and res.skipped == 0
    by_id = {i.id: i for i in res.items}
    assert by_id["0"].answer == "Yes"  # qid "0" is a string in the JSON
    assert by_id["1511"].answer == "4"  # int answer
    assert by_id["2156"].kind == "closed"  # "CLOSED " with a trailing space
    assert by_id["2036"].meta["question_rephrase"] is None  # key missing
    assert by_id["2239"].answer == "superficial to the patient's skin"
    assert Counter(i.kind for i in res.items) == {"closed": 1027, "open": 770}


def test_slake_english_counts():
    task = TASKS["slake"]
    train = task.load(DATA, "train")
    # 4,919 English train rows; one (qid 1622) has an empty answer and is skipped, counted.
    assert len(train.items) + train.skipped == 4919 and train.skip_reasons == {"empty answer": 1}
    val = task.load(DATA, "validation")
    assert len(val.items) == 1053 and val.skipped == 0
    assert Counter(i.kind for i in val.items) == {"open": 631, "closed": 422}
    mc = mc_set(val.items)
    print(f"SLAKE validate (en): {len(mc)} mc items of 422 closed, {mc.skipped} without a fair MC form")
    assert len(mc) == 422 and sum(opts == YES_NO for _, opts in mc.entries) == 358
    assert {i.department for i in val.items} == {"Radiologist"}
    sample_loads(val.items)
    sample_loads(train.items)


def test_slake_languages():
    task = TASKS["slake"]
    assert len(task.load(DATA, "validation", lang="zh").items) == 1046
    assert len(task.load(DATA, "validate", lang="all").items) == 2099
