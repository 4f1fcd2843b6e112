"""C-MARL's curriculum: training cases sorted by how many specialists were right, trained easy -> medium -> hard.

- easy: every usable opinion right (learn to use the consensus);
- medium: some right (weigh conflicting opinions);
- hard: none right (overrule a wrong consensus).
"Right" is ``mmedtui.tasks.scoring.is_correct`` on the specialist's answer, the bench's scorer. A specialist
that failed or declined (error, empty answer) is left out of the count, as the attending leaves it out; cases
with fewer than ``min_specialists`` usable opinions are left out. Computed on training splits only
(``trainer.data.items.refuse_test``).
The per-stage entropy bonus gamma and KL beta, and the ablation switches, live in ``TrainConfig.stage_schedule``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from mmedtui.tasks.scoring import difficulty
from trainer.sections import STAGES

if TYPE_CHECKING:
    from trainer.data.items import PanelCase


def count_right(item, opinions) -> tuple[int, int]:
    from mmedtui.tasks.scoring import is_correct

    usable = [o for o in opinions if o.error is None and o.answer]
    right = sum(bool(is_correct(o.answer, item)) for o in usable)
    return right, len(usable)


def split(cases: Iterable[PanelCase], min_specialists: int = 1) -> dict[str, list[PanelCase]]:
    """The cases by difficulty, each marked with its stage: {"easy": [...], "medium": [...], "hard": [...]}."""
    out: dict[str, list[PanelCase]] = {"easy": [], "medium": [], "hard": []}
    for case in cases:
        right, usable = count_right(case.item, case.opinions)
        if sum(1 for o in case.opinions if o.error is None) < min_specialists:
            continue
        stage = difficulty(right, usable)
        out[stage].append(replace(case, stage=stage))
    return out


def balance_yes_no(cases: list[PanelCase], rng) -> list[PanelCase]:
    """The cases with, per task, as many yes / no questions answered "yes" as "no" (the more common answer's cases
    drawn down at random; every other case kept, in order). Grouping by agreement sorts by the panel's shared
    prior: where the specialists lean "yes", the cases they all get right are mostly "yes" ones, so a stage of
    them teaches "yes" (held-back VQA-RAD: 55 -> 84 % "yes" after such an easy stage, the gold being 46 %)."""
    from mmedtui.tasks.scoring import is_yes_no, normalize

    by_answer: dict[tuple, list[int]] = {}
    for i, case in enumerate(cases):
        if is_yes_no(case.item.answer):  # the gold says yes or no: a yes / no question
            by_answer.setdefault((case.item.task, normalize(case.item.answer)), []).append(i)
    drop: set[int] = set()
    for task in sorted({task for task, _ in by_answer}):  # sorted: the same draws on every run
        yes, no = by_answer.get((task, "yes"), []), by_answer.get((task, "no"), [])
        if yes and no:  # one answer only: nothing to balance it against, the cases stay
            keep = min(len(yes), len(no))
            drop.update(rng.sample(yes, len(yes) - keep) + rng.sample(no, len(no) - keep))
    return [case for i, case in enumerate(cases) if i not in drop]


def accuracy(cases: Iterable[PanelCase]) -> dict[str, float]:
    """Each specialist's accuracy (%) on the cases it gave an opinion on (a failed opinion counts wrong)."""
    from mmedtui.tasks.scoring import is_correct

    right: Counter = Counter()
    asked: Counter = Counter()
    for case in cases:
        for o in case.opinions:
            asked[o.name] += 1
            right[o.name] += bool(o.error is None and o.answer and is_correct(o.answer, case.item))
    return {name: round(100 * right[name] / n, 1) for name, n in asked.items()}


def sizes(groups: dict[str, list]) -> dict[str, int]:
    return {k: len(v) for k, v in groups.items()}


def by_task(groups: dict[str, list]) -> dict[str, dict[str, int]]:
    """Split sizes per task: {"vqa-rad": {"easy": n, ...}, ...}."""
    out: dict[str, Counter] = {}
    for stage, cases in groups.items():
        for case in cases:
            out.setdefault(case.item.task, Counter())[stage] += 1
    return {task: {s: c.get(s, 0) for s in ("easy", "medium", "hard")} for task, c in out.items()}


def before(stage: str, reverse: bool = False) -> list[str]:
    """The curriculum's stages before ``stage`` (hard first when ``reverse``); none for the one stage "all"."""
    order = list(reversed(STAGES)) if reverse else list(STAGES)
    return order[: order.index(stage)] if stage in order else []


def rehearse(groups: dict[str, list], earlier: list[str], size: int, share: float, rng) -> list:
    """``share`` x ``size`` cases drawn without replacement from the ``earlier`` stages' cases (all of them when
    there are fewer): what a later stage replays so it does not unlearn them (``curriculum.rehearsal``)."""
    pool = [case for name in earlier for case in groups.get(name, [])]
    want = min(len(pool), round(share * size))
    return rng.sample(pool, want) if want > 0 else []


def plan_steps(total: int, stages: list[str], available: dict[str, int]) -> dict[str, int]:
    """Split a total optimizer-step budget over the stages that have cases: evenly, the remainder to the
    earlier stages, at least one step each (-1 everywhere when ``total`` <= 0: epochs decide)."""
    live = [s for s in stages if available.get(s, 0) > 0]
    if total <= 0:
        return {s: (-1 if s in live else 0) for s in stages}
    base, extra = divmod(total, max(1, len(live)))
    plan = {}
    for i, s in enumerate(live):
        plan[s] = max(1, base + (1 if i < extra else 0))
    return {s: plan.get(s, 0) for s in stages}


def describe(cfg) -> str:
    """The attending's method in one line for its model card, naming the ablation switches that are on."""
    cur = cfg.curriculum
    schedule = cfg.stage_schedule()
    order = " -> ".join(s.name for s in schedule)
    gammas = ", ".join(f"{s.name} {s.gamma:g}" for s in schedule)
    switches = [
        label
        for on, label in (
            (not cur.enabled, "no-curriculum: all cases in one stage"),
            (not cur.entropy, "no-entropy: gamma = 0 in every stage"),
            (cur.entropy and cur.fixed_entropy, "fixed-entropy: one gamma for every stage"),
            (cur.reverse, "reverse-curriculum: hard first"),
        )
        if on
    ]
    sampling = (
        "; dynamic sampling (groups with identical rewards dropped before each stage)"
        if cfg.grpo.dynamic_sampling
        else ""
    )
    ablation = f"; ablation {', '.join(switches)}" if switches else ""
    if cur.enabled and cur.rehearsal > 0:
        sampling += f"; each later stage replays {cur.rehearsal:.0%} of its size from the earlier stages' cases"
    return (
        f"C-MARL: curriculum GRPO (TRL) {order}, entropy bonus gamma {gammas}, G = {cfg.grpo.num_generations}"
        f"{sampling}{ablation}; reward = format 0.5 + accuracy 1.0"
    )
