"""`python -m mmedtui.bench.latency`, its figures kept for the results page (scripts/measured.py).

    python scripts/latency.py "../shared/data/vqa-rad/VQA_RAD Image Folder/synpic54610.jpg" --repeats 5 \
        --output assets/results/speed.json
"""

from __future__ import annotations

from pathlib import Path

from measured import record
from mmedtui.bench.latency import measure, parser


def main() -> None:
    p = parser()
    p.add_argument("--output", type=Path, default=None, help="keep the figures in this JSON file")
    args = p.parse_args()
    record(args.output, "latency", measure(args.image, args.agents, args.repeats), module="mmedtui.bench.latency")


if __name__ == "__main__":
    main()
