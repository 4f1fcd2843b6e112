"""scripts/smoke_paper.py: the full-size architectures it builds for the GPU smoke run, and its data subset."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

import smoke_paper  # noqa: E402 - scripts/ is on the test path (pyproject)
from trainer.testing import fake_vqa_rad  # noqa: E402


@pytest.mark.parametrize("arch, params, hidden", [("7b", 8.29e9, 3584), ("3b", 3.75e9, 2048)])
def test_full_size_architectures_match_qwen2_5_vl(arch, params, hidden):
    facts = smoke_paper.build_model(None, arch, ["is there a lesion? yes"], device="meta")  # no memory used
    assert facts["params"] == pytest.approx(params, rel=0.01)
    assert facts["vision_params"] == pytest.approx(0.67e9, rel=0.02)
    assert facts["vocab_size"] > facts["tokenizer_size"]
    from trainer import tiny

    config = smoke_paper.make_config(arch, tiny.train_tokenizer(["x"], 300))
    assert config.text_config.hidden_size == hidden and config.vision_config.depth == 32


def test_subset_keeps_the_official_layout_and_only_train_rows(tmp_path):
    src = fake_vqa_rad(tmp_path / "src", per_kind=2, test_rows=2)
    dest = smoke_paper.vqa_rad_subset(src, tmp_path / "dest", limit=4)
    records = json.loads((dest / "VQA_RAD Dataset Public.json").read_text())
    assert len(records) == 4 and not any(r["phrase_type"].startswith("test") for r in records)
    assert {p.name for p in (dest / "VQA_RAD Image Folder").iterdir()} == {r["image_name"] for r in records}
