"""Each system on the easy, medium and hard items of a benchmark: C-MARL's curriculum levels (``scoring.difficulty``:
how many of the triaged specialists were right), taken on the bench's own items. The method's claim is that the RL
attending overrules a wrong panel on hard items more often than the attending before RL, and loses nothing on easy
ones. A specialist whose answer failed counts as wrong here."""

from __future__ import annotations

from mmedtui.bench.registry import SPECIALIST_PREFIX
from mmedtui.bench.runner import TaskResult
from mmedtui.tasks.scoring import difficulty

LEVELS = ("easy", "medium", "hard")


def by_difficulty(tasks: list[TaskResult], systems: tuple[str, ...], metric: str) -> list[dict]:
    """Per benchmark and non-specialist system: n and accuracy (%) on the items of each level."""
    out = []
    for t in tasks:
        panel = [c for (s, m), c in t.cells.items() if m == metric and s.startswith(SPECIALIST_PREFIX)]
        if t.missing or not panel:
            continue
        level = {}
        for item in set().union(*(c.by_id for c in panel)):
            answers = [c.by_id[item] for c in panel if item in c.by_id]
            level[item] = difficulty(sum(answers), len(answers))
        for system in systems:
            cell = t.cells.get((system, metric))
            if system.startswith(SPECIALIST_PREFIX) or cell is None:
                continue
            row = {"task": t.task, "split": t.split, "metric": metric, "system": system}
            for name in LEVELS:
                hits = [right for item, right in cell.by_id.items() if level.get(item) == name]
                row[name] = {"n": len(hits), "accuracy": round(100 * sum(hits) / len(hits), 2) if hits else None}
            out.append(row)
    return out
