"""`mmedtui train plot`: per-stage reward, held-back accuracy, entropy and frac_reward_zero_std, in the terminal
and as a PNG (Pillow)."""

from __future__ import annotations

import json
import sys

import pytest

from mmedtui.fileio import append_jsonl


@pytest.fixture
def run(tmp_path):
    """A run folder: 4 SFT warm-up steps, then 3 GRPO steps per stage, validation after every stage."""
    records = [
        {"stage": "warmup", "step": i, "loss": 1.0 / i, "accuracy": 0.1 * i, "entropy": 2.0, "reward": None}
        for i in range(1, 5)
    ]
    records += [
        {
            "stage": s,
            "step": 4 + i,
            "reward": 0.1 * i,
            "accuracy": 0.05 * i,
            "entropy": 3 - 0.1 * i,
            "frac_reward_zero_std": 0.5 - 0.05 * i,
        }
        for i, s in enumerate(["easy"] * 3 + ["medium"] * 3 + ["hard"] * 3, 1)
    ]
    append_jsonl(tmp_path / "metrics.jsonl", records)
    order = ["warmup", "easy", "medium", "hard"]
    stages = {
        s: {"validation": {"vqa-rad": {"n": 10, "accuracy": 50.0 + i}, "slake": {"n": 8, "accuracy": 60.0 - i}}}
        for i, s in enumerate(order)
    }
    (tmp_path / "state.json").write_text(json.dumps({"order": order, "stages": stages}))
    return tmp_path


def test_series_per_stage_with_validation_at_each_stage_end_and_the_warmup_steps_left_out(run):
    from trainer.plot import series

    data = series(run)
    assert list(data["reward"]) == ["easy", "medium", "hard"]
    assert data["reward"]["medium"] == ([8, 9, 10], pytest.approx([0.4, 0.5, 0.6]))
    assert data["frac_reward_zero_std"]["hard"][0] == [11, 12, 13]
    assert "warmup" not in data["entropy"]  # thousands of SFT steps would squash the GRPO ones
    # the attending before RL (after the warm-up, step 4), then after each stage
    assert data["validation"]["vqa-rad"] == ([4, 7, 10, 13], [50.0, 51.0, 52.0, 53.0])
    assert data["validation"]["slake"][1] == [60.0, 59.0, 58.0, 57.0]


@pytest.mark.parametrize("lo,hi", [(1, 9), (4, 13), (2500, 2562), (7, 7), (0, 1234)])
def test_integer_ticks_are_whole_steps_within_the_range(lo, hi):
    from trainer.plot import integer_ticks

    ticks = integer_ticks(lo, hi)
    assert all(isinstance(t, int) for t in ticks) and 1 <= len(ticks) <= 10
    assert ticks == sorted(set(ticks)) and lo <= ticks[0] and ticks[-1] <= hi


def test_terminal_plot_names_every_panel_and_labels_steps_as_integers(run):
    from trainer.plot import render

    text = render(run, width=90, height=12)
    for title in ("reward", "held-back accuracy", "entropy", "frac_reward_zero_std", "easy", "hard", "slake"):
        assert title in text
    lines = text.splitlines()
    x_labels = [lines[i - 1].split() for i, line in enumerate(lines) if line.strip() == "step"]
    assert len(x_labels) == 5  # one x axis per panel, each labelled with whole steps only
    for labels in x_labels:
        assert labels and all(label.isdigit() for label in labels if not label.startswith("└"))  # └─┘: a legend box


def test_png_has_one_panel_per_metric_and_a_colour_per_stage(run):
    from PIL import Image

    from trainer.plot_png import COLOURS, PANEL_H, render_png

    path = render_png(run)
    assert path == run / "metrics.png"
    image = Image.open(path).convert("RGB")
    assert image.height // PANEL_H == 5  # reward, held-back, training accuracy, entropy, frac_reward_zero_std
    colours = {c for _, c in image.getcolors(maxcolors=1 << 20)}
    for hex_colour in COLOURS[:3]:  # easy, medium, hard
        assert tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)) in colours


def test_cli_plot_writes_the_png_where_asked(run, tmp_path, monkeypatch, capsys):
    from mmedtui import cli

    target = tmp_path / "out" / "plot.png"
    target.parent.mkdir()
    monkeypatch.setattr(sys, "argv", ["mmedtui", "train", "plot", str(run), "--png", str(target)])
    with pytest.raises(SystemExit) as done:
        cli.main()
    out = capsys.readouterr()
    assert done.value.code == 0 and "held-back accuracy" in out.out and str(target) in out.err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
