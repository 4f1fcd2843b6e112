"""``results.json``, ``results.csv`` and ``samples.jsonl``: every file written whole or not at all.

Each file is written to a temporary name in the output folder and moved into place with ``os.replace``,
so an interrupted bench never leaves a half-written result. Every file carries the research-only
disclaimer (JSON: a top-level field and one per sample line; CSV: a column).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from statistics import fmean

from mmedtui import DISCLAIMER, __version__
from mmedtui.bench.runner import BLANK, TaskResult
from mmedtui.bench.score import MC_METRICS, Cell
from mmedtui.fileio import AtomicFile, atomic_write_text, json_line
from mmedtui.tasks.scoring import paired_bootstrap_ci

CSV_FIELDS = (
    "task",
    "split",
    "system",
    "metric",
    "n",
    "accuracy",
    "ci95_lo",
    "ci95_hi",
    "unparsed",
    "failed",
    "declined",
    "disclaimer",
)
GAIN = "image_gain"  # --blank-images: the headline metric minus the same on grey scans
BLANK_CSV_FIELDS = ("blank_accuracy", GAIN)  # per metric line, with --blank-images
MC_NAMES = MC_METRICS + tuple(m + BLANK for m in MC_METRICS)  # asked with options (unparsed answers counted)


class SamplesWriter:
    """Streams sample lines to a temporary file; ``commit`` moves it to ``samples.jsonl``, ``discard`` drops it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = AtomicFile(path)
        self.count = 0

    def __call__(self, row: dict) -> None:
        self._file.write(json_line(row).encode("utf-8"))
        self.count += 1

    def commit(self) -> None:
        self._file.commit()

    def discard(self) -> None:
        self._file.discard()


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def result_rows(
    tasks: list[TaskResult],
    systems: tuple[str, ...],
    metrics: tuple[str, ...],
    n_boot: int,
    seed: int,
    gain_metric: str | None = None,
) -> list[dict]:
    """One row per (task, system). ``gain_metric`` (a --blank-images run): every metric gets its grey-image twin
    ``<metric>_blank``, and ``image_gain`` is ``gain_metric`` minus its twin (95 % paired CI on the same items)."""
    names = metrics + tuple(m + BLANK for m in metrics) if gain_metric else metrics
    rows = []
    for t in tasks:
        if t.missing:
            continue
        for system in systems:
            cells = {m: t.cells.get((system, m)) for m in names}
            if not any(cells.values()):
                continue  # e.g. a specialist no item's department called
            row = {
                "task": t.task,
                "split": t.split,
                "system": system,
                "n": len(set().union(*(c.by_id for c in cells.values() if c))),  # distinct items
                "metrics": {m: _round(c.accuracy) if c else None for m, c in cells.items()},
                "ci95": {m: c.ci95(n_boot, seed) if c else None for m, c in cells.items()},
                "counts": {m: c.n if c else 0 for m, c in cells.items()},
                "unparsed": {m: c.unparsed if c else 0 for m, c in cells.items() if m in MC_NAMES},
                "invalid": {m: c.invalid if c else 0 for m, c in cells.items()},  # empty, loop, no option
                "failed": {m: c.failed if c else 0 for m, c in cells.items()},
                "declined": {m: c.declined if c else 0 for m, c in cells.items()},
            }
            open_cell = cells.get("open")
            if open_cell and open_cell.recall:  # LLaVA-Med's token recall, beside exact match
                row["open_recall"] = _round(100 * fmean(open_cell.recall))
            if gain_metric:
                row["metrics"][GAIN], row["ci95"][GAIN] = _gain(
                    cells.get(gain_metric), cells.get(gain_metric + BLANK), n_boot, seed
                )
            rows.append(row)
    return rows


def _gain(real: Cell | None, grey: Cell | None, n_boot: int, seed: int) -> tuple[float | None, list[float] | None]:
    """Accuracy on the real scans minus accuracy on grey ones, and the paired interval over their shared items."""
    if not real or not grey or real.accuracy is None or grey.accuracy is None:
        return None, None
    ids = [i for i in real.by_id if i in grey.by_id]
    _, lo, hi = paired_bootstrap_ci(
        [real.by_id[i] for i in ids], [grey.by_id[i] for i in ids], n_boot=n_boot, seed=seed
    )
    return _round(_round(real.accuracy) - _round(grey.accuracy)), [round(lo, 2), round(hi, 2)]  # as the rows show


def averages(rows: list[dict], tasks: list[TaskResult], metric: str) -> dict[str, dict[str, float | None]]:
    """Per system: the unweighted mean over the in-domain and the out-of-domain benchmarks that ran."""
    domain = {t.task: t.in_domain for t in tasks}
    out: dict[str, dict[str, float | None]] = {}
    for system in dict.fromkeys(r["system"] for r in rows):
        values = {True: [], False: []}
        for r in rows:
            if r["system"] == system and r["metrics"].get(metric) is not None:
                values[domain[r["task"]]].append(r["metrics"][metric])
        out[system] = {
            "in_domain": _round(fmean(values[True])) if values[True] else None,
            "out_of_domain": _round(fmean(values[False])) if values[False] else None,
        }
        gains = [r["metrics"][GAIN] for r in rows if r["system"] == system and r["metrics"].get(GAIN) is not None]
        if gains:  # unweighted over the benchmarks, like the domain averages
            out[system][GAIN] = _round(fmean(gains))
    return out


def results_document(
    rows: list[dict],
    tasks: list[TaskResult],
    run: dict,
    metric: str,
    paired: list[dict] | None = None,
    difficulty: list[dict] | None = None,
) -> dict:
    return {
        "disclaimer": DISCLAIMER,
        "mmedtui": __version__,
        "run": run,
        "results": rows,
        "averages": {"metric": metric, "systems": averages(rows, tasks, metric)},
        "paired": paired or [],
        "difficulty": difficulty or [],
        "tasks": [
            {
                "task": t.task,
                "split": t.split,
                "in_domain": t.in_domain,
                "layout": t.layout,
                "items": t.n_items,
                "cases": t.n_cases,
                "computed": t.computed,
                "outputs": t.outputs,
                "outputs_computed": t.outputs_computed,
                "seconds": round(t.seconds, 3),
                "items_per_s": _round(t.items_per_second),
                "notes": t.notes,
            }
            for t in tasks
            if not t.missing
        ],
        "missing": [{"task": t.task, "split": t.split, "reason": t.missing} for t in tasks if t.missing],
    }


def results_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    blank = any(GAIN in r["metrics"] for r in rows)
    fields = (*[f for f in CSV_FIELDS if f != "disclaimer"], *BLANK_CSV_FIELDS, "disclaimer") if blank else CSV_FIELDS
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        for m, acc in r["metrics"].items():
            if acc is None or m == GAIN or m.endswith(BLANK):  # grey-image figures ride on their metric's line
                continue
            lo, hi = r["ci95"][m] or (None, None)
            writer.writerow(
                {
                    "task": r["task"],
                    "split": r["split"],
                    "system": r["system"],
                    "metric": m,
                    "n": r["counts"][m],
                    "accuracy": acc,
                    "ci95_lo": lo,
                    "ci95_hi": hi,
                    "unparsed": r["unparsed"].get(m, ""),
                    "failed": r["failed"][m],
                    "declined": r.get("declined", {}).get(m, 0),
                    "disclaimer": DISCLAIMER,
                    **(_grey_columns(r, m) if blank else {}),
                }
            )
    return buf.getvalue()


def _grey_columns(row: dict, metric: str) -> dict:
    grey = row["metrics"].get(metric + BLANK)
    acc = row["metrics"][metric]
    return {"blank_accuracy": grey, GAIN: None if grey is None else _round(acc - grey)}


def write_results(out_dir: Path, document: dict) -> None:
    atomic_write_text(out_dir / "results.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(out_dir / "results.csv", results_csv(document["results"]))
