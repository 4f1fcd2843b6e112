"""The shapes every benchmark loader shares: ``Item``, ``ImageRef``, ``LoadResult`` and the ``Task`` base.

Formats and quirks are documented in ``../shared/docs/benchmarks.md``; each task module cites its section.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from mmedtui.errors import DamagedData, DataError

# A zip member bigger than this is refused before it is read into memory (zip-bomb guard).
MAX_MEMBER_BYTES = 256 * 1024 * 1024
_SPLIT_ALIASES = {"validate": "validation", "val": "validation", "valid": "validation", "eval": "validation"}


def canonical_split(split: str) -> str:
    """'validate', 'val', 'valid' -> 'validation'; other names pass through lowercased."""
    s = split.strip().lower()
    return _SPLIT_ALIASES.get(s, s)


def safe_relpath(rel: str) -> str | None:
    """``rel`` as a clean relative posix path, or None when it is absolute or climbs out with ``..``.

    Lexical check only: a symlink the *user* placed inside the dataset folder (e.g. restricted-access
    OmniMedVQA images) is their choice; what we refuse is a data file steering reads outside the root.
    """
    if not isinstance(rel, str) or not rel.strip():
        return None
    text = rel.strip().replace("\\", "/")
    if text.startswith("/") or re.match(r"^[A-Za-z]:", text) or "\x00" in text:
        return None
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def safe_join(root: Path, rel: str) -> Path | None:
    clean = safe_relpath(rel)
    return None if clean is None else root / clean


def text_problem(question: object, answer: object) -> str | None:
    """Why a row's question/answer is unusable (skip reason), or None."""
    if not isinstance(question, str) or not question.strip():
        return "missing question"
    if answer is None or not str(answer).strip():
        return "empty answer"  # e.g. SLAKE train qid 1622
    return None


@dataclass(frozen=True)
class ImageSource:
    """One image: a file, a zip member, or encoded bytes (parquet / arrow; may be a lazy pyarrow scalar)."""

    name: str
    path: Path | None = None  # the file, or the zip archive when ``member`` is set
    member: str | None = None
    data: Any = field(default=None, repr=False, compare=False)

    def read(self):  # -> PIL.Image.Image (RGB)
        # Imported here: imaging pulls in pydicom etc., and loaders must stay cheap to import.
        from mmedtui.imaging import load_scan, load_scan_bytes

        if self.member is not None:
            assert self.path is not None
            try:
                with zipfile.ZipFile(self.path) as zf:
                    info = zf.getinfo(self.member)
                    if info.file_size > MAX_MEMBER_BYTES:
                        raise DataError(f"{self.path.name}: member {self.member} is too large ({info.file_size} B)")
                    data = zf.read(info)
            except (OSError, KeyError, zipfile.BadZipFile) as exc:
                raise DataError(f"{self.path.name}: cannot read member {self.member} ({exc})") from exc
            return load_scan_bytes(data, self.name).image
        if self.path is not None:
            return load_scan(self.path).image
        data = self.data.as_py() if hasattr(self.data, "as_py") else self.data
        if isinstance(data, dict):  # an HF Image struct {bytes, path}
            data = data.get("bytes")
        if not data:
            raise DataError(f"image {self.name!r} has no bytes")
        return load_scan_bytes(bytes(data), self.name).image

    def exists(self) -> bool:
        if self.member is not None:
            return self.path is not None and self.path.is_file()
        if self.path is not None:
            return self.path.is_file()
        return self.data is not None


@dataclass(frozen=True)
class ImageRef:
    """The image(s) of an item, loaded only on demand. MMMU items may have several, in placeholder order."""

    sources: tuple[ImageSource, ...]

    def load(self) -> list:
        """Decode every image (through ``mmedtui.imaging``, so its size limits apply) as PIL RGB."""
        return [s.read() for s in self.sources]

    def exists(self) -> bool:
        return bool(self.sources) and all(s.exists() for s in self.sources)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sources]

    @property
    def key(self) -> tuple:
        """What tells two items' images apart. Names alone do not: every SLAKE image is ``source.jpg``."""
        return tuple((s.name, str(s.path or ""), s.member or "") for s in self.sources)

    @classmethod
    def file(cls, path: Path) -> ImageRef:
        return cls((ImageSource(path.name, path=path),))

    @classmethod
    def blob(cls, data: Any, name: str) -> ImageRef:
        return cls((ImageSource(name, data=data),))


@dataclass
class Item:
    task: str  # "vqa-rad" | "slake" | "pathvqa" | "omnimedvqa" | "mmmu-med"
    split: str  # "train" | "validation" | "test" | "dev"
    id: str  # stable, unique within task+split
    question: str
    answer: str  # gold text; for native MC the correct option's TEXT
    kind: str  # "closed" | "open" | "mc"
    options: list[str] | None
    modality: str | None
    department: str | None
    image_ref: ImageRef
    meta: dict = field(default_factory=dict)


@dataclass
class LoadResult:
    items: list[Item]
    skipped: int
    layout: str
    notes: list[str] = field(default_factory=list)
    skip_reasons: dict[str, int] = field(default_factory=dict)  # why rows were skipped, for reports
    path: Path | None = None  # the folder the layout was found in


class Collector:
    """Accumulates items up to ``limit`` and counts skipped rows by reason (rows never crash a load)."""

    def __init__(self, limit: int | None = None) -> None:
        self.items: list[Item] = []
        self.reasons: Counter[str] = Counter()
        self.limit = limit

    @property
    def full(self) -> bool:
        return self.limit is not None and len(self.items) >= self.limit

    def add(self, item: Item) -> None:
        self.items.append(item)

    def skip(self, reason: str) -> None:
        self.reasons[reason] += 1

    def keyed(self, rec: dict, seen: set[str]) -> tuple[str, str, object] | None:
        """(qid, question, answer) of an official record whose qid is new, else None (skipped and counted)."""
        qid, question, answer = rec.get("qid"), rec.get("question"), rec.get("answer")
        why = text_problem(question, answer) or (None if qid is not None else "missing qid")
        if not why and str(qid).strip() in seen:
            why = "duplicate qid"
        if why:
            self.skip(why)
            return None
        return str(qid).strip(), question, answer

    def result(self, layout: str, path: Path, notes: list[str] | None = None) -> LoadResult:
        notes = list(notes or [])
        notes += [f"skipped {n} row(s): {why}" for why, n in sorted(self.reasons.items())]
        return LoadResult(self.items, sum(self.reasons.values()), layout, notes, dict(self.reasons), path)


class Task:
    """One benchmark. Subclasses set the class attributes and implement ``layout_of`` / ``_load``."""

    name: ClassVar[str]
    in_domain: ClassVar[bool]
    default_split: ClassVar[str]
    splits: ClassVar[tuple[str, ...]]
    hf_id: ClassVar[str]
    licence: ClassVar[str]
    how_to_get: ClassVar[str]
    department: ClassVar[str | None] = None  # the triage label when one department fits the whole set (§8)

    def layout_of(self, folder: Path) -> str | None:
        """The layout name if ``folder`` holds this benchmark in a supported form, else None."""
        raise NotImplementedError

    def available_splits(self, folder: Path, layout: str) -> list[str]:
        raise NotImplementedError

    def _load(self, folder: Path, layout: str, split: str, col: Collector, opts: dict) -> list[str]:
        """Fill ``col``; return notes."""
        raise NotImplementedError

    def locate(self, root: Path | str) -> Path | None:
        """``<root>/<name>/`` (or ``<name>`` with ``_``) in a supported layout, or its single top folder."""
        root = Path(root).expanduser()
        for base in (root / self.name, root / self.name.replace("-", "_")):
            if not base.is_dir():
                continue
            if self.layout_of(base):
                return base
            # The official release's own top folder (Slake1.0/, pvqa/, OmniMedVQA/) one level down.
            for sub in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
                if self.layout_of(sub):
                    return sub
        return None

    def load(self, root: Path | str, split: str | None = None, *, limit: int | None = None, **opts) -> LoadResult:
        """Load one split. ``opts``: ``check_images`` (default True: skip rows whose image file is missing)
        plus task options (SLAKE ``lang``, PathVQA ``dedup``, OmniMedVQA ``access``)."""
        split = canonical_split(split or self.default_split)
        if split not in self.splits:
            raise DataError(f"{self.name}: unknown split {split!r} (splits: {', '.join(self.splits)})")
        folder = self.locate(root)
        if folder is None:
            raise DataError(f"{self.name}: not found under {Path(root) / self.name}. {self.how_to_get}")
        layout = self.layout_of(folder) or "unknown"
        have = self.available_splits(folder, layout)
        if split not in have:
            raise DataError(
                f"{self.name}: split {split!r} is not in {folder} ({layout}; has: {', '.join(have) or 'none'})"
            )
        col = Collector(limit)
        notes = self._load(folder, layout, split, col, {"check_images": True, **opts})
        return col.result(layout, folder, notes)

    def describe(self) -> str:
        where = "in-domain" if self.in_domain else "out-of-domain"
        return (
            f"{self.name} ({where}; splits {', '.join(self.splits)}; default {self.default_split})\n"
            f"  HF: {self.hf_id}   licence: {self.licence}\n  {self.how_to_get}"
        )


def read_json_array(path: Path) -> list:
    """A release's JSON file of records; a DataError naming the file when it is unreadable or not a list."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DamagedData(f"{path}: not UTF-8 text (byte {exc.start}); the file is damaged") from None
    except OSError as exc:
        raise DataError(f"{path}: not readable ({exc.strerror or exc})") from exc
    if not text.strip():
        raise DamagedData(f"{path}: empty file; expected a JSON array of records")
    try:
        records = json.loads(text)
    except RecursionError:
        raise DamagedData(f"{path}: JSON nested too deeply") from None
    except ValueError as exc:
        raise DamagedData(f"{path}: not readable JSON ({exc}); truncated or damaged?") from None
    if not isinstance(records, list):
        raise DamagedData(f"{path}: expected a JSON array of records, found a {type(records).__name__}")
    return records
