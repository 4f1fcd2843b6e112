"""The three roles trained end to end for a few steps on the micro model and a synthetic VQA-RAD folder.

Real TRL SFTTrainer / GRPOTrainer runs. The GRPO tests keep an entropy bonus on: with a random-init model the
accuracy reward is mostly flat (zero advantages), and the entropy term still gives every stage a gradient.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from transformers import TrainerCallback

from mmedtui.fileio import read_jsonl
from support.paths import SHARED_DATA, needs_shared_data

FAST = [
    "grpo.num_generations=2",
    "train.per_device_train_batch_size=2",
    "train.gradient_accumulation_steps=1",
    "grpo.max_completion_length=12",
    "data.image_max_side=64",
    "train.save_steps=100",
    "data.tasks=[vqa-rad]",
    "grpo.micro_batch=null",
    "grpo.prompts_per_step=null",
]  # the attending's 16 x 8 rollouts a step: too slow


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from trainer.testing import fake_vqa_rad, scripted_panel_file

    base = tmp_path_factory.mktemp("train")
    root = fake_vqa_rad(base / "data", per_kind=4)
    return {"root": root, "panel": scripted_panel_file(base / "panel.yaml"), "cache": base / "opinions.jsonl"}


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


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _changed(a, b) -> bool:
    return any(not a[k].equal(b[k]) for k in a)


def test_specialist_sft_changes_the_weights(world, tiny_model_dir, tmp_path, monkeypatch):
    import transformers.trainer_utils as tu

    from trainer.train import train

    rotate, newest_marked = tu.rotate_checkpoints, []

    def spying_rotate(output_dir, **kwargs):
        if not kwargs.get("save_total_limit"):  # a no-op call deletes nothing
            return rotate(output_dir, **kwargs)
        newest = max(Path(output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        newest_marked.append((newest / "COMPLETE").is_file())
        return rotate(output_dir, **kwargs)

    monkeypatch.setattr(tu, "rotate_checkpoints", spying_rotate)
    result = train(
        _cfg(
            "specialist",
            world,
            tiny_model_dir,
            3,
            "train.per_device_train_batch_size=4",
            "train.save_steps=1",
            "train.save_total_limit=1",
        ),
        tmp_path / "run",
    )
    assert _changed(_weights(tiny_model_dir), _weights(result.final))
    # Rotation runs after the commit marker: the one checkpoint kept is the newest, and it is trusted.
    assert newest_marked == [True, True, True]
    kept = sorted(p.name for p in (result.run_dir / "stages" / "sft").glob("checkpoint-*"))
    assert kept == ["checkpoint-3"] and (result.run_dir / "stages" / "sft" / kept[0] / "COMPLETE").is_file()
    assert result.final.stat().st_mode & 0o055  # a saved model folder is readable by others, not mkdtemp's 0700
    metrics = list(read_jsonl(result.run_dir / "metrics.jsonl"))
    assert [m["step"] for m in metrics] == [1, 2, 3] and {m["stage"] for m in metrics} == {"sft"}
    assert all(m["loss"] > 0 and m["accuracy"] is not None for m in metrics)
    assert (result.final / "README.md").read_text().count("vqa-rad") >= 1
    assert not (result.final / "training_args.bin").exists()  # no pickle next to the weights


def test_triage_grpo_changes_the_weights(world, tiny_model_dir, tmp_path):
    from trainer.train import train

    cfg = _cfg(
        "triage",
        world,
        tiny_model_dir,
        2,
        "grpo.entropy_coef=0.05",
        "triage.per_source=2",
        "triage.max_radiology=6",
        "sft.warmup_steps=2",
    )
    result = train(cfg, tmp_path / "run")
    assert _changed(_weights(tmp_path / "run" / "stages" / "warmup" / "final"), _weights(result.final))
    metrics = list(read_jsonl(result.run_dir / "metrics.jsonl"))
    assert [(m["stage"], m["step"]) for m in metrics] == [("warmup", 1), ("warmup", 2), ("triage", 3), ("triage", 4)]
    assert all(m["entropy_coef"] == 0.05 and m["beta"] == 0.0 and "accuracy" in m for m in metrics[2:])
    assert any("Ophthalmologist" in note for note in result.notes)  # scikit-image's fundus photograph


class CtrlCAt(TrainerCallback):
    """Sends this process a real SIGINT at the end of ``step`` of ``stage``."""

    def __init__(self, stage, step, current):
        self.fire = current == stage
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if self.fire and state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_attending_curriculum_stages_ctrl_c_and_resume(world, tiny_model_dir, tmp_path, monkeypatch, capsys):
    from mmedtui import cli
    from mmedtui.agents.panel import load_panel
    from mmedtui.consult import Case, Pipeline
    from trainer.stages import Interrupted
    from trainer.testing import draw_scan
    from trainer.train import train

    run = tmp_path / "run"
    cfg = _cfg("attending", world, tiny_model_dir, 6)
    with pytest.raises(Interrupted) as exc:  # Ctrl-C in the middle of the medium stage
        train(cfg, run, callbacks=[lambda stage, interrupt: CtrlCAt("medium", 1, stage.name)])
    assert exc.value.checkpoint == run / "stages" / "medium" / "checkpoint-1"
    assert (exc.value.checkpoint / "COMPLETE").is_file() and (exc.value.checkpoint / "model.safetensors").is_file()
    assert [m["step"] for m in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3]

    monkeypatch.setattr(sys, "argv", ["mmedtui", "train", "attending", "--resume", "--output", str(run)])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0, capsys.readouterr().err

    metrics = list(read_jsonl(run / "metrics.jsonl"))
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]  # the step count continued
    assert [m["stage"] for m in metrics] == ["easy", "easy", "medium", "medium", "hard", "hard"]
    assert [(m["entropy_coef"], m["beta"]) for m in metrics[::2]] == [(1e-5, 1e-3), (5e-4, 4e-3), (3e-3, 1e-2)]
    assert all(m["entropy"] > 0 and m["reward"] is not None for m in metrics)
    import json

    state = json.loads((run / "state.json").read_text())
    assert state["stages"]["medium"]["resumed_from"] == "stages/medium/checkpoint-1"
    assert all(state["stages"][s]["seconds"] >= 0 for s in ("easy", "medium", "hard"))  # each stage's wall time
    assert [state["stages"][s]["start"] for s in ("easy", "medium", "hard")] == [
        str(tiny_model_dir),
        "stages/easy/final",
        "stages/medium/final",
    ]
    assert state["curriculum"]["sizes"] == {"easy": 4, "medium": 4, "hard": 4}
    assert (run / "stages" / "easy" / "checkpoint-2" / "model.safetensors").is_file()
    assert _changed(_weights(tiny_model_dir), _weights(run / "final"))
    assert _changed(_weights(run / "stages" / "medium" / "final"), _weights(run / "final"))

    panel = load_panel(run / "panel.yaml")  # parse_panel underneath; the trained model plays the attending
    try:
        record = Pipeline(panel).run([Case(draw_scan(1), "Is there a alpha lesion in region 0?")])[0]
    finally:
        panel.close()
    assert type(panel.models["trained"]) is dict and panel.attending.model == "trained"
    assert record.attending is not None and record.attending.error in (None, "empty answer")
    assert [o.answer for o in record.specialists] == ["yes", "yes", "yes"]


def test_resume_refuses_another_role_and_a_fresh_run_refuses_a_used_folder(
    world, tiny_model_dir, tmp_path, monkeypatch, capsys
):
    from mmedtui import cli
    from mmedtui.errors import UserError
    from trainer.config import save_config
    from trainer.train import train

    run = tmp_path / "run"
    save_config(_cfg("triage", world, tiny_model_dir, 1), run)
    (run / "metrics.jsonl").write_text("")
    with pytest.raises(UserError, match="already lives here"):
        train(_cfg("triage", world, tiny_model_dir, 1), run)
    monkeypatch.setattr(sys, "argv", ["mmedtui", "train", "attending", "--resume", "--output", str(run)])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 2 and "trains the triage" in capsys.readouterr().err


@needs_shared_data(SHARED_DATA / "vqa-rad")
def test_real_training_items_never_include_test_or_mevf_rows():
    from trainer.config import load_config
    from trainer.data.images import ImageCache
    from trainer.data.items import load_items
    from trainer.data.rows import gold_text, sft_rows

    cfg = load_config(
        "specialist", "tiny", sets=["data.limit=null"], **{"data.root": str(SHARED_DATA), "data.tasks": ["vqa-rad"]}
    )
    items = load_items(cfg.data)
    assert len(items) == 1797 and {it.split for it in items} == {"train"}
    assert not any(str(it.meta.get("phrase_type", "")).startswith(("test", "frame")) for it in items)
    rows = sft_rows(items[:3], ImageCache(96))
    assert rows[0]["prompt"][1]["content"][0] == {"type": "image"}
    assert rows[0]["completion"][0]["content"][0]["text"].endswith(f"<answer>{gold_text(items[0])}</answer>")
    assert "Options:\nA. yes\nB. no" in rows[0]["prompt"][1]["content"][1]["text"]  # as the bench asks it


def test_one_stage_with_lora_merges_the_adapters(world, tiny_model_dir, tmp_path):
    from trainer.train import train

    cfg = _cfg(
        "attending",
        world,
        tiny_model_dir,
        2,
        "model.lora_target_modules=[q_proj, v_proj]",
        **{"model.lora": True, "curriculum.stages": ["hard"]},
    )
    result = train(cfg, tmp_path / "run")
    metrics = list(read_jsonl(result.run_dir / "metrics.jsonl"))
    assert [(m["stage"], m["entropy_coef"], m["beta"]) for m in metrics] == [("hard", 3e-3, 1e-2)] * 2
    base, final = _weights(tiny_model_dir), _weights(result.final)
    assert set(base) == set(final) and _changed(base, final)  # merged: the base model's keys, new values


def test_specialist_sft_with_the_answer_weighted_loss_trains(tmp_path, world, tiny_model_dir):
    from trainer.train import train

    result = train(
        _cfg(
            "specialist",
            world,
            tiny_model_dir,
            2,
            "train.per_device_train_batch_size=4",
            "sft.answer_weight=8",
            "data.closed_repeat=2",
        ),
        tmp_path / "run",
    )
    assert _changed(_weights(tiny_model_dir), _weights(result.final))
    metrics = list(read_jsonl(result.run_dir / "metrics.jsonl"))
    assert [m["step"] for m in metrics] == [1, 2] and all(m["loss"] > 0 for m in metrics)


def test_attending_validation_holds_cases_back_and_scores_every_stage(world, tiny_model_dir, tmp_path):
    import json

    from trainer.data.items import load_items
    from trainer.testing import GOLD
    from trainer.train import train
    from trainer.validation import in_validation

    cfg = _cfg("attending", world, tiny_model_dir, 3, "data.val_share=0.5", "curriculum.rehearsal=0.5")
    held = [it for it in load_items(cfg.data) if in_validation(it, 0.5, cfg.data_root)]
    kinds = [next(k for k in GOLD if k in it.question) for it in held]
    assert 0 < len(held) < 12
    train(cfg, tmp_path / "run")
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    curriculum = state["curriculum"]
    assert sum(curriculum["sizes"].values()) == 12 - len(held)  # held-back cases are not trained on
    assert curriculum["validation"]["cases"] == curriculum["validation"]["scored"] == len(held)
    # The scripted panel on the held cases (trainer/testing.py): every answer "yes" but B's "no" to beta;
    # gold yes for alpha only. Majority vote is right on alpha, B on alpha and beta.
    panel = curriculum["validation"]["panel"]
    n = len(held)
    assert panel["majority-vote"] == {"vqa-rad": {"n": n, "accuracy": round(100 * kinds.count("alpha") / n, 1)}}
    assert panel["specialist:Specialist B"]["vqa-rad"]["accuracy"] == round(
        100 * (kinds.count("alpha") + kinds.count("beta")) / n, 1
    )
    ran = [s for s in ("easy", "medium", "hard") if state["stages"][s]["status"] == "done"]
    assert ran
    sizes, stages = curriculum["sizes"], state["stages"]  # each later stage replays half its size of earlier cases
    assert stages["easy"]["rehearsed"] == 0
    assert stages["medium"]["rehearsed"] == min(sizes["easy"], round(sizes["medium"] / 2))
    assert stages["hard"]["rehearsed"] == min(sizes["easy"] + sizes["medium"], round(sizes["hard"] / 2))
    assert stages["hard"]["cases"] == sizes["hard"] + stages["hard"]["rehearsed"]
    for stage in ran:  # every stage that trained (one can be empty: all its cases held back) answered them
        figures = state["stages"][stage]["validation"]["vqa-rad"]
        assert figures["n"] == n and 0.0 <= figures["accuracy"] <= 100.0
        groups = state["stages"][stage]["validation_difficulty"]  # the same answers, per curriculum group
        assert sum(g["n"] for g in groups.values()) == n and set(groups) <= {"easy", "medium", "hard"}
    card = (tmp_path / "run" / "final" / "README.md").read_text()
    assert f"Training data ({12 - n} questions" in card
    assert f"this model: vqa-rad {figures['accuracy']:.1f} % (n={n})" in card and "majority-vote: vqa-rad" in card
