"""The paper's claims as paired differences: MMedAgent-RL minus each baseline on the same items, with a 95 %
paired bootstrap interval. Two rows' separate intervals overlap even when one system is reliably better; the
paired interval answers "is the gap real on this benchmark?" directly."""

from __future__ import annotations

from mmedtui.bench.registry import HEADLINE as SYSTEM
from mmedtui.bench.registry import SPECIALIST_PREFIX
from mmedtui.bench.registry import system as registry_entry
from mmedtui.bench.runner import TaskResult
from mmedtui.tasks.scoring import paired_bootstrap_ci


def comparisons(tasks: list[TaskResult], systems: tuple[str, ...], metric: str, n_boot: int, seed: int) -> list[dict]:
    """``SYSTEM`` minus every ``paired`` registry row (majority vote, the attending before RL, the attending
    ablations) and every specialist, per benchmark that ran."""
    against = [s for s in systems if registry_entry(s).paired or s.startswith(SPECIALIST_PREFIX)]
    out = []
    for t in tasks:
        mine = t.cells.get((SYSTEM, metric))
        if t.missing or not mine:
            continue
        for other in against:
            theirs = t.cells.get((other, metric))
            ids = [i for i in mine.by_id if theirs and i in theirs.by_id]
            if not ids:
                continue
            diff, lo, hi = paired_bootstrap_ci(
                [mine.by_id[i] for i in ids], [theirs.by_id[i] for i in ids], n_boot=n_boot, seed=seed
            )
            out.append(
                {
                    "task": t.task,
                    "split": t.split,
                    "metric": metric,
                    "system": SYSTEM,
                    "minus": other,
                    "n": len(ids),
                    "diff": round(diff, 2),
                    "ci95": [round(lo, 2), round(hi, 2)],
                    "disagree": sum(mine.by_id[i] != theirs.by_id[i] for i in ids),
                }
            )
    return out
