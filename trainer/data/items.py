"""Training items: the train (or validation) split of each task, never test; the fit / holdout part by a hash of
the image; closed questions given the options the bench's ``mc`` metric asks them with; the JSON the rewards
rebuild an item from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mmedtui.agents.case import Case, case_of
from mmedtui.errors import DataError

if TYPE_CHECKING:
    from PIL import Image

    from mmedtui.agents.roles import Opinion
    from mmedtui.tasks.base import Item
    from trainer.sections import DataSection


@dataclass(frozen=True)
class PanelCase:
    """A training question with the specialists' opinions on it, as the attending reads it: the department the
    triage doctor chose, and the curriculum stage the case was sorted into (easy / medium / hard, or "all")."""

    item: Item
    opinions: list[Opinion] = field(default_factory=list)
    department: str = ""
    stage: str = ""


def get_task(name: str):
    """``mmedtui.tasks.get_task`` (falls back to the task module's ``TASK`` while the registry is absent)."""
    try:
        from mmedtui.tasks import get_task as registry
    except ImportError:
        registry = None
    if registry is not None:
        return registry(name)
    import importlib

    try:
        return importlib.import_module(f"mmedtui.tasks.{name.replace('-', '_')}").TASK
    except (ImportError, AttributeError):
        raise DataError(f"unknown task {name!r}") from None


def refuse_test(split: str, what: str = "training") -> None:
    from mmedtui.tasks.base import canonical_split

    if canonical_split(split) == "test":
        raise DataError(f"{what} never reads a test split (got split {split!r})")


def load_items(data: DataSection, tasks: Sequence[str] | None = None) -> list[Item]:
    """The training items of ``data`` (train split by default; never test; no VQA-RAD MEVF 'frame' rows)."""
    refuse_test(data.split)
    root = data.root_dir
    items: list = []
    for name in tasks or data.tasks:
        task = get_task(name)
        opts = {"lang": data.lang} if name == "slake" else {}
        result = task.load(root, data.split, limit=data.limit, **opts)
        kept = [
            it
            for it in result.items
            if str(it.meta.get("phrase_type") or "") != "frame" and in_part(it, data.part, data.holdout, root)
        ]
        for it in kept:
            refuse_test(it.split)
        items.extend(with_options(it) if data.closed_as_mc else it for it in kept)
    if not items:
        raise DataError(f"no training items in {', '.join(tasks or data.tasks)} under {root}")
    return items


def in_part(item: Item, part: str, holdout: float, root: Path | str) -> bool:
    """Whether ``item`` is in ``part`` of a split whose images are divided fit / holdout by a hash of the image
    (stable across runs, machines and data locations; every question about one image lands on the same side)."""
    if part == "all" or holdout <= 0:
        return True
    return (image_fraction(item, root) < holdout) == (part == "holdout")


def image_fraction(item: Item, root: Path | str, *salt: str) -> float:
    """A number in [0, 1) fixed by the item's image (and ``salt``, for a split independent of this one)."""
    digest = hashlib.sha256(repr((*salt, item.task, image_key(item, root))).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# What the split hashes: each image's path under the data root, so that a split does not depend on where the data
# lives or how its root is spelled. The path is written as under "../shared/data", a fixed part of the hash's
# input: the embedded panel's split was made with that root, and stays the same.
SPLIT_ROOT = Path("../shared/data")


def image_key(item: Item, root: Path | str) -> tuple:
    """``item.image_ref.key`` with every file path made relative to ``root`` (SLAKE's images are all named
    ``source.jpg``, so names alone do not tell them apart)."""

    def where(source) -> str:
        if source.path is None:
            return ""
        try:
            return str(SPLIT_ROOT / Path(source.path).relative_to(root))
        except ValueError:  # not under the root (a caller's own file): its path as given
            return str(source.path)

    return tuple((s.name, where(s), s.member or "") for s in item.image_ref.sources)


def with_options(item: Item) -> Item:
    """A closed item with the options the bench's ``mc`` metric asks it with ("A. yes / B. no", or the
    alternatives an "A or B?" question names), so a model trains on the form it is scored on."""
    from dataclasses import replace

    from mmedtui.tasks.choices import closed_options
    from mmedtui.tasks.scoring import gold_index

    if item.kind != "closed" or item.options:
        return item
    options = closed_options(item, protocol="closed")
    if not options or gold_index(item, options) is None:
        return item
    return replace(item, options=options)


def item_case(item: Item, image: Image.Image) -> Case:
    return case_of(item, [image], item.options, id=item_key(item))


def item_key(item: Item) -> str:
    return f"{item.task}/{item.split}/{item.id}"


def item_json(item: Item) -> str:
    """What the accuracy reward needs to rebuild the item for ``is_correct``."""
    meta = {k: item.meta[k] for k in ("answer_letter", "answers") if k in item.meta}
    return json.dumps(
        {
            "task": item.task,
            "split": item.split,
            "id": item.id,
            "question": item.question,
            "answer": item.answer,
            "kind": item.kind,
            "options": item.options,
            "modality": item.modality,
            "department": item.department,
            "meta": meta,
        }
    )


def item_from_json(text: str) -> Item:
    from mmedtui.tasks.base import ImageRef, Item

    d = json.loads(text)
    return Item(
        d["task"],
        d["split"],
        d["id"],
        d["question"],
        d["answer"],
        d["kind"],
        d["options"],
        d.get("modality"),
        d.get("department"),
        ImageRef(()),
        d.get("meta") or {},
    )
