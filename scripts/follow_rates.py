"""When does a trained attending follow its panel, and when does overruling it pay? On a run's held-back cases.

    python scripts/follow_rates.py runs/s28/warm4 [--stages warmup easy medium hard] [--also runs/s28/att-flat:all]

For each stage's saved model (``RUN/stages/STAGE/final``) the attending answers the run's held-back validation
cases (``data.val_share``) on the bench's path (``trainer.validation.attending_decisions``: the same pipeline,
opinions from the run's cache, greedy). Printed per task: accuracy; the share of cases on which it gives the
panel's majority answer and its accuracy there; the share on which it goes against the majority and how often
that was right; and how often it agrees with each specialist. The method's claim is that RL teaches the attending
when to follow the panel and when to overrule it: this is where that shows, or does not. Training data only.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path


def same(a: str | None, b: str | None, options) -> bool:
    from mmedtui.tasks.voting import answer_key

    return bool(a) and bool(b) and answer_key(a, options) == answer_key(b, options)


def report(name: str, decisions: list[tuple]) -> None:
    from mmedtui.tasks.scoring import is_yes_no, normalize
    from mmedtui.tasks.voting import panel_majority
    from trainer.validation import decision_right

    rows: dict[str, list] = defaultdict(list)
    for case, decision in decisions:
        rows[case.item.task].append((case, decision))
        rows["all"].append((case, decision))
    print(f"\n{name}")
    names = [o.name for o in decisions[0][0].opinions] if decisions else []
    print(
        f"  {'task':8s} {'n':>4s} {'acc':>6s} {'follows':>8s} {'acc':>6s} {'against':>8s} {'acc':>6s} "
        f"{'yes (gold)':>11s}  agrees with"
    )
    for task in sorted(rows, key=lambda t: (t == "all", t)):
        pairs = rows[task]
        follow, against, right = [], [], []
        agree = defaultdict(int)
        said_yes, gold_yes = [], []  # on yes / no questions: a prior shows as a "yes" share far from the gold's
        for case, d in pairs:
            item, answer = case.item, d.answer if d is not None and d.error is None else None
            ok = decision_right(d, item)
            right.append(ok)
            top = panel_majority(case.opinions, item.options)
            (follow if top is not None and same(answer, top.answer, item.options) else against).append(ok)
            for o in case.opinions:
                agree[o.name] += o.valid and same(answer, o.answer, item.options)
            if is_yes_no(item.answer):
                said_yes.append(same(answer, "yes", item.options))
                gold_yes.append(normalize(item.answer) == "yes")
        n = len(pairs)

        def pct(xs: list) -> str:
            return f"{100 * sum(xs) / len(xs):5.1f}" if xs else "    -"

        shares = ", ".join(f"{s} {100 * agree[s] / n:.0f}" for s in names)
        print(
            f"  {task:8s} {n:4d} {pct(right)} {100 * len(follow) / n:7.0f}% {pct(follow)} "
            f"{100 * len(against) / n:7.0f}% {pct(against)} {pct(said_yes)} ({pct(gold_yes).strip()})  {shares}"
        )


def stage_models(run: Path, stages: list[str] | None) -> list[tuple[str, Path]]:
    """(label, folder) of each finished stage's saved model (state.json says where: the last stage's is RUN/final)."""
    import json

    state = json.loads((run / "state.json").read_text(encoding="utf-8"))
    finals = {name: s.get("final") for name, s in state["stages"].items() if s.get("status") == "done"}
    missing = [name for name in stages or [] if not finals.get(name)]
    if missing:
        raise SystemExit(f"{run}: no finished stage {', '.join(missing)} (finished: {', '.join(finals) or 'none'})")
    return [(f"{run} {name}", run / finals[name]) for name in stages or state["order"] if finals.get(name)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="an attending run (its config.yaml, opinions and stages)")
    parser.add_argument("--stages", nargs="+", default=None, help="default: every finished stage, in order")
    parser.add_argument(
        "--also", nargs="+", action="extend", default=[], help="RUN:STAGE models answering the same cases"
    )
    args = parser.parse_args()

    from rich.console import Console

    from trainer.config import load_run_config
    from trainer.data.images import ImageCache
    from trainer.data.items import load_items
    from trainer.train import attending_groups
    from trainer.validation import attending_decisions

    models = stage_models(args.run, args.stages)
    for spec in args.also:
        run, stage = spec.rsplit(":", 1)  # RUN:STAGE
        models += stage_models(Path(run), [stage])
    cfg = load_run_config(args.run)  # the run's own opinions: the same held-back cases it was scored on
    _, held, _ = attending_groups(cfg, load_items(cfg.data), Console(stderr=True, quiet=True))
    if not held:
        raise SystemExit(f"{args.run}: no held-back cases (data.val_share is 0)")
    images = ImageCache(cfg.data.image_max_side)
    for name, path in models:
        decisions = attending_decisions(
            path, held, images, device="cpu", max_new_tokens=cfg.grpo.max_completion_length, seed=cfg.data.seed
        )
        report(name, decisions)


if __name__ == "__main__":
    main()
