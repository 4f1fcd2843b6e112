"""A specialist's closed-question (`mc` form) accuracy on the fit or holdout part of the TRAINING data, with the
answers it gives most: the validation check behind the embedded panel (test splits are never read here).

    python scripts/eval_closed.py assets/models/specialist-a --data-root ../shared/data --part holdout
"""

from __future__ import annotations

import argparse
from collections import Counter

IMAGE_MAX_SIDE = 336  # the tiny profile's data.image_max_side: scans as the specialists saw them in training


def closed_items(data_root: str, part: str, tasks: str) -> list:
    """The closed questions, in their `mc` form, of ``part`` of the embedded panel's 70/30 split of ``tasks``."""
    from trainer.config import load_config
    from trainer.data.items import load_items

    cfg = load_config(
        "specialist",
        "tiny",
        sets=[
            f"data.root={data_root}",
            "data.holdout=0.3",
            f"data.part={part}",
            "data.limit=null",
            f"data.tasks=[{tasks}]",
        ],
    )
    return [it for it in load_items(cfg.data) if it.kind == "closed" and it.options]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="Model folders.")
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--part", choices=("fit", "holdout"), default="holdout")
    parser.add_argument("--tasks", default="vqa-rad,slake", help="Comma-separated tasks.")
    args = parser.parse_args(argv)

    from mmedtui.agents import roles
    from mmedtui.agents.base import Sampling
    from mmedtui.agents.transformers_backend import TransformersBackend
    from mmedtui.tasks.scoring import is_correct
    from trainer.data.images import ImageCache
    from trainer.data.items import item_case

    items = closed_items(args.data_root, args.part, args.tasks)
    images = ImageCache(IMAGE_MAX_SIDE)
    prompts = [roles.specialist_prompt(item_case(it, images.small(it)), "Radiologist") for it in items]
    for path in args.models:
        backend = TransformersBackend(name=path, path=path, device="cpu", dtype="float32", threads=1)
        gens = backend.generate(prompts, Sampling(max_new_tokens=48))
        answers = [roles.parse_opinion(g, path, "Radiologist").answer for g in gens]
        for task in sorted({it.task for it in items}):
            mine = [(it, a) for it, a in zip(items, answers) if it.task == task]
            right = sum(is_correct(a, it, it.options) for it, a in mine)
            common = ", ".join(f"{a or '(none)'} {n}" for a, n in Counter(a.lower() for _, a in mine).most_common(3))
            print(
                f"{path}  {task} {args.part}  n={len(mine)}  closed accuracy {100 * right / len(mine):.1f} %  "
                f"answers: {common}",
                flush=True,
            )


if __name__ == "__main__":
    main()
