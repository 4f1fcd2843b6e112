"""The shared scorer (bench metrics and RL reward): normalisation, closed/open/MC scoring, bootstrap."""

from __future__ import annotations

import math

import pytest

from mmedtui.tasks.base import ImageRef, Item
from mmedtui.tasks.scoring import (
    bootstrap_ci,
    closed_correct,
    gold_index,
    is_correct,
    normalize,
    open_exact,
    open_recall,
    paired_bootstrap_ci,
    parse_choice,
    yes_no,
)


def item(answer, kind="closed", options=None, task="vqa-rad", **meta) -> Item:
    return Item(task, "test", "1", "q?", answer, kind, options, None, None, ImageRef(()), meta)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Yes.", "yes"),
        ("  YES ", "yes"),
        ("yes", "yes"),
        ("是的", "yes"),
        ("是", "yes"),
        ("包含", "yes"),
        ("有", "yes"),
        ("不是", "no"),
        ("没有", "no"),
        ("不包含", "no"),
        ("No", "no"),
        ("否。", "no"),
        ("X-Ray", "xray"),
        ("x ray", "xray"),
        ("x_ray.", "xray"),
        ("X-rays", "xray"),
        ("x.ray", "xray"),
        ("(Left)", "left"),
        ("The liver", "liver"),
        ("a", "a"),
        ("one", "1"),
        ("3.5 cm", "3.5 cm"),
        ("Posterior-Anterior", "posterior anterior"),
        ("patient's", "patients"),
        ("", ""),
        (None, ""),
        (12, "12"),
        ("  many   spaces\there ", "many spaces here"),
        ("肺，", "肺"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_closed_correct_yes_no():
    assert closed_correct("Yes.", "yes")
    assert closed_correct("yes", "Yes")
    assert closed_correct("No, there is no fracture.", "no")
    assert closed_correct("Yes, there is no fracture.", "yes")  # commits to yes first
    assert closed_correct("There is no evidence of it", "No")
    assert closed_correct("是的", "Yes") and closed_correct("不是的，没有", "No")
    assert not closed_correct("", "yes")
    assert not closed_correct("maybe", "yes")
    assert not closed_correct("asdf qwer", "no")
    assert not closed_correct("Yes", "No")


def test_closed_correct_alternative_gold_needs_equality():
    assert closed_correct("mri", "MRI") and closed_correct("The left.", "Left")
    assert not closed_correct("It is an MRI, not a CT", "MRI")
    assert not closed_correct("", "MRI")


def test_yes_no_extraction():
    assert yes_no("YES") == "yes" and yes_no("nope") == "no" and yes_no("garbage") is None
    assert yes_no(None) is None and yes_no("不存在") == "no"


def test_open_exact_and_int_gold():
    assert open_exact("4", 4) and open_exact("Four", 4)  # VQA-RAD has int answers
    assert open_exact("X-Ray", "xray")
    assert open_exact("24/7", ["24/7", "3.429"]) and open_exact("3.429", ["24/7", "3.429"])
    assert not open_exact("", "")
    assert not open_exact("left lung", "lung")


def test_open_recall():
    assert open_recall("the right lower lobe", "Right lower lobe") == 1.0
    assert open_recall("right lobe", "right lower lobe") == pytest.approx(2 / 3)
    assert open_recall("", "lung") == 0.0
    assert open_recall("anything", "") == 0.0
    assert open_recall("12 mm", 12) == 1.0


OPTS = ["Computed tomography", "Magnetic resonance", "Ultrasound", "X-ray"]


@pytest.mark.parametrize(
    "pred, expected",
    [
        ("B", 1),
        ("(B)", 1),
        ("B.", 1),
        ("b", 1),
        ("(c)", 2),
        ("The answer is C", 2),
        ("Answer: D", 3),
        ("C. Ultrasound", 2),
        ("I think it is (A), no wait, (D)", 3),  # last mention wins
        ("Ultrasound", 2),
        ("ultrasound.", 2),
        ("It looks like an x-ray image", 3),
        ("A mass is seen; the modality is magnetic resonance", 1),  # sentence-initial article is no letter
        ("", None),
        ("asdfgh", None),
        ("E", None),
        ("None of these", None),
    ],
)
def test_parse_choice(pred, expected):
    assert parse_choice(pred, OPTS) == expected


def test_parse_choice_yes_no_and_longest_text():
    assert parse_choice("No, there is none.", ["yes", "no"]) == 1
    assert parse_choice("Yes.", ["yes", "no"]) == 0
    assert parse_choice("It is in the left kidney", ["left", "left kidney"]) == 1
    assert parse_choice(None, ["yes", "no"]) is None
    assert parse_choice("A", []) is None


def test_is_correct_reward_paths():
    assert is_correct("yes", item("Yes"))  # closed, free text
    assert is_correct("A", item("Yes"), ["yes", "no"])
    assert not is_correct("B", item("Yes"), ["yes", "no"])
    assert not is_correct("I don't know", item("Yes"), ["yes", "no"])  # unparsed = wrong
    assert is_correct("B", item("MRI"), ["CT", "MRI"])
    assert is_correct("left lung", item("Left lung", kind="open"))
    assert not is_correct("left lung and more", item("Left lung", kind="open"))  # exact, not recall
    omni = item("No", kind="mc", options=["Yes.", "No"], task="omnimedvqa")
    assert is_correct("B", omni) and is_correct("No.", omni) and not is_correct("Yes", omni)
    mmmu = item("same", kind="mc", options=["same", "same", "other"], task="mmmu-med", answer_letter="B")
    assert gold_index(mmmu) == 1 and is_correct("(B)", mmmu) and not is_correct("A", mmmu)
    assert is_correct("3.429", item("24/7", kind="open", answers=["24/7", "3.429"]))


def test_gold_index_ignores_spaces():
    assert gold_index(item("Hypodense"), ["hyper dense", "hypo dense"]) == 1
    assert gold_index(item("maybe"), ["yes", "no"]) is None


def test_bootstrap_ci():
    lo, hi = bootstrap_ci([True] * 60 + [False] * 40, n_boot=2000, seed=0)
    assert 49 < lo < 60 < hi < 71
    assert bootstrap_ci([True] * 10) == (100.0, 100.0)
    assert bootstrap_ci([True, False] * 50, seed=3) == bootstrap_ci([True, False] * 50, seed=3)
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    lo, hi = bootstrap_ci([True, False] * 50_000)  # big sets stay cheap and tight
    assert 49.5 < lo < 50 < hi < 50.5


def test_paired_bootstrap_ci():
    # a is right wherever b is, and on one item more: every resample's difference is >= 0.
    diff, lo, hi = paired_bootstrap_ci([1, 1, 1, 0], [0, 1, 1, 0], n_boot=2000)
    assert diff == 25.0 and lo >= 0.0 and lo < diff < hi
    assert paired_bootstrap_ci([1, 0, 1], [1, 0, 1]) == (0.0, 0.0, 0.0)
    # Two systems that agree on most items: the paired interval is far narrower than either accuracy's own.
    a = [True] * 55 + [False] * 45
    b = [True] * 50 + [False] * 50
    diff, lo, hi = paired_bootstrap_ci(a, b, n_boot=2000)
    alo, ahi = bootstrap_ci(a, n_boot=2000)
    assert diff == 5.0 and 0.0 <= lo < hi < 15.0 and hi - lo < (ahi - alo) / 2
    # The same two accuracies with independent errors: a wide interval that spans zero.
    c = [True, False] * 50
    diff, lo, hi = paired_bootstrap_ci(a, c, n_boot=2000)
    assert diff == 5.0 and lo < 0.0 < hi
    assert paired_bootstrap_ci(a, b, seed=4) == paired_bootstrap_ci(a, b, seed=4)
    assert all(math.isnan(v) for v in paired_bootstrap_ci([], []))
    with pytest.raises(ValueError):
        paired_bootstrap_ci([True], [True, False])
