"""How long the consultation app takes as a person meets it: launch to first screen, launch to the decision on
screen, in a real terminal (tmux at 120x40, its screen read every 50 ms), from an empty folder.

    python scripts/tui_latency.py --repeats 4 --output assets/results/speed.json

Each run is a fresh ``mmedtui consult --sample NAME`` process; ``q`` closes it once the decision shows.
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from measured import record

FIRST_SCREEN = "mmedtui"  # the header's title: the app has drawn itself
DECIDED = "decided in"  # the status line once the attending has decided


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def one_run(sample: str, width: int, height: int, timeout: float) -> tuple[float, float]:
    session = f"mmedtui-latency-{time.monotonic_ns()}"
    with tempfile.TemporaryDirectory() as empty:
        command = f"cd {shlex.quote(empty)} && exec {shlex.quote(sys.executable)} -m mmedtui consult --sample {sample}"
        started = time.perf_counter()
        tmux("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), command)
        first = decided = None
        try:
            while decided is None and time.perf_counter() - started < timeout:
                screen = tmux("capture-pane", "-p", "-t", session)
                now = time.perf_counter() - started
                if first is None and FIRST_SCREEN in screen:
                    first = now
                if DECIDED in screen:
                    decided = now
                time.sleep(0.05)
            tmux("send-keys", "-t", session, "q")
            time.sleep(0.5)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    if first is None or decided is None:
        raise SystemExit(f"no decision on screen within {timeout:.0f} s")
    return first, decided


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="spine-ct")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--size", default="120x40", help="terminal columns x rows")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--output", type=Path, default=None, help="keep the figures in this JSON file")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.lower().split("x"))
    runs = [one_run(args.sample, width, height, args.timeout) for _ in range(args.repeats)]
    firsts, decisions = [f for f, _ in runs], [d for _, d in runs]
    print(
        f"first screen: median {statistics.median(firsts):.2f} s; decision on screen: median "
        f"{statistics.median(decisions):.2f} s ({', '.join(f'{d:.1f}' for d in decisions)}) over {len(runs)} runs"
    )
    record(
        args.output,
        "tui",
        {
            "sample": args.sample,
            "size": args.size,
            "repeats": args.repeats,
            "first_screen_s": round(statistics.median(firsts), 2),
            "decision_s": round(statistics.median(decisions), 2),
            "decision_runs_s": [round(d, 2) for d in decisions],
        },
    )


if __name__ == "__main__":
    main()
