"""OmniMedVQA (benchmarks.md §5): 2-4 option multiple choice over 12 modalities; evaluation only.

Layout after unzipping ``OmniMedVQA.zip``: ``QA_information/`` (or ``QA information/``) with
``Open-access/*.json`` and ``Restricted-access/*.json``, images under ``Images/`` (paths relative to the
top folder). Quirks (§5.4, §9): ``option_C``/``option_D`` may be absent; one record says ``modality``
instead of ``modality_type``; ``gt_answer`` is option *text* with noise (``"Yes."`` vs ``"No"``), matched
against the same record's options after normalisation; restricted-access images usually are not there
(the user must get the source datasets) and such rows are skipped and counted, never fatal.
The only split is ``test`` = every item of the chosen ``access`` ("open" by default, as papers use;
"restricted" or "all").
"""

from __future__ import annotations

from pathlib import Path

from mmedtui.departments import department_for_modality
from mmedtui.errors import DataError
from mmedtui.tasks.base import Collector, ImageRef, Item, Task, read_json_array, safe_join
from mmedtui.tasks.scoring import LETTERS, normalize

QA_DIRS = ("QA_information", "QA information")
ACCESS = {"open": ("Open-access",), "restricted": ("Restricted-access",), "all": ("Open-access", "Restricted-access")}
META_KEYS = ("dataset", "question_type", "image_path")


def _qa_dir(folder: Path) -> Path | None:
    return next((folder / d for d in QA_DIRS if (folder / d).is_dir()), None)


class OmniMedVqaTask(Task):
    name = "omnimedvqa"
    in_domain = False
    default_split = "test"
    splits = ("test",)
    hf_id = "foreverbeliever/OmniMedVQA"
    licence = "no licence on the card (unconfirmed); each source dataset keeps its own licence"
    how_to_get = (
        "HF foreverbeliever/OmniMedVQA (one OmniMedVQA.zip, 10.7 GB): unzip so that "
        "<data root>/omnimedvqa/[OmniMedVQA/]QA_information/ and Images/ exist "
        "(`mmedtui data fetch omnimedvqa` downloads and unzips). Restricted-access images must "
        "come from the original datasets under their licences."
    )

    def layout_of(self, folder: Path) -> str | None:
        return "official" if _qa_dir(folder) else None

    def available_splits(self, folder: Path, layout: str) -> list[str]:
        return ["test"]

    def _load(self, folder: Path, layout: str, split: str, col: Collector, opts: dict) -> list[str]:
        access = opts.get("access", "open")
        if access not in ACCESS:
            raise DataError(f"omnimedvqa: access must be one of {', '.join(ACCESS)}, not {access!r}")
        qa = _qa_dir(folder)
        assert qa is not None
        files = [(sub, p) for sub in ACCESS[access] for p in sorted((qa / sub).glob("*.json"))]
        if not files:
            raise DataError(f"omnimedvqa: no {access}-access JSON files under {qa}")
        seen: set[str] = set()
        for sub, path in files:
            # One rule for every benchmark: a damaged file stops the run naming it (a deep one included).
            for n, rec in enumerate(read_json_array(path)):
                if col.full:
                    return [f"access: {access}"]
                self._add(rec, sub, path, n, folder, split, col, seen, opts["check_images"])
        return [f"access: {access}"]

    def _add(
        self,
        rec: object,
        sub: str,
        path: Path,
        n: int,
        folder: Path,
        split: str,
        col: Collector,
        seen: set[str],
        check: bool,
    ) -> None:
        if not isinstance(rec, dict):
            col.skip("not a record")
            return
        question, gold = rec.get("question"), rec.get("gt_answer")
        options = [
            str(rec[f"option_{c}"]).strip()
            for c in LETTERS
            if rec.get(f"option_{c}") is not None and str(rec[f"option_{c}"]).strip()
        ]
        if not isinstance(question, str) or not question.strip() or gold is None or len(options) < 2:
            col.skip("missing question, answer or options")
            return
        norm = [normalize(o) for o in options]
        if normalize(gold) not in norm:
            col.skip("gt_answer is not one of the options")
            return
        image = safe_join(folder, str(rec.get("image_path") or ""))
        if image is None:
            col.skip("bad image path")
            return
        if check and not image.is_file():
            col.skip("image file missing" + (" (restricted access)" if sub.startswith("Restricted") else ""))
            return
        base = str(rec.get("question_id") or f"{path.stem}_{n}")
        item_id, k = base, 1
        while item_id in seen:  # ids are not guaranteed unique across files
            k += 1
            item_id = f"{base}#{k}"
        seen.add(item_id)
        modality = rec.get("modality_type") or rec.get("modality")
        modality = str(modality) if modality else None
        meta = {k2: rec.get(k2) for k2 in META_KEYS}
        meta.update(access=sub, gt_answer=gold, file=path.name, answer_letter=LETTERS[norm.index(normalize(gold))])
        col.add(
            Item(
                self.name,
                split,
                item_id,
                question.strip(),
                options[norm.index(normalize(gold))],
                "mc",
                options,
                modality,
                department_for_modality(modality),
                ImageRef.file(image),
                meta,
            )
        )


TASK = OmniMedVqaTask()
