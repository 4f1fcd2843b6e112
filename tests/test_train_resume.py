"""``--resume`` continues where the run stopped: an interrupted-and-resumed run ends at the weights of an
uninterrupted one (SFT and a GRPO stage), and a resume that cannot be faithful stops with one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import TrainerCallback

from mmedtui.fileio import read_jsonl

FAST = [
    "grpo.num_generations=2",
    "train.per_device_train_batch_size=2",
    "train.gradient_accumulation_steps=1",
    "grpo.max_completion_length=8",
    "data.image_max_side=64",
    "train.save_steps=2",
    "data.tasks=[vqa-rad]",
    "train.lr_scheduler_type=constant",
    "train.warmup_ratio=0",
    "train.learning_rate=1e-3",
    "grpo.entropy_coef=0.05",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from trainer.testing import fake_vqa_rad, scripted_panel_file

    base = tmp_path_factory.mktemp("resume")
    return {
        "root": fake_vqa_rad(base / "data", per_kind=4),
        "panel": scripted_panel_file(base / "panel.yaml"),
        "cache": base / "opinions.jsonl",
    }


def _cfg(role, world, model_dir, max_steps, *sets, **flags):
    from trainer.config import load_config

    return load_config(
        role,
        "tiny",
        sets=FAST + list(sets),
        **{
            "data.root": str(world["root"]),
            "model.path": str(model_dir),
            "train.max_steps": max_steps,
            "opinions.panel": str(world["panel"]),
            "opinions.cache": str(world["cache"]),
            **flags,
        },
    )


class StopAt(TrainerCallback):
    """Asks for the Ctrl-C stop (checkpoint, then Interrupted) at the end of ``step``."""

    def __init__(self, interrupt, step):
        self.interrupt, self.step = interrupt, step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            self.interrupt.request()


def _weights(folder: Path):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _interrupted_then_resumed(cfg, run: Path, step: int, in_stage: str | None = None):
    """Stop at ``step`` of the stage ``in_stage`` (default: the first stage that reaches it), then resume."""
    from trainer.stages import Interrupted
    from trainer.train import train

    def stop(stage, interrupt):
        return StopAt(interrupt, step if in_stage in (None, getattr(stage, "name", stage)) else -1)

    with pytest.raises(Interrupted):
        train(cfg, run, callbacks=[stop])
    return train(cfg, run, resume=True)


def _max_gap(a: dict, b: dict) -> float:
    assert set(a) == set(b)
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.mark.parametrize(
    "role, steps, stop, flags",
    [
        ("specialist", 4, 2, {}),
        ("triage", 4, 3, {"sft.warmup_steps": 4}),  # SFT warm-up, then GRPO: stopped inside the warm-up
        ("attending", 4, 2, {"curriculum.stages": ["hard"]}),  # one GRPO stage
        # four cases, one a step: the run is in its third pass when it stops, and must pick that pass's order up
        ("attending", 12, 9, {"curriculum.stages": ["hard"], "grpo.dynamic_sampling": False}),
        # two curriculum stages, stopped inside the second: the first stage's final model is where it restarts
        (
            "attending",
            4,
            1,
            {"curriculum.stages": ["easy", "hard"], "grpo.dynamic_sampling": False, "_stop_in": "hard"},
        ),
    ],
    ids=["sft", "triage", "grpo", "grpo-later-epoch", "second-stage"],
)
def test_a_resumed_run_ends_at_the_uninterrupted_weights(
    world, tiny_model_dir, tmp_path, monkeypatch, role, steps, stop, flags
):
    from trainer import grpo
    from trainer.train import train

    epochs = []  # the Trainer must set each epoch's order, or every pass would repeat the first one's
    set_epoch = grpo.EpochSeeded.set_epoch
    monkeypatch.setattr(grpo.EpochSeeded, "set_epoch", lambda self, e: (epochs.append(e), set_epoch(self, e)))
    in_stage = flags.pop("_stop_in", None)
    cfg = _cfg(role, world, tiny_model_dir, steps, **flags)
    whole = train(cfg, tmp_path / "whole")
    resumed = _interrupted_then_resumed(cfg, tmp_path / "cut", stop, in_stage)
    start, end = _weights(tiny_model_dir), _weights(whole.final)
    assert _max_gap(start, end) > 1e-3  # training moved the weights, so matching them means something
    assert _max_gap(end, _weights(resumed.final)) < 1e-5
    losses = [[m["loss"] for m in read_jsonl(r / "metrics.jsonl")] for r in (whole.run_dir, resumed.run_dir)]
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)  # the first resumed step included
    if steps > 4:  # several passes over the cases, each ordered by its own epoch number
        assert len(set(epochs)) >= 3, epochs


def test_each_epoch_has_its_own_order_whatever_came_before():
    from trl.trainer.utils import RepeatSampler

    from trainer.grpo import EpochSeeded

    sampler = EpochSeeded(RepeatSampler(list(range(16)), mini_repeat_count=1, shuffle=True, seed=3))
    orders = {}
    for epoch in (0, 1, 2, 2, 0):
        sampler.set_epoch(epoch)
        orders.setdefault(epoch, []).append(list(sampler))
    assert all(a == b for a, *rest in orders.values() for b in rest)  # the same epoch, the same order
    assert len({tuple(o[0]) for o in orders.values()}) == 3


def test_weights_that_do_not_fit_the_model_stop_the_resume(world, tiny_model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    from trainer.checkpoints import CheckpointError

    cfg = _cfg("specialist", world, tiny_model_dir, 4)
    from trainer.stages import Interrupted
    from trainer.train import train

    run = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(cfg, run, callbacks=[lambda stage, interrupt: StopAt(interrupt, 2)])
    weights = run / "stages" / "sft" / "checkpoint-2" / "model.safetensors"
    tensors = load_file(str(weights))
    tensors["model.language_model.extra"] = tensors.pop(sorted(tensors)[0])  # a renamed key
    save_file(tensors, str(weights), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="1 checkpoint weight.*unknown to the model"):
        train(cfg, run, resume=True)


def test_a_damaged_checkpoint_gives_way_to_the_one_before(world, tiny_model_dir, tmp_path, capsys):
    import json

    from trainer.checkpoints import CheckpointError
    from trainer.stages import Interrupted
    from trainer.train import train

    cfg = _cfg("specialist", world, tiny_model_dir, 6)
    run = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(cfg, run, callbacks=[lambda stage, interrupt: StopAt(interrupt, 4)])
    folder = run / "stages" / "sft"
    optimizer = folder / "checkpoint-4" / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:1000])  # a copy cut short
    capsys.readouterr()
    train(cfg, run, resume=True)
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warning == [f"warning: {optimizer}: truncated or not a torch file; resuming from checkpoint-2 instead"]
    state = json.loads((run / "state.json").read_text())
    assert state["stages"]["sft"]["resumed_from"] == "stages/sft/checkpoint-2"
    assert [m["stage_step"] for m in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3, 4, 5, 6]

    run2 = tmp_path / "run2"  # the only checkpoint is damaged: nothing faithful to resume from
    with pytest.raises(Interrupted):
        train(cfg, run2, callbacks=[lambda stage, interrupt: StopAt(interrupt, 2)])
    (run2 / "stages" / "sft" / "checkpoint-2" / "trainer_state.json").write_text('{"global_step": 2, "log')
    with pytest.raises(CheckpointError, match="trainer_state.json: not valid JSON; no earlier checkpoint"):
        train(cfg, run2, resume=True)


# --- the command line ------------------------------------------------------------------------------
class SignalAt(TrainerCallback):
    """Sends this process a real ``signum`` at the end of ``step``."""

    def __init__(self, signum, step):
        self.signum, self.step = signum, step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            import os

            os.kill(os.getpid(), self.signum)


def _cli(monkeypatch, capsys, *args) -> tuple[int, str]:
    import sys

    from mmedtui import cli

    monkeypatch.setattr(sys, "argv", ["mmedtui", "train", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        cli.main()
    return done.value.code, capsys.readouterr().err


def _specialist_args(world, tiny_model_dir, run, *more):
    sets = [a for s in FAST for a in ("--set", s)]
    return [
        "specialist",
        "--data-root",
        str(world["root"]),
        "--model",
        str(tiny_model_dir),
        "--output",
        str(run),
        *sets,
        *more,
    ]


def test_max_steps_below_one_is_refused(monkeypatch, capsys, tmp_path):
    code, err = _cli(monkeypatch, capsys, "specialist", "--max-steps", "-5", "--output", str(tmp_path / "r"))
    assert code == 2 and err.strip() == "mmedtui: --max-steps: must be at least 1 (got -5)"
    assert not (tmp_path / "r").exists()


def test_sigterm_checkpoints_and_a_changed_config_needs_force(world, tiny_model_dir, tmp_path, monkeypatch, capsys):
    import functools
    import json
    import signal

    import trainer.train

    run = tmp_path / "run"
    monkeypatch.setattr(
        trainer.train,
        "train",
        functools.partial(trainer.train.train, callbacks=[lambda stage, interrupt: SignalAt(signal.SIGTERM, 2)]),
    )
    code, err = _cli(monkeypatch, capsys, *_specialist_args(world, tiny_model_dir, run, "--max-steps", "4"))
    assert code == 143, err
    state = json.loads((run / "state.json").read_text())
    assert (state["status"], state["stopped_by"]) == ("stopped", "SIGTERM")
    assert (run / "stages" / "sft" / "checkpoint-2" / "COMPLETE").is_file()
    monkeypatch.undo()
    config = (run / "config.yaml").read_text()

    code, err = _cli(
        monkeypatch, capsys, "specialist", "--resume", "--output", str(run), "--set", "train.learning_rate=0.5"
    )
    assert code == 2 and "train.learning_rate: 0.001 -> 0.5" in err and "--force-config" in err
    assert len(err.strip().splitlines()) == 1 and (run / "config.yaml").read_text() == config
    code, err = _cli(monkeypatch, capsys, "specialist", "--resume", "--output", str(run), "--profile", "paper")
    assert code == 2 and "profile: 'tiny' -> 'paper'" in err

    # The original command line again resumes as it is; --force-config takes a change and records it.
    code, err = _cli(
        monkeypatch,
        capsys,
        *_specialist_args(world, tiny_model_dir, run, "--max-steps", "4", "--resume", "--profile", "tiny"),
    )
    assert code == 0, err
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "done" and "stopped_by" not in state and "config_changes" not in state
    assert [m["stage_step"] for m in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3, 4]

    code, err = _cli(monkeypatch, capsys, "specialist", "--resume", "--output", str(run), "--max-steps", "9")
    assert code == 0 and err.startswith("nothing to do: ") and "has finished" in err
    assert (run / "config.yaml").read_text() == config  # nothing recorded


def test_force_config_records_the_change(world, tiny_model_dir, tmp_path, monkeypatch, capsys):
    import json

    from trainer.stages import Interrupted
    from trainer.train import train

    run = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(
            _cfg("specialist", world, tiny_model_dir, 4), run, callbacks=[lambda stage, interrupt: StopAt(interrupt, 2)]
        )
    code, err = _cli(
        monkeypatch, capsys, "specialist", "--resume", "--output", str(run), "--max-steps", "3", "--force-config"
    )
    assert code == 0, err
    state = json.loads((run / "state.json").read_text())
    assert [c["changes"] for c in state["config_changes"]] == [["train.max_steps: 4 -> 3"]]
    assert "max_steps: 3" in (run / "config.yaml").read_text()
    assert [m["stage_step"] for m in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3]


def test_a_finished_stage_keeps_its_record_when_a_resumed_run_plans_it_differently(tmp_path):
    """A run resumed with changed settings (e.g. ``--force-config``) re-plans its stages; a stage already done
    was trained on what its record says, so neither its case count nor its rows are rewritten."""
    from types import SimpleNamespace

    from trainer.run import RunDir
    from trainer.stages import Stage, run_stages

    run = RunDir(tmp_path / "run")
    (run.stage_dir("warmup") / "final").mkdir(parents=True)
    record = {"status": "done", "final": "stages/warmup/final", "steps": 5, "cases": 1841, "rows": 1841}
    run.save_state({"stages": {"warmup": dict(record)}})

    def never(*args):
        raise AssertionError("a finished stage was trained again")

    warmup = Stage("warmup", list(range(1770)), max_steps=5, info={"rows": 1770, "kind": "sft"})
    final = run_stages(SimpleNamespace(role="attending"), run, [warmup], tmp_path / "start", never)
    assert final == run.stage_dir("warmup") / "final"
    assert run.load_state()["stages"]["warmup"] == record
