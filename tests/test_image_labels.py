"""Image-level labels, generated questions, reasoning targets and the vision pre-training stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from trainer.data import image_labels


def _slake(root: Path) -> Path:
    """A SLAKE folder in the official layout: xmlab1 is a training image, xmlab2 a validation image, and
    xmlab3 (an official test image) is referenced by neither JSON; each has a detection.json."""
    folder = root / "slake"
    for n, organ in ((1, "Liver"), (2, "Spleen"), (3, "Heart")):
        (folder / "imgs" / f"xmlab{n}").mkdir(parents=True)
        Image.new("RGB", (64, 64), (30 * n, 30 * n, 30 * n)).save(folder / "imgs" / f"xmlab{n}" / "source.jpg")
        (folder / "imgs" / f"xmlab{n}" / "detection.json").write_text(json.dumps([{organ: [1, 2, 3, 4]}]))

    def row(qid, img, q, a, kind="Organ", modality="CT", location="Abdomen"):
        return {
            "img_id": img,
            "img_name": f"xmlab{img}/source.jpg",
            "question": q,
            "answer": a,
            "q_lang": "en",
            "location": location,
            "modality": modality,
            "answer_type": "CLOSED",
            "base_type": "vqa",
            "content_type": kind,
            "triple": [],
            "qid": qid,
        }

    (folder / "train.json").write_text(
        json.dumps(
            [
                row(0, 1, "Does the picture contain kidney?", "Yes"),
                row(1, 1, "Does the picture contain heart?", "No"),
                row(2, 1, "What is the scanning plane of this image?", "Transverse Plane", kind="Plane"),
                row(3, 1, "Are there abnormalities in this image?", "No", kind="Abnormality"),
                row(4, 1, "Does the picture contain organ that could be used for secreting enzymes?", "Yes", kind="KG"),
            ]
        )
    )
    (folder / "validate.json").write_text(json.dumps([row(10, 2, "Is this a CT?", "Yes", kind="Modality")]))
    return root


def _train_items(root: Path):
    from mmedtui.tasks import get_task

    return get_task("slake").load(root, "train", lang="en").items


def test_labels_come_from_the_training_images_only(tmp_path, monkeypatch):
    """Built from train.json's items: the validation image and the unreferenced (official test) image are never
    opened, and their annotations never appear."""
    root = _slake(tmp_path)
    opened: list[str] = []
    real = Path.read_text

    def spy(self, *a, **k):
        opened.append(str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "read_text", spy)
    labels = image_labels.gather(_train_items(root))
    assert [str(p) for p in opened if "detection" in p] == [str(root / "slake/imgs/xmlab1/detection.json")]
    (lab,) = labels.values()
    assert lab.organs == {"liver", "kidney"}  # the box and the "yes" answer; the KG phrase is not an organ
    assert lab.absent == {"heart"}
    assert (lab.modality, lab.region, lab.plane, lab.abnormal) == ("CT", "abdomen", "transverse", False)
    generated = image_labels.generated_items(labels)
    assert not any("spleen" in it.question.lower() for it in generated)  # xmlab2's box
    assert all(it.image_ref == lab.item.image_ref and it.split == "train" for it in generated)


def test_generated_questions_are_balanced_and_answered_by_the_labels(tmp_path):
    labels = image_labels.gather(_train_items(_slake(tmp_path)))
    generated = {it.question: it.answer for it in image_labels.generated_items(labels)}
    assert generated["Is this image taken via CT?"] == "Yes"
    assert generated["Is this a study of the abdomen?"] == "Yes"
    assert generated["Is this a transverse section?"] == "Yes"
    assert generated["Does the picture contain heart?"] == "No"
    assert generated["Are there abnormalities in this image?"] == "No"
    answers = list(generated.values())
    assert answers.count("Yes") >= 4 and answers.count("No") >= 4


def test_a_generated_questions_reasoning_names_what_it_asks_beside_what_the_image_shows(tmp_path):
    from trainer.data.rows import rationale

    labels = image_labels.gather(_train_items(_slake(tmp_path)))
    by_question = {it.question: it for it in image_labels.generated_items(labels)}
    seen = rationale(by_question["Is this image taken via CT?"], labels).split(". ", 1)[1]
    for question, about in (
        ("Is this image taken via CT?", "CT"),
        ("Is this a study of the abdomen?", "the abdomen"),
        ("Does the picture contain heart?", "heart"),
    ):
        assert rationale(by_question[question], labels) == f"The question asks about {about}. {seen}"
    assert (
        rationale(by_question["Are there abnormalities in this image?"], labels)
        == f"The question asks about abnormalities. {seen}"
    )
    assert seen.startswith("An axial CT of the abdomen")


@pytest.mark.parametrize(
    "question, term",
    [
        ("Does the picture contain liver?", "liver"),
        ("Is this image taken via MRI?", "MRI"),
        ("Is this a study of the chest?", "the chest"),
        ("Is this an MRI?", "an MRI"),
        ("Is this a X-Ray?", "an X-Ray"),  # the question's article is wrong; the reasoning's is not
        ("Is this a MRI scan?", "an MRI scan"),
        ("Is this a CT?", "a CT"),
        ("Is this sagittal plane?", "sagittal plane"),
        ("Can pneumonia be observed on the lower left lung?", "pneumonia"),
        ("Is there evidence of a pneumothorax?", "pneumothorax"),
        ("Is there a liver in this image?", "liver"),
        ("Does the patient have cardiomegaly?", "cardiomegaly"),
        # no one thing to hold against the image: the reasoning says only what it shows
        ("Is the lung healthy?", None),
        ("Which is bigger in this image, liver or spleen?", None),
        ("Is there a mass that is larger than the liver and also compresses the kidney?", None),
    ],
)
def test_a_real_yes_no_question_names_what_it_asks_about(question, term):
    assert image_labels.asked_term(question) == term


def test_a_real_closed_questions_reasoning_restates_it_and_an_open_ones_does_not(tmp_path):
    from dataclasses import replace

    from trainer.data.rows import rationale

    item = _train_items(_slake(tmp_path))[0]
    closed = replace(item, question="Does the picture contain liver?", kind="closed", meta={})
    assert rationale(closed).startswith("The question asks about liver. ")
    assert not rationale(replace(closed, kind="open")).startswith("The question asks")


@pytest.mark.parametrize(
    "lab, expected",
    [
        (dict(modality="MRI", region="head", plane="sagittal"), "A sagittal MRI of the head."),
        (
            dict(modality="X-Ray", region="chest", organs={"mass"}, abnormal=True),
            "An X-ray of the chest; it shows a mass; it looks abnormal.",
        ),
        (
            dict(modality="CT", region="abdomen", plane="transverse", organs={"liver", "kidney", "left kidney"}),
            "An axial CT of the abdomen; the left kidney and the liver are visible.",
        ),
        (dict(modality="MRI"), "An MRI."),
        (dict(), "A medical image; its modality and region are not certain."),
    ],
)
def test_reasoning_targets_are_grammatical(lab, expected):
    assert image_labels.describe(image_labels.ImageLabels(None, **lab)) == expected


def test_triage_reasoning_uses_the_right_article():
    from trainer.data.rows import modality_phrase

    assert [modality_phrase(m) for m in ("CT", "MR", "US", "X-Ray", "fundus photograph")] == [
        "a CT image",
        "an MRI image",
        "an ultrasound image",
        "an X-ray image",
        "a fundus photograph",
    ]


def test_vision_pretraining_learns_a_label_and_loads_into_a_model(tmp_path, tiny_model_dir):
    """A micro tower learns to tell dark from bright 'scans' (CT vs MRI here), and its weights load into the
    micro model; a tower of another size is refused."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from mmedtui.errors import ConfigError
    from trainer import vision

    root = tmp_path / "data"
    rows = []
    for n in range(8):
        modality = "CT" if n % 2 else "MRI"
        (root / "slake" / "imgs" / f"xmlab{n}").mkdir(parents=True)
        shade = 220 if modality == "CT" else 20
        Image.new("RGB", (56, 56), (shade,) * 3).save(root / "slake" / "imgs" / f"xmlab{n}" / "source.jpg")
        rows.append(
            {
                "img_id": n,
                "img_name": f"xmlab{n}/source.jpg",
                "question": "Is this normal?",
                "answer": "Yes",
                "q_lang": "en",
                "location": "Lung",
                "modality": modality,
                "answer_type": "CLOSED",
                "base_type": "vqa",
                "content_type": "Abnormality",
                "qid": n,
            }
        )
    (root / "slake" / "train.json").write_text(json.dumps(rows))
    items = _train_items(root)
    smears = [(Image.new("RGB", (56, 56), (200, 60 + 5 * n, 120)), "blood smear") for n in range(8)]
    info = vision.train_vision(
        items,
        tmp_path / "vision",
        size="micro",
        image_max_side=56,
        seed=0,
        settings=vision.VisionSettings(epochs=25, batch_size=8, learning_rate=3e-3),
        eval_items=items,
        others=smears,
        log=lambda _: None,
    )
    assert info["held_out"]["modality"] == 100.0
    assert info["other_images"] == 8 and info["held_out"]["n_source"] == 8  # the scans: source radiology
    assert info["held_out"]["source"] == 100.0
    from safetensors.torch import load_file

    tower, heads = vision.make_model("micro", len(info["organs"]), sources=True)  # pink "smears", grey scans
    tower.load_state_dict(load_file(str(tmp_path / "vision" / vision.VISION_FILE)))
    heads.load_state_dict(load_file(str(tmp_path / "vision" / "heads.safetensors")))
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from trainer.tiny import MAX_PIXELS, MIN_PIXELS

    processor = Qwen2VLImageProcessorPil(min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS)
    unseen = [(Image.new("RGB", (56, 56), (210, 90, 110)), "blood smear")]
    figures = vision.evaluate(tower, heads, processor, vision.Targets([], 4), [], 56, others=unseen)
    assert figures == {"source": 100.0, "n_source": 1}
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_dir)
    vision.load_into(model, tmp_path / "vision")
    saved = load_file(str(tmp_path / "vision" / vision.VISION_FILE))
    key = next(iter(saved))
    assert torch.equal(model.model.visual.state_dict()[key], saved[key])
    vision.train_vision(
        items,
        tmp_path / "other",
        size="small",
        image_max_side=56,
        seed=0,
        settings=vision.VisionSettings(epochs=1, batch_size=8),
        log=lambda _: None,
    )
    with pytest.raises(ConfigError, match="does not match"):
        vision.load_into(model, tmp_path / "other")
    assert not any(k.startswith("source") for k in load_file(str(tmp_path / "other" / "heads.safetensors")))


def test_freeze_vision_leaves_only_the_language_model_trainable(tiny_model_dir):
    from trainer.config import load_config
    from trainer.models import load_model

    model = load_model(str(tiny_model_dir), load_config("specialist", sets=["model.freeze_vision=true"]))
    assert not any(p.requires_grad for p in model.model.visual.parameters())
    assert all(p.requires_grad for p in model.model.language_model.parameters())


def test_generated_rows_see_seeded_augmented_copies(tmp_path):
    from trainer.data.images import ImageCache
    from trainer.data.rows import sft_rows

    items = _train_items(_slake(tmp_path))
    labels = image_labels.gather(items)
    generated = image_labels.generated_items(labels)[:3]
    rows = sft_rows(items[:1] + generated, ImageCache(64), labels, augment=True)
    again = sft_rows(items[:1] + generated, ImageCache(64), labels, augment=True)
    plain = sft_rows(items[:1], ImageCache(64), labels)
    assert rows[0]["image"] == plain[0]["image"]  # a dataset question keeps the image as it is
    assert len({r["image"]["bytes"] for r in rows}) == len(rows)  # each generated one its own copy
    assert [r["image"] for r in rows] == [r["image"] for r in again]  # seeded: the same on every build
