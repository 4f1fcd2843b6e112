"""The nearest-image baseline: likeness and votes, options, flat scans, the saved model, the training split only,
the command, and its bench row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mmedtui.agents.image_prior import ImagePrior, question_key, thumbnail
from mmedtui.bench import run_bench
from mmedtui.bench.runner import BenchConfig
from mmedtui.bench.systems import panel_with_baselines
from mmedtui.errors import ConfigError
from support.bench import panel_data
from support.scans import prior, scan
from trainer.image_prior import build
from trainer.question_only import training_items


def test_the_likest_images_that_were_asked_vote():
    one, three = prior(1), prior(3)
    assert question_key("Is there a Mass?") == "is there a mass"
    assert one.neighbours(scan("down", 20), "Is there a mass?") == [0]  # of two equal images, the first
    assert one.neighbours(scan("across", 20), "Is there a mass?") == [2]
    assert sorted(three.neighbours(scan("ring"), "Is there a mass?")) == [0, 1, 2]  # asked it, however unlike
    ((answer, share),) = three.predict([scan("across", 10)], ["Is there a mass?"], [None])
    assert (answer, share) == ("yes", pytest.approx(2 / 3))  # two "down" images outvote the closest one
    reading = three.read(scan("across", 10), "Is there a mass?", ["Yes", "No"])
    assert (reading.answer, reading.votes, reading.modalities, reading.source) == (
        "Yes",
        ["no", "yes", "yes"],
        ["MRI", "CT", "CT"],
        "neighbours",
    )
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    assert three.read(grey, "Which side?").source == "question"
    assert three.read(grey, "Never asked?", ["maybe"]).source == "none"


def test_with_options_it_names_one_and_a_flat_scan_falls_back_to_the_training_answers():
    model = prior(1)
    grey = Image.new("RGB", (64, 64), (128, 128, 128))
    assert thumbnail(grey) is None and model.neighbours(grey, "Is there a mass?") == []
    picks = model.predict(
        [scan("down"), grey, grey, scan("ring"), scan("across")],
        ["Is there a mass?", "Is there a mass?", "What is this?", "Which side?", "Is there a mass?"],
        [["No", "Yes"], ["no", "yes"], None, ["left", "right"], ["maybe", "perhaps"]],
    )
    assert picks[0] == ("Yes", 1.0)  # the option's own text
    assert picks[1] == ("yes", 0.0)  # flat: the question's most common training answer, no votes
    assert picks[2] == ("yes", 0.0)  # a question never asked: the most common answer overall (the first of a tie)
    assert picks[3] == ("right", 1.0)
    assert picks[4] == ("maybe", 0.0)  # no training answer among the options: the first one


def test_a_saved_model_answers_the_same_and_a_damaged_one_is_one_clear_error(tmp_path):
    model = prior(3)
    model.save(tmp_path / "m", {"note": "test"})
    loaded = ImagePrior.load(tmp_path / "m")
    cases = [scan("down", 5), scan("across"), scan("ring", 30)]
    questions = ["Is there a mass?", "Which side?", "Is there a mass?"]
    assert loaded.predict(cases, questions, [None] * 3) == model.predict(cases, questions, [None] * 3)
    assert json.loads((tmp_path / "m" / "index.json").read_text())["note"] == "test"
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "index.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a nearest-image model"):
        ImagePrior.load(tmp_path / "bad")


def _data_root(root: Path) -> Path:
    """VQA-RAD train and test rows on three looks, a frame row, and SLAKE train / validation / an unnamed image."""
    folder = root / "vqa-rad"
    (folder / "VQA_RAD Image Folder").mkdir(parents=True)
    looks = {"synpic1.jpg": ("down", 0), "synpic2.jpg": ("across", 0), "synpic3.jpg": ("down", 25)}
    for name, (look, shift) in looks.items():
        scan(look, shift).save(folder / "VQA_RAD Image Folder" / name)
    rows = [
        ("synpic1.jpg", "Is there a mass?", "yes", "freeform"),
        ("synpic2.jpg", "Is there a mass?", "no", "freeform"),
        ("synpic2.jpg", "Is there a frame leak?", "framed", "frame"),
        ("synpic3.jpg", "Is there a mass?", "yes", "test_freeform"),  # a test row: its image is like synpic1
    ]
    records = [
        {
            "qid": i,
            "image_name": image,
            "question": q,
            "answer": a,
            "phrase_type": phrase,
            "answer_type": "CLOSED",
            "image_organ": "CHEST",
        }
        for i, (image, q, a, phrase) in enumerate(rows)
    ]
    (folder / "VQA_RAD Dataset Public.json").write_text(json.dumps(records), encoding="utf-8")
    slake = root / "slake"
    for name, look in (("xmlab1", "ring"), ("xmlab2", "across"), ("xmlab3", "down")):
        (slake / "imgs" / name).mkdir(parents=True)
        scan(look).save(slake / "imgs" / name / "source.jpg")

    def row(qid, image, q, a):
        return {"qid": qid, "img_id": qid, "img_name": f"{image}/source.jpg", "question": q, "answer": a,
                "q_lang": "en", "answer_type": "CLOSED", "content_type": "Organ", "modality": "CT",
                "location": "Abdomen", "base_type": "vqa"}  # fmt: skip

    (slake / "train.json").write_text(json.dumps([row(1, "xmlab1", "Is this a CT?", "Yes")]), encoding="utf-8")
    (slake / "validate.json").write_text(json.dumps([row(2, "xmlab2", "Is it valid?", "Yes")]), encoding="utf-8")
    return root  # xmlab3: in imgs/ and named by neither file, like SLAKE's official test images


def test_it_is_built_from_the_training_split_only(tmp_path):
    model, summary = build(training_items(_data_root(tmp_path / "data")))
    assert summary["images"] == 3 and summary["items"] == 3  # two VQA-RAD train images, SLAKE train.json's one
    keys = {key for answers in model.asked for key in answers}
    assert keys == {"is there a mass", "is this a ct"}  # no frame, test or validation question
    assert len(model.thumbs) == 3  # xmlab3, in the folder but in no JSON, was never read


def test_the_command_and_the_bench_row(tmp_path):
    from typer.testing import CliRunner

    from mmedtui.cli.train import app

    root = _data_root(tmp_path / "data")
    out = tmp_path / "panel" / "nn"
    result = CliRunner().invoke(app, ["nearest-image", "--data-root", str(root), "--output", str(out), "--k", "1"])
    assert result.exit_code == 0, result.output
    assert "3 images" in result.output and "never a test" in (out / "README.md").read_text()
    data = panel_data()
    data["baselines"]["nearest-image"] = {"path": "nn"}  # relative to the panel file's folder
    panel, baselines = panel_with_baselines(data, base_dir=tmp_path / "panel")
    config = BenchConfig(root, ("vqa-rad",), ("nearest-image",), blank_images=True)
    (row,) = run_bench(panel, baselines, config).rows
    # The one test question: its scan looks like synpic1 (answered yes), not synpic2 (no). On a flat grey scan
    # the question's training answers tie and the first seen, yes, answers too: no image gain on this item.
    assert (row["system"], row["counts"]["mc"], row["metrics"]["mc"]) == ("nearest-image", 1, 100.0)
    assert row["metrics"]["mc_blank"] == 100.0


def test_the_fit_part_leaves_the_holdout_images_out(tmp_path):
    """A panel member built from the fit part gives honest opinions on the holdout part: the two parts split the
    training images between them, each image on one side, as the specialists' split does."""
    from trainer.image_prior import train_nearest_image

    root = _data_root(tmp_path / "data")
    sizes = {
        part: train_nearest_image(root, tmp_path / part, part=part, holdout=0.5)["images"]
        for part in ("all", "fit", "holdout")
    }
    assert sizes["fit"] + sizes["holdout"] == sizes["all"] == 3
    doc = json.loads((tmp_path / "fit" / "index.json").read_text())
    assert doc["trained_on"]["part"] == "fit" and doc["trained_on"]["holdout"] == 0.5
    card = (tmp_path / "fit" / "README.md").read_text()
    assert "# case-based specialist" in card and "--part fit" in card and "assets/models/case-based" in card
    assert "# nearest-image (the image prior)" in (tmp_path / "all" / "README.md").read_text()
