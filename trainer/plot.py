"""Terminal plots of a run's ``metrics.jsonl``: reward, accuracy and entropy against the global step, one series
per stage (easy / medium / hard for the attending), with plotext.

    mmedtui train plot runs/attending
"""

from __future__ import annotations

from pathlib import Path

from mmedtui.errors import UserError

from trainer.io import read_jsonl

METRICS = ("reward", "accuracy", "entropy")


def series(run_dir: Path) -> dict[str, dict[str, tuple[list[int], list[float]]]]:
    """{metric: {stage: (steps, values)}} in stage order of first appearance."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise UserError(f"{path}: no metrics (is {run_dir} a training run folder?)")
    out: dict[str, dict[str, tuple[list[int], list[float]]]] = {m: {} for m in METRICS}
    for rec in read_jsonl(path):
        for metric in METRICS:
            value = rec.get(metric)
            if isinstance(value, (int, float)):
                steps, values = out[metric].setdefault(str(rec.get("stage", "")), ([], []))
                steps.append(int(rec.get("step", len(steps))))
                values.append(float(value))
    if not any(out.values()):
        raise UserError(f"{path}: no reward, accuracy or entropy logged yet")
    return out


def render(run_dir: Path, width: int | None = None, height: int | None = None, color: bool = False) -> str:
    """One panel per metric, one labelled line per stage (plotext 6 figure API)."""
    import plotext as plt

    data = series(run_dir)
    shown = [m for m in METRICS if data[m]]
    fig = plt.figure
    fig.clear()
    plt.terminal.limit(False, False)
    fig.plot_size(width or 100, (height or 14) * len(shown))  # the legend needs ~9 rows
    fig.subplots(len(shown), 1)
    for row, metric in enumerate(shown, start=1):
        panel = fig.subplot(row, 1)
        panel.title(f"{metric} per step - {Path(run_dir).name}")
        for stage, (steps, values) in data[metric].items():
            panel.draw(panel.signal(steps, values).lines().label(stage or "-"))
    text = fig.build().string(colorless=not color)
    fig.clear()
    return text
