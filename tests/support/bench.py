"""A tiny VQA-RAD in the official JSON layout, and a scripted panel whose answers are known per question.

Hand-computed expectations live next to the data so the tests read as arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from PIL import Image

from mmedtui.bench.systems import panel_with_baselines

# (question, gold, answer_type); the keyword in capitals below is what the scripted agents react to.
ROWS = [
    ("Is there a fracture?", "yes", "CLOSED"),
    ("Is the liver enlarged?", "no", "CLOSED"),
    ("Is there a mass?", "yes", "CLOSED"),
    ("Is this an MRI or a CT scan?", "CT", "CLOSED"),  # not yes/no: outside `mc` under the huatuo protocol
    ("What organ is shown?", "liver", "OPEN"),
    ("What modality is used?", "CT", "OPEN"),
]
KEYS = ("fracture", "liver enlarged", "mass", "MRI or a CT", "organ", "modality")
SPECIALISTS = {  # per agent: reply per question keyword (same order as KEYS)
    "A": ("yes", "yes", "yes", "CT", "liver", "MRI"),
    "B": ("no", "no", "yes", "MRI", "the liver", "CT"),
    "C": ("no", "yes", "no", "CT", "kidney", "ct scan"),
}
ATTENDING = ("yes", "no", "yes", "CT", "liver", "CT scan")

# Expected accuracies (%), worked out by hand from the tables above.
EXPECTED_MC = {  # the three yes/no questions
    "specialist:Specialist A": 200 / 3,
    "specialist:Specialist B": 200 / 3,
    "specialist:Specialist C": 0.0,
    "majority-vote": 100 / 3,  # no (B,C) wrong, yes (A,C) wrong, yes (A,B) right
    "mmedagent-rl": 100.0,
    "mmedagent-rl-tts": 100.0,
    "no-triage": 100.0,
    "no-specialists": 100 / 3,  # alone, the attending answers "no" to everything: only the liver is right
    "self-consistency": 200 / 3,  # by default the base (static-pipeline) attending alone, sampled: yes
    "static-pipeline": 200 / 3,  # the base attending always says yes
    "no-curriculum": 100 / 3,  # always no
}
EXPECTED_CLOSED = {"specialist:Specialist A": 75.0, "majority-vote": 50.0, "mmedagent-rl": 100.0}
EXPECTED_OPEN = {
    "specialist:Specialist A": 50.0,
    "specialist:Specialist B": 100.0,
    "specialist:Specialist C": 0.0,
    "majority-vote": 50.0,
    "mmedagent-rl": 50.0,
}


def write_vqa_rad(root: Path, rows=ROWS) -> Path:
    folder = root / "vqa-rad"
    images = folder / "VQA_RAD Image Folder"
    images.mkdir(parents=True)
    records = []
    for i, (question, answer, atype) in enumerate(rows):
        name = f"synpic{i}.jpg"
        Image.new("RGB", (32, 32), (40 * i % 255, 80, 120)).save(images / name)
        records.append(
            {
                "qid": i + 1,
                "image_name": name,
                "question": question,
                "answer": answer,
                "answer_type": atype,
                "phrase_type": "test_freeform",
                "question_type": "PRES",
                "image_organ": "HEAD",
            }
        )
    records.append(
        {
            "qid": 99,
            "image_name": "synpic0.jpg",
            "question": "Is it a train row?",
            "answer": "yes",
            "answer_type": "CLOSED",
            "phrase_type": "freeform",
            "image_organ": "HEAD",
        }
    )
    (folder / "VQA_RAD Dataset Public.json").write_text(json.dumps(records), encoding="utf-8")
    return root


def _rules(answers) -> dict[str, str]:
    return {k: f"<think>r</think><answer>{a}</answer>" for k, a in zip(KEYS, answers)}


def panel_data(baselines: bool = True) -> dict:
    lone = {"no specialist opinion is available": "<think>alone</think><answer>no</answer>"}
    models = {
        "triage": {"backend": "scripted", "replies": ["<think>CT of the head</think><answer>Radiologist</answer>"]},
        # Rules are tried in order: the lone-attending rule first, so it wins over the question keywords.
        "attending": {"backend": "scripted", "rules": lone | _rules(ATTENDING)},
        "base": {"backend": "scripted", "replies": ["<think>b</think><answer>yes</answer>"]},
        "nocurr": {"backend": "scripted", "replies": ["<think>n</think><answer>no</answer>"]},
    }
    specialists = []
    for name, answers in SPECIALISTS.items():
        models[f"s{name}"] = {"backend": "scripted", "rules": _rules(answers)}
        specialists.append({"name": f"Specialist {name}", "model": f"s{name}"})
    data = {
        "models": models,
        "triage": {"model": "triage"},
        "attending": {"model": "attending"},
        "specialists": {"default": specialists},
    }
    if baselines:
        data["baselines"] = {
            "static-pipeline": {"attending": {"model": "base"}},
            "no-curriculum": {"attending": {"model": "nocurr"}},
        }
    return data


def make_panel(baselines: bool = True):
    return panel_with_baselines(panel_data(baselines))


def calls(panel) -> int:
    """Prompts every built backend has received."""
    return sum(len(getattr(b, "calls", [])) for b in panel._backends.values())


def bench_files(tmp_path: Path) -> tuple[Path, Path]:
    """The tiny VQA-RAD under tmp_path/data and its scripted panel (with baselines) as tmp_path/panel.yaml."""
    root = write_vqa_rad(tmp_path / "data")
    panel = tmp_path / "panel.yaml"
    panel.write_text(yaml.safe_dump(panel_data(), sort_keys=False), encoding="utf-8")
    return root, panel
