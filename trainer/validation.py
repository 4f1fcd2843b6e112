"""The attending's own validation set (``data.val_share``): cases whose images are held back from its training,
answered after each stage by the saved model on the bench's path: the consultation ``Pipeline``'s attending
stage on the specialists' cached opinions (as the bench's ``mmedagent-rl`` row runs it), the full-size scan
the bench loads, the sampling a trained panel gives the attending (greedy, ``grpo.max_completion_length``
tokens), scored by ``mmedtui.tasks.scoring`` with the item's options (the ``mc`` metric). Beside it, on the
same cases, majority vote and each specialist: the paper's ordering checked on data that is neither trained
on nor test, so attendings (and stages) can be compared without a test set.
"""

from __future__ import annotations

from collections import defaultdict


def in_validation(item, share: float, root) -> bool:
    """Whether ``item``'s image is in the held-back ``share``: a hash of the image (its path under the data
    ``root``, as for fit / holdout), salted so that it is independent of the fit / holdout split."""
    from trainer.data.items import image_fraction

    return share > 0 and image_fraction(item, root, "validation") < share


def split_groups(groups: dict[str, list], share: float, root) -> tuple[dict[str, list], list]:
    """Curriculum groups of ``PanelCase`` -> (the groups without the validation cases, the validation cases)."""
    train = {name: [c for c in cases if not in_validation(c.item, share, root)] for name, cases in groups.items()}
    held = [c for cases in groups.values() for c in cases if in_validation(c.item, share, root)]
    return train, held


def scored(cases: list) -> list:
    """The validation cases the ``mc`` metric scores: closed questions asked with options."""
    return [c for c in cases if c.item.kind == "closed" and c.item.options]


def _correct(answer: str | None, item, invalid: str | None = None) -> bool:
    """The bench's ``mc`` scoring: an invalid answer is never mapped onto an option."""
    from mmedtui.tasks.scoring import is_correct

    return not invalid and bool(answer) and bool(is_correct(answer, item, list(item.options)))


def _table(rows: dict[str, list[bool]]) -> dict[str, dict]:
    return {task: {"n": len(v), "accuracy": round(100 * sum(v) / len(v), 1)} for task, v in sorted(rows.items())}


def table(outcomes: list[tuple], key=lambda case: case.item.task) -> dict[str, dict]:
    """(case, right) pairs -> {group: {"n", "accuracy"}}, grouped by task (or by ``key``, e.g. the case's stage)."""
    rows: dict[str, list[bool]] = defaultdict(list)
    for case, right in outcomes:
        rows[key(case)].append(right)
    return _table(rows)


def by_difficulty(outcomes: list[tuple]) -> dict[str, dict]:
    """The same, per curriculum group: easy (every specialist right), medium, hard (none right)."""
    from trainer.sections import STAGES

    groups = table(outcomes, key=lambda case: case.stage or "unsplit")
    return {name: groups[name] for name in sorted(groups, key=(*STAGES, "all", "unsplit").index)}


def panel_baselines(cases: list) -> dict[str, dict[str, dict]]:
    """Majority vote and each specialist on the validation cases, per task (from the opinions: no model runs)."""
    from mmedtui.tasks.voting import majority

    out: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for case in scored(cases):
        item, ops = case.item, case.opinions
        usable = [o for o in ops if o.error is None]
        best, _ = majority([o.answer for o in usable], item.options)
        out["majority-vote"][item.task].append(best is not None and _correct(usable[best].answer, item))
        for o in ops:
            out[f"specialist:{o.name}"][item.task].append(
                o.error is None and _correct(o.answer, item, getattr(o, "invalid", None))
            )
    return {system: _table(rows) for system, rows in out.items()}


def attending_decisions(
    model_path, held: list, images, device: str = "auto", max_new_tokens: int = 48, seed: int = 0, batch: int = 16
) -> list[tuple]:
    """(case, decision) for each scored validation case, answered by the attending at ``model_path`` through
    ``Pipeline.attend`` (``images``: the run's ImageCache; ``batch`` cases' full-size scans are held at a time).
    ``decision`` is None where the attending gave none."""
    from mmedtui.agents.panel import AgentSpec, Panel
    from mmedtui.consult import ConsultRecord, Pipeline
    from mmedtui.consult.pipeline import PipelineOptions
    from trainer.data.items import item_case

    cases = scored(held)
    if not cases:
        return []
    spec = AgentSpec("Attending physician (trained)", "trained", max_new_tokens=max_new_tokens)
    panel = Panel(
        models={"trained": {"backend": "transformers", "path": str(model_path), "device": device}},
        triage=spec,
        specialists={},
        attending=spec,
    )
    pipeline = Pipeline(panel, PipelineOptions(seed=seed))
    out: list[tuple] = []
    try:
        for start in range(0, len(cases), batch):
            chunk = cases[start : start + batch]
            records = [
                ConsultRecord(item_case(c.item, images.full(c.item)), specialists=list(c.opinions)) for c in chunk
            ]
            pipeline.attend(records, lambda event: None)
            out.extend((case, record.attending) for case, record in zip(chunk, records))
    finally:
        panel.close()
    return out


def decision_right(decision, item) -> bool:
    """A decision scored as the bench's ``mc`` scores it: none, an error or an invalid answer is wrong."""
    return (
        decision is not None
        and decision.error is None
        and _correct(decision.answer, item, getattr(decision, "invalid", None))
    )


def attending_outcomes(model_path, held: list, images, **kwargs) -> list[tuple]:
    """(case, right) for each scored validation case (``attending_decisions``' arguments)."""
    return [(case, decision_right(d, case.item)) for case, d in attending_decisions(model_path, held, images, **kwargs)]


def line(name: str, table: dict[str, dict]) -> str:
    return f"{name}: " + ", ".join(f"{task} {v['accuracy']:.1f} % (n={v['n']})" for task, v in table.items())
