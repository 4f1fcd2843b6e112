"""Damaged caches are recomputed, damaged inputs stop the run naming the file (exit 2, one line)."""

from __future__ import annotations

import json
import sys

import pytest

RELEASE = "VQA_RAD Dataset Public.json"


def _main(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    from mmedtui import cli

    monkeypatch.setattr(sys, "argv", ["mmedtui", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        cli.main()
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


def _bench(root, panel, out, *more):
    return [
        "bench",
        "--task",
        "vqa-rad",
        "--agents",
        str(panel),
        "--data-root",
        str(root),
        "--output",
        str(out),
        "--metrics",
        "mc",
        "--system",
        "majority-vote",
        *more,
    ]


def test_a_damaged_work_line_is_skipped_and_recomputed(bench_setup, tmp_path, monkeypatch, capsys):
    from mmedtui.bench.work import WorkCache

    root, panel = bench_setup
    out = tmp_path / "run"
    code, _, err = _main(monkeypatch, capsys, *_bench(root, panel, out))
    assert code == 0, err
    [work] = (out / ".work").glob("*.jsonl")
    lines = work.read_bytes().splitlines(keepends=True)
    whole = len(WorkCache(work))
    first = lines[0].replace(b'"data"', b'"d\xc3ta"', 1)  # a torn two-byte character, mid-key
    second = lines[1][:20] + b"\xff\xfe" + lines[1][20:]  # any bad byte
    work.write_bytes(first + second + b"".join(lines[2:]))
    import os

    import mmedtui.bench.work as work_module

    for stale in (out / ".samples.jsonl.k1l2m3.tmp", out / ".work" / ".vqa-rad-test.jsonl.x9.tmp"):
        stale.write_text("half")  # what a kill mid-write leaves, from a process before this one
        os.utime(stale, (work_module._STARTED - 60,) * 2)
    damaged = WorkCache(work)
    assert damaged.skipped == 2 and len(damaged) == whole - 2

    code, _, err = _main(monkeypatch, capsys, *_bench(root, panel, out))
    assert code == 0, err
    assert len(WorkCache(work)) == whole  # the two units were computed again and appended
    assert not list(out.glob(".*.tmp")) and not list((out / ".work").glob(".*.tmp"))


@pytest.mark.parametrize(
    "content, why",
    [
        (b'[{"qid": 1, "image_name": "synpic0.jpg", "quest', "not readable JSON"),
        (b'[{"qid": 1, "question": "\xff\xfe"}]', "not UTF-8"),
        (b"", "empty file"),
        (b'{"qid": 1}', "expected a JSON array of records, found a dict"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
    ids=["truncated", "not-utf8", "empty", "not-a-list", "deep"],
)
def test_a_damaged_benchmark_file_stops_bench_and_verify(bench_setup, tmp_path, monkeypatch, capsys, content, why):
    root, panel = bench_setup
    release = root / "vqa-rad" / RELEASE
    release.write_bytes(content)
    code, _, err = _main(monkeypatch, capsys, *_bench(root, panel, tmp_path / "run"))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(release) in err and why in err
    code, _, err = _main(monkeypatch, capsys, "data", "verify", "vqa-rad", "--data-root", str(root))
    assert code == 2 and why in err


def test_verify_refuses_an_empty_split(bench_setup, monkeypatch, capsys):
    root, _ = bench_setup
    release = root / "vqa-rad" / RELEASE
    records = [r for r in json.loads(release.read_text()) if r["phrase_type"].startswith("test")]
    release.write_text(json.dumps(records))  # every row a test row: the train split is empty
    code, _, err = _main(monkeypatch, capsys, "data", "verify", "vqa-rad", "--data-root", str(root))
    assert code == 2 and "train: no items" in err


@pytest.mark.parametrize("where", ["file", "proc"])
def test_an_output_folder_that_cannot_exist_is_refused(bench_setup, tmp_path, monkeypatch, capsys, where):
    root, panel = bench_setup
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / "a-file" / "run" if where == "file" else "/proc/mmedtui-run"
    code, _, err = _main(monkeypatch, capsys, *_bench(root, panel, out))
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(out) in err, err
    code, _, err = _main(monkeypatch, capsys, "train", "specialist", "--data-root", str(root), "--output", str(out))
    assert code == 2 and str(out) in err, err


def test_deeply_nested_config_and_run_state_exit_2(tmp_path, monkeypatch, capsys):
    from trainer.config import load_config, save_config

    deep = "[" * 100_000 + "]" * 100_000
    config = tmp_path / "deep.yaml"
    config.write_text("train: " + deep)
    code, _, err = _main(
        monkeypatch, capsys, "train", "specialist", "--config", str(config), "--output", str(tmp_path / "r1")
    )
    assert code == 2 and err.strip() == f"mmedtui: {config}: config file nested too deeply"
    run = tmp_path / "r2"
    save_config(load_config("specialist"), run)
    (run / "state.json").write_text(deep)
    code, _, err = _main(monkeypatch, capsys, "train", "specialist", "--resume", "--output", str(run))
    assert code == 2 and "state.json: unreadable run state (nested too deeply)" in err


def test_an_exception_becomes_one_short_line_even_without_text():
    from mmedtui.errors import error_line

    assert error_line(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert error_line(ValueError("x" * 500)) == "ValueError: " + "x" * 199 + "…"
    assert error_line(RuntimeError()) == "RuntimeError"  # an empty message must not raise IndexError
    assert error_line(OSError("no such file"), typed=False) == "no such file"
