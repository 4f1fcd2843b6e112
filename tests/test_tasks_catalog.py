"""Data root resolution, listing, verification and (offline) fetching for `mmedtui data`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mmedtui.errors import DataError
from mmedtui.tasks import catalog


def test_resolve_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("MMEDTUI_DATA", str(tmp_path / "env"))
    assert catalog.resolve_data_root(tmp_path / "flag") == tmp_path / "flag"
    assert catalog.resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("MMEDTUI_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert catalog.resolve_data_root(None) == tmp_path / "xdg" / "mmedtui" / "data"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert catalog.resolve_data_root("~/d") == Path.home() / "d"
    assert catalog.default_data_root() == Path.home() / ".local" / "share" / "mmedtui" / "data"


def _tiny_vqa_rad(root: Path, broken: bool = False) -> None:
    base = root / "vqa-rad"
    (base / "VQA_RAD Image Folder").mkdir(parents=True)
    Image.new("RGB", (6, 6)).save(base / "VQA_RAD Image Folder" / "a.jpg")
    if broken:
        (base / "VQA_RAD Image Folder" / "b.jpg").write_bytes(b"not a jpeg")
    recs = [
        {"qid": i, "phrase_type": p, "image_name": img, "question": "Is it?", "answer": "yes", "answer_type": "CLOSED"}
        for i, (p, img) in enumerate(
            [("freeform", "a.jpg"), ("test_freeform", "a.jpg"), ("test_para", "b.jpg"), ("test_para", "c.jpg")]
        )
    ]
    (base / "VQA_RAD Dataset Public.json").write_text(json.dumps(recs))


def test_list_tasks(tmp_path):
    _tiny_vqa_rad(tmp_path)
    rows = {r["name"]: r for r in catalog.list_tasks(tmp_path)}
    assert list(rows) == ["vqa-rad", "slake", "pathvqa", "omnimedvqa", "mmmu-med"]
    # Counts are cheap: question files only, no per-image existence checks (verify does those).
    assert rows["vqa-rad"]["layout"] == "official" and rows["vqa-rad"]["splits"] == {"train": 1, "test": 3}
    assert rows["slake"]["path"] is None and "BoKelvin/SLAKE" in rows["slake"]["how_to_get"]
    assert rows["mmmu-med"]["domain"] == "out-of-domain"


def test_verify_reports_problems(tmp_path):
    _tiny_vqa_rad(tmp_path, broken=True)
    report = catalog.verify(tmp_path, "vqa-rad")
    assert report["splits"]["test"]["items"] == 2 and report["splits"]["test"]["skipped"] == 1
    problems = " | ".join(report["problems"])
    assert "image file missing" in problems and "does not load" in problems
    assert report["lines"]
    missing = catalog.verify(tmp_path, "slake")
    assert missing["problems"] and "not found" in missing["problems"][0]


def test_verify_clean_copy_has_no_problems(tmp_path):
    _tiny_vqa_rad(tmp_path)
    (tmp_path / "vqa-rad" / "VQA_RAD Image Folder" / "b.jpg").write_bytes(
        (tmp_path / "vqa-rad" / "VQA_RAD Image Folder" / "a.jpg").read_bytes()
    )
    Image.new("RGB", (6, 6)).save(tmp_path / "vqa-rad" / "VQA_RAD Image Folder" / "c.jpg")
    assert catalog.verify(tmp_path, "vqa-rad")["problems"] == []


def test_fetch_offline_is_a_clear_data_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in ("vqa-rad", "mmmu-med"):
        with pytest.raises(DataError, match="offline"):
            catalog.fetch(tmp_path, name)
    assert not (tmp_path / "vqa-rad").exists()


def test_fetch_wraps_hub_failures(monkeypatch, tmp_path):
    import huggingface_hub

    def boom(**kwargs):
        raise OSError("network unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(catalog, "_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", boom)
    with pytest.raises(DataError, match="network unreachable"):
        catalog.fetch(tmp_path, "slake")
