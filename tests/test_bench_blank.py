"""``--blank-images``: every system scored again on flat grey scans; the image gain; a cache that keeps them apart."""

from __future__ import annotations

import csv
import json

import pytest
from rich.console import Console

from mmedtui.agents.base import Backend, Generation, Prompt, Sampling
from mmedtui.bench import run_bench
from mmedtui.bench.runner import GREY, BenchConfig
from support.bench import make_panel, write_vqa_rad

SYSTEMS = ("majority-vote", "mmedagent-rl", "question-only")


class GreyBlind(Backend):
    """The scripted attending, except that on a grey scan it always answers "no"."""

    def __init__(self, inner: Backend) -> None:
        self.inner, self.grey_prompts = inner, 0

    def generate(self, prompts: list[Prompt], sampling: Sampling = Sampling()) -> list[Generation]:
        out = self.inner.generate(prompts, sampling)
        for i, prompt in enumerate(prompts):
            if prompt.images and prompt.images[0].getextrema() == tuple((v, v) for v in GREY):
                self.grey_prompts += 1
                out[i] = Generation("<think>nothing to see</think><answer>no</answer>")
        return out


@pytest.fixture
def root(tmp_path):
    return write_vqa_rad(tmp_path / "data")


def _panel():
    panel, baselines = make_panel()
    blind = GreyBlind(panel.backend("attending"))
    panel._backends["attending"] = blind
    return panel, baselines, blind


def _run(root, out=None, blank=True, panel=None):
    panel, baselines, blind = panel or _panel()
    report = run_bench(panel, baselines, BenchConfig(root, ("vqa-rad",), SYSTEMS, blank_images=blank), output=out)
    return report, blind


def test_rows_get_the_blank_score_and_the_image_gain(root, tmp_path):
    report, blind = _run(root, tmp_path / "out")
    assert blind.grey_prompts == 3  # the attending saw each of the three mc cases once in grey
    rows = {r["system"]: r for r in report.rows}
    rl = rows["mmedagent-rl"]["metrics"]
    # Real scans: 100 (bench_fixtures). Grey: "no" to all three, right only on "Is the liver enlarged?".
    assert (rl["mc"], rl["mc_blank"], rl["image_gain"]) == (100.0, pytest.approx(33.33), pytest.approx(66.67))
    assert rows["mmedagent-rl"]["ci95"]["image_gain"][1] == pytest.approx(100.0)
    for system in ("majority-vote", "question-only"):  # neither looks at the pixels here
        assert rows[system]["metrics"]["image_gain"] == 0.0
    assert report.document["averages"]["systems"]["mmedagent-rl"]["image_gain"] == pytest.approx(66.67)
    assert report.document["run"]["blank_images"] is True
    console = Console(record=True, width=200)
    console.print(report.table)
    text = console.export_text()
    assert "gain" in text and "+66.7" in text and "flat grey image" in text

    lines = list(csv.DictReader((tmp_path / "out" / "results.csv").open(encoding="utf-8")))
    line = next(r for r in lines if r["system"] == "mmedagent-rl" and r["metric"] == "mc")
    assert (float(line["blank_accuracy"]), float(line["image_gain"])) == (pytest.approx(33.33), pytest.approx(66.67))
    assert {r["metric"] for r in lines} == {"mc"}  # the grey figures ride on the metric's own line
    samples = [json.loads(s) for s in (tmp_path / "out" / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    grey = [s for s in samples if s["metric"] == "mc_blank"]
    assert len(grey) == len(samples) / 2 == 3 * len(SYSTEMS)
    assert all(set(s["correct"]) == {"mc_blank"} for s in grey)


def test_without_the_flag_nothing_changes(root):
    report, blind = _run(root, blank=False)
    assert blind.grey_prompts == 0
    assert all(set(r["metrics"]) == {"mc"} for r in report.rows)
    assert "gain" not in str(report.document["averages"])


def test_the_work_cache_never_serves_grey_answers_for_real_ones_or_back(root, tmp_path):
    out = tmp_path / "out"
    first, _ = _run(root, out)
    # Same folder without the flag: every real answer comes from the cache, and they are the real ones.
    plain, blind = _run(root, out, blank=False)
    assert blind.grey_prompts == 0 and plain.tasks[0].computed == 0
    assert {r["system"]: r["metrics"]["mc"] for r in plain.rows} == {
        r["system"]: r["metrics"]["mc"] for r in first.rows
    }
    # With the flag again: the grey answers come back from the cache too.
    again, blind = _run(root, out)
    assert blind.grey_prompts == 0 and again.tasks[0].computed == 0
    assert [r["metrics"] for r in again.rows] == [r["metrics"] for r in first.rows]
    # A fresh folder that ran only real scans first still computes the grey ones (nothing mixed in).
    fresh = tmp_path / "fresh"
    _run(root, fresh, blank=False)
    grey_run, blind = _run(root, fresh)
    assert blind.grey_prompts == 3
    assert {r["system"]: r["metrics"] for r in grey_run.rows} == {r["system"]: r["metrics"] for r in first.rows}
