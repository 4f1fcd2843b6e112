"""A run directory and its state: what every role's run leaves behind, and what ``--resume`` reads.

Its files:

    <run>/config.yaml        the resolved config (printed at start)
    <run>/state.json         stages planned / done, their final models and step counts
    <run>/metrics.jsonl      one line per logged step: stage, step, reward, accuracy, entropy, entropy_coef, beta, kl
    <run>/base-model/        the tiny starting model, when the run built one
    <run>/stages/<stage>/checkpoint-N/   Trainer checkpoints (safetensors; COMPLETE marks a finished one)
    <run>/stages/<stage>/final/          a stage's final model (the next stage starts here)
    <run>/final/             the run's final model + processor + README.md model card
    <run>/panel.yaml         a panel file that puts the trained model in its role
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from mmedtui.errors import UserError
from mmedtui.fileio import read_jsonl, rewrite_jsonl
from trainer.io import atomic_write_json, clean_stale_tmp, recover_dir

COMPLETE = "COMPLETE"
_CKPT = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class RunDir:
    path: Path

    def __post_init__(self):
        self.path = Path(self.path)

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def final_dir(self) -> Path:
        return self.path / "final"

    @property
    def base_model_dir(self) -> Path:
        return self.path / "base-model"

    def stage_dir(self, stage: str) -> Path:
        return self.path / "stages" / stage

    # -- state ---------------------------------------------------------------------------------
    def load_state(self) -> dict:
        import json

        if not self.state_path.is_file():
            return {"stages": {}, "created": time.time()}
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except RecursionError:
            raise UserError(f"{self.state_path}: unreadable run state (nested too deeply)") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"{self.state_path}: unreadable run state ({exc})") from None
        if not isinstance(state, dict) or not isinstance(state.get("stages", {}), dict):
            raise UserError(f"{self.state_path}: unreadable run state (not a state object)")
        return state

    def save_state(self, state: dict) -> None:
        state["updated"] = time.time()
        atomic_write_json(self.state_path, state)

    # -- checkpoints ---------------------------------------------------------------------------
    def latest_checkpoint(self, stage: str, clean: bool = True, verify: bool = True) -> Path | None:
        """The newest checkpoint of ``stage`` that was written to the end (has the COMPLETE marker);
        incomplete ones (a hard kill mid-save) are removed when ``clean``. With ``verify``, a complete one with a
        damaged file (disk fault, a copy cut short) gives way to the one before, with one line naming the file;
        when none before it is whole, the run cannot resume faithfully (CheckpointError)."""
        folder = self.stage_dir(stage)
        if not folder.is_dir():
            return None
        found = []
        for p in folder.iterdir():
            m = _CKPT.match(p.name)
            if not m or not p.is_dir():
                continue
            if (p / COMPLETE).is_file():
                found.append((int(m.group(1)), p))
            elif clean:
                shutil.rmtree(p, ignore_errors=True)
        if not verify:
            return max(found)[1] if found else None
        return _first_whole([p for _, p in sorted(found, reverse=True)], clean)

    def prepare(self, resume: bool) -> None:
        if resume:
            if not self.config_path.is_file():
                raise UserError(f"{self.path}: nothing to resume (no config.yaml); start a run with --output")
        elif self.state_path.is_file() or self.metrics_path.is_file():
            raise UserError(
                f"{self.path}: a run already lives here; pass --resume to continue it, or choose a new --output"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        clean_stale_tmp(self.path)
        recover_dir(self.final_dir)

    def finished(self) -> bool:
        """Every planned stage done (or skipped) and the final model in place: ``--resume`` has nothing to do."""
        state = self.load_state() if self.state_path.is_file() else {}
        stages, order = state.get("stages", {}), state.get("order")
        return bool(
            order
            and state.get("final")
            and self.final_dir.is_dir()
            and all(stages.get(s, {}).get("status") in ("done", "skipped") for s in order)
        )

    def mark(self, status: str, **info) -> None:
        """Record the run's overall status in ``state.json`` (running, stopped, done)."""
        state = self.load_state()
        state.pop("stopped_by", None)  # a resumed run is no longer stopped
        state.update(status=status, **info)
        self.save_state(state)

    def record_config_changes(self, changes: list[str]) -> None:
        """``--resume --force-config``: what this invocation changed, kept beside the run's other history."""
        state = self.load_state()
        state.setdefault("config_changes", []).append({"time": round(time.time(), 3), "changes": changes})
        self.save_state(state)

    def truncate_metrics(self, stage: str, keep_upto: int) -> None:
        """Drop the lines a resumed stage will log again (those after its last checkpoint)."""
        if not self.metrics_path.is_file():
            return
        records = list(read_jsonl(self.metrics_path))
        kept = [r for r in records if not (r.get("stage") == stage and int(r.get("stage_step", 0)) > keep_upto)]
        if len(kept) != len(records):
            rewrite_jsonl(self.metrics_path, kept)


def config_changes(saved: dict, new: dict, prefix: str = "") -> list[str]:
    """The dotted keys whose value differs between two config dicts, as ``key: old -> new`` (``output`` aside:
    a moved run folder is the same run)."""
    out = []
    for key in sorted(set(saved) | set(new)):
        name = f"{prefix}{key}"
        a, b = saved.get(key), new.get(key)
        if name == "output":
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_changes(a, b, name + ".")
        elif a != b:
            out.append(f"{name}: {a!r} -> {b!r}")
    return out


def _first_whole(checkpoints: list[Path], clean: bool) -> Path | None:
    import sys

    from trainer.checkpoints import CheckpointError, damaged_file

    for i, checkpoint in enumerate(checkpoints):
        damage = damaged_file(checkpoint)
        if damage is None:
            return checkpoint
        path, why = damage
        if i + 1 == len(checkpoints):
            raise CheckpointError(
                f"{path}: {why}; no earlier checkpoint to resume from (start a new run, or restore the file)"
            )
        print(f"warning: {path}: {why}; resuming from {checkpoints[i + 1].name} instead", file=sys.stderr)
        if clean:  # a new save into this folder must not inherit the old COMPLETE marker
            shutil.rmtree(checkpoint, ignore_errors=True)
    return None


def default_output(role: str) -> Path:
    return Path("runs") / f"{role}-{time.strftime('%Y%m%d-%H%M%S')}"
