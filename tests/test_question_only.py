"""The question-only baseline: its training split, the fit, the saved model, the command and its bench row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mmedtui.agents.question_prior import QuestionPrior, features
from mmedtui.bench import run_bench
from mmedtui.bench.runner import BenchConfig
from mmedtui.bench.systems import panel_with_baselines
from mmedtui.errors import ConfigError, DataError
from mmedtui.resources import asset_path
from support.bench import panel_data, write_vqa_rad
from trainer.question_only import PriorSettings, fit, train_question_only, training_items

SMALL = PriorSettings(min_count=1, epochs=200, learning_rate=0.1)
VQA_TRAIN = [
    ("Is there a fracture?", "yes"),
    ("Is there a fracture of the rib?", "yes"),
    ("Is the liver normal?", "no"),
    ("Is the kidney normal?", "no"),
    ("What organ is this?", "liver"),
]


def _vqa_rad(root: Path) -> None:
    folder = root / "vqa-rad"
    (folder / "VQA_RAD Image Folder").mkdir(parents=True)
    Image.new("RGB", (16, 16), (90, 90, 90)).save(folder / "VQA_RAD Image Folder" / "synpic1.jpg")
    rows = [(q, a, "freeform") for q, a in VQA_TRAIN]
    rows += [("Is there a frame leak?", "framed", "frame"), ("Is there a test leak?", "tested", "test_freeform")]
    (folder / "VQA_RAD Dataset Public.json").write_text(
        json.dumps(
            [
                {
                    "qid": i,
                    "image_name": "synpic1.jpg",
                    "question": q,
                    "answer": a,
                    "phrase_type": phrase,
                    "answer_type": "CLOSED" if a in ("yes", "no") else "OPEN",
                    "image_organ": "CHEST",
                }
                for i, (q, a, phrase) in enumerate(rows)
            ]
        ),
        encoding="utf-8",
    )


def _slake(root: Path) -> None:
    folder = root / "slake"
    (folder / "imgs" / "xmlab1").mkdir(parents=True)
    Image.new("RGB", (16, 16), (60, 60, 60)).save(folder / "imgs" / "xmlab1" / "source.jpg")

    def row(qid, q, a, lang="en"):
        return {
            "qid": qid,
            "img_id": 1,
            "img_name": "xmlab1/source.jpg",
            "question": q,
            "answer": a,
            "q_lang": lang,
            "answer_type": "CLOSED",
            "content_type": "Organ",
            "modality": "CT",
            "location": "Abdomen",
            "base_type": "vqa",
        }

    (folder / "train.json").write_text(
        json.dumps(
            [
                row(0, "Which is bigger, liver or heart?", "Liver"),
                row(1, "Which is bigger, liver or spleen?", "Liver"),
                row(2, "这是什么?", "中文", "zh"),
            ]
        ),
        encoding="utf-8",
    )
    (folder / "validate.json").write_text(json.dumps([row(9, "Is this validated?", "validated")]), encoding="utf-8")


@pytest.fixture
def root(tmp_path):
    _vqa_rad(tmp_path / "data")
    _slake(tmp_path / "data")
    return tmp_path / "data"


def test_the_training_split_is_the_specialists_and_nothing_else(root):
    items = training_items(root)
    answers = {it.answer for it in items}
    assert len(items) == len(VQA_TRAIN) + 2
    assert answers.isdisjoint({"framed", "tested", "validated", "中文"})  # frame, test, validation, Chinese rows


@pytest.mark.parametrize("split", ["test", "validation"])
def test_other_splits_are_refused(root, split):
    with pytest.raises(DataError, match=split):
        training_items(root, split)


def test_the_fit_learns_the_prior_and_survives_a_round_trip(root, tmp_path):
    model, summary = fit(training_items(root), SMALL)
    assert summary["items_kept"] == summary["items"] == len(VQA_TRAIN) + 2
    model.save(tmp_path / "m", {"note": "test"})
    loaded = QuestionPrior.load(tmp_path / "m")
    picks = loaded.predict(
        [
            "Is there a fracture of the skull?",
            "Is the spleen normal?",
            "Which is bigger, liver or lung?",
            "What organ is this?",
            "Is there a fracture?",
        ],
        [["no", "yes"], ["yes", "no"], ["Lung", "Liver"], None, ["left", "right"]],
    )
    assert [a for a, _ in picks] == ["yes", "no", "Liver", "liver", "left"]  # unseen options: the first one
    assert picks[0][1] > 0.5 and picks[4][1] == 0.0
    assert json.loads((tmp_path / "m" / "vocab.json").read_text())["note"] == "test"


def test_a_damaged_model_folder_is_one_clear_error(tmp_path):
    (tmp_path / "vocab.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a question-only model"):
        QuestionPrior.load(tmp_path)


def test_features_are_words_and_word_pairs():
    assert features("Is there a Mass?") == ["is", "there", "a", "mass", "is there", "there a", "a mass"]


def test_the_command_writes_a_loadable_model_and_its_card(root, tmp_path):
    from typer.testing import CliRunner

    from mmedtui.cli.train import app

    out = tmp_path / "qo"
    result = CliRunner().invoke(app, ["question-only", "--data-root", str(root), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "7 training items" in result.output
    assert "never a test" in (out / "README.md").read_text() and QuestionPrior.load(out).answers


def test_the_shipped_model_is_small_and_trained_on_the_train_split():
    folder = asset_path("models", "question-only")
    assert sum(p.stat().st_size for p in folder.iterdir()) < 1_000_000
    doc = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    assert doc["trained_on"]["split"] == "train" and doc["summary"]["items"] > 1000
    ((answer, p),) = QuestionPrior.load(folder).predict(["Is the heart enlarged?"], [["yes", "no"]])
    assert answer in ("yes", "no") and 0.0 < p <= 1.0


def test_the_bench_row_reads_the_model_the_panel_names(root, tmp_path):
    train_question_only(root, tmp_path / "panel" / "qo", SMALL)
    data = panel_data()
    data["baselines"]["question-only"] = {"path": "qo"}  # relative to the panel file's folder
    panel, baselines = panel_with_baselines(data, base_dir=tmp_path / "panel")
    assert baselines.checkpoints["question-only"] == tmp_path / "panel" / "qo"
    bench_root = write_vqa_rad(tmp_path / "bench")
    report = run_bench(panel, baselines, BenchConfig(bench_root, ("vqa-rad",), ("question-only",)))
    # The three yes/no test questions: "Is there a fracture?" / "Is there a mass?" (gold yes; "is there" was
    # always yes in training) and "Is the liver enlarged?" (gold no; "is the" and "liver" were no or Liver).
    (row,) = report.rows
    assert (row["system"], row["counts"]["mc"], row["failed"]["mc"], row["metrics"]["mc"]) == (
        "question-only",
        3,
        0,
        100.0,
    )
    missing = panel_with_baselines(
        data | {"baselines": {"question-only": {"path": "nowhere"}}}, base_dir=tmp_path / "panel"
    )[1]
    assert "not found" in missing.unavailable["question-only"]
