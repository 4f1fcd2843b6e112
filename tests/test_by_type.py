"""scripts/by_type.py and its table in scripts/results_page.py: `mc` per question type, on the scans and on
grey images, from a bench run's samples."""

from __future__ import annotations

import json

from by_type import tally
from results_page import by_type_table


def _sample(qid: str, system: str, right: bool, metric: str = "mc", task: str = "slake") -> dict:
    return {"task": task, "id": qid, "system": system, "metric": metric, "correct": {metric: right}}


def test_each_type_gets_its_accuracy_on_scans_and_grey_images_and_their_difference(tmp_path):
    types = {("slake", "1"): "Organ", ("slake", "2"): "Organ", ("slake", "3"): "Plane"}
    rows = [
        _sample("1", "specialist:A", True),
        _sample("2", "specialist:A", False),
        _sample("1", "specialist:A", False, "mc_blank"),
        _sample("2", "specialist:A", False, "mc_blank"),
        _sample("3", "specialist:A", True),
        _sample("9", "specialist:A", True),  # a question of no known type: not counted
        _sample("1", "specialist:A", True, "open"),  # another metric: not counted
    ]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    figures = tally(samples, types)
    assert figures == {
        "slake": {
            "specialist:A": {
                "Organ": {"n": 2, "mc": 50.0, "mc_blank": 0.0, "gain": 50.0},
                "Plane": {"n": 1, "mc": 100.0},
            }
        }
    }
    table = by_type_table({"by_type": figures}, "slake", least=2).splitlines()
    assert table[0] == "| system | Organ (n=2) |"  # Plane has too few questions for a column
    assert table[2] == "| specialist:A | 50.0 (+50.0) |"
