"""scripts/stated_modality.py: a reasoning counts as right when it names the question's modality and no other."""

from __future__ import annotations

import json

import stated_modality


def _sample(qid: str, system: str, reasoning: str, metric: str = "mc") -> dict:
    name = system.split(":", 1)[-1]
    return {
        "task": "slake",
        "id": qid,
        "system": system,
        "metric": metric,
        "agents": {"specialists": [{"name": name, "reasoning": reasoning}, {"name": "Other", "reasoning": "A CT."}]},
    }


def test_right_means_the_questions_modality_and_no_other(tmp_path):
    validate = tmp_path / "validate.json"
    validate.write_text(json.dumps([{"qid": 1, "modality": "MRI"}, {"qid": 2, "modality": "CT"}]))
    rows = [
        _sample("1", "specialist:A", "An axial MRI of the head."),  # right
        _sample("2", "specialist:A", "An MRI or a CT of the chest."),  # two named: not right
        _sample("1", "specialist:A", "A medical image."),  # none named
        _sample("2", "specialist:A", "An X-ray.", metric="mc_blank"),  # grey scans are not counted
        _sample("2", "majority-vote", "A CT."),  # not a specialist row
    ]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert stated_modality.stated(samples, validate) == {"A": (3, 2, 1)}
