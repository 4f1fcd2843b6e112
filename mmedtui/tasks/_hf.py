"""Reading the two Hugging Face on-disk forms: hub parquet files and ``datasets.save_to_disk`` folders.

Both yield plain row dicts. Image columns (parquet struct ``{bytes, path}``) stay as pyarrow scalars so
they are decoded only when an item's image is loaded; for ``save_to_disk`` folders those scalars are views
into the memory-mapped arrow files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from mmedtui.errors import DamagedData, DataError
from mmedtui.tasks.base import Task, canonical_split

# File-name prefixes a split may carry on the hub ("validation-00001-of-00003-<hash>.parquet").
_PREFIXES = {
    "validation": ("validation", "validate", "valid", "val"),
    "test": ("test",),
    "train": ("train",),
    "dev": ("dev",),
}


def parquet_files(folder: Path, split: str) -> list[Path]:
    """``data/<split>-*.parquet`` (the hub layout) or ``<split>-*.parquet`` directly in ``folder``."""
    found: list[Path] = []
    for sub in (folder / "data", folder):
        for prefix in _PREFIXES.get(split, (split,)):
            found += sub.glob(f"{prefix}-*.parquet")
            found += sub.glob(f"{prefix}.parquet")
    return sorted(set(found))


def parquet_splits(folder: Path) -> list[str]:
    return [s for s in ("train", "validation", "test", "dev") if parquet_files(folder, s)]


def is_save_to_disk(folder: Path) -> bool:
    """A ``DatasetDict`` (``dataset_dict.json``) or a single ``Dataset`` (``state.json`` + ``dataset_info.json``)."""
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()
    )


def disk_splits(folder: Path, single: str) -> list[str]:
    """Split names of a save_to_disk folder; a bare ``Dataset`` counts as ``single`` (its split is unknown)."""
    meta = folder / "dataset_dict.json"
    if meta.is_file():
        try:
            return [canonical_split(s) for s in json.loads(meta.read_text()).get("splits", [])]
        except (OSError, ValueError) as exc:
            raise DataError(f"{meta}: unreadable ({exc})") from exc
    return [single]


def _is_image(field) -> bool:
    import pyarrow as pa

    return pa.types.is_struct(field.type) and "bytes" in [f.name for f in field.type]


def _batch_rows(batch) -> Iterator[dict]:
    image_cols = [f.name for f in batch.schema if _is_image(f)]
    plain = {name: batch.column(name).to_pylist() for name in batch.schema.names if name not in image_cols}
    for i in range(batch.num_rows):
        row = {name: values[i] for name, values in plain.items()}
        for name in image_cols:
            scalar = batch.column(name)[i]
            row[name] = scalar if scalar.is_valid else None
        yield row


def iter_parquet(files: list[Path]) -> Iterator[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for path in files:
        try:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
                yield from _batch_rows(batch)
        except (pa.ArrowException, OSError) as exc:
            raise DamagedData(f"{path}: not a readable parquet file ({exc})") from exc


def iter_disk(folder: Path, split: str, single: str) -> Iterator[dict]:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - datasets is a core dependency
        raise DataError("reading a save_to_disk folder needs the 'datasets' package") from exc
    try:
        ds = datasets.load_from_disk(str(folder))
    except Exception as exc:  # datasets raises many types for a damaged folder
        raise DataError(f"{folder}: not a readable datasets folder ({exc})") from exc
    if isinstance(ds, datasets.DatasetDict):
        by_name = {canonical_split(k): k for k in ds}
        if split not in by_name:
            raise DataError(f"{folder}: no split {split!r} (has {', '.join(by_name)})")
        ds = ds[by_name[split]]
    elif split != single:
        raise DataError(f"{folder}: a single-split dataset, read as {single!r}")
    table = ds.with_format("arrow")[0 : len(ds)]  # honours any indices mapping
    for batch in table.to_batches():
        yield from _batch_rows(batch)


def count_parquet(files: list[Path]) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in files)


def add_rows(
    col, rows: Iterator[dict], *, task: str, split: str, department: str | None, lang: str | None = None
) -> None:
    """HF rows ``{image, question, answer[, answer_type, q_lang, modality, content_type, ...]}`` -> items.

    The hub copies of VQA-RAD and PathVQA lost ``answer_type``: closed is then "answer is yes/no"
    (benchmarks.md §2.4, §4.3). Extra columns, when a mirror has them, go to ``meta``.
    """
    from mmedtui.departments import department_for_modality
    from mmedtui.tasks.base import ImageRef, Item, text_problem
    from mmedtui.tasks.scoring import is_yes_no

    seen: set[str] = set()
    for i, row in enumerate(rows):
        if col.full:
            break
        if lang and str(row.get("q_lang") or lang) != lang:
            continue  # filtered by language, not malformed
        question, answer, image = row.get("question"), row.get("answer"), row.get("image")
        if why := text_problem(question, answer):
            col.skip(why)
            continue
        if image is None:
            col.skip("no image")
            continue
        answer = str(answer).strip()
        atype = str(row.get("answer_type") or "").strip().upper()
        kind = {"CLOSED": "closed", "OPEN": "open"}.get(atype) or ("closed" if is_yes_no(answer) else "open")
        rid = row.get("qid", row.get("id"))
        item_id = str(rid).strip() if rid is not None and str(rid).strip() else f"{split}-{i}"
        if item_id in seen:
            item_id = f"{split}-{i}"
        seen.add(item_id)
        path = image["path"].as_py() if hasattr(image, "as_py") else None
        modality = row.get("modality") if isinstance(row.get("modality"), str) else None
        meta = {k: v for k, v in row.items() if k not in ("image", "question", "answer") and not hasattr(v, "as_py")}
        col.add(
            Item(
                task,
                split,
                item_id,
                question.strip(),
                answer,
                kind,
                None,
                modality,
                department_for_modality(modality, department) if modality else department,
                ImageRef.blob(image, path or f"{item_id}.jpg"),
                meta,
            )
        )


class OfficialOrHFTask(Task):
    """A benchmark found either in its official release layout or as HF parquet / ``save_to_disk`` files.

    Subclasses say how to recognise the official layout and which splits it holds; the HF layouts are shared.
    """

    def official_splits(self, folder: Path) -> list[str]:
        """The splits of the official release present in ``folder`` (empty: not the official layout)."""
        raise NotImplementedError

    def layout_of(self, folder: Path) -> str | None:
        if self.official_splits(folder):
            return "official"
        if parquet_splits(folder):
            return "parquet"
        if is_save_to_disk(folder):
            return "save_to_disk"
        return None

    def available_splits(self, folder: Path, layout: str) -> list[str]:
        if layout == "official":
            return self.official_splits(folder)
        if layout == "parquet":
            return parquet_splits(folder)
        return disk_splits(folder, self.default_split)
