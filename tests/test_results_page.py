"""The results page and the shipped cards take their figures from the result files (scripts/results_page.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from results_page import difficulty_table, headline_table, measured_note, model_systems, speed_summary, speed_table
from trainer.model_card import split_front_matter

ROOT = Path(__file__).resolve().parents[1]


def _doc() -> dict:
    row = {
        "task": "slake",
        "split": "validation",
        "n": 422,
        "metrics": {"mc": 64.45, "image_gain": 8.3},
        "ci95": {"mc": [59.95, 68.96]},
    }
    return {
        "run": {"command": ["mmedtui", "bench", "--all"]},
        "results": [row | {"system": "mmedagent-rl"}, row | {"system": "other", "metrics": {"mc": 1.0}}],
    }


def test_each_shipped_model_is_named_by_the_first_system_that_runs_it():
    panel = {
        "models": {
            "a": {"path": "models/spec-a"},
            "att": {"path": "models/att"},
            "sft": {"path": "models/sft"},
            "remote": {"backend": "openai"},
        },
        "specialists": {"default": [{"name": "Specialist A", "model": "a"}, {"name": "R", "model": "remote"}]},
        "attending": {"model": "att"},
        "baselines": {
            "static-pipeline": {"attending": {"model": "sft"}},
            "self-consistency": {"agent": {"model": "sft"}},
            "majority-vote": {},
        },
    }
    assert model_systems(panel) == {
        "spec-a": "specialist:Specialist A",
        "att": "mmedagent-rl",
        "sft": "static-pipeline",
    }


def test_the_measured_note_states_the_systems_rows_and_nothing_else():
    results, text = measured_note(_doc(), "mmedagent-rl")
    assert results == [{"task": "slake", "split": "validation", "value": 64.5}]
    assert "`mmedtui bench --all` as the bench system `mmedagent-rl`" in text
    assert "SLAKE validation 64.5 [60.0, 69.0] (n=422)" in text and "+8.3 points" in text


def test_the_shipped_cards_carry_the_bench_files_figures():
    """Fails when assets/results/bench.json changed and `python scripts/results_page.py` was not run."""
    doc = json.loads((ROOT / "assets" / "results" / "bench.json").read_text(encoding="utf-8"))
    panel = yaml.safe_load((ROOT / "assets" / "panel.yaml").read_text(encoding="utf-8"))
    checked = 0
    for name, system in model_systems(panel).items():
        if not (ROOT / "assets" / "notes" / f"{name}.md").is_file():  # a card its own trainer writes (case-based)
            continue
        results, sentence = measured_note(doc, system)
        card = (ROOT / "assets" / "models" / name / "README.md").read_text(encoding="utf-8")
        meta, body = split_front_matter(card)
        index = {
            (r["dataset"]["name"], r["dataset"]["split"]): r["metrics"][0]["value"]
            for entry in meta["model-index"]
            for r in entry["results"]
        }
        assert index == {(r["task"], r["split"]): r["value"] for r in results}, name
        assert sentence in body, name
        checked += 1
    assert checked >= 5


def test_the_stage_table_shows_the_held_back_baselines_beside_the_stages():
    from results_page import stage_table

    val = {"vqa-rad": {"n": 74, "accuracy": 68.9}, "slake": {"n": 124, "accuracy": 58.9}}
    training = {
        "runs": {
            "attending": {
                "order": ["warmup", "hard"],
                "stages": {
                    "warmup": {
                        "steps": 1500,
                        "seconds": 1692,
                        "cases": 1841,
                        "validation": val,
                        "validation_difficulty": {"easy": {"accuracy": 90.0}, "hard": {"accuracy": 12.5}},
                    },
                    "hard": {"gamma": 0.003, "steps": 40, "validation": val},
                },
                "curriculum": {
                    "validation": {
                        "panel": {"majority-vote": {"vqa-rad": {"accuracy": 67.6}, "slake": {"accuracy": 60.5}}}
                    }
                },
            }
        }
    }
    lines = stage_table(training).splitlines()
    assert lines[2].startswith("| attending | warmup | – | 1500 | 28.2 min | 68.9 / 58.9 | 90.0 / – / 12.5 | 1841 |")
    assert lines[3].startswith("| attending | hard | 0.003 | 40 | – | 68.9 / 58.9 | – |")  # γ: the stage's bonus
    assert lines[4] == "| attending | majority-vote (their opinions) | – | – | – | 67.6 / 60.5 | – | – | – | – | – |"
    # Runs on the same opinions share one row per panel system, after every run's stages.
    training["runs"]["ablation"] = training["runs"]["attending"]
    lines = stage_table(training).splitlines()
    runs = ["ablation", "ablation", "attending", "attending", "all runs"]
    assert [line.split("|")[1].strip() for line in lines[2:]] == runs


def test_the_speed_figures_on_both_pages_are_those_of_the_speed_file():
    speed = json.loads((ROOT / "assets" / "results" / "speed.json").read_text(encoding="utf-8"))
    page = (ROOT / "assets" / "README.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"<!-- generated:speed -->\n{speed_table(speed)}\n<!-- /generated -->" in page
    assert f"<!-- generated:speed -->\n{speed_summary(speed)}\n<!-- /generated -->" in readme
    for entry in speed.values():  # every figure carries how, when and at which commit it was measured
        assert entry["command"].startswith(("python scripts/", "python -m mmedtui.bench.")) and entry["date"]
        assert entry["commit"]


def test_a_recorded_entry_names_the_module_that_measured_it(tmp_path, monkeypatch):
    from measured import record

    monkeypatch.setattr(sys, "argv", ["scripts/latency.py", "scan.jpg", "--repeats", "5", "--output", "x.json"])
    path = tmp_path / "speed.json"
    record(path, "latency", {"consult_s": 5.0}, module="mmedtui.bench.latency")
    record(path, "other", {"n": 1})
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["latency"]["command"] == "python -m mmedtui.bench.latency scan.jpg --repeats 5"
    assert doc["latency"]["figures"] == {"consult_s": 5.0}
    assert doc["other"]["command"].endswith("latency.py scan.jpg --repeats 5")  # the script itself


def test_the_speed_table_gives_each_script_its_rows():
    latency = {
        "help_s": 0.2,
        "repeats": 5,
        "consult_s": 4.9,
        "consult_min_s": 4.4,
        "consult_max_s": 5.8,
        "imports_s": 3.9,
        "peak_mib": 449,
        "phases": [["import torch", 1.1], ["the same consultation again (warm)", 0.13]],
    }
    how = {"command": "python scripts/x.py", "date": "2026-11-29", "commit": "abc1234"}
    speed = {
        "latency": {"figures": latency, **how},
        "speed, chunk 32, threads panel, batch size panel": {
            "figures": {
                "cases": 32,
                "chunk": 32,
                "threads": None,
                "batch_size": None,
                "batched": 15.93,
                "unbatched": 7.48,
                "ratio": 2.13,
            },
            **how,
        },
    }
    table = speed_table(speed)
    assert "| one `consult --json` process | 4.90 s median of 5 (4.40–5.80) |" in table
    assert "15.93 vs 7.48 items/s = **2.13×**" in table and "2026-11-29, abc1234" in table
    assert "the app" not in table  # no tmux measurement in the file, no row
    assert "a warm consultation 0.13 s" in speed_summary(speed) and "2.1×" in speed_summary(speed)


def test_the_headline_says_when_a_work_cache_spared_part_of_the_run():
    doc = _doc() | {"tasks": [{"task": "slake", "cases": 844, "computed": 844}]}
    doc["run"]["seconds"] = 2352.2
    assert "(2352 s wall on the 2-core CPU" in headline_table(doc)
    doc["tasks"][0]["computed"] = 300
    assert "2352 s wall, 300 of 844 cases computed, the rest from its work cache" in headline_table(doc)
    doc["tasks"][0] |= {"computed": 844, "outputs": 8440, "outputs_computed": 844}  # every case, one unit of ten
    assert "2352 s wall, 844 of 8440 agent outputs computed, the rest from its work cache" in headline_table(doc)


def test_the_difficulty_table_has_a_column_per_benchmark_and_level():
    level = {
        "easy": {"n": 10, "accuracy": 90.0},
        "medium": {"n": 5, "accuracy": 40.0},
        "hard": {"n": 3, "accuracy": None},
    }
    rows = [{"task": "slake", "split": "validation", "system": s} | level for s in ("mmedagent-rl", "static-pipeline")]
    table = difficulty_table({"difficulty": rows})
    assert (
        "| system | SLAKE validation easy (n=10) | SLAKE validation medium (n=5) | SLAKE validation hard (n=3) |"
        in table
    )
    assert "| **mmedagent-rl** | 90.0 | 40.0 | – |" in table and "| static-pipeline | 90.0 | 40.0 | – |" in table
