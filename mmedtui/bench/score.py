"""From unit outputs to one answer per system, its score, and the per-cell accuracies with 95 % CIs.

Metrics (design.md): ``mc`` closed + native multiple-choice items asked with options (the paper-comparable
headline); ``open_mc`` open items asked with seeded distractors; ``closed`` / ``open`` free-text answers to
the question as asked, scored by the one scorer (``open`` is exact match; ``open_recall`` rides along).
A failed item (a backend error, not a garbage answer) counts as wrong and is counted in ``failed``; a declined
one (a specialist that chose not to answer) counts as wrong and is counted in ``declined``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmedtui.bench.registry import SPECIALIST_PREFIX
from mmedtui.bench.registry import system as registry_entry
from mmedtui.bench.units import backend_error
from mmedtui.tasks.base import Item
from mmedtui.tasks.scoring import LETTERS, bootstrap_ci, gold_index, is_correct, open_recall, parse_choice
from mmedtui.tasks.voting import majority

METRICS = ("mc", "closed", "open", "open_mc")
MC_METRICS = ("mc", "open_mc")  # asked with options


@dataclass
class Outcome:
    answer: str
    error: str | None = None  # a backend failure: the item counts as failed for this system
    agents: dict = field(default_factory=dict)
    valid: bool = True  # False: empty, degenerate or naming no option (scored wrong, counted)
    declined: bool = False  # the specialist chose not to answer (scored wrong, counted apart from failures)

    @property
    def failed(self) -> bool:
        return self.error is not None


def outcome(system: str, units: dict[str, dict], options: list[str] | None) -> Outcome | None:
    """The system's answer to one case, or None when it did not take part (a specialist not consulted)."""
    entry = registry_entry(system)
    data = units[entry.unit]
    if data.get("error"):  # the whole unit failed (unreadable image, a model that would not load)
        return Outcome("", data["error"])
    if entry.answer == "prior":  # a non-agent model (the question's words, or the likest training images)
        return Outcome((data.get("prior") or {}).get("answer") or "", None, dict(data))
    if entry.answer in ("vote", "specialist"):
        opinions = data.get("specialists") or []
        agents = {"triage": data.get("triage"), "specialists": opinions}
        if entry.answer == "specialist":
            mine = next((o for o in opinions if o["name"] == system[len(SPECIALIST_PREFIX) :]), None)
            if mine is None:
                return None
            error, declined = mine.get("error"), bool(mine.get("declined"))
            failure = error if backend_error(error, declined) else None
            return Outcome(mine.get("answer") or "", failure, agents, mine.get("valid", True), declined)
        answered = [o for o in opinions if not backend_error(o.get("error"), o.get("declined"))]
        if opinions and not answered:
            return Outcome("", opinions[0].get("error"), agents)
        valid = [o for o in answered if o.get("valid", True)]  # an invalid opinion counts as missing
        best, _ = majority([o.get("answer") or "" for o in valid], options)
        return Outcome(
            valid[best].get("answer") or "" if best is not None else "", None, agents, valid=best is not None
        )
    # Pipeline systems: the attending's answer, with the triage / opinions it saw.
    agents = {**units.get("panel", {}), **data} if entry.on_opinions else dict(data)
    attending = data.get("attending") or {}
    error = attending.get("error")
    return Outcome(
        attending.get("answer") or "",
        error if backend_error(error) else None,
        agents,
        valid=attending.get("valid", True),
    )


def score(metric: str, item: Item, options: list[str] | None, out: Outcome) -> dict:
    """Correctness of one answer, plus what the samples file shows about it."""
    result: dict = {"correct": False, "invalid": not out.failed and not out.declined and not out.valid}
    if out.declined:
        result["declined"] = True
    if metric in MC_METRICS:  # an invalid answer is never mapped onto an option
        choice = None if out.failed or not out.valid else parse_choice(out.answer, options or [])
        gold = gold_index(item, options)
        result.update(
            choice=LETTERS[choice] if choice is not None else None,
            target_choice=LETTERS[gold] if gold is not None else None,
            unparsed=not out.failed and not out.declined and choice is None,
            correct=choice is not None and choice == gold,
        )
    else:
        result["correct"] = not out.failed and out.valid and is_correct(out.answer, item, None)
        if metric == "open":
            result["recall"] = 0.0 if out.failed else open_recall(out.answer, item.meta.get("answers") or item.answer)
    return result


@dataclass
class Cell:
    """One (task, system, metric): outcomes in item order."""

    correct: list[bool] = field(default_factory=list)
    by_id: dict[str, bool] = field(default_factory=dict)  # for paired comparisons between systems
    recall: list[float] = field(default_factory=list)
    unparsed: int = 0
    invalid: int = 0
    failed: int = 0
    declined: int = 0

    def add(self, item_id: str, scored: dict, failed: bool) -> None:
        self.by_id[item_id] = bool(scored["correct"])
        self.correct.append(bool(scored["correct"]))
        if "recall" in scored:
            self.recall.append(float(scored["recall"]))
        self.unparsed += bool(scored.get("unparsed"))
        self.invalid += bool(scored.get("invalid"))
        self.declined += bool(scored.get("declined"))
        self.failed += failed

    @property
    def n(self) -> int:
        return len(self.correct)

    @property
    def accuracy(self) -> float | None:
        return 100.0 * sum(self.correct) / self.n if self.n else None

    def ci95(self, n_boot: int, seed: int) -> list[float] | None:
        if not self.n:
            return None
        lo, hi = bootstrap_ci(self.correct, n_boot=n_boot, seed=seed)
        return [round(lo, 2), round(hi, 2)]
