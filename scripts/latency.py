"""Start-up and per-consultation latency of the CLI, and its peak memory, measured as a user meets them.

    python scripts/latency.py "../shared/data/vqa-rad/VQA_RAD Image Folder/synpic54610.jpg"

Runs ``mmedtui --help`` and ``mmedtui consult IMAGE --json`` (embedded panel unless ``--agents``) as fresh
processes, several times each, and prints median wall times and the consult process's peak resident memory.
Also times a process that only imports what loading a model needs (torch, transformers' Qwen2.5-VL model and
its processor classes): the floor under any consultation in a fresh process, whatever the models. Last, in
this process: where one consultation's time goes (imports, model loads, the five calls) and a warm rerun.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from measured import record

# What loading the embedded (Qwen2.5-VL) models imports, before any model file is read.
IMPORTS = "import torch, transformers; from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration"


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--agents", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="keep the figures in this JSON file "
        "(scripts/measured.py; the results page reads assets/results/speed.json)",
    )
    args = parser.parse_args()
    cli = [sys.executable, "-m", "mmedtui"]
    helps = [timed([*cli, "--help"]) for _ in range(args.repeats)]
    consult = [*cli, "consult", args.image, "-q", "Are regions of the brain infarcted?", "--json"]
    consult += ["--agents", args.agents] if args.agents else []
    runs = [timed(consult) for _ in range(args.repeats)]
    # os._exit: leave as `mmedtui` does, without the interpreter's ~1 s teardown of these modules.
    floor = [timed([sys.executable, "-c", IMPORTS + "; import os; os._exit(0)"]) for _ in range(args.repeats)]
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"mmedtui --help          median {statistics.median(helps):.2f} s over {len(helps)} runs")
    print(
        f"mmedtui consult --json  median {statistics.median(runs):.2f} s over {len(runs)} runs "
        f"(min {min(runs):.2f} s, max {max(runs):.2f} s)"
    )
    print(f"imports alone           median {statistics.median(floor):.2f} s ({IMPORTS})")
    print(f"peak resident memory of a child process: {peak_mib:.0f} MiB")
    marks = phases(args.image, args.agents)
    for what, seconds in marks:
        print(f"  {what:<40} {seconds:.2f} s")
    record(
        args.output,
        "latency",
        {
            "help_s": round(statistics.median(helps), 2),
            "repeats": args.repeats,
            "consult_s": round(statistics.median(runs), 2),
            "consult_min_s": round(min(runs), 2),
            "consult_max_s": round(max(runs), 2),
            "imports_s": round(statistics.median(floor), 2),
            "peak_mib": round(peak_mib),
            "phases": [[what, round(seconds, 2)] for what, seconds in marks],
        },
    )


def phases(image: str, agents: str | None) -> list[tuple[str, float]]:
    """Time the steps of one consultation in this (fresh) process, then the same consultation warm."""
    marks, last = [], time.perf_counter()

    def mark(what: str) -> None:
        nonlocal last
        now = time.perf_counter()
        marks.append((what, now - last))
        last = now

    import torch  # noqa: F401

    mark("import torch")
    import transformers  # noqa: F401
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration  # noqa: F401

    mark("import transformers' Qwen2.5-VL classes")
    from mmedtui.agents.panel import load_panel
    from mmedtui.consult import Case, Pipeline
    from mmedtui.imaging import load_scan
    from mmedtui.tasks.choices import question_options

    question = "Are regions of the brain infarcted?"
    case = Case(load_scan(image).image, question, question_options(question))
    panel = load_panel(agents)
    pipeline = Pipeline(panel)
    mark("import mmedtui, load the scan")
    for spec in [panel.triage, *panel.specialists_for("Radiologist"), panel.attending]:
        panel.backend(spec.model)
    mark("load the models")
    pipeline.run([case])
    mark("one consultation (models loaded)")
    pipeline.run([case])
    mark("the same consultation again (warm)")
    panel.close()
    return marks


if __name__ == "__main__":
    main()
