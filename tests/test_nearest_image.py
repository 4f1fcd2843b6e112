"""scripts/nearest_image.py: neighbours vote with their own answers to the same words; no neighbour, the lookup."""

from __future__ import annotations

import numpy as np

import nearest_image
from mmedtui.tasks.base import ImageRef, ImageSource, Item


def _item(image: str, question: str, answer: str, kind: str = "closed") -> Item:
    ref = ImageRef((ImageSource(name=f"{image}.png", path=None),))
    return Item("slake", "train", f"{image}-{question}", question, answer, kind, None, "CT", None, ref, {})


def test_the_nearest_images_answer_beats_the_questions_most_common_one(capsys):
    fit = [
        _item("a", "Is there a liver?", "yes"),
        _item("b", "Is there a liver?", "no"),
        _item("c", "Is there a liver?", "no"),
    ]
    queries = [_item("q1", "Is there a liver?", "yes"), _item("q2", "Is the heart big?", "yes")]
    features = {it.image_ref.key: v for it, v in zip(fit + queries, np.eye(5) + 0.01)}
    features[queries[0].image_ref.key] = features[fit[0].image_ref.key] + 0.1  # q1 looks like image a
    nearest_image.evaluate(fit, queries, features, ks=[1])
    out = capsys.readouterr().out
    # lookup: "no" for q1 (2 of 3), "yes" for the unseen q2 -> 50 %; one neighbour: a's "yes" -> 100 %
    assert "question lookup (no image)     50.0" in out
    assert "1 nearest fit images          100.0" in out
