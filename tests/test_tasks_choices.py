"""Multiple-choice construction: yes/no, "A or B?" alternatives, protocols, open-question distractors."""

from __future__ import annotations

import pytest

from mmedtui.tasks.base import ImageRef, Item
from mmedtui.tasks.choices import (
    YES_NO,
    alternatives,
    build_pool,
    mc_options,
    mc_set,
    open_mc_set,
    open_options,
)
from mmedtui.tasks.scoring import gold_index, is_correct, lettered, normalize


def item(qid, question, answer, kind="closed", task="vqa-rad", options=None, **meta) -> Item:
    return Item(task, "test", str(qid), question, answer, kind, options, None, None, ImageRef(()), meta)


@pytest.mark.parametrize(
    "question, gold, expected",
    [
        ("Is this an MRI or a CT scan?", "MRI", ["MRI", "CT"]),
        ("Is this a CT or an MRI?", "MRI", ["CT", "MRI"]),
        ("Is the lesion on the left or right side of the brain?", "Left", ["left", "right"]),
        (
            "Is the gastric bubble shown on the left or right side of the patient?",
            "Right side",
            ["left side", "right side"],
        ),
        (
            "Are pleural opacities located on the left, right, or both sides of the lung?",
            "Both",
            ["left", "right", "both"],
        ),
        ("Is this a T1 weighted, T2 weighted, or FLAIR image?", "FLAIR", ["T1 weighted", "T2 weighted", "FLAIR"]),
        ("Is this a T1 weighted or T2 weighted MRI image?", "T2", ["T1", "T2"]),
        ("Is this a T1 weighted or T2 weighted MRI image?", "T1", ["T1", "T2"]),  # same options for either gold
        ("Which is the biggest in this image,lung,liver or heart?", "Liver", ["lung", "liver", "heart"]),
        (
            "Which plane is the image scanned, transverse plane or coronal plane?",
            "Coronal Plane",
            ["transverse plane", "coronal plane"],
        ),
        ("Which type of modality is shown about this image, MRI, CT or X-Ray?", "X-Ray", ["MRI", "CT", "X-Ray"]),
        (
            "Is the heart size in this image smaller or larger than if the image was taken AP?",
            "Smaller",
            ["smaller", "larger"],
        ),
        ("Was this image taken with or without contrast?", "With contrast", ["with contrast", "without contrast"]),
        ("Is the abnormality hyper dense or hypo dense?", "Hypodense", ["hyper dense", "hypo dense"]),
    ],
)
def test_alternatives(question, gold, expected):
    assert alternatives(question, gold) == expected


@pytest.mark.parametrize(
    "question, gold",
    [
        ("Are there multiple or just 1 metastatic focus?", "one"),
        ("Which organ is abnormal, heart or lung?", "Both"),  # gold not named: no fair MC form
        ("Is there a fracture?", "Maybe"),
        ("Is this an MRI or a CT scan?", ""),
    ],
)
def test_alternatives_refused(question, gold):
    assert alternatives(question, gold) is None


def test_yes_no_fixed_order_and_protocols():
    yn = item(1, "Is there a mass?", "Yes")
    assert mc_options(yn) == YES_NO == ["yes", "no"]
    ab_rad = item(2, "Is this an MRI or a CT scan?", "MRI")
    ab_slake = item(3, "Which is bigger in this image, liver or spleen?", "Liver", task="slake")
    assert mc_options(ab_rad) is None  # huatuo: VQA-RAD keeps only its yes/no
    assert mc_options(ab_rad, protocol="closed") == ["MRI", "CT"]
    assert mc_options(ab_slake) == ["liver", "spleen"]
    with pytest.raises(ValueError):
        mc_options(yn, protocol="nope")
    s = mc_set([yn, ab_rad, ab_slake, item(4, "What?", "lung", kind="open")])
    assert len(s) == 2 and s.skipped == 1
    assert len(mc_set([yn, ab_rad, ab_slake], protocol="closed")) == 3


def test_native_options_and_format():
    omni = item(5, "Which?", "No", kind="mc", task="omnimedvqa", options=["Yes.", "No"])
    assert mc_options(omni) == ["Yes.", "No"]
    assert lettered(["yes", "no"]) == ["A. yes", "B. no"]
    assert len(mc_set([omni])) == 1


def _open_items():
    answers = [
        ("Organ", "Liver"),
        ("Organ", "Lung"),
        ("Organ", "Heart"),
        ("Organ", "Kidney"),
        ("Organ", "the liver"),
        ("Modality", "CT"),
        ("Modality", "MRI"),
        ("Modality", "X-Ray"),
        ("Position", "Left Lung"),
        ("Position", "lung left"),
    ]
    return [
        item(i, "What is shown?", a, kind="open", task="slake", content_type=ct) for i, (ct, a) in enumerate(answers)
    ]


def test_open_distractors_reproducible_same_group_and_never_gold():
    items = _open_items()
    pool = build_pool(items)
    for it in items:
        opts = open_options(it, pool, seed=0)
        assert opts == open_options(it, pool, seed=0)  # reproducible
        assert opts is not None and 2 <= len(opts) <= 4
        assert sum(normalize(o) == normalize(it.answer) for o in opts) == 1  # gold exactly once
        assert gold_index(it, opts) is not None and is_correct(it.answer, it, opts)
        assert len({normalize(o) for o in opts}) == len(opts)
    liver = items[0]
    opts = open_options(liver, pool, seed=0)
    assert set(opts) == {"Liver", "Lung", "Heart", "Kidney"}  # same content_type first, "the liver" excluded
    ct = items[5]
    assert set(open_options(ct, pool)) >= {"CT", "MRI", "X-Ray"}
    left = items[8]
    assert "lung left" not in open_options(left, pool)  # a reordering of the gold is no distractor
    assert any(open_options(it, pool, seed=1) != open_options(it, pool, seed=0) for it in items)


def test_open_mc_set_and_big_pool_speed():
    items = [item(i, "What?", f"answer {i % 500}", kind="open", task="pathvqa") for i in range(3000)]
    s = open_mc_set(items, k=4)
    assert len(s) == 3000 and s.skipped == 0 and all(len(o) == 4 for _, o in s.entries)
    lonely = [item(1, "What?", "only", kind="open")]
    assert open_mc_set(lonely).skipped == 1


@pytest.mark.parametrize(
    "question, options",
    [
        ("Are regions of the brain infarcted?", ["yes", "no"]),
        ("does this look normal", ["yes", "no"]),
        ("Is this an MRI or a CT scan?", ["MRI", "CT"]),
        ("Which is bigger, liver or spleen?", ["liver", "spleen"]),
        ("What organ is shown?", None),
        ("Where is the lesion?", None),
    ],
)
def test_a_users_closed_question_gets_the_options_the_mc_protocol_gives_it(question, options):
    from mmedtui.tasks.choices import question_options

    assert question_options(question) == options
