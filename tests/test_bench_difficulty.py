"""The bench's breakdown by curriculum level: each system on the items its specialists all got right (easy),
some (medium), none (hard)."""

from __future__ import annotations

from mmedtui.bench import run_bench
from mmedtui.bench.difficulty import by_difficulty
from mmedtui.bench.runner import BenchConfig, TaskResult
from mmedtui.bench.score import Cell
from support.bench import make_panel, write_vqa_rad


def _cell(by_id: dict[str, bool]) -> Cell:
    cell = Cell()
    for item, right in by_id.items():
        cell.add(item, {"correct": right}, failed=False)
    return cell


def test_items_are_levelled_by_their_specialists_and_each_system_scored_per_level():
    task = TaskResult("vqa-rad", "test", True)
    task.cells = {
        ("specialist:A", "mc"): _cell({"i1": True, "i2": True, "i3": False, "i4": False}),
        ("specialist:B", "mc"): _cell({"i1": True, "i2": False, "i3": False}),  # B was not asked about i4
        ("mmedagent-rl", "mc"): _cell({"i1": True, "i2": False, "i3": True, "i4": True}),
        ("static-pipeline", "mc"): _cell({"i1": False, "i2": False, "i3": False, "i4": True}),
        ("mmedagent-rl", "mc_blank"): _cell({"i1": False}),  # another metric: not mixed in
    }
    rows = {r["system"]: r for r in by_difficulty([task], ("specialist:A", "mmedagent-rl", "static-pipeline"), "mc")}
    assert set(rows) == {"mmedagent-rl", "static-pipeline"}  # the specialists define the levels
    rl, sft = rows["mmedagent-rl"], rows["static-pipeline"]
    assert rl["easy"] == {"n": 1, "accuracy": 100.0} and sft["easy"] == {"n": 1, "accuracy": 0.0}
    assert rl["medium"] == {"n": 1, "accuracy": 0.0}
    assert rl["hard"] == {"n": 2, "accuracy": 100.0} and sft["hard"] == {"n": 2, "accuracy": 50.0}


def test_the_results_document_carries_the_breakdown(tmp_path):
    root = write_vqa_rad(tmp_path / "data")
    panel, baselines = make_panel()
    systems = ("specialist:Specialist A", "specialist:Specialist B", "majority-vote", "mmedagent-rl")
    report = run_bench(panel, baselines, BenchConfig(data_root=root, tasks=("vqa-rad",), systems=systems))
    rows = {r["system"]: r for r in report.document["difficulty"]}
    assert set(rows) == {"majority-vote", "mmedagent-rl"}
    for row in rows.values():  # every scored item sits in exactly one level
        assert sum(row[level]["n"] for level in ("easy", "medium", "hard")) == 3
    # Only Specialist A and B are listed, so the levels come from those two (hand-checked against the script).
    assert rows["majority-vote"]["medium"] == {"n": 2, "accuracy": 0.0}  # A and B split, the vote takes the wrong one
    assert rows["mmedagent-rl"]["medium"] == {"n": 2, "accuracy": 100.0}  # the scripted attending gets both right
    assert rows["mmedagent-rl"]["hard"] == {"n": 0, "accuracy": None}
