"""The trainer's fast parts: config resolution, curriculum, rewards, opinion cache, atomic files, CLI errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mmedtui.errors import ConfigError, DataError, UserError
from mmedtui.fileio import append_jsonl, read_jsonl
from trainer import curriculum, rewards
from trainer.config import load_config, load_run_config, parse_set, save_config
from trainer.data.items import PanelCase
from trainer.io import atomic_dir
from trainer.sections import StageSpec

REPO = Path(__file__).resolve().parents[1]


# --- config ---------------------------------------------------------------------------------------
def test_paper_profile_carries_the_papers_settings():
    cfg = load_config("attending", "paper")
    assert cfg.model.path == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert (cfg.grpo.num_generations, cfg.grpo.prompts_per_step, cfg.grpo.temperature) == (8, 128, 1.0)
    assert cfg.train.learning_rate == 1e-6 and cfg.train.bf16
    assert cfg.model.dtype == "float32"  # fp32 master weights: a 1e-6 step is lost to bf16 rounding
    assert cfg.stage_schedule() == [
        StageSpec("easy", 1e-4, 1e-3),
        StageSpec("medium", 5e-3, 4e-3),
        StageSpec("hard", 3e-2, 1e-2),
    ]


def test_tiny_profile_scales_the_papers_entropy_bonus_by_a_tenth():
    # A few-million-weight attending's token entropy is ~0.2: the paper's gamma outweighed its accuracy reward.
    tiny = load_config("attending", "tiny").stage_schedule()
    paper = load_config("attending", "paper").stage_schedule()
    assert [s.name for s in tiny] == [s.name for s in paper]
    assert [s.gamma for s in tiny] == pytest.approx([s.gamma / 10 for s in paper], rel=1e-9)
    assert [s.beta for s in tiny] == [s.beta for s in paper]  # the KL weights stay the paper's
    fixed = load_config("attending", "tiny", **{"curriculum.fixed_entropy": True}).stage_schedule()
    assert {s.gamma for s in fixed} == {tiny[1].gamma}  # fixed-entropy: the medium stage's, as in the paper


def test_tiny_profile_is_cpu_friendly_and_roles_get_their_section():
    att = load_config("attending", "tiny")
    spec = load_config("specialist", "tiny")
    assert att.train.use_cpu and not att.train.bf16 and not att.train.gradient_checkpointing
    assert att.grpo.max_completion_length <= 48
    # The attending's GRPO: the paper's G = 8, at least 16 prompts per step, zero-advantage groups dropped
    assert att.grpo.num_generations == 8 and att.grpo.prompts_per_step >= 16 and att.grpo.dynamic_sampling
    assert att.train.max_steps == -1 and att.train.num_train_epochs > 1  # every kept case seen more than once
    assert spec.train.learning_rate == 1e-3 != att.train.learning_rate


def test_precedence_profile_file_set_flags(tmp_path):
    cfg_file = tmp_path / "my.yaml"
    cfg_file.write_text("grpo: {temperature: 0.5}\ntrain: {max_steps: 9}\nroles: {attending: {grpo: {top_p: 0.9}}}\n")
    cfg = load_config(
        "attending",
        "tiny",
        cfg_file,
        ["grpo.temperature=0.7", "curriculum.gamma.hard=0.1"],
        **{"train.max_steps": 6, "curriculum.entropy": None},
    )
    assert cfg.grpo.temperature == 0.7 and cfg.grpo.top_p == 0.9 and cfg.train.max_steps == 6
    assert cfg.curriculum.gamma == {"easy": 1e-5, "medium": 5e-4, "hard": 0.1}
    save_config(cfg, tmp_path / "run")
    again = load_run_config(tmp_path / "run", **{"train.max_steps": 8})
    assert again.grpo.temperature == 0.7 and again.train.max_steps == 8


@pytest.mark.parametrize(
    "sets, message",
    [
        (["grpo.temprature=0.7"], "unknown config key grpo.temprature"),
        (["data.split=test"], "never reads a test split"),
        (["train.max_steps=many"], "train.max_steps: bad value"),
        (["curriculum.stages=[easy, extreme]"], "unknown stage 'extreme'"),
        (["grpo.num_generations=1"], "at least 2"),
        (["data.holdout=1.5"], "not in"),
        (["data.part=fit"], "needs data.holdout"),
        (["data.holdout=0.3", "data.part=half"], "not all, fit or holdout"),
        (["data.closed_repeat=0"], "not a positive count"),
        (["sft.answer_weight=0"], "not positive"),
        (["sft.solo_share=1.5"], "not a share"),
        (["data.val_share=1"], "leaves nothing to train"),
        (["curriculum.rehearsal=-0.5"], "not a share between 0 and 1"),
        (["triage.generic_share=2"], "generic_share: 2.0 is not a share"),
        (["model.tiny_size=huge"], "'huge' is not one of micro, micro-vision, small, base"),
    ],
)
def test_bad_config_is_a_user_error(sets, message):
    with pytest.raises(ConfigError, match=message):
        load_config("attending", "tiny", sets=sets)


def test_unknown_profile_and_missing_file():
    with pytest.raises(ConfigError, match="unknown profile 'huge'"):
        load_config("attending", "huge")
    with pytest.raises(ConfigError, match="not found"):
        load_config("attending", "tiny", "/nonexistent/cfg.yaml")
    assert parse_set(["a.b=[1, 2]", "c=x"]) == {"a": {"b": [1, 2]}, "c": "x"}


def test_ablation_switches_shape_the_schedule():
    assert load_config("attending", "tiny", **{"curriculum.entropy": False}).stage_schedule() == [
        StageSpec("easy", 0.0, 1e-3),
        StageSpec("medium", 0.0, 4e-3),
        StageSpec("hard", 0.0, 1e-2),
    ]
    assert load_config("attending", "tiny", **{"curriculum.enabled": False}).stage_schedule() == [
        StageSpec("all", 5e-4, 4e-3)
    ]
    assert load_config("attending", "tiny", **{"curriculum.stages": ["hard"]}).stage_schedule() == [
        StageSpec("hard", 3e-3, 1e-2)
    ]
    assert [
        s.name for s in load_config("attending", "tiny", **{"curriculum.stages": ["easy", "medium"]}).stage_schedule()
    ] == ["easy", "medium"]


# --- curriculum -----------------------------------------------------------------------------------
def _item(answer="yes", kind="closed", split="train", task="vqa-rad"):
    from mmedtui.tasks.base import ImageRef, Item

    return Item(task, split, "1", "Is there a lesion?", answer, kind, None, None, "Radiologist", ImageRef(()), {})


def _ops(*answers):
    from mmedtui.agents.roles import Opinion

    return [Opinion(f"S{i}", "Radiologist", a, error=None if a else "empty answer") for i, a in enumerate(answers)]


def test_curriculum_split_by_how_many_specialists_are_right():
    cases = [
        PanelCase(_item("yes"), _ops("yes", "Yes.", "yes")),
        PanelCase(_item("yes"), _ops("yes", "no", "")),
        PanelCase(_item("no"), _ops("yes", "yes", "yes")),
        PanelCase(_item("no"), _ops("", "", "")),
    ]
    groups = curriculum.split(cases, min_specialists=1)
    assert curriculum.sizes(groups) == {"easy": 1, "medium": 1, "hard": 1}  # the all-failed case is left out
    assert curriculum.by_task(groups) == {"vqa-rad": {"easy": 1, "medium": 1, "hard": 1}}


def test_step_plan_spreads_the_budget_over_live_stages():
    stages = ["easy", "medium", "hard"]
    assert curriculum.plan_steps(6, stages, {"easy": 5, "medium": 5, "hard": 5}) == {"easy": 2, "medium": 2, "hard": 2}
    assert curriculum.plan_steps(7, stages, {"easy": 5, "medium": 0, "hard": 5}) == {"easy": 4, "medium": 0, "hard": 3}
    assert curriculum.plan_steps(-1, stages, {"easy": 5, "medium": 5, "hard": 0})["hard"] == 0


def test_rehearsal_replays_a_share_of_the_earlier_stages_only():
    import random

    groups = {"easy": list(range(10)), "medium": list(range(10, 14)), "hard": list(range(20, 30))}
    rng = random.Random(0)
    assert curriculum.rehearse(groups, [], 10, 0.5, rng) == []  # the first stage has nothing to replay
    medium = curriculum.rehearse(groups, ["easy"], 4, 0.5, rng)
    assert len(medium) == 2 and set(medium) <= set(groups["easy"])
    hard = curriculum.rehearse(groups, ["easy", "medium"], 10, 0.5, rng)
    assert len(hard) == 5 and set(hard) <= set(range(14)) and len(set(hard)) == 5
    assert len(curriculum.rehearse(groups, ["medium"], 10, 1.0, rng)) == 4  # never more than there are
    assert curriculum.rehearse(groups, ["easy"], 10, 0.0, rng) == []
    # "earlier" is the whole curriculum's order, so a run of --stage medium,hard from the easy model still
    # replays easy cases; the reversed curriculum replays hard ones
    assert curriculum.before("medium") == ["easy"] and curriculum.before("hard") == ["easy", "medium"]
    assert curriculum.before("medium", reverse=True) == ["hard"] and curriculum.before("all") == []


def test_balance_yes_no_draws_each_tasks_common_answer_down_to_the_rare_ones_count():
    import random
    from dataclasses import replace

    def case(task, answer, options=("yes", "no")):
        return PanelCase(replace(_item(answer, task=task), options=list(options)))

    cases = (
        [case("vqa-rad", "yes")] * 22
        + [case("vqa-rad", "no")] * 7
        + [case("slake", "Yes", ("Yes", "No"))] * 5
        + [case("slake", "No", ("No", "Yes"))] * 9
        + [case("slake", "CT", ("CT", "MRI"))] * 4  # not a yes / no question: kept
        + [case("path", "yes")] * 3  # one answer only: nothing to balance against, kept
    )
    kept = curriculum.balance_yes_no(cases, random.Random(0))
    count = Counter((c.item.task, c.item.answer.lower()) for c in kept)
    assert count == {
        ("vqa-rad", "yes"): 7,
        ("vqa-rad", "no"): 7,
        ("slake", "yes"): 5,
        ("slake", "no"): 5,
        ("slake", "ct"): 4,
        ("path", "yes"): 3,
    }
    again = curriculum.balance_yes_no(cases, random.Random(0))
    assert [id(c) for c in again] == [id(c) for c in kept]  # the same draws from the same seed
    assert load_config("attending", "tiny").curriculum.balance_yes_no  # the tiny profile balances
    assert not load_config("attending", "paper").curriculum.balance_yes_no  # the paper's does not


# --- rewards --------------------------------------------------------------------------------------
def test_rewards_format_accuracy_and_department():
    from trainer.data.items import item_json

    good = [{"role": "assistant", "content": "<think>CT of the chest</think><answer>Yes</answer>"}]
    bare = [{"role": "assistant", "content": "no"}]
    item = item_json(_item("yes"))
    assert rewards.format_reward([good, bare]) == [0.5, 0.0]
    assert rewards.accuracy_reward([good, bare], item=[item, item]) == [1.0, 0.0]
    depts = json.dumps(["Pathologist", "Radiologist"])
    answers = [
        "<think>x</think><answer>Radiology</answer>",
        "<think>x</think><answer>Radiologist or Pathologist</answer>",
        "<think>x</think><answer>Pathologist</answer>",
    ]
    assert rewards.department_reward(answers, department=["Radiologist"] * 3, departments=[depts] * 3) == [
        1.0,
        0.0,
        0.0,
    ]


# --- opinions -------------------------------------------------------------------------------------
def _fake_items(tmp_path, split="train"):
    from trainer.data.items import load_items
    from trainer.testing import fake_vqa_rad

    root = fake_vqa_rad(tmp_path / "data", per_kind=2)
    cfg = load_config("attending", "tiny", **{"data.root": str(root), "data.tasks": ["vqa-rad"]})
    return cfg, load_items(cfg.data)


def test_opinions_are_cached_resumable_and_never_from_test(tmp_path):
    from mmedtui.agents.panel import load_panel
    from trainer.data.images import ImageCache
    from trainer.opinions import OpinionStore, collect
    from trainer.testing import scripted_panel_file

    cfg, items = _fake_items(tmp_path)
    assert {it.split for it in items} == {"train"} and len(items) == 6  # the 3 test rows are never loaded
    panel = load_panel(scripted_panel_file(tmp_path / "panel.yaml"))
    store = OpinionStore(tmp_path / "op.jsonl")
    first = collect(items[:4], panel, store, ImageCache(64))  # "interrupted" after 4 cases
    assert len(first) == 4 and len(panel.backend("s0").calls) == 4
    again = collect(items, panel, OpinionStore(tmp_path / "op.jsonl"), ImageCache(64))
    assert len(again) == 6 and len(panel.backend("s0").calls) == 6  # only the 2 missing cases were asked
    assert all(again[f"vqa-rad/train/{it.id}"].item is it for it in items)
    groups = curriculum.split(again.values())
    assert curriculum.sizes(groups) == {"easy": 2, "medium": 2, "hard": 2}
    test_item = _item(split="test")
    with pytest.raises(DataError, match="never reads a test split"):
        collect([test_item], panel, store, ImageCache(64))


def test_cached_opinions_keep_their_validity_and_older_entries_are_asked_again(tmp_path):
    import json

    from mmedtui.agents.panel import load_panel
    from trainer.data.images import ImageCache
    from trainer.opinions import OpinionStore, collect
    from trainer.testing import scripted_panel_file

    _, items = _fake_items(tmp_path)
    closed = [it for it in items if it.kind == "closed"][:1]  # asked with yes / no
    panel = load_panel(scripted_panel_file(tmp_path / "panel.yaml"))
    panel.models["s0"] = {"backend": "scripted", "replies": ["<answer>Paratracheal area</answer>"]}
    path = tmp_path / "op.jsonl"
    [fresh] = [c.opinions for c in collect(closed, panel, OpinionStore(path), ImageCache(64)).values()]
    [cached] = [c.opinions for c in collect(closed, panel, OpinionStore(path), ImageCache(64)).values()]
    assert len(panel.backend("s0").calls) == 1  # the second run read the cache
    assert [(o.valid, o.invalid) for o in cached] == [(o.valid, o.invalid) for o in fresh]
    assert not cached[0].valid and cached[0].invalid == "names no option"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "valid"}) + "\n" for r in lines))
    collect(closed, panel, OpinionStore(path), ImageCache(64))
    assert len(panel.backend("s0").calls) == 2  # an entry written before validity is computed again


def test_backend_failures_are_not_cached(tmp_path):
    from mmedtui.agents.panel import load_panel
    from trainer.data.images import ImageCache
    from trainer.opinions import OpinionStore, collect
    from trainer.testing import scripted_panel_file

    _, items = _fake_items(tmp_path)
    path = scripted_panel_file(tmp_path / "panel.yaml")
    panel = load_panel(path)
    panel.models["s1"] = {"backend": "scripted", "error": "timeout"}
    collect(items[:1], panel, OpinionStore(tmp_path / "op.jsonl"), ImageCache(64))
    kinds = [r["kind"] for r in read_jsonl(tmp_path / "op.jsonl")]
    assert kinds == ["triage", "specialist", "specialist"]  # s1's timeout is asked again next time


# --- files ----------------------------------------------------------------------------------------
def test_jsonl_ignores_a_torn_line_and_atomic_dir_keeps_the_old_on_failure(tmp_path):
    path = tmp_path / "m.jsonl"
    append_jsonl(path, [{"a": 1}])
    with open(path, "a") as fh:
        fh.write('{"a": 2')  # a writer killed mid-line
    append_jsonl(path, [{"a": 3}])
    assert [r["a"] for r in read_jsonl(path)] == [1, 3]
    target = tmp_path / "final"
    with atomic_dir(target) as tmp:
        (tmp / "w").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_dir(target) as tmp:
            (tmp / "w").write_text("new")
            raise RuntimeError("killed while saving")
    assert (target / "w").read_text() == "old" and not list(tmp_path.glob(".final*"))


def test_plot_renders_reward_accuracy_entropy_per_stage(tmp_path):
    from trainer.plot import render

    append_jsonl(
        tmp_path / "metrics.jsonl",
        [
            {"stage": s, "step": i, "reward": 0.1 * i, "accuracy": 0.05 * i, "entropy": 3 - 0.1 * i}
            for i, s in enumerate(["easy", "easy", "medium", "medium", "hard", "hard"], 1)
        ],
    )
    text = render(tmp_path, width=80, height=14)
    assert "reward" in text and "entropy" in text and "hard" in text
    with pytest.raises(UserError):
        render(tmp_path / "nope")


# --- CLI ------------------------------------------------------------------------------------------
def _main(monkeypatch, capsys, *argv) -> tuple[int, str]:
    from mmedtui import cli

    monkeypatch.setattr(sys, "argv", ["mmedtui", *argv])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    return exc.value.code, capsys.readouterr().err


def test_cli_bad_input_exits_2_with_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("MMEDTUI_DATA", raising=False)
    code, err = _main(
        monkeypatch,
        capsys,
        "train",
        "attending",
        "--data-root",
        str(tmp_path / "missing"),
        "--output",
        str(tmp_path / "run"),
    )
    assert code == 2 and "data root not found" in err and len(err.strip().splitlines()) == 1
    code, err = _main(monkeypatch, capsys, "train", "triage", "--profile", "huge")
    assert code == 2 and "'huge' is not one of 'tiny', 'paper'" in err
    code, err = _main(monkeypatch, capsys, "train", "attending", "--resume", "--output", str(tmp_path / "none"))
    assert code == 2 and "nothing to resume" in err
    code, err = _main(monkeypatch, capsys, "train", "plot", str(tmp_path))
    assert code == 2 and "no metrics" in err


def test_train_help_does_not_import_torch():
    code = (
        "import sys; from typer.testing import CliRunner; from mmedtui.cli.train import app; "
        "r = CliRunner().invoke(app, ['attending', '--help']); "
        "assert r.exit_code == 0 and '--no-curriculum' in r.output, r.output; "
        "assert 'torch' not in sys.modules and 'trl' not in sys.modules; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_shipped_accelerate_configs_parse():
    import yaml

    names = {p.stem for p in (REPO / "trainer" / "recipes" / "accelerate").glob("*.yaml")}
    assert names >= {"single_gpu", "ddp", "zero2", "zero3", "fsdp"}
    for p in (REPO / "trainer" / "recipes" / "accelerate").glob("*.yaml"):
        assert isinstance(yaml.safe_load(p.read_text()), dict)


def test_cli_opinions_prints_the_split_and_refuses_test(monkeypatch, capsys, tmp_path):
    from trainer.testing import fake_vqa_rad, scripted_panel_file

    root = fake_vqa_rad(tmp_path / "data", per_kind=2)
    panel = scripted_panel_file(tmp_path / "panel.yaml")
    args = [
        "train",
        "opinions",
        "--data-root",
        str(root),
        "--panel",
        str(panel),
        "--opinions",
        str(tmp_path / "op.jsonl"),
        "--tasks",
        "vqa-rad",
    ]
    monkeypatch.setattr(sys, "argv", ["mmedtui", *args])
    from mmedtui import cli

    with pytest.raises(SystemExit) as exc:
        cli.main()
    out = capsys.readouterr().out
    assert exc.value.code == 0 and "easy" in out and "vqa-rad" in out
    assert len(list(read_jsonl(tmp_path / "op.jsonl"))) == 6 * 4  # 6 cases x (triage + 3 specialists)
    code, err = _main(monkeypatch, capsys, *args, "--split", "test")
    assert code == 2 and "test split" in err


def test_paper_profile_builds_trl_configs(tmp_path, monkeypatch):
    from trainer.grpo import grpo_args
    from trainer.sft import sft_args

    cpu = ["train.bf16=false", "train.use_cpu=true"]  # this machine has no GPU; the field names are what counts
    cfg = load_config("attending", "paper", sets=cpu)
    hard = cfg.stage_schedule()[2]
    args = grpo_args(cfg, tmp_path, -1, hard.gamma, hard.beta)
    assert (args.num_generations, args.learning_rate, args.temperature) == (8, 1e-6, 1.0)
    assert (args.entropy_coef, args.beta) == (3e-2, 1e-2)
    assert args.per_device_train_batch_size * args.gradient_accumulation_steps == 128 * 8  # 128 prompts
    assert args.steps_per_generation == 16 and args.generation_batch_size == 128  # rollouts in 8 calls
    import trainer.grpo

    monkeypatch.setattr(trainer.grpo, "world_size", lambda: 8)
    assert trainer.grpo.gradient_accumulation(cfg) == 16  # 8 GPUs x 8 completions x 16 = 128 prompts x 8
    assert sft_args(load_config("specialist", "paper", sets=cpu), tmp_path, -1).learning_rate == 1e-5
    with pytest.raises(ConfigError, match="vLLM is not installed"):
        grpo_args(load_config("attending", "paper", sets=cpu + ["grpo.use_vllm=true"]), tmp_path, -1, 0.0, 0.0)


def test_a_failed_triage_is_not_cached(tmp_path, scan_image):
    """A transient triage failure must be asked again, not frozen into the opinion cache as its fallback."""
    from mmedtui.tasks.base import ImageRef, ImageSource, Item
    from support.panels import scripted_panel
    from trainer.data.images import ImageCache
    from trainer.opinions import Collector, OpinionStore

    scan_image.save(tmp_path / "scan.png")
    panel = scripted_panel()
    panel.models["triage"] = {"backend": "scripted", "error": "timeout after 3 tries"}
    item = Item(
        "vqa-rad",
        "train",
        "1",
        "Is it normal?",
        "yes",
        "closed",
        None,
        None,
        "Radiologist",
        ImageRef([ImageSource(name="scan.png", path=tmp_path / "scan.png")]),
        {},
    )
    store = OpinionStore(tmp_path / "op.jsonl")
    Collector(panel, store, ImageCache(None)).run([item])
    kinds = [line["kind"] for line in map(__import__("json").loads, (tmp_path / "op.jsonl").read_text().splitlines())]
    assert "triage" not in kinds and kinds.count("specialist") == 3


def test_no_checkpoint_at_a_stages_last_step_when_checkpoints_are_not_kept():
    from types import SimpleNamespace

    from transformers import TrainerControl

    from trainer.callbacks import SkipLastCheckpoint

    for step, kept in ((3, True), (4, False)):
        control = TrainerControl(should_save=True)
        SkipLastCheckpoint().on_step_end(None, SimpleNamespace(global_step=step, max_steps=4), control)
        assert control.should_save is kept


def test_a_tower_of_another_size_is_refused_before_any_data_is_read(tmp_path):
    (tmp_path / "vision.json").write_text(json.dumps({"tiny_size": "micro"}))
    with pytest.raises(ConfigError, match=r"is 'micro', the model 'small' \(pass --set model.tiny_size=micro\)"):
        load_config("specialist", "tiny", **{"model.vision_init": str(tmp_path)})
    cfg = load_config("specialist", "tiny", **{"model.vision_init": str(tmp_path), "model.tiny_size": "micro"})
    assert cfg.model.tiny_size == "micro"
