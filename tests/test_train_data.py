"""Training data: the fit / holdout split, closed questions in their `mc` form, one image per image file."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from mmedtui.agents.roles import Opinion
from mmedtui.tasks.base import ImageRef, Item
from support.paths import SHARED_DATA, needs_shared_data
from trainer import curriculum
from trainer.data.images import ImageCache
from trainer.data.items import PanelCase, in_part, with_options
from trainer.data.rows import gold_text, repeat_closed


def _item(i: int, question="Is this normal?", answer="yes", kind="closed", image=None, task="vqa-rad"):
    ref = ImageRef.file(image) if image else ImageRef.file(SHARED_DATA / f"img{i // 4}.jpg")
    return Item(task, "train", str(i), question, answer, kind, None, "CT", None, ref)


def test_holdout_split_is_by_image_disjoint_and_stable():
    items = [_item(i) for i in range(400)]  # 4 questions per image
    fit = {it.id for it in items if in_part(it, "fit", 0.3, SHARED_DATA)}
    held = {it.id for it in items if in_part(it, "holdout", 0.3, SHARED_DATA)}
    assert fit.isdisjoint(held) and len(fit | held) == 400
    assert 0.2 < len(held) / 400 < 0.4
    for it in items:  # every question about one image falls on the same side
        assert in_part(it, "holdout", 0.3, SHARED_DATA) == in_part(
            _item(int(it.id) // 4 * 4), "holdout", 0.3, SHARED_DATA
        )
    assert all(in_part(it, "all", 0.3, SHARED_DATA) and in_part(it, "fit", 0.0, SHARED_DATA) for it in items)


def test_the_splits_do_not_depend_on_where_the_data_lives_or_how_its_root_is_spelled(tmp_path, monkeypatch):
    import os
    import shutil

    from trainer.config import load_config
    from trainer.data.items import load_items
    from trainer.testing import fake_vqa_rad
    from trainer.validation import in_validation

    def split(root):
        cfg = load_config(
            "specialist",
            "tiny",
            sets=[f"data.root={root}", "data.holdout=0.5", "data.part=holdout", "data.tasks=[vqa-rad]"],
        )
        items = load_items(cfg.data)
        return {it.id for it in items}, {it.id for it in items if in_validation(it, 0.5, cfg.data_root)}

    first = fake_vqa_rad(tmp_path / "a" / "data", per_kind=8)
    moved = tmp_path / "elsewhere" / "deeper" / "data"
    shutil.copytree(first, moved)
    monkeypatch.chdir(tmp_path / "a")
    held, val = split(first)
    assert 0 < len(held) < 24 and 0 < len(val) < len(held)
    assert split("data") == split("./data/") == split(moved) == split(os.path.relpath(moved)) == (held, val)


def test_closed_questions_carry_the_options_the_bench_asks_with():
    yes_no = with_options(_item(0, answer="Yes"))
    assert yes_no.options == ["yes", "no"] and gold_text(yes_no) == "yes"
    alt = with_options(_item(1, "Is this an MRI or a CT scan?", "ct"))
    assert alt.options == ["MRI", "CT"] and gold_text(alt) == "CT"
    assert with_options(_item(2, "What organ is shown?", "liver", kind="open")).options is None
    assert with_options(_item(3, "Is this an MRI or a CT scan?", "x-ray")).options is None  # gold not named


def test_closed_rows_repeat_and_open_rows_do_not():
    items = [_item(0), _item(1, "What organ?", "liver", kind="open"), _item(2, answer="no")]
    rows = [{"n": i} for i in range(3)]
    assert repeat_closed(rows, items, 1) == rows
    assert sorted(r["n"] for r in repeat_closed(rows, items, 3)) == [0, 0, 0, 1, 2, 2, 2]


def test_solo_rows_repeat_a_seeded_share_of_cases_without_their_opinions(tmp_path):
    import random

    from trainer.data.rows import attending_rows
    from trainer.train import solo_cases

    ops = [Opinion("A", "R", "yes")]
    cases = [PanelCase(_item(i), ops, stage="easy") for i in range(10)]
    solo = solo_cases(cases, 0.3, random.Random(0))
    assert len(solo) == 3 and all(c.opinions == [] and c.stage == "easy" for c in solo)
    assert [c.item.id for c in solo] == [c.item.id for c in solo_cases(cases, 0.3, random.Random(0))]
    assert solo_cases(cases, 0.0, random.Random(0)) == []
    path = tmp_path / "scan.png"
    Image.new("RGB", (16, 16)).save(path)
    rows = attending_rows(
        [PanelCase(_item(0, image=path), ops), PanelCase(_item(0, image=path))], ImageCache(16), targets=True
    )
    texts = [str(r["prompt"]) for r in rows]
    assert "1. A (R): yes" in texts[0] and "no specialist opinion is available" in texts[1]
    assert rows[0]["completion"] == rows[1]["completion"]


def test_image_cache_tells_apart_images_that_share_a_file_name(tmp_path):
    paths = []
    for folder, shade in (("xmlab1", 30), ("xmlab2", 220)):  # SLAKE: every image is <folder>/source.jpg
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "source.jpg")
        Image.new("RGB", (32, 32), (shade,) * 3).save(paths[-1])
    a, b = (_item(i, image=p, task="slake") for i, p in enumerate(paths))
    cache = ImageCache(16)
    assert cache.small(a).getpixel((0, 0)) != cache.small(b).getpixel((0, 0))
    assert cache.hash(a) != cache.hash(b)


def test_specialist_accuracy_on_the_opinion_cases():
    cases = [
        PanelCase(_item(0, answer="yes"), [Opinion("A", "R", "yes"), Opinion("B", "R", "no")]),
        PanelCase(_item(1, answer="no"), [Opinion("A", "R", "no"), Opinion("B", "R", error="timeout")]),
    ]
    assert curriculum.accuracy(cases) == {"A": 100.0, "B": 0.0}


@needs_shared_data()
@pytest.mark.parametrize("task", ["vqa-rad", "slake"])
def test_real_fit_and_holdout_share_no_image(task):
    from trainer.config import load_config
    from trainer.data.items import load_items

    def part(name):
        cfg = load_config(
            "specialist",
            "tiny",
            sets=["data.limit=null", "data.holdout=0.3", f"data.part={name}"],
            **{"data.root": str(SHARED_DATA), "data.tasks": [task]},
        )
        return load_items(cfg.data)

    fit, held = part("fit"), part("holdout")
    assert {it.image_ref.key for it in fit}.isdisjoint({it.image_ref.key for it in held})
    assert len(fit) + len(held) == {"vqa-rad": 1797, "slake": 4918}[task]
    assert 0.2 < len(held) / (len(fit) + len(held)) < 0.4


def test_bccd_triage_source_keeps_train_ids_inside_the_folder(tmp_path):
    from trainer.data.triage import _bccd

    folder = tmp_path / "bccd" / "BCCD"
    (folder / "ImageSets" / "Main").mkdir(parents=True)
    (folder / "JPEGImages").mkdir()
    for name in ("BloodImage_00001", "BloodImage_00002"):
        Image.new("RGB", (40, 30), (180, 90, 120)).save(folder / "JPEGImages" / f"{name}.jpg")
    Image.new("RGB", (8, 8)).save(tmp_path / "secret.jpg")
    (folder / "ImageSets" / "Main" / "train.txt").write_text("BloodImage_00001\nBloodImage_00002\n../../../secret\n")
    (folder / "ImageSets" / "Main" / "test.txt").write_text("BloodImage_00002\n")
    loaders = _bccd(tmp_path)
    assert len(loaders) == 1 and loaders[0]().size == (40, 30)  # no escape, no test image


def test_other_image_rows_name_what_the_image_is_and_never_show_the_sample_fundus(tmp_path):
    """Specialist rows on images outside VQA-RAD / SLAKE: a smear is "a blood smear", asked about CT it says no,
    asked about its own modality yes; scikit-image's retina (the shipped sample's source) is never among them."""
    from trainer.data.other_images import sft_rows
    from trainer.data.triage import image_sources

    folder = tmp_path / "bccd" / "BCCD"
    (folder / "ImageSets" / "Main").mkdir(parents=True)
    (folder / "JPEGImages").mkdir()
    Image.new("RGB", (64, 48), (180, 90, 120)).save(folder / "JPEGImages" / "BloodImage_00001.jpg")
    (folder / "ImageSets" / "Main" / "train.txt").write_text("BloodImage_00001\n")
    assert "skimage-retina" not in {s.name for s in image_sources(tmp_path, retina=False)}
    rows, notes = sft_rows(tmp_path, per_source=3, max_side=64)
    sources = {json.loads(r["item"])["task"] for r in rows}
    assert "other:bccd" in sources and not any("retina" in s for s in sources)
    assert notes == ["other images breastmnist: not found, skipped"]
    for row in rows:
        item = json.loads(row["item"])
        target = row["completion"][0]["content"][0]["text"]
        own = item["question"].endswith(("microscopy?", "ultrasound?", "fundus photography?"))
        assert target.endswith(f"<answer>{'yes' if own else 'no'}</answer>"), (item["question"], target)
        if item["task"] == "other:bccd":
            assert "A blood smear under the microscope." in target
        assert Image.open(io.BytesIO(row["image"]["bytes"])).size[0] <= 64


def test_eval_closed_reports_each_task_part_with_its_count(tmp_path, tiny_model_dir, capsys):
    from eval_closed import main  # scripts/eval_closed.py
    from trainer.config import load_config
    from trainer.data.items import load_items
    from trainer.testing import fake_vqa_rad

    root = fake_vqa_rad(tmp_path / "data", per_kind=6)
    cfg = load_config(
        "specialist", "tiny", sets=[f"data.root={root}", "data.holdout=0.3", "data.part=fit", "data.tasks=[vqa-rad]"]
    )
    fit = [it for it in load_items(cfg.data) if it.kind == "closed" and it.options]
    main([str(tiny_model_dir), "--data-root", str(root), "--part", "fit", "--tasks", "vqa-rad"])
    line = capsys.readouterr().out.strip()
    assert f"vqa-rad fit  n={len(fit)}  closed accuracy" in line and "answers:" in line


def test_probe_answer_trains_on_the_answer_token_and_reports_each_epoch(tmp_path, capsys):
    from probe_answer import main  # scripts/probe_answer.py
    from trainer.testing import fake_vqa_rad

    root = fake_vqa_rad(tmp_path / "data", per_kind=8)
    main(["--data-root", str(root), "--tasks", "vqa-rad", "--image", "scan", "--epochs", "2", "--batch", "4"])
    out = capsys.readouterr().out
    assert "epoch 1: fit" in out and "epoch 2: fit" in out and "holdout" in out


def test_the_validation_hash_is_stable_and_independent_of_the_holdout_split():
    from pathlib import Path

    from mmedtui.tasks.base import ImageRef, Item
    from trainer.data.items import in_part
    from trainer.validation import in_validation, split_groups

    items = [
        Item(
            "vqa-rad",
            "train",
            f"q{i}",
            "Is it?",
            "yes",
            "closed",
            ["yes", "no"],
            None,
            None,
            ImageRef.file(Path(f"img{i // 2}.jpg")),
        )
        for i in range(2000)
    ]
    root = Path(".")
    held = [in_validation(it, 0.2, root) for it in items]
    assert held == [in_validation(it, 0.2, root) for it in items]  # stable
    assert all(held[i] == held[i + 1] for i in range(0, 2000, 2))  # one image, one side
    assert 0.15 < sum(held) / 2000 < 0.25
    assert not any(in_validation(it, 0.0, root) for it in items)
    # Independent of fit / holdout: about a fifth of the holdout part is held back, not all or none of it.
    holdout = [v for it, v in zip(items, held) if in_part(it, "holdout", 0.3, root)]
    assert 0.1 < sum(holdout) / len(holdout) < 0.3
    groups = {"easy": [PanelCase(it) for it in items[:1000]], "hard": [PanelCase(it) for it in items[1000:]]}
    train, val = split_groups(groups, 0.2, root)
    assert sum(map(len, train.values())) + len(val) == 2000 and len(val) == sum(held)


def test_triage_picks_distinct_images_of_known_modality_first(tmp_path):
    from dataclasses import replace

    from trainer.config import load_config
    from trainer.data.triage import gather

    for i in range(22):
        Image.new("RGB", (32, 32), (10 * i, 0, 0)).save(tmp_path / f"img{i}.png")
    known = [_item(i, image=tmp_path / f"img{i // 4}.png") for i in range(8)]  # 2 CT images, 4 questions each
    unknown = [replace(_item(100 + i, image=tmp_path / f"img{2 + i}.png"), modality=None) for i in range(20)]
    cfg = load_config("triage", "tiny", sets=["triage.max_radiology=3", "triage.extra_sources=false"])
    examples, _ = gather(cfg.data, cfg.triage, unknown + known)
    # the two CT images once each, then one of unknown modality: never the same CT image again
    assert sorted(e.modality or "?" for e in examples) == ["?", "CT", "CT"]


def test_triage_generic_share_asks_questions_that_name_no_kind_of_image(tmp_path):
    from trainer.config import load_config
    from trainer.data.triage import GENERIC, gather

    for i in range(40):
        Image.new("RGB", (32, 32), (5 * i, 0, 0)).save(tmp_path / f"img{i}.png")
    items = [_item(i, image=tmp_path / f"img{i}.png") for i in range(40)]
    own = {it.question for it in items}
    for share, low, high in ((0.0, 0, 0), (0.5, 10, 30), (1.0, 40, 40)):
        cfg = load_config(
            "triage",
            "tiny",
            sets=["triage.max_radiology=null", "triage.extra_sources=false", f"triage.generic_share={share}"],
        )
        examples, _ = gather(cfg.data, cfg.triage, items)
        generic = [e for e in examples if e.question in GENERIC]
        assert low <= len(generic) <= high
        assert all(e.question in own for e in examples if e.question not in GENERIC)
        assert {e.department for e in examples} == {"Radiologist"}  # the label never changes with the question
