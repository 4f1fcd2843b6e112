"""The run's plot (trainer/plot.py) as a PNG, drawn with Pillow (no plotting library in the stack): one panel per
metric, one coloured line per stage (held-back accuracy: one marker per stage and task), dashed lines where a
stage ends, whole-number steps on the x axis.
"""

from __future__ import annotations

import io
from pathlib import Path

from mmedtui.fileio import atomic_write_bytes
from trainer.plot import PANELS, TITLES, integer_ticks, series, stage_ends

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
WIDTH, PANEL_H, LEFT, RIGHT, TOP, BOTTOM = 960, 210, 70, 150, 28, 34


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _y_range(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or max(abs(hi) * 0.1, 0.05)
    return lo - pad, hi + pad


def _panel(draw, top: int, title: str, data: dict, ticks: list[int], x_of, ends: dict[str, int], markers: bool):
    font, small = _font(13), _font(11)
    x0, x1, y0, y1 = LEFT, WIDTH - RIGHT, top + TOP, top + PANEL_H - BOTTOM
    draw.text((x0, top + 6), title, fill="black", font=font)
    draw.rectangle((x0, y0, x1, y1), outline="#444444")
    lo, hi = _y_range([v for _, ys in data.values() for v in ys])

    def y_of(v: float) -> float:
        return y1 - (v - lo) / (hi - lo) * (y1 - y0)

    for i in range(5):  # y ticks
        v = lo + (hi - lo) * i / 4
        draw.line((x0 - 4, y_of(v), x0, y_of(v)), fill="#444444")
        draw.text((x0 - 6, y_of(v)), f"{v:.3g}", fill="black", font=small, anchor="rm")
    for t in ticks:  # whole-number steps
        draw.line((x_of(t), y1, x_of(t), y1 + 4), fill="#444444")
        draw.text((x_of(t), y1 + 6), str(t), fill="black", font=small, anchor="ma")
    for stage, end in list(ends.items())[:-1]:  # where each stage hands over to the next
        x = x_of(end + 0.5)
        if not x0 < x < x1:  # a stage left out of the plot (an SFT warm-up)
            continue
        for y in range(int(y0), int(y1), 8):
            draw.line((x, y, x, min(y + 4, y1)), fill="#999999")
        draw.text((x - 3, y0 + 3), stage, fill="#666666", font=small, anchor="ra")
    for i, (label, (xs, ys)) in enumerate(data.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = [(x_of(x), y_of(y)) for x, y in zip(xs, ys)]
        if markers or len(points) == 1:
            for px, py in points:
                draw.ellipse((px - 4, py - 4, px + 4, py + 4), fill=colour)
        else:
            draw.line(points, fill=colour, width=2)
        ly = y0 + 6 + 18 * i
        draw.line((x1 + 12, ly + 6, x1 + 32, ly + 6), fill=colour, width=3)
        draw.text((x1 + 38, ly), label or "-", fill="black", font=small)


def render_png(run_dir: Path, target: Path | None = None) -> Path:
    """Draw ``run_dir``'s plot to ``target`` (default ``<run>/metrics.png``), atomically."""
    from PIL import Image, ImageDraw

    from mmedtui.fileio import read_jsonl

    data = series(run_dir)
    shown = [m for m in PANELS if data[m]]
    ends = stage_ends(list(read_jsonl(Path(run_dir) / "metrics.jsonl")))
    steps = [s for m in shown for xs, _ in data[m].values() for s in xs]
    lo, hi = min(steps), max(steps)
    span = max(1, hi - lo)

    def x_of(step: float) -> float:
        return LEFT + (step - lo) / span * (WIDTH - LEFT - RIGHT) if hi > lo else (WIDTH - RIGHT + LEFT) / 2

    image = Image.new("RGB", (WIDTH, PANEL_H * len(shown) + 10), "white")
    draw = ImageDraw.Draw(image)
    ticks = integer_ticks(lo, hi)
    for row, metric in enumerate(shown):
        _panel(
            draw,
            row * PANEL_H,
            f"{TITLES[metric]} ({Path(run_dir).name})",
            data[metric],
            ticks,
            x_of,
            ends,
            markers=metric == "validation",
        )
    target = Path(target) if target else Path(run_dir) / "metrics.png"
    png = io.BytesIO()
    image.save(png, format="PNG")
    return atomic_write_bytes(target, png.getvalue())
