"""Small synthetic fixtures for the trainer's tests and benchmark: a VQA-RAD folder in the official release format
(so the real loader reads it) and a scripted panel whose specialists agree, split or all err by question.

Nothing here is real medical data; images are drawn shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from PIL import Image, ImageDraw

# Question keywords -> what each of the three scripted specialists answers.
# easy: all right; medium: some right; hard: all wrong (given the gold answers written by ``fake_vqa_rad``).
SPECIALIST_RULES = [
    {
        "alpha": "<think>a</think><answer>yes</answer>",
        "beta": "<think>a</think><answer>yes</answer>",
        "gamma": "<think>a</think><answer>yes</answer>",
    },
    {
        "alpha": "<think>b</think><answer>yes</answer>",
        "beta": "<think>b</think><answer>no</answer>",
        "gamma": "<think>b</think><answer>yes</answer>",
    },
    {
        "alpha": "<think>c</think><answer>yes</answer>",
        "beta": "<think>c</think><answer>yes</answer>",
        "gamma": "<think>c</think><answer>yes</answer>",
    },
]
# keyword -> gold answer: alpha (all say yes, gold yes) easy; beta (2 yes 1 no, gold no) medium;
# gamma (all yes, gold no) hard.
GOLD = {"alpha": "yes", "beta": "no", "gamma": "no"}


def draw_scan(seed: int, size: int = 96) -> Image.Image:
    image = Image.new("RGB", (size, size), (12, 12, 12))
    draw = ImageDraw.Draw(image)
    r = 12 + (seed * 7) % 24
    c = size // 2 + (seed * 5) % 17 - 8
    draw.ellipse((c - r, c - r, c + r, c + r), fill=(180 + seed % 60, 180, 180))
    return image


def fake_vqa_rad(root: Path, per_kind: int = 4, test_rows: int = 3) -> Path:
    """``root/vqa-rad/`` with the official JSON + image folder: ``per_kind`` train questions per keyword
    (alpha / beta / gamma) and ``test_rows`` test questions (which training must never read)."""
    folder = Path(root) / "vqa-rad"
    images = folder / "VQA_RAD Image Folder"
    images.mkdir(parents=True, exist_ok=True)
    records, qid = [], 0
    for kind, gold in GOLD.items():
        for i in range(per_kind):
            name = f"synpic{qid:05d}.jpg"
            draw_scan(qid).save(images / name, quality=95)
            records.append(_record(qid, "freeform", name, f"Is there a {kind} lesion in region {i}?", gold))
            qid += 1
    for i in range(test_rows):
        name = f"synpic{qid:05d}.jpg"
        draw_scan(qid).save(images / name, quality=95)
        records.append(_record(qid, "test_freeform", name, f"Is this a held-out test case {i}?", "yes"))
        qid += 1
    (folder / "VQA_RAD Dataset Public.json").write_text(json.dumps(records), encoding="utf-8")
    return Path(root)


def _record(qid: int, phrase: str, image: str, question: str, answer: str) -> dict:
    return {
        "qid": qid,
        "phrase_type": phrase,
        "qid_linked_id": f"id-{qid}",
        "image_case_url": "",
        "image_name": image,
        "image_organ": "CHEST",
        "evaluation": "given",
        "question": question,
        "question_rephrase": "NULL",
        "question_relation": "NULL",
        "question_frame": "NULL",
        "question_type": "PRES",
        "answer": answer,
        "answer_type": "CLOSED",
    }


def scripted_panel_file(path: Path, attending_model: str | None = None) -> Path:
    """A panel YAML: scripted triage (Radiologist) and three scripted specialists following SPECIALIST_RULES."""
    models = {
        "triage": {"backend": "scripted", "replies": ["<think>CT</think><answer>Radiologist</answer>"]},
        "attending": {"backend": "scripted", "replies": ["<think>w</think><answer>yes</answer>"]},
    }
    specialists = []
    for i, rules in enumerate(SPECIALIST_RULES):
        models[f"s{i}"] = {"backend": "scripted", "rules": rules}
        specialists.append({"name": f"Specialist {chr(65 + i)}", "model": f"s{i}"})
    if attending_model:
        models["attending"] = {"backend": "transformers", "path": attending_model, "device": "cpu"}
    data = {
        "models": models,
        "triage": {"model": "triage"},
        "attending": {"model": "attending"},
        "specialists": {"default": specialists},
    }
    path = Path(path)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
