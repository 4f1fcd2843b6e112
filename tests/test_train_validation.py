"""The attending's held-back validation runs on the bench's path: ``Pipeline.attend`` on the cached opinions, the
full-size scan, greedy decoding of the trained panel's length, scored by ``mmedtui.tasks.scoring``."""

from __future__ import annotations

import pytest

from mmedtui.agents.base import Sampling
from mmedtui.agents.scripted import ScriptedBackend


class RecordingBackend(ScriptedBackend):
    """Scripted answers by question keyword; keeps every prompt and sampling it was asked with."""

    def __init__(self, rules: dict[str, str]):
        super().__init__(rules=rules)
        self.samplings: list[Sampling] = []

    def generate(self, prompts, sampling=Sampling()):
        self.samplings.append(sampling)
        return super().generate(prompts, sampling)


@pytest.fixture
def held(tmp_path):
    """The synthetic VQA-RAD training cases (96 px scans), each with two specialists' opinions."""
    from mmedtui.agents.roles import Opinion
    from trainer.config import load_config
    from trainer.data.items import PanelCase, load_items
    from trainer.testing import fake_vqa_rad

    root = fake_vqa_rad(tmp_path / "data", per_kind=2)
    cfg = load_config("attending", "tiny", **{"data.root": str(root), "data.tasks": ["vqa-rad"]})
    ops = [Opinion("Specialist A", "Radiologist", answer="yes"), Opinion("Specialist B", "Radiologist", answer="no")]
    return [PanelCase(item, ops) for item in load_items(cfg.data)]


def test_validation_runs_the_pipeline_attending_on_full_size_scans_and_scores_with_the_task_scorer(
    held, monkeypatch, tmp_path
):
    import mmedtui.agents.panel as panel_module
    from trainer import validation
    from trainer.data.images import ImageCache
    from trainer.testing import GOLD

    answers = {"alpha": "yes", "beta": "yes", "gamma": "no"}  # right, wrong, right (GOLD: yes, no, no)
    backend = RecordingBackend({k: f"<think>w</think><answer>{v}</answer>" for k, v in answers.items()})
    built = []

    def build(key, spec, base_dir):
        built.append(spec)
        return backend

    monkeypatch.setattr(panel_module, "build_backend", build)
    table = validation.table(
        validation.attending_outcomes(
            tmp_path / "model", held, ImageCache(max_side=64), device="cpu", max_new_tokens=40, batch=4
        )
    )
    assert built == [{"backend": "transformers", "path": str(tmp_path / "model"), "device": "cpu"}]
    kinds = [next(k for k in GOLD if k in case.item.question) for case in held]
    right = sum(answers[k] == GOLD[k] for k in kinds)
    assert table == {"vqa-rad": {"n": len(held), "accuracy": round(100 * right / len(held), 1)}}
    assert len(backend.calls) == len(held) and len(backend.samplings) == -(-len(held) // 4)  # 4 cases per call
    assert all(p.images[0].size == (96, 96) for p in backend.calls)  # the bench's full-size scan, not 64 px
    assert all("Specialist B" in p.user and "no" in p.user for p in backend.calls)  # the cached opinions
    assert {(s.temperature, s.max_new_tokens) for s in backend.samplings} == {(0.0, 40)}


def test_an_attending_that_fails_or_names_no_option_is_scored_wrong(held, monkeypatch, tmp_path):
    import mmedtui.agents.panel as panel_module
    from trainer import validation
    from trainer.data.images import ImageCache

    broken = ScriptedBackend(error="RuntimeError: out of memory")
    monkeypatch.setattr(panel_module, "build_backend", lambda key, spec, base_dir: broken)
    table = validation.table(
        validation.attending_outcomes(tmp_path / "model", held, ImageCache(max_side=64), device="cpu")
    )
    assert table["vqa-rad"]["accuracy"] == 0.0
    vague = ScriptedBackend(replies=["<think>unclear</think><answer>maybe</answer>"])
    monkeypatch.setattr(panel_module, "build_backend", lambda key, spec, base_dir: vague)
    assert (
        validation.table(validation.attending_outcomes(tmp_path / "model", held, ImageCache(max_side=64)))["vqa-rad"][
            "accuracy"
        ]
        == 0.0
    )


def test_outcomes_group_by_curriculum_difficulty_in_curriculum_order(held):
    from dataclasses import replace

    from trainer import validation

    stages = ["hard", "easy", "hard", "medium", "easy", "hard"]
    cases = [replace(case, stage=stage) for case, stage in zip(held, stages)]
    right = [True, True, False, False, True, False]
    outcomes = list(zip(cases, right))
    groups = validation.by_difficulty(outcomes)
    assert list(groups) == ["easy", "medium", "hard"]
    assert groups == {
        "easy": {"n": 2, "accuracy": 100.0},
        "medium": {"n": 1, "accuracy": 0.0},
        "hard": {"n": 3, "accuracy": 33.3},
    }
    assert validation.table(outcomes) == {"vqa-rad": {"n": 6, "accuracy": 50.0}}
