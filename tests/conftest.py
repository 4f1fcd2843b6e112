"""Shared fixtures. Offline by design: the hub variables are set before anything imports transformers."""

from __future__ import annotations

import os

for _var, _value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                     "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false"}.items():
    os.environ.setdefault(_var, _value)

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
VQA_RAD_SCAN = SHARED_DATA / "vqa-rad" / "VQA_RAD Image Folder" / "synpic54610.jpg"


# Modules whose every test trains, fuzzes or drives the Textual app: minutes on two cores, so `-m "not slow"` skips
# them (CI runs everything). A test elsewhere that loads a real model (the tiny_model_dir fixture) is slow too.
SLOW_MODULES = {"test_train_runs", "test_train_resume", "test_train_grpo", "test_train_sft_loss",
                "test_transformers_backend", "test_hardening_fuzz", "test_tui", "test_tui_snapshots", "test_tui_tools",
                "test_validity_views", "test_smoke_paper"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.stem in SLOW_MODULES or "tiny_model_dir" in item.fixturenames:
            item.add_marker(pytest.mark.slow)


def needs_shared_data(path: Path = SHARED_DATA):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not present")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-weight micro Qwen2.5-VL (about 1 M parameters), built offline once per test session."""
    from trainer.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "micro", size="micro", seed=0)


@pytest.fixture
def scan_image() -> Image.Image:
    """A synthetic 'scan': a bright disc on a dark field."""
    from PIL import ImageDraw

    image = Image.new("RGB", (256, 256), (10, 10, 10))
    ImageDraw.Draw(image).ellipse((60, 60, 196, 196), fill=(200, 200, 200))
    return image


def scripted_panel(specialist_replies=None, **overrides):
    """A panel of scripted backends: triage names Radiologist, three specialists, an attending."""
    from mmedtui.agents.panel import parse_panel

    replies = specialist_replies or ["<think>a</think><answer>yes</answer>",
                                     "<think>b</think><answer>yes</answer>",
                                     "<think>c</think><answer>no</answer>"]
    models = {
        "triage": {"backend": "scripted", "replies": ["<think>CT of the head</think><answer>Radiologist</answer>"]},
        "attending": {"backend": "scripted", "replies": ["<think>weighing</think><answer>yes</answer>"]},
    }
    specialists = []
    for i, reply in enumerate(replies):
        models[f"s{i}"] = {"backend": "scripted", "replies": [reply]}
        specialists.append({"name": f"Specialist {chr(65 + i)}", "model": f"s{i}"})
    data = {"models": models, "triage": {"model": "triage"}, "attending": {"model": "attending"},
            "specialists": {"default": specialists}}
    for key, value in overrides.items():
        data[key] = value
    return parse_panel(data)
