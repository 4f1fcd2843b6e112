"""Trainer callbacks: metrics.jsonl, Rich live progress, Ctrl-C -> checkpoint, and the checkpoint commit marker.

They only run on the main process where they write or print (``state.is_world_process_zero``).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from transformers import TrainerCallback

from mmedtui.fileio import append_jsonl

# TRL log keys -> metrics.jsonl keys.
_KEYS = {
    "reward": "reward",
    "reward_std": "reward_std",
    "entropy": "entropy",
    "kl": "kl",
    "loss": "loss",
    "learning_rate": "learning_rate",
    "grad_norm": "grad_norm",
    "step_time": "step_time",
    "completions/mean_length": "completion_length",
    "rewards/format_reward/mean": "format",
    "rewards/accuracy_reward/mean": "accuracy",
    "rewards/department_reward/mean": "accuracy",
    "mean_token_accuracy": "accuracy",
    "frac_reward_zero_std": "frac_reward_zero_std",
    "groups_filtered": "groups_filtered",
}


class MetricsCallback(TrainerCallback):
    """One JSON line per logged step: stage, global step, stage step, reward, accuracy, entropy, entropy_coef,
    beta, kl (+ loss, lr, timings). ``step`` counts across stages (``offset`` = steps of the stages before)."""

    def __init__(self, path: Path, stage: str, offset: int, gamma: float | None, beta: float | None):
        self.path, self.stage, self.offset = Path(path), stage, offset
        self.gamma, self.beta = gamma, beta
        self.last: dict = {}

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "train_runtime" in logs:
            return
        record = {
            "stage": self.stage,
            "step": self.offset + state.global_step,
            "stage_step": state.global_step,
            "max_stage_steps": state.max_steps,
        }
        for src, dst in _KEYS.items():
            if logs.get(src) is not None and dst not in record:
                record[dst] = float(logs[src])
        record.setdefault("reward", None)
        record.setdefault("entropy", None)
        # TRL logs entropy_coef only when the bonus is on; the stage's coefficient is the truth either way.
        record["entropy_coef"] = float(logs.get("entropy_coef", self.gamma or 0.0)) if self.gamma is not None else None
        record["beta"] = self.beta
        record["time"] = round(time.time(), 3)
        self.last = record
        append_jsonl(self.path, [record])


class ProgressCallback(TrainerCallback):
    """Rich live progress: stage, step / total, reward, accuracy, entropy, KL, ETA. Plain lines without a TTY."""

    def __init__(self, stage: str, console=None, label: str = ""):
        from rich.console import Console

        self.stage, self.label = stage, label or stage
        self.console = console or Console(stderr=True)
        self.progress = None
        self.task = None
        self.values: dict = {}

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold cyan]{task.fields[stage]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(
                "train", total=state.max_steps, completed=state.global_step, stage=self.label, stats=""
            )
        else:
            self.console.print(
                f"[{self.label}] training {state.max_steps} steps (from step {state.global_step})",
                markup=False,
                highlight=False,
            )
        self._started = time.time()
        self._start_step = state.global_step

    def _stats(self) -> str:
        v = self.values
        parts = []
        for key, name in (("reward", "reward"), ("accuracy", "acc"), ("entropy", "H"), ("kl", "KL"), ("loss", "loss")):
            if v.get(key) is not None:
                parts.append(f"{name} {v[key]:.3f}")
        return "  ".join(parts)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        for src, dst in _KEYS.items():
            if logs.get(src) is not None:
                self.values[dst] = float(logs[src])
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, stats=self._stats())
        elif "train_runtime" not in logs:
            done = state.global_step - self._start_step
            eta = (time.time() - self._started) / max(1, done) * (state.max_steps - state.global_step)
            self.console.print(
                f"[{self.label}] step {state.global_step}/{state.max_steps}  {self._stats()}  ETA {eta:.0f}s",
                markup=False,
                highlight=False,
            )

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)
            self.progress.stop()
            self.progress = None


class Interrupt:
    """Ctrl-C (SIGINT) or SIGTERM (a scheduler's stop, ``kill``) -> finish the current step, save a checkpoint,
    stop. A second signal stops at once. ``last_signal`` keeps the signal that asked (the CLI's exit code)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    last_signal: int | None = None

    def __init__(self):
        self.requested = False
        self._previous: dict = {}

    def request(self) -> None:
        self.requested = True

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        Interrupt.last_signal = signum
        import sys

        name = "Interrupt" if signum == signal.SIGINT else "Terminated"
        print(f"\n{name}: saving a checkpoint after this step (Ctrl-C again to stop now)", file=sys.stderr)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handler) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, previous in self._previous.items():
            signal.signal(s, previous)
        self._previous = {}
        return False


class InterruptCallback(TrainerCallback):
    def __init__(self, interrupt: Interrupt):
        self.interrupt = interrupt

    def on_step_end(self, args, state, control, **kwargs):
        if self.interrupt.requested:
            control.should_save = True
            control.should_training_stop = True
        return control


class SkipLastCheckpoint(TrainerCallback):
    """No checkpoint at a stage's last step (transformers always saves one there) when checkpoints are not kept:
    the stage's final model is saved right after, and a 7B checkpoint with optimizer state is ~50 GB of disk."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.max_steps > 0 and state.global_step >= state.max_steps:
            control.should_save = False
        return control


class CheckpointCommitMixin:
    """Marks a checkpoint folder COMPLETE after the Trainer has written all of it (model, optimizer, RNG, state):
    ``--resume`` only trusts marked checkpoints, so a kill mid-save never resumes from a torn one. Older
    checkpoints are rotated out only after the marker is down, so a kill in between never leaves no
    trusted checkpoint behind."""

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        """Resume the weights strictly (trainer.checkpoints): transformers' own load matches 0 keys of a
        Qwen2.5-VL checkpoint and says so only in a warning."""
        from trainer.checkpoints import load_weights

        if not load_weights(model if model is not None else self.model, resume_from_checkpoint):
            super()._load_from_checkpoint(resume_from_checkpoint, model)

    def _save_checkpoint(self, model, trial):
        limit, self.args.save_total_limit = self.args.save_total_limit, None
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self.args.save_total_limit = limit
        if self.args.should_save:
            from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints

            from trainer.io import atomic_write_text
            from trainer.run import COMPLETE

            run_dir = self._get_output_dir(trial=trial)
            folder = Path(run_dir) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
            atomic_write_text(folder / COMPLETE, f"{self.state.global_step}\n")
            rotate_checkpoints(run_dir, save_total_limit=limit, best_model_checkpoint=self.state.best_model_checkpoint)
