"""Start-up and per-consultation latency of the CLI and its peak memory, measured as a user meets them.

    python -m mmedtui.bench.latency "../shared/data/vqa-rad/VQA_RAD Image Folder/synpic54610.jpg"

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

# What loading the embedded (Qwen2.5-VL) models imports, before any model file is read.
IMPORTS = "import torch, transformers; from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration"
QUESTION = "Are regions of the brain infarcted?"
WARM = "the same consultation again (warm)"  # the last phase


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("image")
    p.add_argument("--agents", default=None, help="a panel file (default: the embedded panel)")
    p.add_argument("--repeats", type=int, default=3)
    return p


def _timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(image: str, agents: str | None = None, repeats: int = 3) -> dict:
    """Time fresh processes, then one consultation's phases in this process; print and return the figures."""
    cli = [sys.executable, "-m", "mmedtui"]
    helps = [_timed([*cli, "--help"]) for _ in range(repeats)]
    consult = [*cli, "consult", image, "-q", QUESTION, "--json", *(["--agents", agents] if agents else [])]
    runs = [_timed(consult) for _ in range(repeats)]
    # os._exit: leave as `mmedtui` does, without the interpreter's ~1 s teardown of these modules.
    floor = [_timed([sys.executable, "-c", IMPORTS + "; import os; os._exit(0)"]) for _ in range(repeats)]
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"mmedtui --help          median {statistics.median(helps):.2f} s over {len(helps)} runs")
    print(
        f"mmedtui consult --json  median {statistics.median(runs):.2f} s over {len(runs)} runs "
        f"(min {min(runs):.2f} s, max {max(runs):.2f} s)"
    )
    print(f"imports alone           median {statistics.median(floor):.2f} s ({IMPORTS})")
    print(f"peak resident memory of a child process: {peak_mib:.0f} MiB")
    marks = phases(image, agents)
    for what, seconds in marks:
        print(f"  {what:<40} {seconds:.2f} s")
    return {
        "help_s": round(statistics.median(helps), 2),
        "repeats": repeats,
        "consult_s": round(statistics.median(runs), 2),
        "consult_min_s": round(min(runs), 2),
        "consult_max_s": round(max(runs), 2),
        "imports_s": round(statistics.median(floor), 2),
        "peak_mib": round(peak_mib),
        "phases": [[what, round(seconds, 2)] for what, seconds in marks],
    }


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

    case = Case(load_scan(image).image, QUESTION, question_options(QUESTION))
    panel = load_panel(agents)
    pipeline = Pipeline(panel)
    mark("import mmedtui, load the scan")
    for spec in [panel.triage, *panel.specialists_for("Radiologist"), panel.attending]:
        panel.backend(spec.model)
    mark("load the models")
    pipeline.run([case])
    mark("one consultation (models loaded)")
    pipeline.run([case])
    mark(WARM)
    panel.close()
    return marks


if __name__ == "__main__":
    args = parser().parse_args()
    measure(args.image, args.agents, args.repeats)
