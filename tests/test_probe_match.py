"""scripts/probe_match.py: its synthetic rows are labelled right, and a short run prints held-out accuracy."""

from __future__ import annotations

import random
import re

import pytest

import probe_match


@pytest.mark.parametrize("restate", [False, True])
def test_matching_rows_say_yes_exactly_when_the_question_names_what_the_reasoning_saw(restate: bool) -> None:
    rng = random.Random(3)
    rows = [probe_match.row(rng, 1.0, restate) for _ in range(300)]
    for question, reasoning, answer, matching in rows:
        asked = next(m for m in probe_match.MODALITIES if f" {m}" in question)
        seen = re.search(r"axial (\S+) of", reasoning).group(1)
        assert matching and answer == ("yes" if asked == seen else "no")
        assert (f"Asked about {asked};" in reasoning) == restate
    assert 0.35 < sum(a == "yes" for _, _, a, _ in rows) / len(rows) < 0.65


def test_share_mixes_in_rows_the_text_cannot_answer() -> None:
    rng = random.Random(4)
    rows = [probe_match.row(rng, 0.25) for _ in range(400)]
    assert 0.15 < sum(m for *_, m in rows) / len(rows) < 0.35
    assert all(q.startswith("Does the image show") for q, _, _, m in rows if not m)


@pytest.mark.slow
def test_a_short_run_reports_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    probe_match.main(["--steps", "5", "--batch", "2", "--reasoning", "restate"])
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "held-out matching accuracy" in ln]
    assert len(lines) == 5
    assert all(0.0 <= float(re.search(r"accuracy ([0-9.]+)", ln).group(1)) <= 1.0 for ln in lines)
