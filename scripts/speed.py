"""Throughput of the full consultation (triage -> specialists -> attending): batched vs one case at a time.

    python scripts/speed.py ../shared/data                 # default panel, 32 VQA-RAD test mc cases
    python scripts/speed.py ../shared/data --limit 64 --chunk 16 --agents my-panel.yaml
    python scripts/speed.py ../shared/data --limit 64 --chunk 64 --threads 2 --batch-size 16 --repeats 2

Both runs ask the same cases in the same process; images are decoded and every backend is loaded and
warmed up before the clock starts, so the ratio measures batching alone (no work cache, no response cache).
``--repeats`` interleaves batched and unbatched runs and reports medians: on a shared machine the load
drifts, and interleaving keeps the drift from favouring one side.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

from measured import record


def measure(pipeline, cases: list, chunk: int) -> float:
    """Cases per second over ``cases`` run ``chunk`` at a time."""
    # Fresh image objects: an earlier run's prepared images (kept per image object) must not help this one.
    cases = [replace(c, image=c.image.copy()) for c in cases]
    started = time.perf_counter()
    for start in range(0, len(cases), chunk):
        pipeline.run(cases[start : start + chunk])
    return len(cases) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_root", type=Path, help="Folder holding vqa-rad/ (e.g. ../shared/data).")
    parser.add_argument("--limit", type=int, default=32, help="Cases to ask (VQA-RAD test, closed, with options).")
    parser.add_argument("--chunk", type=int, default=32, help="Cases per batched pipeline run.")
    parser.add_argument("--agents", type=Path, default=None, help="Panel YAML (default: assets/panel.yaml).")
    parser.add_argument("--repeats", type=int, default=1, help="Interleaved repetitions; medians are reported.")
    parser.add_argument("--threads", type=int, default=None, help="Torch threads for every local model.")
    parser.add_argument("--batch-size", type=int, default=None, help="Batch size for every local model.")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="Keep the figures in this JSON file "
        "(scripts/measured.py; the results page reads assets/results/speed.json).",
    )
    args = parser.parse_args(argv)

    from mmedtui.agents.case import case_of
    from mmedtui.agents.panel import load_panel
    from mmedtui.consult import Pipeline
    from mmedtui.tasks import get_task
    from mmedtui.tasks.choices import mc_set

    items = get_task("vqa-rad").load(args.data_root, "test").items
    entries = mc_set(items).entries[: args.limit]
    cases = [case_of(it, it.image_ref.load(), opts) for it, opts in entries]
    panel = load_panel(args.agents)
    for spec in panel.models.values():  # before any backend is built from it
        overrides = {"threads": args.threads, "batch_size": args.batch_size}
        spec.update({k: v for k, v in overrides.items() if v is not None and spec.get("backend") == "transformers"})
    try:
        pipeline = Pipeline(panel)
        pipeline.run(cases[:2])  # load every backend and warm its kernels outside the timing
        runs = [(measure(pipeline, cases, args.chunk), measure(pipeline, cases, 1)) for _ in range(args.repeats)]
        batched = statistics.median(b for b, _ in runs)
        single = statistics.median(u for _, u in runs)
    finally:
        panel.close()
    print(
        f"panel {panel.source}; {len(cases)} VQA-RAD test cases; full pipeline (1 triage + "
        f"{len(panel.specialists_for('Radiologist'))} specialists + 1 attending per case), median of {args.repeats}"
    )
    print(f"batched (chunk {args.chunk}): {batched:.2f} items/s")
    print(f"unbatched (chunk 1):  {single:.2f} items/s")
    print(f"speed-up: {batched / single:.2f}x")
    figures = {"batched": batched, "unbatched": single, "ratio": batched / single}
    key = f"speed, chunk {args.chunk}, threads {args.threads or 'panel'}, batch size {args.batch_size or 'panel'}"
    record(
        args.output,
        key,
        {
            "cases": len(cases),
            "chunk": args.chunk,
            "repeats": args.repeats,
            "threads": args.threads,
            "batch_size": args.batch_size,
            "panel": Path(panel.source).name,
            **{k: round(v, 2) for k, v in figures.items()},
        },
    )
    return figures


if __name__ == "__main__":
    main()
