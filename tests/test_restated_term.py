"""scripts/restated_term.py: a restatement misreads the question when its term has a word the question lacks."""

from __future__ import annotations

import json

import restated_term


def _sample(task: str, system: str, question: str, reasoning: str, metric: str = "mc") -> dict:
    name = system.split(":", 1)[-1]
    opinions = [{"name": name, "reasoning": reasoning}, {"name": "Other", "reasoning": "The question asks about X."}]
    return {"task": task, "system": system, "metric": metric, "question": question, "agents": {"specialists": opinions}}


def test_a_term_the_question_lacks_is_counted_per_task_and_specialist(tmp_path):
    rows = [
        _sample(
            "slake", "specialist:A", "Does the picture contain kidneys?", "The question asks about the kidney. A CT."
        ),
        _sample(
            "slake", "specialist:A", "Is there a fracture of the vertebra?", "The question asks about the abdomen."
        ),
        _sample("slake", "specialist:A", "Is this an MRI?", "An MRI of the head."),  # no restatement
        _sample("slake", "specialist:A", "Is it normal?", "The question asks about the liver.", metric="mc_blank"),
        _sample(
            "vqa-rad", "specialist:A", "Is the heart enlarged?", "The question asks about an enlarged heart. An X-ray."
        ),
        _sample("vqa-rad", "majority-vote", "Is it normal?", "The question asks about the liver."),  # not a specialist
    ]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert restated_term.restated(samples) == {("slake", "A"): (3, 2, 1), ("vqa-rad", "A"): (1, 1, 0)}


def test_short_words_and_case_do_not_count():
    assert not restated_term.misread("the Left Lung", "Where is the left lung?")
    assert not restated_term.misread("a CT", "Is this a scan?")  # words under four letters are not judged
    assert restated_term.misread("pleural effusion", "Is there a pleural mass?")
