"""Overhead of the curriculum + entropy machinery over a stock TRL GRPO step, measured in one run.

Three arms train the same starting model on the same attending rows with the same GRPO settings (the `tiny`
profile's unless overridden); their rounds are interleaved so a busy machine slows them alike:
- stock:      TRL ``GRPOTrainer`` as shipped (beta 0, no entropy bonus), its default callbacks;
- stock+KL:   the same with the hard stage's beta (a reference model and the KL term, which any GRPO with KL pays);
- mmedtui:    this trainer's hard-stage trainer: beta and entropy_coef of the hard stage, metrics.jsonl writer,
              Rich progress, Ctrl-C handler, checkpoint commit marker.
Every rollout is generated to the full ``max_completion_length`` (``min_new_tokens``) so the arms do the same
amount of generation. Reported: wall seconds per optimizer step (median over steps after a warm-up step, all
rounds), the ratios, and the one-off cost of a stage switch (save the stage's final model, load the next stage's
model and its KL reference).

    python scripts/bench_overhead.py                     # tiny `small` model, synthetic scans
    python scripts/bench_overhead.py --size micro --steps 6 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time
from pathlib import Path


def _rows(base: Path, per_kind: int):
    from mmedtui.agents.panel import load_panel
    from trainer import curriculum, opinions
    from trainer.config import load_config
    from trainer.data.images import ImageCache
    from trainer.data.items import load_items
    from trainer.data.rows import attending_rows
    from trainer.testing import fake_vqa_rad, scripted_panel_file

    root = fake_vqa_rad(base / "data", per_kind=per_kind)
    cfg = load_config("attending", "tiny", **{"data.root": str(root), "data.tasks": ["vqa-rad"]})
    items = load_items(cfg.data)
    panel = load_panel(scripted_panel_file(base / "panel.yaml"))
    images = ImageCache(cfg.data.image_max_side)
    found = opinions.collect(items, panel, opinions.OpinionStore(base / "op.jsonl"), images)
    groups = curriculum.split(found.values())
    return cfg, attending_rows([case for s in ("easy", "medium", "hard") for case in groups[s]], images)


class StepTimer:
    """Time between consecutive optimizer-step ends (callbacks, logging and optimizer included): wall clock and
    this process's CPU time. On a shared machine the CPU time is the robust one: other processes stretch the wall
    clock, not the CPU seconds this process spends (torch runs on one thread here)."""

    def __new__(cls):
        from transformers import TrainerCallback

        class _Timer(TrainerCallback):
            def __init__(self):
                self.marks: list[tuple[float, float]] = []

            def on_train_begin(self, args, state, control, **kwargs):
                self.marks = [(time.perf_counter(), time.process_time())]

            def on_step_end(self, args, state, control, **kwargs):
                self.marks.append((time.perf_counter(), time.process_time()))

            def steps(self) -> list[tuple[float, float]]:
                pairs = zip(self.marks, self.marks[1:])
                return [(b[0] - a[0], b[1] - a[1]) for a, b in pairs][1:]  # drop the warm-up step

        return _Timer()


def _arm(
    name: str, cfg, model_dir: str, dataset, out: Path, steps: int, gamma: float, beta: float
) -> list[tuple[float, float]]:
    from trl import GRPOTrainer

    from trainer import rewards
    from trainer.callbacks import Interrupt, InterruptCallback, MetricsCallback, ProgressCallback
    from trainer.grpo import grpo_args, stage_trainer_class
    from trainer.models import load_model, load_processor
    from trainer.stages import quiet_default_callbacks

    args = grpo_args(cfg, out, steps + 1, gamma, beta)
    args.save_steps = max(args.save_steps, steps + 2)
    # Every rollout runs to max_completion_length: the arms then generate the same number of tokens per step,
    # and what differs between them is the machinery, not how early a sampled reply happened to stop.
    args.generation_kwargs = {"min_new_tokens": cfg.grpo.max_completion_length}
    cls = GRPOTrainer if name.startswith("stock") else stage_trainer_class()
    trainer = cls(
        model=load_model(model_dir, cfg),
        reward_funcs=rewards.for_role("attending"),
        args=args,
        train_dataset=dataset,
        processing_class=load_processor(model_dir),
    )
    timer = StepTimer()
    trainer.add_callback(timer)
    interrupt = Interrupt()
    if name == "mmedtui":
        from rich.console import Console

        quiet_default_callbacks(trainer)
        trainer.add_callback(MetricsCallback(out / "metrics.jsonl", "hard", 0, gamma, beta))
        trainer.add_callback(ProgressCallback("hard", console=Console(file=io.StringIO())))
        trainer.add_callback(InterruptCallback(interrupt))
    with contextlib.redirect_stdout(io.StringIO()), interrupt:
        trainer.train()
    return timer.steps()


def _stage_switch(cfg, model_dir: str, dataset, out: Path) -> float:
    """Seconds from a trained stage to the next stage's trainer ready: final save + load + reference model."""
    from trainer import rewards
    from trainer.grpo import make_grpo_trainer
    from trainer.stages import Stage, save_final

    make = make_grpo_trainer(cfg, rewards.for_role("attending"))
    stage = Stage("medium", dataset, 5e-3, 4e-3, 1)
    trainer = make(stage, model_dir, out / "medium", 1)
    started = time.perf_counter()
    save_final(trainer, out / "medium-final")
    make(Stage("hard", dataset, 3e-2, 1e-2, 1), str(out / "medium-final"), out / "hard", 1)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="small", choices=["micro", "small", "base"])
    parser.add_argument("--model", help="starting model folder (default: build a tiny one)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per arm and round (+1 warm-up)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the tiny profile's: 1)")
    args = parser.parse_args()
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(var, "1")
    import warnings

    warnings.filterwarnings("ignore")
    import datasets as hf_datasets
    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    hf_datasets.disable_progress_bars()
    torch.set_num_threads(args.threads)

    from trainer.data.rows import corpus, to_dataset
    from trainer.tiny import build_tiny

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        cfg, rows = _rows(base, per_kind=8)
        model_dir = args.model or str(build_tiny(base / "model", size=args.size, corpus=corpus(rows)))
        dataset = to_dataset(rows)
        gamma, beta = cfg.curriculum.gamma["hard"], cfg.curriculum.beta["hard"]
        arms = {"stock": (0.0, 0.0), "stock+KL": (0.0, beta), "mmedtui": (gamma, beta)}
        times: dict[str, list[tuple[float, float]]] = {a: [] for a in arms}
        for r in range(args.rounds):
            for name, (g, b) in arms.items():
                times[name] += _arm(name, cfg, model_dir, dataset, base / f"{name}-{r}", args.steps, g, b)
        switch = _stage_switch(cfg, model_dir, dataset, base / "switch")
    wall = {a: statistics.median(w for w, _ in t) for a, t in times.items()}
    cpu = {a: statistics.median(c for _, c in t) for a, t in times.items()}
    g = cfg.grpo
    print(
        f"model: {args.model or 'tiny ' + args.size}; {g.num_generations} rollouts x {g.max_completion_length} "
        f"tokens, {cfg.train.per_device_train_batch_size} completions x {cfg.train.gradient_accumulation_steps} "
        f"accumulation per step; torch threads {args.threads}; {args.rounds} rounds x {args.steps} steps per arm"
    )
    for name in arms:
        print(
            f"  {name:9s} {wall[name]:.3f} s/step wall, {cpu[name]:.3f} s/step CPU "
            f"(medians, n={len(times[name])}; wall min {min(w for w, _ in times[name]):.3f})"
        )
    print(
        f"overhead ratio mmedtui / stock    = {cpu['mmedtui'] / cpu['stock']:.3f} CPU "
        f"({wall['mmedtui'] / wall['stock']:.3f} wall)"
    )
    print(
        f"overhead ratio mmedtui / stock+KL = {cpu['mmedtui'] / cpu['stock+KL']:.3f} CPU "
        f"({wall['mmedtui'] / wall['stock+KL']:.3f} wall)  - the entropy bonus + callbacks alone"
    )
    print(f"stage switch (save final, load next model + KL reference): {switch:.2f} s wall, once per stage")


if __name__ == "__main__":
    main()
