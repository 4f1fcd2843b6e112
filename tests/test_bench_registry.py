"""The system registry: one entry per row decides its table section, unit, agent and paired comparison."""

from __future__ import annotations

import pytest

from mmedtui.bench import run_bench
from mmedtui.bench.registry import GROUPS, SYSTEMS, needed_units, system
from mmedtui.bench.runner import BenchConfig
from mmedtui.bench.systems import available_systems, panel_with_baselines
from mmedtui.bench.units import Settings, Units
from support.bench import calls, make_panel, panel_data, write_vqa_rad

ATTENDING_ABLATIONS = ("no-curriculum", "no-entropy", "fixed-entropy", "reverse-curriculum")


@pytest.fixture
def root(tmp_path):
    return write_vqa_rad(tmp_path / "data")


def test_entries_are_consistent():
    names = [s.name for s in SYSTEMS]
    assert len(names) == len(set(names))
    for entry in SYSTEMS:
        assert entry.group in GROUPS
        assert entry.answer in ("attending", "specialist", "vote", "prior")
        assert set(entry.stages) <= {"triage", "specialists", "attending"}
        assert entry.fallback is None or system(entry.fallback).agent, entry
    # Rows sharing a unit must agree on how it is computed.
    for unit in {s.unit for s in SYSTEMS}:
        readers = [s for s in SYSTEMS if s.unit == unit]
        assert len({(s.stages, s.on_opinions, s.sampled, s.agent) for s in readers}) == 1, unit


def test_the_panel_unit_comes_first_for_rows_that_reuse_its_opinions():
    assert needed_units(["no-entropy"]) == ["panel", "no-entropy"]
    assert needed_units(["no-triage", "majority-vote"]) == ["panel", "no-triage"]
    assert needed_units(["no-specialists"]) == ["no-specialists"]


def test_an_attending_ablation_is_unavailable_until_the_panel_names_its_checkpoint():
    panel, baselines = make_panel()
    for name in ATTENDING_ABLATIONS[1:]:
        assert baselines.unavailable[name] == f"needs baselines.{name}.attending in the panel file"
        assert name not in available_systems(panel, baselines)


def test_a_named_ablation_runs_on_the_shared_opinions_as_its_own_row(root):
    data = panel_data()
    data["baselines"]["no-entropy"] = {"attending": {"model": "base"}}  # always "yes"
    data["baselines"]["reverse-curriculum"] = {"attending": {"model": "nocurr"}}  # always "no"
    panel, baselines = panel_with_baselines(data)
    systems = available_systems(panel, baselines)
    assert {"no-entropy", "reverse-curriculum"} <= set(systems) and "fixed-entropy" not in systems
    report = run_bench(
        panel, baselines, BenchConfig(root, ("vqa-rad",), ("no-entropy", "reverse-curriculum", "mmedagent-rl"))
    )
    mc = {r["system"]: r["metrics"]["mc"] for r in report.rows}
    assert mc == {
        "no-entropy": pytest.approx(200 / 3, abs=0.01),
        "reverse-curriculum": pytest.approx(100 / 3, abs=0.01),
        "mmedagent-rl": 100.0,
    }
    # Paired against the headline system, like no-curriculum.
    assert {p["minus"] for p in report.document["paired"]} == {"no-entropy", "reverse-curriculum"}
    # The triage doctor ran once per item for the three rows (one shared panel unit).
    assert len(panel._backends["triage"].calls) == 3
    assert calls(panel) > 0


def test_two_ablations_on_one_checkpoint_keep_separate_caches():
    data = panel_data()
    data["baselines"]["no-entropy"] = {"attending": {"model": "nocurr"}}
    panel, baselines = panel_with_baselines(data)
    units = Units(panel, baselines, Settings())
    assert units.attending_spec("no-entropy").model == units.attending_spec("no-curriculum").model == "nocurr"
    assert units.fingerprint("no-entropy") != units.fingerprint("no-curriculum")
