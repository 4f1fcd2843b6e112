"""Plots of a run: per step, one series per stage (easy / medium / hard for the attending), from ``metrics.jsonl``:
reward, training accuracy, entropy and ``frac_reward_zero_std`` (the share of GRPO groups whose rollouts all got
the same reward); and the held-back accuracy measured after each stage (``state.json``, one point per stage
and task). In the terminal with plotext; as a PNG with Pillow (trainer/plot_png.py), which every run also writes
next to its metrics (``metrics.png``).

    mmedtui train plot runs/attending
    mmedtui train plot runs/attending --png attending.png
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from mmedtui.errors import UserError
from mmedtui.fileio import read_jsonl

STEP_METRICS = ("reward", "accuracy", "entropy", "frac_reward_zero_std")
PANELS = ("reward", "validation", "accuracy", "entropy", "frac_reward_zero_std")
TITLES = {
    "reward": "reward (format 0.5 + accuracy 1.0)",
    "validation": "held-back accuracy (%) after each stage",
    "accuracy": "training accuracy",
    "entropy": "entropy",
    "frac_reward_zero_std": "groups with identical rewards (frac_reward_zero_std)",
}

Series = dict[str, tuple[list[int], list[float]]]  # label -> (steps, values)


def _records(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise UserError(f"{path}: no metrics (is {run_dir} a training run folder?)")
    return list(read_jsonl(path))


def stage_ends(records: list[dict]) -> dict[str, int]:
    """The global step each stage ended at, in stage order."""
    ends: dict[str, int] = {}
    for rec in records:
        if isinstance(rec.get("step"), int):
            ends[str(rec.get("stage", ""))] = rec["step"]
    return ends


def validation_series(run_dir: Path, ends: dict[str, int]) -> Series:
    """{task: (stage end steps, held-back accuracy %)} from the run's ``state.json`` (stages that validated)."""
    path = Path(run_dir) / "state.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: Series = {}
    for stage in state.get("order") or list(state.get("stages", {})):
        table = (state.get("stages", {}).get(stage) or {}).get("validation") or {}
        for task, figures in sorted(table.items()):
            if stage in ends and isinstance(figures, dict) and isinstance(figures.get("accuracy"), (int, float)):
                steps, values = out.setdefault(task, ([], []))
                steps.append(ends[stage])
                values.append(float(figures["accuracy"]))
    return out


def series(run_dir: Path) -> dict[str, Series]:
    """{panel: {label: (steps, values)}}: step metrics labelled by stage, the validation by task."""
    records = _records(run_dir)
    out: dict[str, Series] = {m: {} for m in PANELS}
    rl = {rec.get("stage") for rec in records if isinstance(rec.get("reward"), (int, float))}
    # An attending's SFT warm-up logs thousands of steps before the few GRPO ones: its steps are left out
    # (its validation stays, the point just before the first GRPO step: the attending before RL).
    for rec in (r for r in records if not rl or r.get("stage") in rl):
        for metric in STEP_METRICS:
            value = rec.get(metric)
            if isinstance(value, (int, float)) and isinstance(rec.get("step"), int):
                steps, values = out[metric].setdefault(str(rec.get("stage", "")), ([], []))
                steps.append(rec["step"])
                values.append(float(value))
    out["validation"] = validation_series(run_dir, stage_ends(records))
    if not any(out.values()):
        raise UserError(f"{Path(run_dir) / 'metrics.jsonl'}: no reward, accuracy or entropy logged yet")
    return out


def integer_ticks(lo: float, hi: float, most: int = 10) -> list[int]:
    """At most ``most`` whole-number ticks covering [lo, hi] (steps are integers: no 2.5 on the axis)."""
    lo, hi = math.floor(lo), math.ceil(hi)
    if hi <= lo:
        return [lo]
    stride = max(1, math.ceil((hi - lo) / (most - 1)))
    for nice in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if nice >= stride:
            stride = nice
            break
    first = math.ceil(lo / stride) * stride
    return list(range(first, hi + 1, stride)) or [lo]


def render(run_dir: Path, width: int | None = None, height: int | None = None, color: bool = False) -> str:
    """One terminal panel per metric with data, one labelled line per stage (plotext 6 figure API)."""
    import plotext as plt

    data = series(run_dir)
    shown = [m for m in PANELS if data[m]]
    steps = [s for m in shown for xs, _ in data[m].values() for s in xs]
    ticks = integer_ticks(min(steps), max(steps))
    fig = plt.figure
    fig.clear()
    plt.terminal.limit(False, False)
    fig.plot_size(width or 100, (height or 14) * len(shown))  # the legend needs ~9 rows
    fig.subplots(len(shown), 1)
    for row, metric in enumerate(shown, start=1):
        panel = fig.subplot(row, 1)
        panel.title(f"{TITLES[metric]} - {Path(run_dir).name}")
        for label, (xs, ys) in data[metric].items():
            if metric == "validation":  # one point per stage: markers, no line between stages
                panel.draw(panel.signal(xs, ys, marker="o").label(label or "-"))
            else:
                panel.draw(panel.signal(xs, ys).lines().label(label or "-"))
        panel.ruler(0, 0).ticks(ticks, [str(t) for t in ticks])
        panel.label("step", 0, 0)
    text = fig.build().string(colorless=not color)
    fig.clear()
    return text
