"""``mmedtui bench`` as a command: flags, exit codes, the printed table, the files, and the real data pack."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import typer
import yaml
from typer.testing import CliRunner

from mmedtui import DISCLAIMER
from mmedtui.cli.bench import bench
from mmedtui.errors import UserError
from support.bench import EXPECTED_MC, panel_data
from support.paths import REPO, SHARED_DATA, needs_shared_data


def invoke(args: list[str]) -> tuple[int, str, str]:
    """Run the bench command the way ``mmedtui.cli.main`` maps errors: UserError -> 2, usage errors -> 2."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(bench)
    app.command("other")(lambda: None)  # two commands, so the group keeps the "bench" name in argv
    result = CliRunner().invoke(app, ["bench", *args])
    exc = result.exception
    if isinstance(exc, UserError):
        return 2, result.stdout, str(exc)
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    return result.exit_code, result.stdout, result.stderr


def test_bench_prints_the_table_and_writes_three_files(bench_setup, tmp_path):
    root, panel = bench_setup
    out = tmp_path / "run"
    code, stdout, _ = invoke(
        [
            "--task",
            "vqa-rad",
            "--agents",
            str(panel),
            "--data-root",
            str(root),
            "--output",
            str(out),
            "--metrics",
            "mc,closed",
        ]
    )
    assert code == 0, stdout
    assert "VQA-RAD" in stdout and "mmedagent-rl" in stdout and "items/s" in stdout
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["disclaimer"] == DISCLAIMER and doc["run"]["metrics"] == ["mc", "closed"]
    row = next(r for r in doc["results"] if r["system"] == "mmedagent-rl")
    assert {"task", "split", "system", "n", "metrics", "ci95", "unparsed", "failed"} <= set(row)
    assert row["task"] == "vqa-rad" and row["split"] == "test" and row["metrics"]["mc"] == 100.0
    assert set(row["metrics"]) == {"mc", "closed"} and len(row["ci95"]["mc"]) == 2
    mc = {r["system"]: r["metrics"]["mc"] for r in doc["results"]}
    priors = [mc.pop("question-only"), mc.pop("nearest-image")]  # the shipped models' (their own tests)
    assert None not in priors and mc == pytest.approx(EXPECTED_MC, abs=0.01)
    rows = list(csv.DictReader((out / "results.csv").open(encoding="utf-8")))
    assert {r["metric"] for r in rows} == {"mc", "closed"} and all(r["disclaimer"] == DISCLAIMER for r in rows)
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    systems = {r["system"] for r in doc["results"]}
    assert len(samples) == (3 + 4) * len(systems)  # 3 mc cases + 4 closed cases, per system
    s = next(x for x in samples if x["system"] == "mmedagent-rl" and x["metric"] == "mc")
    assert s["options"] == ["yes", "no"] and s["correct"] == {"mc": True} and s["disclaimer"] == DISCLAIMER
    assert s["agents"]["triage"]["department"] == "Radiologist" and len(s["agents"]["specialists"]) == 3
    assert s["agents"]["attending"]["answer"] in ("yes", "no")
    assert list((out / ".work").glob("vqa-rad-test.jsonl"))
    assert not list(out.glob(".*.tmp"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "nope"], "unknown task"),
        (["--system", "gpt-9"], "unknown system"),
        (["--system", "no-curriculum"], None),  # fine: the fixture panel names it
        (["--data-root", "/no/such/folder"], "not a folder"),
        (["--metrics", "bleu"], "unknown metric"),
        (["--all", "--task", "vqa-rad"], "exclude each other"),
        (["--limit", "0"], "at least 1"),
        (["--mc-protocol", "random"], "unknown protocol"),
        (["--limit", "x"], None),  # click's own usage error
    ],
)
def test_bad_flags_exit_2_with_one_line(bench_setup, args, message):
    root, panel = bench_setup
    full = ["--agents", str(panel), "--task", "vqa-rad", "--data-root", str(root), *args]
    if "--all" in args:
        full.remove("--task"), full.remove("vqa-rad")
    code, _, err = invoke(full)
    if args == ["--system", "no-curriculum"]:
        assert code == 0
        return
    assert code == 2
    if message:
        assert message in err and "\n" not in err.strip()


def test_a_missing_panel_file_is_a_usage_error(bench_setup):
    root, _ = bench_setup
    code, _, err = invoke(["--agents", "/no/panel.yaml", "--data-root", str(root)])
    assert code == 2 and "panel file not found" in err


def test_the_real_entry_point_exits_2(bench_setup):
    """Through ``python -m mmedtui`` when the whole CLI imports (other commands may still be in progress)."""
    probe = subprocess.run(
        [sys.executable, "-m", "mmedtui", "bench", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    if probe.returncode:
        pytest.skip("`mmedtui bench` is not registered yet: " + (probe.stderr.strip().splitlines() or [""])[-1])
    root, panel = bench_setup
    run = subprocess.run(
        [sys.executable, "-m", "mmedtui", "bench", "--task", "nope", "--data-root", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "unknown task" in run.stderr and "Traceback" not in run.stderr


@needs_shared_data(SHARED_DATA / "vqa-rad")
def test_real_vqa_rad_with_a_scripted_panel(tmp_path):
    """The official VQA-RAD test split from ../shared/data, 8 mc items, every system row."""
    panel = tmp_path / "panel.yaml"
    data = panel_data()
    panel.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    out = tmp_path / "real"
    code, stdout, err = invoke(
        [
            "--task",
            "vqa-rad",
            "--split",
            "test",
            "--limit",
            "8",
            "--agents",
            str(panel),
            "--data-root",
            str(SHARED_DATA),
            "--output",
            str(out),
        ]
    )
    assert code == 0, err
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["tasks"][0]["items"] == 451  # the official test split
    rows = {r["system"]: r for r in doc["results"]}
    # Three specialists, eight scripted systems and the two shipped priors, each on all 8 items.
    assert len(rows) == 13 and all(r["counts"]["mc"] == 8 for r in rows.values())
    # The scripted base attending always says "yes": its accuracy is the share of yes answers.
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]
    targets = [s["target"].lower() for s in samples if s["system"] == "static-pipeline"]
    assert rows["static-pipeline"]["metrics"]["mc"] == pytest.approx(100 * targets.count("yes") / 8, abs=0.01)
    assert "VQA-RAD" in stdout


def test_the_throughput_script_compares_batched_and_unbatched(bench_setup, capsys):
    from speed import main  # scripts/speed.py

    root, panel = bench_setup
    result = main([str(root), "--limit", "3", "--chunk", "2", "--agents", str(panel)])
    assert result["batched"] > 0 and result["unbatched"] > 0
    assert "speed-up" in capsys.readouterr().out


def test_a_missing_default_data_root_lists_every_benchmark_as_missing(bench_setup, tmp_path, monkeypatch):
    _, panel = bench_setup
    monkeypatch.delenv("MMEDTUI_DATA", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    code, stdout, err = invoke(["--agents", str(panel), "--system", "mmedagent-rl"])
    assert code == 2  # nothing scored is no result: one line saying where the data should be
    assert len(err.splitlines()) == 1 and all(w in err for w in ("--data-root", "$MMEDTUI_DATA", "mmedtui data list"))
    for name in ("vqa-rad", "slake", "pathvqa", "omnimedvqa", "mmmu-med"):
        assert f"missing {name}" in stdout


def test_a_split_the_benchmark_lacks_exits_2(bench_setup):
    root, panel = bench_setup
    code, _, err = invoke(
        ["--task", "vqa-rad", "--split", "validation", "--data-root", str(root), "--agents", str(panel)]
    )
    assert code == 2 and "--split validation" in err and "train, test" in err
