"""DAPO's dynamic sampling for a GRPO stage, done before the stage (as Skywork-OR1 does, re-filtered at every stage).

A group whose G rollouts all get the same reward has zero advantage everywhere: it moves nothing but the KL and
entropy terms. TRL 1.16 has no switch to drop such groups, so each stage's cases are answered G times by the
model the stage starts from, through the stage trainer's own generation path (its chat template, image
processing and sampling settings) and scored by its own reward functions (``trainer.rewards``: format 0.5 +
accuracy 1.0 from ``mmedtui.tasks.scoring``). The stage trains on the cases whose rewards differ; the batches it
draws are thus refilled with informative groups. ``frac_reward_zero_std`` (TRL) then measures, per step, the groups
that have become uniform since; ``groups_filtered`` in metrics.jsonl is the number this filter dropped.

The filter's choice is saved in the stage folder, so ``--resume`` trains on the same cases.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

FILE = "dynamic_sampling.json"


@dataclass
class Filtered:
    """The filter's outcome for one stage: ``keep`` are dataset indices, ``pass_rates`` the accuracy per case."""

    cases: int
    keep: list[int]
    pass_rates: list[float] = field(default_factory=list)
    fallback: bool = False  # no case was informative: the stage trains on all of them

    @property
    def dropped(self) -> int:
        return 0 if self.fallback else self.cases - len(self.keep)

    def summary(self) -> dict:
        rates = self.pass_rates
        return {
            "cases": self.cases,
            "kept": len(self.keep),
            "groups_filtered": self.dropped,
            "mean_pass_rate": round(sum(rates) / len(rates), 4) if rates else None,
            "all_right": sum(r >= 1.0 for r in rates),
            "all_wrong": sum(r <= 0.0 for r in rates),
            "fallback_unfiltered": self.fallback,
        }


def informative(rewards: list[float], tol: float = 1e-6) -> bool:
    """Whether one group's rewards differ (a non-zero advantage somewhere)."""
    return bool(rewards) and max(rewards) - min(rewards) > tol


def decide(groups: list[tuple[list[float], list[float]]]) -> Filtered:
    """``groups``: per case, (its G total rewards, its G accuracy rewards) -> which cases to keep."""
    keep = [i for i, (total, _) in enumerate(groups) if informative(total)]
    rates = [sum(acc) / len(acc) if acc else 0.0 for _, acc in groups]
    if not keep:
        return Filtered(len(groups), list(range(len(groups))), rates, fallback=True)
    return Filtered(len(groups), keep, rates)


def _shard(n: int, per_call: int, world: int, rank: int) -> list[list[int]]:
    """Case indices in calls of ``per_call``; every process makes the same number of calls (collectives), the
    last ones padded with case 0 (their results are discarded)."""
    calls = max(1, math.ceil(n / (per_call * world)))
    padded = list(range(n)) + [0] * (calls * per_call * world - n)
    return [padded[(c * world + rank) * per_call : (c * world + rank + 1) * per_call] for c in range(calls)]


def sample_groups(trainer, dataset) -> list[tuple[list[float], list[float]]]:
    """Each case of ``dataset`` answered ``num_generations`` times by the trainer's model: per case, (total
    rewards, last reward function's rewards = accuracy / department)."""
    import torch
    from trl.data_utils import prepare_multimodal_messages

    g = trainer.num_generations
    acc = trainer.accelerator
    per_call = max(1, trainer.args.generation_batch_size // acc.num_processes // g)
    weights = trainer.reward_weights.to(acc.device)
    n = len(dataset)
    out: list[tuple[list[float], list[float]] | None] = [None] * n
    was_training = trainer.model.training
    trainer.model.train()  # TRL's training path: the number of generations and the sampling of a training step
    try:
        for call in _shard(n, per_call, acc.num_processes, acc.process_index):
            rows = [dataset[i] for i in call for _ in range(g)]
            prompts = [r["prompt"] for r in rows]
            if rows[0].get("image") is not None:
                prompts = [prepare_multimodal_messages(p, images=[r["image"]]) for p, r in zip(prompts, rows)]
            _, completion_ids, _, completions, *_ = trainer._generate(prompts)
            per_func = trainer._calculate_rewards(rows, prompts, completions, completion_ids)  # gathered
            total = (per_func * weights.unsqueeze(0)).nansum(dim=1).view(acc.num_processes, len(call), g)
            last = per_func[:, -1].view(acc.num_processes, len(call), g)
            everyone = acc.gather(torch.tensor(call, device=acc.device)).view(acc.num_processes, len(call))
            for r in range(acc.num_processes):
                for j, index in enumerate(everyone[r].tolist()):
                    if out[index] is None:
                        out[index] = (total[r, j].tolist(), last[r, j].nan_to_num(0.0).tolist())
    finally:
        trainer.model.train(was_training)
        trainer._metrics["train"].clear()  # the filter's rollouts are not a training step
        trainer.state.num_input_tokens_seen = 0
    return [o if o is not None else ([], []) for o in out]


def filter_stage(trainer, dataset, folder: Path, seed: int) -> Filtered:
    """The stage's filter: read back from ``folder`` (a resumed stage) or sampled now, seeded, and saved."""
    import torch

    path = Path(folder) / FILE
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("cases") == len(dataset):
            return Filtered(
                saved["cases"], saved["keep"], saved.get("pass_rates", []), saved.get("fallback_unfiltered", False)
            )
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        result = decide(sample_groups(trainer, dataset))
    finally:
        torch.random.set_rng_state(state)
    if trainer.accelerator.is_main_process:
        from trainer.io import atomic_write_text

        atomic_write_text(
            path, json.dumps({**result.summary(), "keep": result.keep, "pass_rates": result.pass_rates}) + "\n"
        )
    return result
