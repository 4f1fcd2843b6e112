"""MMMU, Health & Medicine track (benchmarks.md §6): five subject configs of ``MMMU/MMMU``.

Layout: ``<Config>/<split>-*.parquet`` as downloaded from the hub (or a ``save_to_disk`` folder per
config). Quirks (§6.6, §9): ``options`` and ``img_type`` are strings holding Python list literals
(``ast.literal_eval``, never ``json.loads``); images are taken in the order their ``<image k>``
placeholders appear in the question and then the options (out of order, up to 7, possibly inside
options); ``question_type`` is ``multiple-choice`` or ``open``; open answers may be a list literal of
accepted answers (``meta["answers"]``). Test rows without a real letter answer are unscored: skipped and
counted. Papers use ``validation`` (150 items), the default.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mmedtui.departments import department_for_modality
from mmedtui.tasks import _hf
from mmedtui.tasks.base import Collector, ImageRef, ImageSource, Item, Task
from mmedtui.tasks.scoring import LETTERS

CONFIGS = (
    "Basic_Medical_Science",
    "Clinical_Medicine",
    "Diagnostics_and_Laboratory_Medicine",
    "Pharmacy",
    "Public_Health",
)
_PLACEHOLDER = re.compile(r"<image\s*(\d+)>")
# When img_type names no imaging modality (photographs, charts, tables): the subfield decides (§8).
SUBFIELD_DEPARTMENT = (
    ("dermat", "Dermatologist"),
    ("ophthalm", "Ophthalmologist"),
    ("eye", "Ophthalmologist"),
    ("radiol", "Radiologist"),
    ("imaging", "Radiologist"),
    ("patholog", "Pathologist"),
    ("histolog", "Pathologist"),
    ("cytolog", "Pathologist"),
    ("microbio", "Pathologist"),
    ("surg", "Surgeon"),
    ("oncolog", "Oncologist"),
    ("cancer", "Oncologist"),
    ("endocrin", "Endocrinologist"),
    ("diabet", "Endocrinologist"),
)


def _literal_list(value: object) -> list[str] | None:
    """``"['a', 'b']"`` -> ``['a', 'b']``; a real list passes; anything unparsable -> None."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if not isinstance(value, str):
        return None
    try:
        parsed = ast.literal_eval(value.strip() or "[]")
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return [str(v) for v in parsed] if isinstance(parsed, (list, tuple)) else None


def department_for(img_types: list[str], subfield: str | None) -> str | None:
    for t in img_types:
        if dept := department_for_modality(t):
            return dept
    low = (subfield or "").lower()
    return next((dept for key, dept in SUBFIELD_DEPARTMENT if key in low), None)


class MmmuMedTask(Task):
    name = "mmmu-med"
    in_domain = False
    default_split = "validation"
    splits = ("dev", "validation", "test")
    hf_id = "MMMU/MMMU"
    licence = "Apache-2.0 (card)"
    how_to_get = (
        "HF MMMU/MMMU, configs " + ", ".join(CONFIGS) + ": put each <Config>/<split>-*.parquet in "
        "<data root>/mmmu-med/ (`mmedtui data fetch mmmu-med`)."
    )

    def _configs(self, folder: Path) -> list[Path]:
        return [folder / c for c in CONFIGS if (folder / c).is_dir()]

    def layout_of(self, folder: Path) -> str | None:
        configs = self._configs(folder)
        if any(_hf.parquet_splits(c) for c in configs):
            return "parquet"
        if any(_hf.is_save_to_disk(c) for c in configs):
            return "save_to_disk"
        return None

    def available_splits(self, folder: Path, layout: str) -> list[str]:
        found: set[str] = set()
        for c in self._configs(folder):
            found |= set(
                _hf.parquet_splits(c)
                if layout == "parquet"
                else _hf.disk_splits(c, self.default_split)
                if _hf.is_save_to_disk(c)
                else []
            )
        return [s for s in self.splits if s in found]

    def _load(self, folder: Path, layout: str, split: str, col: Collector, opts: dict) -> list[str]:
        configs = self._configs(folder)
        notes = (
            [f"configs missing: {', '.join(sorted(set(CONFIGS) - {c.name for c in configs}))}"]
            if len(configs) < len(CONFIGS)
            else []
        )
        for cfg in configs:
            if layout == "parquet":
                files = _hf.parquet_files(cfg, split)
                rows = _hf.iter_parquet(files) if files else iter(())
            else:
                rows = (
                    _hf.iter_disk(cfg, split, self.default_split)
                    if split in _hf.disk_splits(cfg, self.default_split)
                    else iter(())
                )
            for n, row in enumerate(rows):
                if col.full:
                    return notes
                self._add(row, cfg.name, split, n, col)
        return notes

    def _add(self, row: dict, config: str, split: str, n: int, col: Collector) -> None:
        question, options = row.get("question"), _literal_list(row.get("options", "[]"))
        if not isinstance(question, str) or not question.strip() or options is None:
            col.skip("missing question or unparsable options")
            return
        item_id = str(row.get("id") or f"{split}_{config}_{n + 1}")
        answer = str(row.get("answer") or "").strip()
        open_q = row.get("question_type") == "open" or not options
        meta = {k: row.get(k) for k in ("subfield", "topic_difficulty", "question_type", "explanation")}
        meta.update(config=config, subject="_".join(item_id.split("_")[1:-1]) or config)
        if open_q:
            answers = _literal_list(answer) if answer.startswith("[") else [answer]
            if not answers or answer in ("", "?"):
                col.skip("no gold answer (unscored)")
                return
            meta["answers"] = answers
            answer, kind, options = answers[0], "open", None
        else:
            if len(answer) != 1 or LETTERS.find(answer) not in range(len(options)):
                col.skip("no gold answer letter (unscored)" if answer in ("", "?") else "answer letter out of range")
                return
            meta["answer_letter"] = answer
            answer, kind = options[LETTERS.index(answer)], "mc"
        keys = list(dict.fromkeys(int(k) for k in _PLACEHOLDER.findall(question + " " + " ".join(options or []))))
        if not keys:  # no placeholders: every image present, in column order
            keys = [k for k in range(1, 8) if row.get(f"image_{k}") is not None]
        sources = []
        for k in keys:
            image = row.get(f"image_{k}")
            if image is None:
                col.skip(f"placeholder <image {k}> has no image")
                return
            path = image["path"].as_py() if hasattr(image, "as_py") else None
            sources.append(ImageSource(path or f"{item_id}_image_{k}.png", data=image))
        if not sources:
            col.skip("no image")
            return
        img_types = _literal_list(row.get("img_type")) or []
        meta.update(img_type=img_types, image_keys=keys)
        col.add(
            Item(
                self.name,
                split,
                item_id,
                question.strip(),
                answer,
                kind,
                options,
                "; ".join(img_types) or None,
                department_for(img_types, meta.get("subfield")),
                ImageRef(tuple(sources)),
                meta,
            )
        )


TASK = MmmuMedTask()
