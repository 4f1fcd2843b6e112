"""PathVQA (benchmarks.md §4): pathology VQA, official ``pvqa/`` release or the HF parquet copy.

Official form: ``pvqa/qas/{train,val,test}/{split}_qa.pkl`` (list of ``{image, question, answer}``; a
``{split}_qa.json`` conversion is also accepted) and ``pvqa/images/{split}/{image}.jpg``. Closed means
answer in {yes, no} (§4.4). Exact (image, question, answer) duplicates are dropped by default, before any
case folding, which reproduces the HF counts 19,654 / 6,259 / 6,719 (``dedup=False`` keeps them).

Pickle trust decision: ``{split}_qa.pkl`` is only read from the official folder layout the user put in
their data root, and through an unpickler whose ``find_class`` refuses *every* global. Plain lists, dicts,
strings and numbers need no globals, so the official files load, while a pickle that tries to build any
object (the way pickles run code) fails with a DataError instead of executing.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

from mmedtui.errors import DataError
from mmedtui.tasks import _hf
from mmedtui.tasks.base import Collector, ImageRef, Item, read_json_array, safe_join, text_problem
from mmedtui.tasks.scoring import is_yes_no

SPLIT_DIRS = {"train": "train", "validation": "val", "test": "test"}


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"global {module}.{name} refused: only plain data is accepted")


def load_plain_pickle(path: Path) -> object:
    try:
        return _PlainUnpickler(io.BytesIO(path.read_bytes()), encoding="utf-8").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a plain-data pickle ({exc})") from exc


def _qa_file(folder: Path, split: str) -> Path | None:
    s = SPLIT_DIRS[split]
    for rel in (f"qas/{s}/{s}_qa.json", f"qas/{s}/{s}_qa.pkl", f"qas/{s}_qa.json", f"qas/{s}_qa.pkl"):
        if (folder / rel).is_file():
            return folder / rel
    return None


class PathVqaTask(_hf.OfficialOrHFTask):
    name = "pathvqa"
    in_domain = True
    default_split = "test"
    splits = ("train", "validation", "test")
    hf_id = "flaviagiammarino/path-vqa"
    licence = "MIT (card); image copyright stays with the textbook publishers and PEIR"
    department = "Pathologist"
    how_to_get = (
        "Official release (UCSD-AI4H/PathVQA, data/README.md link): put its pvqa/ folder in "
        "<data root>/pathvqa/, or the HF parquet files (data/<split>-*.parquet) of "
        "flaviagiammarino/path-vqa (`mmedtui data fetch pathvqa`)."
    )

    def official_splits(self, folder: Path) -> list[str]:
        if not (folder / "qas").is_dir():
            return []
        return [s for s in SPLIT_DIRS if _qa_file(folder, s)]

    def _load(self, folder: Path, layout: str, split: str, col: Collector, opts: dict) -> list[str]:
        if layout != "official":
            rows = (
                _hf.iter_parquet(_hf.parquet_files(folder, split))
                if layout == "parquet"
                else _hf.iter_disk(folder, split, self.default_split)
            )
            _hf.add_rows(col, rows, task=self.name, split=split, department=self.department)
            return ["HF copy: deduplicated and lowercased; closed = yes/no answers (§4.3)"]
        path = _qa_file(folder, split)
        assert path is not None
        if path.suffix == ".pkl":
            records = load_plain_pickle(path)
        else:
            records = read_json_array(path)
        if not isinstance(records, list):
            raise DataError(f"{path}: expected a list of {{image, question, answer}} records")
        dedup = opts.get("dedup", True)
        seen: set[tuple] = set()
        dropped = 0
        image_dir = folder / "images" / SPLIT_DIRS[split]
        for i, rec in enumerate(records):
            if col.full:
                break
            if not isinstance(rec, dict):
                col.skip("not a record")
                continue
            image, question, answer = rec.get("image"), rec.get("question"), rec.get("answer")
            if why := text_problem(question, answer) or (None if isinstance(image, str) else "no image name"):
                col.skip(why)
                continue
            key = (image, question, str(answer))
            if dedup and key in seen:
                dropped += 1
                continue
            seen.add(key)
            name = image if image.lower().endswith((".jpg", ".jpeg", ".png")) else f"{image}.jpg"
            path_img = safe_join(image_dir, name)
            if path_img is None:
                col.skip("bad image path")
                continue
            if opts["check_images"] and not path_img.is_file():
                col.skip("image file missing")
                continue
            answer = str(answer).strip()
            kind = "closed" if is_yes_no(answer) else "open"
            col.add(
                Item(
                    self.name,
                    split,
                    f"{SPLIT_DIRS[split]}_q{i:05d}",
                    question.strip(),
                    answer,
                    kind,
                    None,
                    None,
                    self.department,
                    ImageRef.file(path_img),
                    {"image": image, "row": i},
                )
            )
        return [f"dropped {dropped} exact duplicate (image, question, answer) row(s)"] if dedup else []


TASK = PathVqaTask()
