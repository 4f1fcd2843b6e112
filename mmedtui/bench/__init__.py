"""Systems x tasks -> rows, the Table 1 view and the result files (``mmedtui bench``).

    registry.py every system (row) in one entry: table group, unit, stages, agent, paired baseline
    systems.py  the baseline / ablation agents a panel file names; the rows for a panel
    units.py    computing shared agent outputs ("units") with the one consultation Pipeline
    work.py     the resumable per-run work cache
    runner.py   loading benchmarks, chunking, scoring every system on the shared outputs
    score.py    one answer per system, its correctness, cells with bootstrap CIs
    paired.py   MMedAgent-RL minus each baseline on the same items, paired bootstrap CIs
    table.py    the Rich table;  output.py  results.json / results.csv / samples.jsonl, atomically
    latency.py  ``python -m mmedtui.bench.latency IMAGE``: start-up, consultation and warm latency, peak memory
(the throughput benchmark is a script: scripts/speed.py)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from mmedtui.agents.panel import Panel
from mmedtui.bench.runner import BenchConfig, Runner, TaskResult
from mmedtui.bench.systems import Baselines


@dataclass
class BenchReport:
    tasks: list[TaskResult]
    rows: list[dict]
    document: dict
    metric: str  # the table's headline metric
    table: object  # a Rich renderable (table + footer)


def headline(metrics: tuple[str, ...]) -> str:
    return "mc" if "mc" in metrics else metrics[0]


def _panel_sha(panel: Panel) -> str | None:
    try:
        return hashlib.sha256(Path(panel.source).read_bytes()).hexdigest()
    except OSError:
        return None


def run_bench(
    panel: Panel,
    baselines: Baselines,
    config: BenchConfig,
    *,
    output: Path | None = None,
    progress=None,
    argv: list[str] | None = None,
) -> BenchReport:
    """Run, score, render, and (with ``output``) write the three result files."""
    from mmedtui.bench.difficulty import by_difficulty
    from mmedtui.bench.output import SamplesWriter, result_rows, results_document, write_results
    from mmedtui.bench.paired import comparisons
    from mmedtui.bench.table import render

    started, clock = datetime.now(UTC), time.perf_counter()
    if output is not None and config.work_dir is None:
        config = replace(config, work_dir=output / ".work")
    sink = SamplesWriter(output / "samples.jsonl") if output is not None else None
    try:
        tasks = Runner(panel, baselines, config, progress=progress, sink=sink).run()
    except BaseException:
        if sink is not None:
            sink.discard()
        raise
    metric = headline(config.metrics)
    rows = result_rows(
        tasks,
        config.systems,
        config.metrics,
        config.n_boot,
        config.settings.seed,
        gain_metric=metric if config.blank_images else None,
    )
    run = {
        "started": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - clock, 3),
        "command": argv,
        "panel": panel.source,
        "panel_sha256": _panel_sha(panel),
        "data_root": str(config.data_root),
        "systems": list(config.systems),
        "metrics": list(config.metrics),
        "split": config.split,
        "limit": config.limit,
        "settings": asdict(config.settings),
        "chunk_size": config.chunk_size,
        "mc_protocol": config.mc_protocol,
        "n_boot": config.n_boot,
        "blank_images": config.blank_images,
    }
    paired = comparisons(tasks, config.systems, metric, config.n_boot, config.settings.seed)
    document = results_document(rows, tasks, run, metric, paired, by_difficulty(tasks, config.systems, metric))
    if output is not None and sink is not None:
        try:
            write_results(output, document)
            sink.commit()
        except BaseException:  # a full disk or an interrupt here must not leave the samples' temp file behind
            sink.discard()
            raise
    table = render(rows, tasks, config.systems, metric, document["averages"]["systems"], paired)
    return BenchReport(tasks, rows, document, metric, table)
