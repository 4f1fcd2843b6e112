"""One rule for where a panel's model lives (mmedtui.agents.locate), used by the panel, the bench and the trainer."""

from pathlib import Path

import pytest

from mmedtui.agents.locate import looks_like_hub_id, model_folder, weights_stamp


@pytest.mark.parametrize(
    "text, hub",
    [
        ("Qwen/Qwen2.5-VL-3B-Instruct", True),
        ("models/specialist-a", True),
        ("./models/specialist-a", False),
        ("/abs/model", False),
        ("~/model", False),
        ("runs/a/final", False),
        ("specialist-a", False),
    ],
)
def test_a_hub_id_is_owner_slash_name_and_never_a_path(text, hub):
    assert looks_like_hub_id(text) is hub


def test_a_model_path_is_relative_to_the_panel_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert model_folder("models/a", tmp_path / "p") == tmp_path / "p" / "models" / "a"
    assert model_folder("/x/y", tmp_path) == Path("/x/y")
    assert model_folder("~/m", Path("/elsewhere")) == tmp_path / "m"


def test_the_weights_stamp_changes_when_a_file_is_rewritten(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"1234")
    before = weights_stamp(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"123456")
    assert weights_stamp(tmp_path) != before and weights_stamp(tmp_path / "absent") == []


def test_rewriting_the_model_card_keeps_the_weights_stamp(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"1234")
    (tmp_path / "README.md").write_text("card")
    before = weights_stamp(tmp_path)
    (tmp_path / "README.md").write_text("a regenerated card with new figures")
    assert weights_stamp(tmp_path) == before  # scripts/results_page.py rewrites cards; caches must survive it
