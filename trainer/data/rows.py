"""Training rows built with the SAME prompts as inference (``mmedtui.agents.roles``) and the same chat messages
as the transformers backend, so a trained model is asked at inference exactly what it was trained on.

Rows are Hugging Face ``datasets.Dataset`` rows: a conversational ``prompt`` (system + user with an
``{"type": "image"}`` part), an ``image`` column, and the label columns the rewards need (``item``: the item as
JSON, scored by ``mmedtui.tasks.scoring.is_correct``; ``department`` for triage). SFT rows add a
conversational ``completion``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from mmedtui.agents import roles
from mmedtui.agents.base import Prompt
from mmedtui.agents.case import Case
from mmedtui.agents.transformers_backend import chat_messages as backend_messages
from mmedtui.errors import DataError
from trainer.data.images import ImageCache, downscale, encode_image
from trainer.data.items import PanelCase, item_case, item_json

if TYPE_CHECKING:
    from datasets import Dataset

    from mmedtui.tasks.base import Item


def prompt_messages(prompt: Prompt) -> list[dict]:
    """The chat messages the transformers backend sends for ``prompt`` (images as placeholders)."""
    return backend_messages(prompt)


def _rows(rows: list[dict]):
    yield from rows


def to_dataset(rows: list[dict], cache_dir: Path | None = None) -> Dataset:
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


def rationale(item: Item, labels: dict | None = None) -> str:
    """A short, true reasoning line for SFT targets: what the training annotations say the image shows
    (``image_labels.describe``), else the item's own modality and region. A closed question's line first names
    what it asks about (a generated question's ``asks_about``, a real one's ``image_labels.asked_term``): a tiny
    model learns to compare the question with what it sees only when the two stand side by side
    (``scripts/probe_match.py``; assets/README.md)."""
    from trainer.data import image_labels

    lab = (labels or {}).get(image_labels.image_key(item))
    if lab is None:
        lab = image_labels.ImageLabels(
            item, modality=image_labels.normal_modality(item.modality), region=image_labels.region_of(item)
        )
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


def sft_rows(
    items: Iterable[Item], images: ImageCache, labels: dict | None = None, augment: bool = False
) -> list[dict]:
    """Specialist SFT rows; ``labels`` (``image_labels.gather``) word each row's reasoning target; ``augment``
    shows each generated question its own augmented copy of the image."""
    rows = []
    for n, item in enumerate(items):
        case = item_case(item, images.small(item))
        prompt = roles.specialist_prompt(case, specialist_department(item))
        variant = n if augment and item.meta.get("generated") else None
        rows.append(
            {
                "prompt": prompt_messages(prompt),
                "completion": gold_completion(item, labels),
                "image": images.cell(item, variant),
                "item": item_json(item),
            }
        )
    return rows


def repeat_closed(rows: list[dict], items: Sequence[Item], times: int) -> list[dict]:
    """``rows`` (one per item) with each closed item's row ``times`` times in all (``data.closed_repeat``)."""
    return rows + [row for row, item in zip(rows, items) if item.kind == "closed"] * (times - 1)


def assistant_message(text: str) -> list[dict]:
    return [{"role": "assistant", "content": [{"type": "text", "text": text}]}]


def attending_rows(
    cases: Iterable[PanelCase], images: ImageCache, targets: bool = False, labels: dict | None = None
) -> list[dict]:
    """GRPO rows for the attending physician, one per case (``targets``: SFT warm-up rows whose completion is the
    gold answer)."""
    rows = []
    for panel_case in cases:
        item = panel_case.item
        case = item_case(item, images.small(item))
        prompt = roles.attending_prompt(case, panel_case.opinions)
        row = {
            "prompt": prompt_messages(prompt),
            "image": images.cell(item),
            "item": item_json(item),
            "stage": panel_case.stage,
        }
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


def triage_rows(
    examples: Iterable[TriageExample], departments: Sequence[str], max_side: int | None, targets: bool = False
) -> list[dict]:
    rows = []
    for ex in examples:
        case = Case(downscale(ex.image, max_side), ex.question, meta={"modality": ex.modality} if ex.modality else {})
        prompt = roles.triage_prompt(case, tuple(departments))
        row = {
            "prompt": prompt_messages(prompt),
            "image": encode_image(case.image),
            "department": ex.department,
            "departments": json.dumps(list(departments)),
            "source": ex.source,
        }
        if targets:
            row["completion"] = assistant_message(
                f"<think>This is {modality_phrase(ex.modality)}.</think><answer>{ex.department}</answer>"
            )
        rows.append(row)
    return rows


def modality_phrase(modality: str | None) -> str:
    """'a CT image', 'an MRI image', 'an ultrasound image', 'a fundus photograph' (triage's reasoning)."""
    from trainer.data.image_labels import modality_words, with_article

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
