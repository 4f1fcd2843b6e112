"""Start-up and per-consultation latency of the CLI, and its peak memory, measured as a user meets them.

    python -m mmedtui.bench.latency "../shared/data/vqa-rad/VQA_RAD Image Folder/synpic54610.jpg"

Runs ``mmedtui --help`` and ``mmedtui consult IMAGE --json`` (embedded panel unless ``--agents``) as fresh
processes, several times each, and prints median wall times and the consult process's peak resident memory.
Also times a process that only imports what loading a model needs (torch, transformers' Qwen2.5-VL model and
its processor classes): the floor under any consultation in a fresh process, whatever the models.
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


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image")
    parser.add_argument("--agents", default=None)
    parser.add_argument("--repeats", type=int, default=3)
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
    print(f"mmedtui consult --json  median {statistics.median(runs):.2f} s over {len(runs)} runs "
          f"(min {min(runs):.2f} s, max {max(runs):.2f} s)")
    print(f"imports alone           median {statistics.median(floor):.2f} s ({IMPORTS})")
    print(f"peak resident memory of a child process: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
