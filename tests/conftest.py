"""Pytest fixtures and hooks only; the helpers behind them live in tests/support/.

Offline by design: the hub variables are set before anything imports transformers.
"""

from __future__ import annotations

import os

for _var, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_var, _value)

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from support.bench import bench_files  # noqa: E402
from support.fake_openai import FakeOpenAI  # noqa: E402
from support.mode_server import ModeServer  # noqa: E402

# Modules whose every test trains, fuzzes or drives the Textual app: minutes on two cores, so `-m "not slow"` skips
# them (CI runs everything). A test elsewhere that loads a real model (the tiny_model_dir fixture) is slow too.
SLOW_MODULES = {
    "test_train_runs",
    "test_train_resume",
    "test_train_grpo",
    "test_train_sft_loss",
    "test_transformers_backend",
    "test_hardening_fuzz",
    "test_tui",
    "test_tui_snapshots",
    "test_tui_tools",
    "test_validity_views",
    "test_smoke_paper",
}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.stem in SLOW_MODULES or "tiny_model_dir" in item.fixturenames:
            item.add_marker(pytest.mark.slow)


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


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fresh fake OpenAI server per test (so request counts and modes never leak between tests)."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def mode_server() -> Iterator[ModeServer]:
    """A fresh fake server whose answer depends on the ``model`` a request names (support/mode_server.py)."""
    with ModeServer() as server:
        yield server


@pytest.fixture
def bench_setup(tmp_path) -> tuple[Path, Path]:
    """A tiny VQA-RAD and its scripted panel file: ``(data root, panel.yaml)``."""
    return bench_files(tmp_path)
