"""The bench core: every system row, hand-computed metrics, sharing, failures, resume, missing benchmarks."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from rich.console import Console

from mmedtui.bench import run_bench
from mmedtui.bench.runner import BenchConfig
from mmedtui.bench.systems import FIXED_SYSTEMS, available_systems, parse_baselines, resolve_systems
from mmedtui.errors import ConfigError, UserError
from support.bench import EXPECTED_CLOSED, EXPECTED_MC, EXPECTED_OPEN, calls, make_panel, write_vqa_rad


def config(root, systems, **kw) -> BenchConfig:
    return BenchConfig(root, kw.pop("tasks", ("vqa-rad",)), tuple(systems), **kw)


def cells(report, metric="mc") -> dict[str, float]:
    return {r["system"]: r["metrics"][metric] for r in report.rows}


@pytest.fixture
def root(tmp_path):
    return write_vqa_rad(tmp_path / "data")


def test_every_system_row_is_computed_with_hand_checked_metrics(root):
    panel, baselines = make_panel()
    systems = available_systems(panel, baselines)
    # Three specialists, the eight scripted systems, and the shipped priors (tests/test_question_only.py and
    # tests/test_image_prior.py check what they answer).
    assert set(systems) == set(EXPECTED_MC) | {"question-only", "nearest-image"}
    report = run_bench(panel, baselines, config(root, systems, metrics=("mc", "closed", "open", "open_mc")))
    for metric, expected in (("mc", EXPECTED_MC), ("closed", EXPECTED_CLOSED), ("open", EXPECTED_OPEN)):
        got = {s: v for s, v in cells(report, metric).items() if s in expected}
        assert got == pytest.approx(expected, abs=0.01), metric
    rl = next(r for r in report.rows if r["system"] == "mmedagent-rl")
    assert rl["counts"] == {"mc": 3, "closed": 4, "open": 2, "open_mc": 2}
    assert rl["n"] == 6  # distinct items
    assert rl["open_recall"] == 100.0  # "CT scan" holds every gold token of "CT"
    # open_mc: the pool is {liver, CT}; "kidney" (C) and "MRI" (A) name no option.
    c = next(r for r in report.rows if r["system"] == "specialist:Specialist C")
    assert (c["metrics"]["open_mc"], c["unparsed"]["open_mc"]) == (50.0, 1)


def test_majority_vote_and_the_attending_differ_when_scripted_to(root):
    panel, baselines = make_panel()
    report = run_bench(panel, baselines, config(root, ["majority-vote", "mmedagent-rl"]))
    assert cells(report) == pytest.approx({"majority-vote": 100 / 3, "mmedagent-rl": 100.0}, abs=0.01)
    # The paired gap is the difference of the two rows, on the same three items; it reaches the footer.
    (pair,) = report.document["paired"]
    assert (pair["task"], pair["minus"], pair["n"], pair["disagree"]) == ("vqa-rad", "majority-vote", 3, 2)
    assert pair["diff"] == pytest.approx(200 / 3, abs=0.01)
    assert pair["ci95"][0] >= 0.0 and pair["ci95"][1] == pytest.approx(100.0)
    assert "VQA-RAD: mmedagent-rl - majority-vote +66.7 [+" in _render(report)


def test_confidence_intervals_contain_the_point_estimate(root):
    panel, baselines = make_panel()
    report = run_bench(
        panel, baselines, config(root, available_systems(panel, baselines), metrics=("mc", "closed", "open"))
    )
    for row in report.rows:
        for metric, value in row["metrics"].items():
            lo, hi = row["ci95"][metric]
            assert lo <= value <= hi, (row["system"], metric)


def test_each_agent_answers_each_case_once_for_all_systems(root):
    panel, baselines = make_panel()
    systems = ["majority-vote", "mmedagent-rl", "static-pipeline", *[f"specialist:Specialist {x}" for x in "ABC"]]
    run_bench(panel, baselines, config(root, systems, chunk_size=2))
    # 3 mc cases: triage 3, each specialist 3, attending 3, base attending 3 -- nothing twice.
    assert {k: len(b.calls) for k, b in panel._backends.items()} == {
        "triage": 3,
        "sA": 3,
        "sB": 3,
        "sC": 3,
        "attending": 3,
        "base": 3,
    }
    assert len(panel.backend("sA").calls) == len({p.user for p in panel.backend("sA").calls})


def test_a_failing_backend_fails_its_items_and_the_bench_goes_on(root):
    panel, baselines = make_panel()
    panel.models["sB"] = {"backend": "scripted", "error": "timeout after 3 tries"}
    report = run_bench(panel, baselines, config(root, ["specialist:Specialist B", "majority-vote", "mmedagent-rl"]))
    rows = {r["system"]: r for r in report.rows}
    assert rows["specialist:Specialist B"]["failed"]["mc"] == 3
    assert rows["specialist:Specialist B"]["metrics"]["mc"] == 0.0
    assert rows["majority-vote"]["failed"]["mc"] == 0  # A and C still vote
    assert rows["mmedagent-rl"]["metrics"]["mc"] == 100.0
    text = _render(report)
    assert "3 failed" in text


def test_a_specialist_that_declines_is_counted_declined_not_failed(root, tmp_path):
    from mmedtui.bench.systems import panel_with_baselines
    from support.bench import panel_data
    from support.scans import prior

    prior(3).save(tmp_path / "nn", {})  # its training scans were asked "Is there a mass?" only
    data = panel_data()
    data["models"]["cases"] = {"backend": "nearest-image", "path": str(tmp_path / "nn")}
    data["specialists"]["default"].append({"name": "Case-based", "model": "cases"})
    systems = ["specialist:Case-based", "majority-vote"]
    report = run_bench(*panel_with_baselines(data), config(root, systems))
    rows = {r["system"]: r for r in report.rows}
    mine = rows["specialist:Case-based"]
    assert (mine["declined"]["mc"], mine["failed"]["mc"], mine["counts"]["mc"]) == (2, 0, 3)  # fracture, liver
    assert rows["majority-vote"]["failed"]["mc"] == 0  # a decline is a missing vote, not a failed item
    text = _render(report)
    assert "2 declined" in text and not re.search(r"\d+ failed", text)
    from mmedtui.bench.output import results_csv

    line = next(
        r for r in csv.DictReader(io.StringIO(results_csv(report.rows))) if r["system"] == "specialist:Case-based"
    )
    assert (line["metric"], line["declined"], line["failed"]) == ("mc", "2", "0")


def test_a_checkpoint_that_will_not_load_fails_that_row_only(root):
    panel, baselines = make_panel()
    panel.models["nocurr"] = {"backend": "scripted", "no_such_option": 1}  # build_backend raises ConfigError
    report = run_bench(panel, baselines, config(root, ["no-curriculum", "mmedagent-rl"]))
    rows = {r["system"]: r for r in report.rows}
    assert rows["no-curriculum"]["failed"]["mc"] == 3 and rows["mmedagent-rl"]["metrics"]["mc"] == 100.0


def test_garbage_answers_are_wrong_not_failed(root):
    panel, baselines = make_panel()
    panel.models["attending"] = {"backend": "scripted", "replies": ["<think>hmm</think>"]}  # no answer at all
    report = run_bench(panel, baselines, config(root, ["mmedagent-rl"]))
    row = report.rows[0]
    assert (row["metrics"]["mc"], row["failed"]["mc"], row["unparsed"]["mc"]) == (0.0, 0, 3)


class Interrupt(KeyboardInterrupt):
    pass


def test_an_interrupted_run_resumes_without_recomputing_and_ends_identical(root, tmp_path):
    systems = ["majority-vote", "mmedagent-rl", "mmedagent-rl-tts", "no-triage", "self-consistency"]
    kw = {"metrics": ("mc", "closed"), "chunk_size": 2}
    panel, baselines = make_panel()
    whole = run_bench(panel, baselines, config(root, systems, **kw), output=tmp_path / "whole")
    full_calls = calls(panel)

    panel, baselines = make_panel()
    attending = panel.backend("attending")
    real = attending.generate

    def dies_on_mass(prompts, sampling):  # the kill lands in the second chunk's attending stage
        if any("mass" in p.user for p in prompts):
            raise Interrupt
        return real(prompts, sampling)

    attending.generate = dies_on_mass
    out = tmp_path / "resumed"
    with pytest.raises(Interrupt):
        run_bench(panel, baselines, config(root, systems, **kw), output=out)
    assert not (out / "results.json").exists() and not list(out.glob(".samples*"))  # nothing half-written
    first_calls = calls(panel)

    panel, baselines = make_panel()
    resumed = run_bench(panel, baselines, config(root, systems, **kw), output=out)
    done_before = {"fracture", "liver enlarged"}  # the first chunk (mc cases 1-2) was flushed
    assert not [
        p
        for b in panel._backends.values()
        for p in b.calls
        if any(k in p.user for k in done_before) and "Options:" in p.user
    ]
    assert 0 < calls(panel) < full_calls and first_calls > 0
    assert resumed.rows == whole.rows
    assert _samples(out) == _samples(tmp_path / "whole")

    panel, baselines = make_panel()
    again = run_bench(panel, baselines, config(root, systems, **kw), output=out)
    assert calls(panel) == 0 and again.rows == whole.rows
    assert again.tasks[0].computed == 0 and again.tasks[0].outputs_computed == 0 < again.tasks[0].outputs


def test_a_changed_agent_is_recomputed_not_replayed(root, tmp_path):
    panel, baselines = make_panel()
    run_bench(panel, baselines, config(root, ["mmedagent-rl"]), output=tmp_path)
    panel, baselines = make_panel()
    panel.models["attending"] = {"backend": "scripted", "replies": ["<answer>no</answer>"]}
    report = run_bench(panel, baselines, config(root, ["mmedagent-rl"]), output=tmp_path)
    # Triage and specialists come from the work cache; only the changed attending runs.
    assert {k: len(b.calls) for k, b in panel._backends.items()} == {"attending": 3}
    assert report.rows[0]["metrics"]["mc"] == pytest.approx(100 / 3, abs=0.01)
    # Every case needed a model, but only one of its two agent outputs (the panel's came from the cache).
    assert (report.tasks[0].computed, report.tasks[0].outputs_computed, report.tasks[0].outputs) == (3, 3, 6)


def test_missing_benchmarks_are_listed_not_fatal(root):
    panel, baselines = make_panel()
    report = run_bench(panel, baselines, config(root, ["mmedagent-rl"], tasks=("vqa-rad", "slake", "mmmu-med")))
    assert [m["task"] for m in report.document["missing"]] == ["slake", "mmmu-med"]
    text = _render(report)
    assert "missing slake" in text and "missing mmmu-med" in text and "fetch slake" in text
    assert "VQA-RAD" in text and "out-of-domain" not in text  # no out-of-domain benchmark ran


def test_the_table_has_the_paper_shape(root):
    panel, baselines = make_panel()
    report = run_bench(panel, baselines, config(root, available_systems(panel, baselines)))
    text = " ".join(_render(report).split())  # the footer's long lines wrap
    for needle in (
        "VQA-RAD",
        "in-domain",
        "specialist:Specialist A",
        "majority-vote",
        "static-pipeline",
        "mmedagent-rl-tts",
        "no-curriculum",
        "100.0",
        "Paired differences",
        "- static-pipeline",
        "- specialist:",
        "Research use only",
    ):
        assert needle in text
    assert text.index("majority-vote") < text.index("mmedagent-rl") < text.index("no-triage")


def test_baselines_parse_and_unavailable_rows(tmp_path):
    panel, baselines = make_panel(baselines=False)
    attending_ablations = {"no-curriculum", "no-entropy", "fixed-entropy", "reverse-curriculum"}
    assert set(baselines.unavailable) == {"static-pipeline"} | attending_ablations
    assert "static-pipeline" not in available_systems(panel, baselines)
    with pytest.raises(UserError, match="needs baselines.no-curriculum"):
        resolve_systems(["no-curriculum"], panel, baselines)
    with pytest.raises(UserError, match="unknown system"):
        resolve_systems(["gpt-5"], panel, baselines)
    assert resolve_systems(["MMedAgent-RL", "specialist:specialist a"], panel, baselines) == [
        "specialist:Specialist A",
        "mmedagent-rl",
    ]
    panel.models["local"] = {"backend": "transformers", "path": str(tmp_path / "nope")}
    b = parse_baselines({"attending_base": {"model": "local"}}, panel)
    assert "not found" in b.unavailable["static-pipeline"]
    with pytest.raises(ConfigError, match="unknown model"):
        parse_baselines({"baselines": {"no-curriculum": {"attending": {"model": "ghost"}}}}, panel)
    with pytest.raises(ConfigError, match="unknown system"):
        parse_baselines({"baselines": {"no-such": {}}}, panel)
    assert set(FIXED_SYSTEMS) >= {"self-consistency", "mmedagent-rl-tts", "no-triage", "no-specialists"}


def _render(report) -> str:
    console = Console(record=True, width=200)
    console.print(report.table)
    return console.export_text()


def _samples(out) -> list[dict]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]


def test_the_work_cache_survives_a_line_cut_short(tmp_path):
    from mmedtui.bench.work import WorkCache

    path = tmp_path / "w.jsonl"
    cache = WorkCache(path)
    cache.put("a", {"x": 1}, item_id="1", unit="panel")
    cache.put("failed", {"error": "x"}, item_id="2", unit="panel", persist=False)
    cache.flush()
    with path.open("a", encoding="utf-8") as f:
        f.write('{"k": "b", "data": {"x"')  # killed mid-write
    cache = WorkCache(path)
    assert cache.get("a") == {"x": 1} and cache.get("b") is None and cache.get("failed") is None
    cache.put("c", {"x": 3}, item_id="3", unit="panel")
    cache.flush()
    assert WorkCache(path).entries == {"a": {"x": 1}, "c": {"x": 3}}
