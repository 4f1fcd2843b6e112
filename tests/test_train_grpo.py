"""The attending's GRPO machinery: dynamic sampling before each stage, the curriculum / entropy ablations, and
their record in config.yaml, state.json, metrics.jsonl and the model card. Real TRL runs on the micro model."""

from __future__ import annotations

import json
import sys
import zlib

import pytest

from mmedtui.fileio import read_jsonl

SMALL = [
    "grpo.num_generations=2",
    "grpo.prompts_per_step=2",
    "grpo.micro_batch=4",
    "grpo.max_completion_length=10",
    "data.image_max_side=64",
    "train.save_steps=100",
    "data.tasks=[vqa-rad]",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from trainer.testing import fake_vqa_rad, scripted_panel_file

    base = tmp_path_factory.mktemp("grpo")
    return {
        "root": fake_vqa_rad(base / "data", per_kind=4),
        "panel": scripted_panel_file(base / "panel.yaml"),
        "cache": base / "opinions.jsonl",
    }


def _cfg(world, model_dir, *sets, **flags):
    from trainer.config import load_config

    return load_config(
        "attending",
        "tiny",
        sets=SMALL + list(sets),
        **{
            "data.root": str(world["root"]),
            "model.path": str(model_dir),
            "opinions.panel": str(world["panel"]),
            "opinions.cache": str(world["cache"]),
            **flags,
        },
    )


# --- the filter's decision ----------------------------------------------------------------------
def test_decide_keeps_only_groups_whose_rewards_differ_and_reports_pass_rates():
    from trainer.dynamic_sampling import decide

    groups = [
        ([1.5, 1.5, 1.5], [1, 1, 1]),  # all right: dropped
        ([0.5, 1.5, 0.5], [0, 1, 0]),  # informative
        ([0.0, 0.0, 0.0], [0, 0, 0]),  # all wrong, no format: dropped
        ([0.0, 0.5, 0.5], [0, 0, 0]),
    ]  # only the format differs: informative (a non-zero advantage)
    result = decide(groups)
    assert result.keep == [1, 3] and result.dropped == 2 and not result.fallback
    summary = result.summary()
    assert summary["groups_filtered"] == 2 and summary["kept"] == 2 and summary["cases"] == 4
    assert summary["all_right"] == 1 and summary["all_wrong"] == 2
    assert summary["mean_pass_rate"] == pytest.approx((1 + 1 / 3) / 4, abs=1e-4)


def test_decide_falls_back_to_every_case_when_none_is_informative():
    from trainer.dynamic_sampling import decide

    result = decide([([0.5, 0.5], [0, 0]), ([0.5, 0.5], [0, 0])])
    assert result.fallback and result.keep == [0, 1] and result.dropped == 0


@pytest.mark.parametrize("n,per_call,world", [(10, 3, 1), (10, 3, 2), (7, 4, 3), (1, 8, 2)])
def test_shard_gives_every_process_the_same_calls_and_covers_every_case(n, per_call, world):
    from trainer.dynamic_sampling import _shard

    shards = [_shard(n, per_call, world, rank) for rank in range(world)]
    assert len({len(s) for s in shards}) == 1  # the same number of collective calls everywhere
    assert all(len(call) == per_call for s in shards for call in s)
    assert set(range(n)) == {i for s in shards for call in s for i in call}


# --- the filter on a real GRPOTrainer -------------------------------------------------------------
def _varying_reward(completions, item, **_):
    """Constant for the alpha questions, a hash of the sampled text for the others."""
    from trainer.rewards import completion_text

    return [
        1.0 if "alpha" in json.loads(it)["question"] else zlib.crc32(completion_text(c).encode()) % 997 / 997
        for c, it in zip(completions, item)
    ]


def _no_format_reward(completions, **_):
    return [0.0] * len(completions)


def test_filter_samples_with_the_stage_trainer_keeps_the_varying_cases_and_is_reused_on_resume(
    world, tiny_model_dir, tmp_path, monkeypatch
):
    from trainer import dynamic_sampling
    from trainer.data.images import ImageCache
    from trainer.data.items import PanelCase, load_items
    from trainer.data.rows import attending_rows, to_dataset
    from trainer.grpo import make_grpo_trainer
    from trainer.stages import Stage

    cfg = _cfg(world, tiny_model_dir, "grpo.num_generations=4", "grpo.micro_batch=8")
    items = load_items(cfg.data)
    rows = attending_rows([PanelCase(it, stage="easy") for it in items], ImageCache(64))
    stage = Stage("easy", to_dataset(rows), 0.0, 0.0, 1)
    trainer = make_grpo_trainer(cfg, [_no_format_reward, _varying_reward])(stage, tiny_model_dir, tmp_path / "easy", 1)
    varying = [i for i, it in enumerate(items) if "alpha" not in it.question]
    assert len(trainer.train_dataset) == len(varying) and trainer.groups_filtered == len(items) - len(varying)
    kept = [json.loads(r)["question"] for r in trainer.train_dataset["item"]]
    assert kept == [items[i].question for i in varying]
    assert stage.info["dynamic_sampling"]["groups_filtered"] == 4
    assert trainer._metrics["train"] == {}  # the filter's rollouts are not logged as a training step
    saved = json.loads((tmp_path / "easy" / dynamic_sampling.FILE).read_text())
    assert saved["keep"] == varying

    def no_sampling(*_):
        raise AssertionError("a resumed stage must reuse the saved filter")

    monkeypatch.setattr(dynamic_sampling, "sample_groups", no_sampling)
    build = make_grpo_trainer(cfg, [_no_format_reward, _varying_reward])
    again = build(Stage("easy", stage.dataset, 0.0, 0.0, 1), tiny_model_dir, tmp_path / "easy", 1)
    assert len(again.train_dataset) == len(varying)


def test_a_run_with_dynamic_sampling_logs_groups_filtered_and_trains_epochs_over_the_kept_cases(
    world, tiny_model_dir, tmp_path
):
    from trainer.train import train

    cfg = _cfg(
        world, tiny_model_dir, "train.num_train_epochs=2", "grpo.dynamic_sampling=true", "curriculum.stages=[easy,hard]"
    )
    run = tmp_path / "run"
    train(cfg, run)
    state = json.loads((run / "state.json").read_text())
    metrics = list(read_jsonl(run / "metrics.jsonl"))
    assert (run / "metrics.png").read_bytes()[:4] == b"\x89PNG"  # the run draws its own plot
    for name in ("easy", "hard"):
        entry = state["stages"][name]
        figures = entry["dynamic_sampling"]
        # each stage's 4 cases, the hard stage also replaying the earlier ones (the profile's rehearsal: 100 %)
        assert entry["split_size"] == 4 and entry["rehearsed"] == (0 if name == "easy" else 4)
        assert figures["cases"] == entry["cases"] == 4 + entry["rehearsed"] and 1 <= figures["kept"] <= figures["cases"]
        assert (run / "stages" / name / "dynamic_sampling.json").is_file()
        logged = [m for m in metrics if m["stage"] == name]
        assert {m["groups_filtered"] for m in logged} == {float(figures["groups_filtered"])}
        assert all(0.0 <= m["frac_reward_zero_std"] <= 1.0 for m in logged)
        # 2 epochs over the kept cases (at least one step's worth), 2 prompts per step
        assert entry["steps"] == len(logged) == 2 * -(-max(figures["kept"], 2) // 2)


# --- ablations ------------------------------------------------------------------------------------
def test_ablation_switches_change_only_their_part_of_the_schedule():
    from trainer.config import load_config

    def schedule(**flags):
        return load_config("attending", "tiny", **flags).stage_schedule()

    paper = schedule()
    assert [s.name for s in paper] == ["easy", "medium", "hard"]
    assert [s.gamma for s in schedule(**{"curriculum.entropy": False})] == [0.0, 0.0, 0.0]
    fixed = schedule(**{"curriculum.fixed_entropy": True})
    assert len({s.gamma for s in fixed}) == 1 and fixed[0].gamma > 0
    assert [s.beta for s in fixed] == [s.beta for s in paper]
    reverse = schedule(**{"curriculum.reverse": True})
    assert reverse == list(reversed(paper))  # each stage keeps its own gamma and beta
    assert [s.name for s in schedule(**{"curriculum.enabled": False})] == ["all"]


def test_cli_ablation_flags_reach_the_config_and_a_reversed_flat_run_is_refused(monkeypatch, tmp_path, capsys):
    import trainer.train
    from mmedtui import cli

    seen = {}

    def fake_train(cfg, run_dir, resume=False, console=None):
        seen["cfg"] = cfg
        return trainer.train.Result(run_dir, run_dir / "final")

    monkeypatch.setattr(trainer.train, "train", fake_train)
    base = ["mmedtui", "train", "attending", "--data-root", str(tmp_path), "--output", str(tmp_path / "run")]
    monkeypatch.setattr(sys, "argv", base + ["--fixed-entropy", "--reverse-curriculum"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code == 0
    cur = seen["cfg"].curriculum
    assert cur.fixed_entropy and cur.reverse and cur.enabled and cur.entropy
    from trainer.curriculum import describe

    card = describe(seen["cfg"])
    assert "hard -> medium -> easy" in card and "fixed-entropy" in card and "reverse-curriculum" in card
    assert "no-entropy" not in card and "G = 8" in card

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", base + ["--reverse-curriculum", "--no-curriculum"])
    with pytest.raises(SystemExit) as refused:
        cli.main()
    err = capsys.readouterr().err.strip().splitlines()
    assert refused.value.code == 2 and len(err) == 1 and "reverse" in err[0]
