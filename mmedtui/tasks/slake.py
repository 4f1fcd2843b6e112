"""SLAKE 1.0 (benchmarks.md §3): bilingual radiology VQA, official / HF JSON files or HF parquet.

Quirks handled (§3.3, §3.4, §9): ``validate.json`` (official) or ``validation.json`` (HF); images in
``imgs/`` or still inside ``imgs.zip`` (members ``imgs/xmlabN/source.jpg`` or ``xmlabN/source.jpg``);
English only by default (``lang="en"``; ``"zh"`` or ``"all"``). Images are disjoint between splits only
*within* a language: 72 of the 96 English test images are in the Chinese train split, so never train on
zh and test on en. ``test.json`` is read when present (it is not in the local data pack).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from mmedtui.departments import department_for_modality
from mmedtui.errors import DataError
from mmedtui.tasks import _hf
from mmedtui.tasks.base import Collector, ImageRef, ImageSource, Item, read_json_array, safe_join, safe_relpath
from mmedtui.tasks.scoring import is_yes_no

SPLIT_FILES = {"train": ("train.json",), "validation": ("validate.json", "validation.json"), "test": ("test.json",)}
META_KEYS = ("qid", "img_id", "img_name", "q_lang", "location", "answer_type", "base_type", "content_type", "triple")


class _Images:
    """Resolves ``img_name`` against ``imgs/`` or ``imgs.zip`` (lmms-eval retries with an ``imgs/`` prefix)."""

    def __init__(self, folder: Path) -> None:
        self.dir = folder / "imgs"
        self.zip = folder / "imgs.zip"
        self._members: dict[str, str] | None = None

    def members(self) -> dict[str, str]:
        if self._members is None:
            self._members = {}
            try:
                with zipfile.ZipFile(self.zip) as zf:
                    for name in zf.namelist():
                        key = name.rsplit("imgs/", 1)[-1]
                        self._members.setdefault(key, name)
            except (OSError, zipfile.BadZipFile) as exc:
                raise DataError(f"{self.zip}: not a readable zip ({exc})") from exc
        return self._members

    def ref(self, img_name: str, check: bool) -> ImageRef | str:
        """An ImageRef, or the reason the row must be skipped."""
        clean = safe_relpath(img_name)
        if clean is None:
            return "bad image path"
        if self.dir.is_dir():
            path = safe_join(self.dir, clean)
            assert path is not None
            if check and not path.is_file():
                return "image file missing"
            return ImageRef.file(path)
        if self.zip.is_file():
            member = self.members().get(clean.removeprefix("imgs/"))
            if member is None:
                return "image file missing"
            return ImageRef((ImageSource(clean, path=self.zip, member=member),))
        return "image file missing"


class SlakeTask(_hf.OfficialOrHFTask):
    name = "slake"
    in_domain = True
    default_split = "test"
    splits = ("train", "validation", "test")
    hf_id = "BoKelvin/SLAKE"
    licence = "CC BY 4.0 (attribute: Liu et al., SLAKE, ISBI 2021)"
    department = "Radiologist"
    how_to_get = (
        "Official Slake1.0 (med-vqa.com/slake) or HF BoKelvin/SLAKE: put train.json, validate.json "
        "(or validation.json), test.json and imgs/ (or imgs.zip) in <data root>/slake/ "
        "(`mmedtui data fetch slake`)."
    )

    def official_splits(self, folder: Path) -> list[str]:
        return [s for s, names in SPLIT_FILES.items() if any((folder / f).is_file() for f in names)]

    def _load(self, folder: Path, layout: str, split: str, col: Collector, opts: dict) -> list[str]:
        lang = opts.get("lang", "en")
        lang = None if lang in (None, "all", "") else str(lang)
        notes = [f"language filter: {lang or 'none (en + zh)'}"]
        if lang != "en":
            notes.append("images are disjoint between splits only within one language (§3.4)")
        images = _Images(folder)
        if layout == "official":
            path = next(folder / f for f in SPLIT_FILES[split] if (folder / f).is_file())
            rows = read_json_array(path)
            if not images.dir.is_dir() and images.zip.is_file():
                notes.append("images read from imgs.zip")
        else:
            rows = list(
                _hf.iter_parquet(_hf.parquet_files(folder, split))
                if layout == "parquet"
                else _hf.iter_disk(folder, split, self.default_split)
            )
            if rows and "image" in rows[0]:  # a mirror with embedded images
                _hf.add_rows(col, iter(rows), task=self.name, split=split, department=self.department, lang=lang)
                return notes
        self._add_records(rows, split, lang, images, col, opts["check_images"])
        return notes

    def _add_records(
        self, rows: list, split: str, lang: str | None, images: _Images, col: Collector, check: bool
    ) -> None:
        seen: set[str] = set()
        for rec in rows:
            if col.full:
                break
            if not isinstance(rec, dict):
                col.skip("not a record")
                continue
            if lang and rec.get("q_lang") != lang:
                continue
            if (keyed := col.keyed(rec, seen)) is None:
                continue
            item_id, question, answer = keyed
            ref = images.ref(str(rec.get("img_name") or ""), check)
            if isinstance(ref, str):
                col.skip(ref)
                continue
            seen.add(item_id)
            answer = str(answer).strip()
            atype = str(rec.get("answer_type") or "").strip().upper()
            kind = {"CLOSED": "closed", "OPEN": "open"}.get(atype) or ("closed" if is_yes_no(answer) else "open")
            modality = rec.get("modality") if isinstance(rec.get("modality"), str) else None
            meta = {k: rec.get(k) for k in META_KEYS}
            col.add(
                Item(
                    self.name,
                    split,
                    item_id,
                    question.strip(),
                    answer,
                    kind,
                    None,
                    modality,
                    department_for_modality(modality, self.department),
                    ref,
                    meta,
                )
            )


TASK = SlakeTask()
