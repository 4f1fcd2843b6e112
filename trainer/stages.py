"""Run a sequence of training stages, each starting from the previous stage's final model: the attending's
easy -> medium -> hard curriculum, or the single stage of an SFT / triage run. Shared by SFT and GRPO.

Per stage: load the starting model, build the trainer (``make_trainer``), attach metrics / progress / Ctrl-C
callbacks, resume from the stage's last complete checkpoint when asked, train, save the final model atomically,
record it in ``state.json``. Steps in ``metrics.jsonl`` count across stages.
"""

from __future__ import annotations

import gc
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.callbacks import Interrupt, InterruptCallback, MetricsCallback, ProgressCallback, SkipLastCheckpoint
from trainer.io import atomic_dir, clean_stale_tmp
from trainer.run import RunDir

if TYPE_CHECKING:
    from trainer.config import TrainConfig


class Interrupted(Exception):
    """Training stopped on Ctrl-C after saving a checkpoint; ``--resume`` continues from it."""

    def __init__(self, checkpoint: Path | None, run_dir: Path):
        self.checkpoint, self.run_dir = checkpoint, run_dir
        where = f"checkpoint {checkpoint}" if checkpoint else "no checkpoint yet"
        super().__init__(f"interrupted ({where}); continue with --resume --output {run_dir}")


@dataclass
class Stage:
    name: str
    dataset: Any  # datasets.Dataset
    gamma: float | None = None  # entropy bonus (GRPO); None for SFT
    beta: float | None = None  # KL coefficient (GRPO); None for SFT
    max_steps: int = -1  # -1: the config's epochs decide
    info: dict = field(default_factory=dict)
    make: Any = None  # this stage's own MakeTrainer (an SFT warm-up before GRPO stages)


MakeTrainer = Callable[[Stage, Path, Path, int], Any]  # (stage, start model, output dir, max_steps) -> Trainer


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def main_first():
    """With several processes (accelerate launch), rank 0 runs the block first, the others after it."""
    from contextlib import nullcontext

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return nullcontext()
    from accelerate import PartialState

    return PartialState().main_process_first()


def _rel(path: Path, run: RunDir) -> str:
    try:
        return str(Path(path).resolve().relative_to(run.path.resolve()))
    except ValueError:
        return str(path)


def _abs(text: str, run: RunDir) -> Path:
    p = Path(text)
    return p if p.is_absolute() else run.path / p


def run_stages(
    cfg: TrainConfig,
    run: RunDir,
    stages: Sequence[Stage],
    start_model: Path | str,
    make_trainer: MakeTrainer,
    resume: bool = False,
    callbacks: Sequence = (),
    console=None,
    on_saved: Callable[[Path, Stage], dict | None] | None = None,
) -> Path:
    """Train ``stages`` in order; return the final model folder (``<run>/final``)."""
    state = run.load_state()
    state["role"] = cfg.role
    state["order"] = [s.name for s in stages]
    entries = state.setdefault("stages", {})
    offset, model_path = 0, start_model
    live = [s for s in stages if len(s.dataset) > 0]
    for stage in stages:
        entry = entries.setdefault(stage.name, {"status": "pending"})
        if entry.get("status") == "done" and entry.get("final") and _abs(entry["final"], run).is_dir():
            # Its record stays what it was trained with, even where a resumed run's settings have changed since.
            offset += int(entry.get("steps", 0))
            model_path = _abs(entry["final"], run)
            continue
        entry.update(
            gamma=stage.gamma, beta=stage.beta, cases=len(stage.dataset), planned_steps=stage.max_steps, **stage.info
        )
        if len(stage.dataset) == 0:
            entry["status"] = "skipped"
            entry["reason"] = "no training cases in this stage"
            if is_main_process():
                run.save_state(state)
            continue
        out_dir = run.stage_dir(stage.name)
        checkpoint = run.latest_checkpoint(stage.name, clean=is_main_process()) if resume else None
        if is_main_process():
            if not resume and out_dir.exists():
                shutil.rmtree(out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            clean_stale_tmp(out_dir)
            run.truncate_metrics(stage.name, _checkpoint_step(checkpoint))
            entry.update(
                status="running",
                start=_rel(Path(model_path), run),
                resumed_from=_rel(checkpoint, run) if checkpoint else None,
            )
            run.save_state(state)
        started = time.monotonic()
        trainer = (stage.make or make_trainer)(stage, model_path, out_dir, stage.max_steps)
        entry.update(stage.info)  # what building the trainer learnt (e.g. the dynamic-sampling filter's figures)
        quiet_default_callbacks(trainer)
        interrupt = Interrupt()
        for make_callback in callbacks:  # (stage, interrupt) -> TrainerCallback; tests use it to press Ctrl-C
            trainer.add_callback(make_callback(stage, interrupt))
        trainer.add_callback(MetricsCallback(run.metrics_path, stage.name, offset, stage.gamma, stage.beta))
        trainer.add_callback(ProgressCallback(stage.name, console=console, label=_label(cfg, stage, stages)))
        if not cfg.train.keep_checkpoints:
            trainer.add_callback(SkipLastCheckpoint())
        trainer.add_callback(InterruptCallback(interrupt))  # after: a Ctrl-C on the last step still saves
        with interrupt:
            trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        if interrupt.requested:
            entry["status"] = "interrupted"
            if is_main_process():
                run.save_state(state)
            raise Interrupted(run.latest_checkpoint(stage.name, clean=False), run.path)
        last = stage is live[-1]
        target = run.final_dir if last else out_dir / "final"
        save_final(trainer, target)
        if on_saved is not None and is_main_process():
            entry.update(on_saved(target, stage) or {})  # e.g. the stage's validation figures
        steps = int(trainer.state.global_step)
        # Wall time of this sitting (a resumed stage: since the resume): filter, training, saving, validation.
        entry.update(status="done", steps=steps, final=_rel(target, run), seconds=round(time.monotonic() - started))
        if is_main_process():
            run.save_state(state)
            write_plot(run.path)
            if not cfg.train.keep_checkpoints:
                _drop_checkpoints(out_dir)  # the stage's final model supersedes them (7B checkpoints are large)
        offset += steps
        model_path = target
        del trainer
        gc.collect()
    state["final"] = _rel(Path(model_path), run)
    if is_main_process():
        run.save_state(state)
    return Path(model_path)


def write_plot(run_dir: Path) -> Path | None:
    """``<run>/metrics.png`` after every stage (trainer.plot_png); a plot never fails a run."""
    from trainer.plot_png import render_png

    try:
        return render_png(run_dir)
    except Exception as exc:  # noqa: BLE001 - a figure is a by-product: say why, keep training
        import sys

        print(f"metrics.png not written: {exc}", file=sys.stderr)
        return None


def _drop_checkpoints(folder: Path) -> None:
    for p in folder.glob("checkpoint-*"):
        shutil.rmtree(p, ignore_errors=True)


def _label(cfg: TrainConfig, stage: Stage, stages: Sequence[Stage]) -> str:
    if len(stages) == 1:
        return f"{cfg.role}"
    index = [s.name for s in stages].index(stage.name) + 1
    return f"{cfg.role} {stage.name} ({index}/{len(stages)})"


def _checkpoint_step(checkpoint: Path | None) -> int:
    if checkpoint is None:
        return 0
    return int(checkpoint.name.rsplit("-", 1)[1])


def quiet_default_callbacks(trainer) -> None:
    """Our Rich progress replaces the Trainer's tqdm bar and its dict printer."""
    from transformers.trainer_callback import PrinterCallback
    from transformers.trainer_callback import ProgressCallback as HFProgress

    for cb in (PrinterCallback, HFProgress):
        trainer.remove_callback(cb)


def save_final(trainer, target: Path) -> Path:
    """Save the trained model + processor to ``target`` atomically (LoRA adapters merged first), so a panel can
    load it with ``{backend: transformers, path: target}``. Collective saves (ZeRO-3 / FSDP) run on every rank."""
    accelerator = trainer.accelerator
    peft = _is_peft(trainer.model)
    tmp = target.parent / f".{target.name}.save.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    if peft:
        if accelerator.is_main_process:
            merged = accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(tmp, safe_serialization=True)
            trainer.processing_class.save_pretrained(tmp)
    else:
        trainer.save_model(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle; the run's config.yaml says it all
        with atomic_dir(target) as fresh:
            for p in tmp.iterdir():
                shutil.move(str(p), fresh / p.name)
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    return target


def _is_peft(model) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)
