"""The attending's own validation set (``data.val_share``): cases whose images are held back from its training,
answered after each stage by the saved model with the specialists' opinions (greedy), and scored as the bench
scores ``mc``. Beside it, on the same cases, majority vote and each specialist: the paper's ordering checked
on data that is neither trained on nor test, so attendings (and stages) can be compared without a test set.
"""

from __future__ import annotations

from collections import defaultdict


def in_validation(item, share: float, root) -> bool:
    """Whether ``item``'s image is in the held-back ``share``: a hash of the image (its path under the data
    ``root``, as for fit / holdout), salted so that it is independent of the fit / holdout split."""
    from trainer.datasets import image_fraction

    return share > 0 and image_fraction(item, root, "validation") < share


def split_groups(groups: dict[str, list], share: float, root) -> tuple[dict[str, list], list]:
    """Curriculum groups -> (the groups without the validation cases, the validation (item, opinions) pairs)."""
    train = {name: [e for e in entries if not in_validation(e[0], share, root)] for name, entries in groups.items()}
    held = [e for entries in groups.values() for e in entries if in_validation(e[0], share, root)]
    return train, held


def scored(entries: list) -> list:
    """The validation cases the ``mc`` metric scores: closed questions asked with options."""
    return [(item, ops) for item, ops in entries if item.kind == "closed" and item.options]


def _correct(answer: str, item) -> bool:
    from mmedtui.bench.score import Outcome, score

    return bool(score("mc", item, list(item.options), Outcome(answer))["correct"])


def _table(rows: dict[str, list[bool]]) -> dict[str, dict]:
    return {task: {"n": len(v), "accuracy": round(100 * sum(v) / len(v), 1)} for task, v in sorted(rows.items())}


def panel_baselines(entries: list) -> dict[str, dict[str, dict]]:
    """Majority vote and each specialist on the validation cases, per task (from the opinions: no model runs)."""
    from mmedtui.consult.voting import majority

    out: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for item, ops in scored(entries):
        usable = [o for o in ops if o.error is None]
        best, _ = majority([o.answer for o in usable], item.options)
        out["majority-vote"][item.task].append(best is not None and _correct(usable[best].answer, item))
        for o in ops:
            out[f"specialist:{o.name}"][item.task].append(o.error is None and _correct(o.answer, item))
    return {system: _table(rows) for system, rows in out.items()}


def attending_accuracy(model_path, entries: list, images, device: str = "auto") -> dict[str, dict]:
    """The attending at ``model_path`` on the validation cases, per task (``images``: the run's ImageCache, so
    the scans are decoded once for every stage)."""
    from mmedtui.agents import roles
    from mmedtui.agents.base import Sampling
    from mmedtui.agents.transformers_backend import TransformersBackend
    from trainer.datasets import item_case

    cases = scored(entries)
    if not cases:
        return {}
    prompts = [roles.attending_prompt(item_case(item, images.small(item)), ops) for item, ops in cases]
    backend = TransformersBackend(name=str(model_path), path=str(model_path), device=device)
    try:
        gens = backend.generate(prompts, Sampling(max_new_tokens=48))
    finally:
        backend.close()
    rows: dict[str, list[bool]] = defaultdict(list)
    for (item, ops), gen in zip(cases, gens):
        rows[item.task].append(_correct(roles.parse_decision([gen], ops, item.options).answer, item))
    return _table(rows)


def line(name: str, table: dict[str, dict]) -> str:
    return f"{name}: " + ", ".join(f"{task} {v['accuracy']:.1f} % (n={v['n']})" for task, v in table.items())
