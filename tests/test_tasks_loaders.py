"""Every loader in every supported layout, on tiny fixtures written here in the exact release formats."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mmedtui.errors import DamagedData, DataError, UserError
from mmedtui.tasks import TASKS, get_task
from mmedtui.tasks.base import canonical_split, safe_relpath
from mmedtui.tasks.choices import mc_set

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def jpeg(color=(120, 30, 30), size=(8, 6)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="JPEG")
    return buf.getvalue()


def write_image(path: Path, color=(120, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(jpeg(color))
    return path


def write_parquet(path: Path, rows: list[dict], image_cols=("image",)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        columns[key] = pa.array(values, type=IMAGE_TYPE) if key in image_cols else pa.array(values)
    pq.write_table(pa.table(columns), path, row_group_size=2)
    return path


def hf_rows(n: int, yes_every=2) -> list[dict]:
    return [
        {
            "image": {"bytes": jpeg((i * 20 % 255, 0, 0)), "path": f"img_{i}.jpg"},
            "question": f"is there finding {i}?" if i % yes_every == 0 else f"what is shown {i}?",
            "answer": ("yes" if i % 4 == 0 else "no") if i % yes_every == 0 else f"organ {i}",
        }
        for i in range(n)
    ]


def check_images(items, n=3):
    for it in items[:n]:
        images = it.image_ref.load()
        assert images and all(im.mode == "RGB" for im in images)


# ---------------------------------------------------------------- shared pieces


def test_registry_and_splits():
    assert list(TASKS) == ["vqa-rad", "slake", "pathvqa", "omnimedvqa", "mmmu-med"]
    assert [n for n, t in TASKS.items() if t.in_domain] == ["vqa-rad", "slake", "pathvqa"]
    assert get_task("VQA_RAD") is TASKS["vqa-rad"]
    with pytest.raises(UserError):
        get_task("medqa")
    assert {t.name: t.default_split for t in TASKS.values()} == {
        "vqa-rad": "test",
        "slake": "test",
        "pathvqa": "test",
        "omnimedvqa": "test",
        "mmmu-med": "validation",
    }
    assert canonical_split("validate") == canonical_split("val") == canonical_split("Validation") == "validation"
    for t in TASKS.values():
        assert t.hf_id in t.describe() and t.how_to_get


@pytest.mark.parametrize(
    "rel, ok",
    [
        ("imgs/a.jpg", "imgs/a.jpg"),
        ("./a/b.png", "a/b.png"),
        ("a\\b.png", "a/b.png"),
        ("../x.png", None),
        ("a/../../x", None),
        ("/etc/passwd", None),
        ("C:/x.png", None),
        ("", None),
    ],
)
def test_safe_relpath(rel, ok):
    assert safe_relpath(rel) == ok


def test_missing_dataset_and_unknown_split(tmp_path):
    with pytest.raises(DataError, match="not found"):
        TASKS["vqa-rad"].load(tmp_path)
    with pytest.raises(DataError, match="unknown split"):
        TASKS["vqa-rad"].load(tmp_path, "bogus")


# ---------------------------------------------------------------- VQA-RAD


def vqa_rad_official(root: Path) -> Path:
    base = root / "vqa-rad"
    imgs = base / "VQA_RAD Image Folder"
    for name in ("synpic1.jpg", "synpic2.jpg"):
        write_image(imgs / name)
    common = {
        "qid_linked_id": "u",
        "image_case_url": "http://x",
        "image_organ": "HEAD",
        "evaluation": "given",
        "question_rephrase": "NULL",
        "question_relation": "NULL",
        "question_frame": "NULL",
        "question_type": "PRES",
    }
    recs = [
        {
            **common,
            "qid": "0",
            "phrase_type": "freeform",
            "image_name": "synpic1.jpg",
            "question": "Is it?",
            "answer": "Yes",
            "answer_type": "CLOSED",
        },
        {
            **common,
            "qid": 1,
            "phrase_type": "para",
            "image_name": "synpic1.jpg",
            "question": "How many?",
            "answer": 4,
            "answer_type": "OPEN",
        },
        {
            **common,
            "qid": 2,
            "phrase_type": "freeform",
            "image_name": "synpic2.jpg",
            "question": "Maybe?",
            "answer": "Maybe",
            "answer_type": "CLOSED ",
        },
        {
            **common,
            "qid": 3,
            "phrase_type": "test_freeform",
            "image_name": "synpic1.jpg",
            "question": "Is there an aneurysm?",
            "answer": "yes",
            "answer_type": "CLOSED",
        },
        {
            **common,
            "qid": 4,
            "phrase_type": "test_para",
            "image_name": "synpic2.jpg",
            "question": "Is this an MRI or a CT scan?",
            "answer": "MRI",
            "answer_type": "CLOSED",
        },
        {
            **common,
            "qid": 5,
            "phrase_type": "test_freeform",
            "image_name": "synpic2.jpg",
            "question": "Where?",
            "answer": " superficial to the skin",
            "answer_type": "OPEN",
        },
        {
            **common,
            "qid": 6,
            "phrase_type": "test_freeform",
            "image_name": "../escape.jpg",
            "question": "Escape?",
            "answer": "no",
            "answer_type": "CLOSED",
        },
        {
            **common,
            "qid": 7,
            "phrase_type": "test_freeform",
            "image_name": "synpic9.jpg",
            "question": "Missing image?",
            "answer": "no",
            "answer_type": "CLOSED",
        },
    ]
    del recs[2]["question_rephrase"]
    (base / "VQA_RAD Dataset Public.json").write_text(json.dumps(recs))
    (base / "mevf_data_RAD").mkdir()
    (base / "mevf_data_RAD" / "trainset.json").write_text("[]")
    return base


def test_vqa_rad_official(tmp_path):
    vqa_rad_official(tmp_path)
    task = TASKS["vqa-rad"]
    train = task.load(tmp_path, "train")
    assert train.layout == "official" and [i.id for i in train.items] == ["0", "1", "2"]
    assert train.items[1].answer == "4" and train.items[1].kind == "open"
    assert train.items[2].kind == "closed" and train.items[2].meta["question_rephrase"] is None
    assert any("mevf" in n for n in train.notes)
    test = task.load(tmp_path)  # default split: test
    assert [i.id for i in test.items] == ["3", "4", "5"]
    assert test.skipped == 2 and test.skip_reasons == {"bad image path": 1, "image file missing": 1}
    assert test.items[2].answer == "superficial to the skin"
    assert {i.department for i in test.items} == {"Radiologist"} and test.items[0].meta["image_organ"] == "HEAD"
    assert len(mc_set(test.items)) == 1 and len(mc_set(test.items, protocol="closed")) == 2
    assert len(task.load(tmp_path, "test", limit=2).items) == 2
    with pytest.raises(DataError, match="unknown split"):
        task.load(tmp_path, "validation")
    check_images(test.items)


def test_vqa_rad_parquet_nested_folder(tmp_path):
    rows = hf_rows(6)
    write_parquet(tmp_path / "vqa-rad" / "data" / "train-00000-of-00001-abc.parquet", rows)
    write_parquet(tmp_path / "vqa-rad" / "data" / "test-00000-of-00001-def.parquet", rows[:4])
    res = TASKS["vqa-rad"].load(tmp_path, "test")
    assert res.layout == "parquet" and len(res.items) == 4
    assert [i.kind for i in res.items] == ["closed", "open", "closed", "open"]
    assert res.items[0].id == "test-0" and res.items[0].image_ref.names == ["img_0.jpg"]
    check_images(res.items)
    assert len(TASKS["vqa-rad"].load(tmp_path, "train").items) == 6


def _hf_dataset(rows, image_cols=("image",)):
    datasets = pytest.importorskip("datasets")
    feats = datasets.Features({k: datasets.Image() if k in image_cols else datasets.Value("string") for k in rows[0]})
    return datasets.Dataset.from_dict({k: [r[k] for r in rows] for k in rows[0]}, features=feats)


@pytest.mark.parametrize("name, split", [("vqa-rad", "test"), ("pathvqa", "validation"), ("slake", "test")])
def test_save_to_disk_dataset_dict(tmp_path, name, split):
    datasets = pytest.importorskip("datasets")
    rows = hf_rows(4)
    datasets.DatasetDict({"train": _hf_dataset(rows), split: _hf_dataset(rows).select([0, 1])}).save_to_disk(
        str(tmp_path / name)
    )
    res = TASKS[name].load(tmp_path, split)
    assert res.layout == "save_to_disk" and len(res.items) == 2 and res.items[0].kind == "closed"
    assert len(TASKS[name].load(tmp_path, "train").items) == 4
    check_images(res.items)


def test_save_to_disk_single_dataset_is_default_split(tmp_path):
    _hf_dataset(hf_rows(3)).save_to_disk(str(tmp_path / "pathvqa"))
    res = TASKS["pathvqa"].load(tmp_path)
    assert res.layout == "save_to_disk" and len(res.items) == 3
    with pytest.raises(DataError):
        TASKS["pathvqa"].load(tmp_path, "train")


def test_slake_save_to_disk_of_hf_json_with_imgs_zip(tmp_path):
    """``load_dataset("BoKelvin/SLAKE").save_to_disk`` keeps no image column: images come from imgs.zip."""
    datasets = pytest.importorskip("datasets")
    recs = [{k: (json.dumps(v) if k == "triple" else v) for k, v in r.items()} for r in slake_records()]
    ds = datasets.Dataset.from_list(recs)
    datasets.DatasetDict({"validation": ds}).save_to_disk(str(tmp_path / "slake"))
    with zipfile.ZipFile(tmp_path / "slake" / "imgs.zip", "w") as zf:
        zf.writestr("imgs/xmlab1/source.jpg", jpeg())
    res = TASKS["slake"].load(tmp_path, "validate")
    assert res.layout == "save_to_disk" and len(res.items) == 3 and res.skip_reasons == {"empty answer": 1}
    check_images(res.items)


# ---------------------------------------------------------------- SLAKE


def slake_records(lang="en", start=0, img=1):
    base = {"location": "Lung", "modality": "CT", "base_type": "vqa", "triple": ["vhead", "_", "_"]}
    recs = [
        {
            **base,
            "qid": start,
            "img_id": img,
            "img_name": f"xmlab{img}/source.jpg",
            "q_lang": lang,
            "question": "Does the picture contain liver?",
            "answer": "Yes",
            "answer_type": "CLOSED",
            "content_type": "Organ",
        },
        {
            **base,
            "qid": start + 1,
            "img_id": img,
            "img_name": f"xmlab{img}/source.jpg",
            "q_lang": lang,
            "question": "Which is bigger in this image, liver or heart?",
            "answer": "Liver",
            "answer_type": "CLOSED",
            "content_type": "Size",
        },
        {
            **base,
            "qid": start + 2,
            "img_id": img,
            "img_name": f"xmlab{img}/source.jpg",
            "q_lang": lang,
            "question": "What modality is used?",
            "answer": "CT",
            "answer_type": "OPEN",
            "content_type": "Modality",
        },
        {
            **base,
            "qid": start + 3,
            "img_id": img,
            "img_name": f"xmlab{img}/source.jpg",
            "q_lang": lang,
            "question": "Does the picture contain liver?",
            "answer": "",
            "answer_type": "OPEN",
            "content_type": "Organ",
        },
    ]
    return recs


def test_slake_official_dir(tmp_path):
    base = tmp_path / "slake" / "Slake1.0"  # the release's own top folder
    write_image(base / "imgs" / "xmlab1" / "source.jpg")
    (base / "train.json").write_text(json.dumps(slake_records() + slake_records("zh", 10)))
    (base / "validate.json").write_text(json.dumps(slake_records(start=20)))
    task = TASKS["slake"]
    assert task.locate(tmp_path) == base
    assert task.available_splits(base, "official") == ["train", "validation"]
    train = task.load(tmp_path, "train")
    assert len(train.items) == 3 and train.skip_reasons == {"empty answer": 1}
    assert [i.kind for i in train.items] == ["closed", "closed", "open"]
    assert train.items[0].modality == "CT" and train.items[0].department == "Radiologist"
    assert train.items[0].meta["content_type"] == "Organ"
    assert len(task.load(tmp_path, "validate").items) == 3  # alias
    assert len(task.load(tmp_path, "train", lang="zh").items) == 3
    assert len(task.load(tmp_path, "train", lang="all").items) == 6
    assert len(mc_set(train.items)) == 2
    with pytest.raises(DataError, match="test"):
        task.load(tmp_path)  # no test.json here
    check_images(train.items)


@pytest.mark.parametrize("prefix", ["imgs/", "", "Slake1.0/imgs/"])
def test_slake_hf_files_with_zip(tmp_path, prefix):
    base = tmp_path / "slake"
    base.mkdir()
    (base / "validation.json").write_text(json.dumps(slake_records()))
    (base / "test.json").write_text(json.dumps(slake_records(start=40, img=2)))
    with zipfile.ZipFile(base / "imgs.zip", "w") as zf:
        zf.writestr(f"{prefix}xmlab1/source.jpg", jpeg())
        zf.writestr(f"{prefix}xmlab2/source.jpg", jpeg((0, 90, 0)))
    task = TASKS["slake"]
    res = task.load(tmp_path)  # test.json present -> default split works
    assert len(res.items) == 3 and any("imgs.zip" in n for n in res.notes)
    check_images(res.items)
    assert len(task.load(tmp_path, "val").items) == 3


def test_slake_zip_missing_member_is_skipped(tmp_path):
    base = tmp_path / "slake"
    base.mkdir()
    (base / "test.json").write_text(json.dumps(slake_records(img=7)))
    with zipfile.ZipFile(base / "imgs.zip", "w") as zf:
        zf.writestr("imgs/xmlab1/source.jpg", jpeg())
    res = TASKS["slake"].load(tmp_path)
    assert res.items == [] and res.skip_reasons["image file missing"] == 3


def test_slake_parquet_mirror(tmp_path):
    rows = [
        {
            "image": {"bytes": jpeg(), "path": None},
            "question": r["question"],
            "answer": r["answer"],
            "q_lang": r["q_lang"],
            "answer_type": r["answer_type"],
            "modality": "MRI",
            "content_type": "Organ",
        }
        for r in slake_records()[:3] + slake_records("zh", 9)[:2]
    ]
    write_parquet(tmp_path / "slake" / "data" / "test-00000-of-00001.parquet", rows)
    res = TASKS["slake"].load(tmp_path)
    assert res.layout == "parquet" and len(res.items) == 3
    assert res.items[1].kind == "closed" and res.items[0].meta["content_type"] == "Organ"
    check_images(res.items)


# ---------------------------------------------------------------- PathVQA


def pvqa_official(root: Path, fmt="pkl") -> Path:
    base = root / "pathvqa" / "pvqa"
    recs = [
        {"image": "test_0000", "question": "What have lost their nuclei?", "answer": "neutrophils"},
        {"image": "test_0000", "question": "Have neutrophils lost their nuclei?", "answer": "yes"},
        {"image": "test_0000", "question": "Have neutrophils lost their nuclei?", "answer": "yes"},  # dup
        {"image": "test_0001", "question": "What is seen?", "answer": "apoptosis "},
        {"image": "test_0009", "question": "Is it there?", "answer": "no"},  # image missing
        {"image": "../../x", "question": "Escape?", "answer": "no"},
        {"question": "No image key?", "answer": "no"},
    ]
    (base / "qas" / "test").mkdir(parents=True)
    (base / "qas" / "val").mkdir(parents=True)
    if fmt == "pkl":
        (base / "qas" / "test" / "test_qa.pkl").write_bytes(pickle.dumps(recs))
        (base / "qas" / "val" / "val_qa.pkl").write_bytes(pickle.dumps(recs[:2], protocol=2))
    else:
        (base / "qas" / "test" / "test_qa.json").write_text(json.dumps(recs))
        (base / "qas" / "val" / "val_qa.json").write_text(json.dumps(recs[:2]))
    for name in ("test_0000", "test_0001"):
        write_image(base / "images" / "test" / f"{name}.jpg")
    write_image(base / "images" / "val" / "test_0000.jpg")
    return base


@pytest.mark.parametrize("fmt", ["pkl", "json"])
def test_pathvqa_official(tmp_path, fmt):
    pvqa_official(tmp_path, fmt)
    task = TASKS["pathvqa"]
    res = task.load(tmp_path)
    assert res.layout == "official"
    assert [(i.question, i.answer, i.kind) for i in res.items] == [
        ("What have lost their nuclei?", "neutrophils", "open"),
        ("Have neutrophils lost their nuclei?", "yes", "closed"),
        ("What is seen?", "apoptosis", "open"),
    ]
    assert res.skip_reasons == {"image file missing": 1, "bad image path": 1, "no image name": 1}
    assert any("1 exact duplicate" in n for n in res.notes)
    assert {i.department for i in res.items} == {"Pathologist"}
    assert len(task.load(tmp_path, "test", dedup=False).items) == 4
    assert len(task.load(tmp_path, "validation").items) == 2
    with pytest.raises(DataError):
        task.load(tmp_path, "train")
    check_images(res.items)


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned",))


def test_pathvqa_pickle_refuses_globals(tmp_path, monkeypatch):
    base = pvqa_official(tmp_path)
    (base / "qas" / "test" / "test_qa.pkl").write_bytes(pickle.dumps([_Evil()]))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="plain-data pickle"):
        TASKS["pathvqa"].load(tmp_path)
    assert not (tmp_path / "pwned").exists()


def test_pathvqa_parquet_shards(tmp_path):
    rows = hf_rows(6)
    write_parquet(tmp_path / "pathvqa" / "data" / "validation-00000-of-00002-aa.parquet", rows[:3])
    write_parquet(tmp_path / "pathvqa" / "data" / "validation-00001-of-00002-bb.parquet", rows[3:])
    res = TASKS["pathvqa"].load(tmp_path, "val")
    assert res.layout == "parquet" and len(res.items) == 6 and res.items[5].id == "validation-5"
    assert sum(i.kind == "closed" for i in res.items) == 3
    check_images(res.items, n=6)
    assert TASKS["pathvqa"].available_splits(tmp_path / "pathvqa", "parquet") == ["validation"]


# ---------------------------------------------------------------- OmniMedVQA


def omni(root: Path, qa_dir="QA_information") -> Path:
    base = root / "omnimedvqa" / "OmniMedVQA"
    write_image(base / "Images" / "RadImageNet" / "lung 1 (a).png")
    write_image(base / "Images" / "Knee" / "k.png")
    open_recs = [
        {
            "question_id": "RadImageNet_1",
            "dataset": "RadImageNet",
            "question_type": "Disease Diagnosis",
            "question": "What is the abnormality?",
            "gt_answer": "Airspace opacity",
            "image_path": "Images/RadImageNet/lung 1 (a).png",
            "option_A": "Pleural effusion",
            "option_B": "Airspace opacity",
            "option_C": "Atelectasis",
            "option_D": "Lung consolidation",
            "modality_type": "CT(Computed Tomography)",
        },
        {
            "question_id": "RadImageNet_2",
            "dataset": "RadImageNet",
            "question_type": "Disease Diagnosis",
            "question": "Any abnormality?",
            "gt_answer": "No",
            "image_path": "Images/RadImageNet/lung 1 (a).png",
            "option_A": "Yes.",
            "option_B": "No",
            "modality": "MR (Mag-netic Resonance Imaging)",
        },
        {
            "question_id": "Knee_1",
            "dataset": "Knee",
            "question_type": "Modality Recognition",
            "question": "Which technique?",
            "gt_answer": "x_ray.",
            "image_path": "Images/Knee/k.png",
            "option_A": "Angiography",
            "option_B": "x_ray.",
            "modality_type": "X-Ray",
        },
        {
            "question_id": "Bad_1",
            "dataset": "Bad",
            "question_type": "x",
            "question": "Escape?",
            "gt_answer": "a",
            "image_path": "../x.png",
            "option_A": "a",
            "option_B": "b",
            "modality_type": "X-Ray",
        },
        {
            "question_id": "Bad_2",
            "dataset": "Bad",
            "question_type": "x",
            "question": "Gold?",
            "gt_answer": "z",
            "image_path": "Images/Knee/k.png",
            "option_A": "a",
            "option_B": "b",
            "modality_type": "X-Ray",
        },
    ]
    restricted = [
        {
            "question_id": "Endo_1",
            "dataset": "Endo",
            "question_type": "Disease Diagnosis",
            "question": "What?",
            "gt_answer": "polyp",
            "image_path": "Images/Endo/e1.png",
            "option_A": "polyp",
            "option_B": "ulcer",
            "modality_type": "Endoscopy",
        }
    ]
    (base / qa_dir / "Open-access").mkdir(parents=True)
    (base / qa_dir / "Restricted-access").mkdir(parents=True)
    (base / qa_dir / "Open-access" / "RadImageNet.json").write_text(json.dumps(open_recs))
    (base / qa_dir / "Restricted-access" / "Endo.json").write_text(json.dumps(restricted))
    return base


@pytest.mark.parametrize("qa_dir", ["QA_information", "QA information"])
def test_omnimedvqa(tmp_path, qa_dir):
    omni(tmp_path, qa_dir)
    task = TASKS["omnimedvqa"]
    res = task.load(tmp_path)
    assert res.layout == "official" and [i.id for i in res.items] == ["RadImageNet_1", "RadImageNet_2", "Knee_1"]
    a, b, c = res.items
    assert a.kind == "mc" and a.answer == "Airspace opacity" and a.meta["answer_letter"] == "B"
    assert b.options == ["Yes.", "No"] and b.answer == "No" and b.modality.startswith("MR")
    assert c.answer == "x_ray." and c.options == ["Angiography", "x_ray."]
    assert [i.department for i in res.items] == ["Radiologist"] * 3
    assert res.skip_reasons == {"bad image path": 1, "gt_answer is not one of the options": 1}
    everything = task.load(tmp_path, access="all")
    assert len(everything.items) == 3 and everything.skip_reasons["image file missing (restricted access)"] == 1
    assert len(mc_set(res.items)) == 3
    check_images(res.items)
    with pytest.raises(DataError):
        task.load(tmp_path, access="secret")


@pytest.mark.parametrize(
    "modality, department",
    [
        ("CT(Computed Tomography)", "Radiologist"),
        ("MR (Mag-netic Resonance Imaging)", "Radiologist"),
        ("X-Ray", "Radiologist"),
        ("ultrasound", "Radiologist"),
        ("OCT (Optical Coherence Tomography", "Ophthalmologist"),
        ("Fundus Photography", "Ophthalmologist"),
        ("Dermoscopy", "Dermatologist"),
        ("Microscopy Images", "Pathologist"),
    ],
)
def test_omnimedvqa_modality_departments(tmp_path, modality, department):
    base = omni(tmp_path)
    path = base / "QA_information" / "Open-access" / "RadImageNet.json"
    recs = json.loads(path.read_text())[:1]
    recs[0]["modality_type"] = modality
    path.write_text(json.dumps(recs))
    assert TASKS["omnimedvqa"].load(tmp_path).items[0].department == department


# ---------------------------------------------------------------- MMMU


def mmmu_row(n, split="validation", config="Clinical_Medicine", **over):
    row = {
        "id": f"{split}_{config}_{n}",
        "question": "Look at <image 2> and <image 1>. Which?",
        "options": "['Aurelia', 'Matilda', \"Hermione's\", 'Juno']",
        "explanation": "",
        "image_1": {"bytes": jpeg((200, 0, 0)), "path": "one.png"},
        "image_2": {"bytes": jpeg((0, 0, 200), size=(5, 9)), "path": None},
        **{f"image_{k}": None for k in range(3, 8)},
        "img_type": "['Body Scans: MRI, CT scans, and X-rays']",
        "answer": "C",
        "topic_difficulty": "Easy",
        "question_type": "multiple-choice",
        "subfield": "Clinical Radiology",
    }
    row.update(over)
    return row


IMAGE_COLS = tuple(f"image_{k}" for k in range(1, 8))


def test_mmmu_parquet(tmp_path):
    base = tmp_path / "mmmu-med"
    rows = [
        mmmu_row(1),
        mmmu_row(
            2,
            question="What is the dose <image 1>?",
            options="[]",
            answer="['24/7', '3.429']",
            question_type="open",
            image_2=None,
            img_type="['Tables']",
            subfield="Pharmacology",
        ),
        mmmu_row(3, options="not a list"),
        mmmu_row(4, answer="Z"),
        mmmu_row(
            5,
            question="Which image?",
            options="['<image 1>', '<image 3>']",
            answer="A",
            img_type="['Photographs']",
            subfield="Dermatology",
        ),
    ]
    write_parquet(base / "Clinical_Medicine" / "validation-00000-of-00001.parquet", rows, IMAGE_COLS)
    write_parquet(
        base / "Pharmacy" / "validation-00000-of-00001.parquet",
        [
            mmmu_row(
                1,
                config="Pharmacy",
                image_2=None,
                question="No placeholder here",
                img_type="['Chemical Structures']",
                subfield="Pharmacology",
            )
        ],
        IMAGE_COLS,
    )
    write_parquet(
        base / "Pharmacy" / "test-00000-of-00001.parquet",
        [mmmu_row(1, "test", "Pharmacy", answer="?", explanation="?")],
        IMAGE_COLS,
    )
    task = TASKS["mmmu-med"]
    res = task.load(tmp_path)  # validation by default
    assert res.layout == "parquet"
    ids = [i.id for i in res.items]
    assert ids == ["validation_Clinical_Medicine_1", "validation_Clinical_Medicine_2", "validation_Pharmacy_1"]
    mc, open_q, pharm = res.items
    assert mc.kind == "mc" and mc.options[2] == "Hermione's" and mc.answer == "Hermione's"
    assert mc.meta["answer_letter"] == "C" and mc.meta["image_keys"] == [2, 1]
    assert mc.meta["subject"] == "Clinical_Medicine" and mc.department == "Radiologist"
    first, second = mc.image_ref.load()
    assert first.size == (5, 9) and second.size == (8, 6)  # placeholder order, not column order
    assert open_q.kind == "open" and open_q.options is None and open_q.meta["answers"] == ["24/7", "3.429"]
    assert open_q.department is None
    assert pharm.meta["image_keys"] == [1] and pharm.department is None
    assert res.skip_reasons == {
        "missing question or unparsable options": 1,
        "answer letter out of range": 1,
        "placeholder <image 3> has no image": 1,
    }
    assert any("configs missing" in n for n in res.notes)
    test = task.load(tmp_path, "test")
    assert test.items == [] and test.skip_reasons == {"no gold answer letter (unscored)": 1}
    assert len(mc_set(res.items)) == 2


def test_mmmu_save_to_disk_per_config(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [mmmu_row(1), mmmu_row(2, answer="A")]
    datasets.DatasetDict({"validation": _hf_dataset(rows, IMAGE_COLS)}).save_to_disk(
        str(tmp_path / "mmmu-med" / "Public_Health")
    )
    res = TASKS["mmmu-med"].load(tmp_path)
    assert res.layout == "save_to_disk" and [i.answer for i in res.items] == ["Hermione's", "Aurelia"]
    assert [im.size for im in res.items[0].image_ref.load()] == [(5, 9), (8, 6)]


def test_mmmu_department_by_subfield(tmp_path):
    base = tmp_path / "mmmu-med"
    write_parquet(
        base / "Clinical_Medicine" / "dev-00000-of-00001.parquet",
        [
            mmmu_row(1, "dev", img_type="['Photographs']", subfield="Dermatology"),
            mmmu_row(2, "dev", img_type="['Microscopic Images']", subfield="Hematology"),
        ],
        IMAGE_COLS,
    )
    res = TASKS["mmmu-med"].load(tmp_path, "dev")
    assert [i.department for i in res.items] == ["Dermatologist", "Pathologist"]


@pytest.mark.parametrize(
    "content, why",
    [(b"[" * 100_000 + b"]" * 100_000, "nested too deeply"), (b'[{"question_id": "x", "quest', "not readable JSON")],
    ids=["deep", "truncated"],
)
def test_a_damaged_omnimedvqa_file_stops_the_load_naming_it(tmp_path, content, why):
    base = omni(tmp_path)
    damaged = base / "QA_information" / "Open-access" / "RadImageNet.json"
    damaged.write_bytes(content)
    with pytest.raises(DamagedData, match=why) as err:
        TASKS["omnimedvqa"].load(tmp_path)
    assert str(damaged) in str(err.value)
