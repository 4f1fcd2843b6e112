"""VQA-RAD (benchmarks.md §2): radiology VQA, official JSON release or the HF copy.

Quirks handled (§2.5, §9): split by ``phrase_type.startswith("test")``; ``str(answer).strip()`` (five int
answers, one leading space); ``answer_type.strip().upper()`` (``"CLOSED "``); ``qid`` may be the string
``"0"``; ``question_rephrase`` may be missing. The MEVF/MMQ split in ``mevf_data_RAD/`` is never read:
its train file holds the templated "frame" forms of 284 test questions (§2.3), so training on it leaks.
"""

from __future__ import annotations

from pathlib import Path

from mmedtui.tasks import _hf
from mmedtui.tasks.base import Collector, ImageRef, Item, read_json_array, safe_join
from mmedtui.tasks.scoring import is_yes_no

JSON_NAME = "VQA_RAD Dataset Public.json"
IMAGE_DIR = "VQA_RAD Image Folder"
META_KEYS = (
    "phrase_type",
    "qid_linked_id",
    "image_case_url",
    "image_name",
    "image_organ",
    "evaluation",
    "question_rephrase",
    "question_relation",
    "question_frame",
    "question_type",
)


class VqaRadTask(_hf.OfficialOrHFTask):
    name = "vqa-rad"
    in_domain = True
    default_split = "test"
    splits = ("train", "test")
    hf_id = "flaviagiammarino/vqa-rad"
    licence = "CC0 1.0"
    department = "Radiologist"  # every image is CT/MRI/X-ray from MedPix (§8)
    how_to_get = (
        "Official release (OSF 89kps): put 'VQA_RAD Dataset Public.json' and 'VQA_RAD Image Folder/' "
        "in <data root>/vqa-rad/, or the HF parquet files (data/<split>-*.parquet) of "
        "flaviagiammarino/vqa-rad there (`mmedtui data fetch vqa-rad`)."
    )

    def official_splits(self, folder: Path) -> list[str]:
        return ["train", "test"] if (folder / JSON_NAME).is_file() else []

    def _load(self, folder: Path, layout: str, split: str, col: Collector, opts: dict) -> list[str]:
        notes: list[str] = []
        if layout == "official":
            if (folder / "mevf_data_RAD").is_dir():
                notes.append("mevf_data_RAD/ ignored: its trainset leaks 284 test questions as 'frame' rows")
            self._load_official(folder, split, col, opts["check_images"])
            return notes
        rows = (
            _hf.iter_parquet(_hf.parquet_files(folder, split))
            if layout == "parquet"
            else _hf.iter_disk(folder, split, self.default_split)
        )
        _hf.add_rows(col, rows, task=self.name, split=split, department=self.department)
        notes.append("HF copy: lowercased, deduplicated, no answer_type; closed = yes/no answers (§2.4)")
        return notes

    def _load_official(self, folder: Path, split: str, col: Collector, check_images: bool) -> None:
        path = folder / JSON_NAME
        records = read_json_array(path)
        seen: set[str] = set()
        for rec in records:
            if col.full:
                break
            if not isinstance(rec, dict):
                col.skip("not a record")
                continue
            phrase = str(rec.get("phrase_type") or "").strip()
            if ("test" if phrase.startswith("test") else "train") != split:
                continue
            if (keyed := col.keyed(rec, seen)) is None:
                continue
            item_id, question, answer = keyed
            image = safe_join(folder / IMAGE_DIR, str(rec.get("image_name") or ""))
            if image is None:
                col.skip("bad image path")
                continue
            if check_images and not image.is_file():
                col.skip("image file missing")
                continue
            seen.add(item_id)
            answer = str(answer).strip()
            atype = str(rec.get("answer_type") or "").strip().upper()
            kind = {"CLOSED": "closed", "OPEN": "open"}.get(atype) or ("closed" if is_yes_no(answer) else "open")
            meta = {k: rec.get(k) for k in META_KEYS}
            meta.update(qid=item_id, answer_type=atype)
            col.add(
                Item(
                    self.name,
                    split,
                    item_id,
                    question.strip(),
                    answer,
                    kind,
                    None,
                    None,
                    self.department,
                    ImageRef.file(image),
                    meta,
                )
            )


TASK = VqaRadTask()
