"""Training rows built with the SAME prompts as inference (``mmedtui.agents.roles``) and the same chat messages
as the transformers backend, so a trained model is asked at inference exactly what it was trained on.

Rows are Hugging Face ``datasets.Dataset`` rows: a conversational ``prompt`` (system + user with an
``{"type": "image"}`` part), an ``image`` column, and the label columns the rewards need (``item``: the item as
JSON, scored by ``mmedtui.tasks.scoring.is_correct``; ``department`` for triage). SFT rows add a
conversational ``completion``. Test splits are refused here as well as in the config.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from mmedtui.agents import roles
from mmedtui.agents.base import Prompt
from mmedtui.agents.case import Case, case_of
from mmedtui.agents.transformers_backend import chat_messages as backend_messages
from mmedtui.errors import DataError
from mmedtui.imaging import image_digest

if TYPE_CHECKING:
    from datasets import Dataset

    from mmedtui.tasks.base import Item
    from trainer.config import TrainConfig


# --- items ----------------------------------------------------------------------------------------
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


def load_items(cfg: TrainConfig, tasks: Sequence[str] | None = None) -> list[Item]:
    """The training items of ``cfg.data`` (train split by default; never test; no VQA-RAD MEVF 'frame' rows)."""
    refuse_test(cfg.data.split)
    root = cfg.data_root
    items: list = []
    for name in tasks or cfg.data.tasks:
        task = get_task(name)
        opts = {"lang": cfg.data.lang} if name == "slake" else {}
        result = task.load(root, cfg.data.split, limit=cfg.data.limit, **opts)
        kept = [it for it in result.items if str(it.meta.get("phrase_type") or "") != "frame"
                and in_part(it, cfg.data.part, cfg.data.holdout, root)]
        for it in kept:
            refuse_test(it.split)
        items.extend(with_options(it) if cfg.data.closed_as_mc else it for it in kept)
    if not items:
        raise DataError(f"no training items in {', '.join(tasks or cfg.data.tasks)} under {root}")
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


# --- images ---------------------------------------------------------------------------------------
def downscale(image: Image.Image, max_side: int | None) -> Image.Image:
    image = image.convert("RGB")
    if max_side and max(image.size) > max_side:
        scale = max_side / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.BICUBIC)
    return image


def encode_image(image: Image.Image) -> dict:
    """An HF ``Image`` cell (PNG bytes: lossless, so the model trains on what it will see)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=1)
    return {"bytes": buf.getvalue(), "path": None}


class ImageCache:
    """Each item's first image, decoded once per image file (VQA-RAD / SLAKE share images across questions).

    Full-size images (what the specialists see) are kept in a small LRU; the downscaled copy (what the trained
    model sees), its encoded cell and the full image's hash are kept for the whole run.
    """

    def __init__(self, max_side: int | None = None, keep_full: int = 32):
        self.max_side, self.keep_full = max_side, keep_full
        self._full: OrderedDict[tuple, Image.Image] = OrderedDict()
        self._small: dict[tuple, Image.Image] = {}
        self._cells: dict[tuple, dict] = {}
        self._hashes: dict[tuple, str] = {}

    @staticmethod
    def key(item: Item) -> tuple:
        return (item.task, item.image_ref.key)

    def full(self, item: Item) -> Image.Image:
        key = self.key(item)
        if key in self._full:
            self._full.move_to_end(key)
            return self._full[key]
        images = item.image_ref.load()
        if not images:
            raise DataError(f"{item.task} {item.id}: no image")
        image = images[0].convert("RGB")
        self._full[key] = image
        while len(self._full) > self.keep_full:
            self._full.popitem(last=False)
        return image

    def hash(self, item: Item) -> str:
        key = self.key(item)
        if key not in self._hashes:
            self._hashes[key] = image_digest(self.full(item))
        return self._hashes[key]

    def small(self, item: Item) -> Image.Image:
        key = self.key(item)
        if key not in self._small:
            self._small[key] = downscale(self.full(item), self.max_side)
        return self._small[key]

    def cell(self, item: Item, variant: int | None = None) -> dict:
        """The encoded image; with ``variant``, a seeded augmented copy (a crop, a small rotation, brightness and
        contrast): repeated questions about one image then do not all show the model the same pixels."""
        if variant is not None:
            import random

            from trainer.vision import augment

            return encode_image(augment(self.small(item), random.Random(variant)))
        key = self.key(item)
        if key not in self._cells:
            self._cells[key] = encode_image(self.small(item))
        return self._cells[key]


# --- cases and prompts ----------------------------------------------------------------------------
def item_case(item: Item, image: Image.Image) -> Case:
    return case_of(item, [image], item.options, id=item_key(item))


def item_key(item: Item) -> str:
    return f"{item.task}/{item.split}/{item.id}"


def prompt_messages(prompt: Prompt) -> list[dict]:
    """The chat messages the transformers backend sends for ``prompt`` (images as placeholders)."""
    return backend_messages(prompt)


def item_json(item: Item) -> str:
    """What the accuracy reward needs to rebuild the item for ``is_correct``."""
    meta = {k: item.meta[k] for k in ("answer_letter", "answers") if k in item.meta}
    return json.dumps({"task": item.task, "split": item.split, "id": item.id, "question": item.question,
                       "answer": item.answer, "kind": item.kind, "options": item.options,
                       "modality": item.modality, "department": item.department, "meta": meta})


def item_from_json(text: str) -> Item:
    from mmedtui.tasks.base import ImageRef, Item

    d = json.loads(text)
    return Item(d["task"], d["split"], d["id"], d["question"], d["answer"], d["kind"], d["options"],
                d.get("modality"), d.get("department"), ImageRef(()), d.get("meta") or {})


def _rows(rows: list[dict]):
    yield from rows


def build(rows: list[dict], cache_dir: Path | None = None) -> Dataset:
    """Rows -> ``datasets.Dataset`` with an ``Image`` column. With ``cache_dir`` the table is written there and
    memory-mapped (rows share their image bytes in Python; an in-memory table would copy them per row)."""
    from datasets import Dataset
    from datasets import Image as ImageFeature

    if not rows:
        raise DataError("no training rows")
    features = Dataset.from_list(rows[:1]).features.copy()
    if "image" in features:
        features["image"] = ImageFeature()
    if cache_dir is None:
        return Dataset.from_list(rows, features=features)
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    return Dataset.from_generator(_rows, gen_kwargs={"rows": rows}, features=features, cache_dir=str(cache_dir))


# --- rows per role --------------------------------------------------------------------------------
def rationale(item: Item, labels: dict | None = None) -> str:
    """A short, true reasoning line for SFT targets: what the training annotations say the image shows
    (``image_labels.describe``), else the item's own modality and region. A closed question's line first names
    what it asks about (a generated question's ``asks_about``, a real one's ``image_labels.asked_term``): a tiny
    model learns to compare the question with what it sees only when the two stand side by side
    (``scripts/probe_match.py``; assets/README.md)."""
    from trainer import image_labels

    lab = (labels or {}).get(image_labels.image_key(item))
    if lab is None:
        lab = image_labels.ImageLabels(item, modality=image_labels.normal_modality(item.modality),
                                       region=image_labels.region_of(item))
    seen = image_labels.describe(lab)
    about = item.meta.get("asks_about") or (image_labels.asked_term(item.question) if item.kind == "closed" else None)
    return f"The question asks about {about}. {seen}" if about else seen


def gold_text(item: Item) -> str:
    """The gold answer as the item's options word it (the question's "T2" rather than the dataset's "t2")."""
    from mmedtui.tasks.scoring import gold_index

    index = gold_index(item) if item.options else None
    return item.options[index] if index is not None else item.answer


def gold_completion(item: Item, labels: dict | None = None) -> list[dict]:
    """The SFT target of a specialist or attending row: what the image shows, then the gold answer."""
    return assistant_message(f"<think>{rationale(item, labels)}</think><answer>{gold_text(item)}</answer>")


def specialist_department(item: Item) -> str:
    from mmedtui.departments import department_for_modality

    return item.department or department_for_modality(item.modality, "Radiologist") or "Radiologist"


def sft_rows(items: Iterable[Item], images: ImageCache, labels: dict | None = None,
             augment: bool = False) -> list[dict]:
    """Specialist SFT rows; ``labels`` (``image_labels.gather``) word each row's reasoning target; ``augment``
    shows each generated question its own augmented copy of the image."""
    rows = []
    for n, item in enumerate(items):
        case = item_case(item, images.small(item))
        prompt = roles.specialist_prompt(case, specialist_department(item))
        variant = n if augment and item.meta.get("generated") else None
        rows.append({"prompt": prompt_messages(prompt), "completion": gold_completion(item, labels),
                     "image": images.cell(item, variant), "item": item_json(item)})
    return rows


def repeat_closed(rows: list[dict], items: Sequence[Item], times: int) -> list[dict]:
    """``rows`` (one per item) with each closed item's row ``times`` times in all (``data.closed_repeat``)."""
    return rows + [row for row, item in zip(rows, items) if item.kind == "closed"] * (times - 1)


def assistant_message(text: str) -> list[dict]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def attending_rows(entries: Iterable[tuple[Item, list, str]], images: ImageCache, targets: bool = False,
                   labels: dict | None = None) -> list[dict]:
    """``entries``: (item, opinions, stage) -> GRPO rows for the attending physician (``targets``: SFT warm-up
    rows whose completion is the gold answer)."""
    rows = []
    for item, opinions, stage in entries:
        case = item_case(item, images.small(item))
        prompt = roles.attending_prompt(case, opinions)
        row = {"prompt": prompt_messages(prompt), "image": images.cell(item), "item": item_json(item), "stage": stage}
        if targets:
            row["completion"] = gold_completion(item, labels)
        rows.append(row)
    return rows


@dataclass
class TriageExample:
    image: Image.Image
    question: str
    department: str
    source: str
    modality: str | None = None


def triage_rows(examples: Iterable[TriageExample], departments: Sequence[str], max_side: int | None,
                targets: bool = False) -> list[dict]:
    rows = []
    for ex in examples:
        case = Case(downscale(ex.image, max_side), ex.question,
                    meta={"modality": ex.modality} if ex.modality else {})
        prompt = roles.triage_prompt(case, tuple(departments))
        row = {"prompt": prompt_messages(prompt), "image": encode_image(case.image), "department": ex.department,
               "departments": json.dumps(list(departments)), "source": ex.source}
        if targets:
            row["completion"] = assistant_message(f"<think>This is {modality_phrase(ex.modality)}.</think>"
                                            f"<answer>{ex.department}</answer>")
        rows.append(row)
    return rows


def modality_phrase(modality: str | None) -> str:
    """'a CT image', 'an MRI image', 'an ultrasound image', 'a fundus photograph' (triage's reasoning)."""
    from trainer.image_labels import modality_words, with_article

    if not modality:
        return "a medical image"
    words = modality_words(modality)
    return with_article(words if words.endswith(("photograph", "image", "scan")) else f"{words} image")


def corpus(rows: Iterable[dict]) -> list[str]:
    """Texts a tiny tokenizer should know: every prompt and completion of the run."""
    out = []
    for row in rows:
        for msg in row.get("prompt", []) + row.get("completion", []):
            for part in msg["content"]:
                if part.get("type") == "text" and part.get("text"):
                    out.append(part["text"])
        if row.get("item"):
            out.append(json.loads(row["item"])["answer"])
        if row.get("department"):
            out.append(f"<think>image</think><answer>{row['department']}</answer>")
    return out
