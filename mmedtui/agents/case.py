"""What a consultation is about: one image, one question, optional options."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    from mmedtui.tasks.base import Item

#: Longest question a consultation takes, in characters. The longest benchmark questions (MMMU) are a few
#: hundred; a 120 KB question took a minute per agent and 10 MB in the TUI box 7 GB of memory.
MAX_QUESTION_CHARS = 4000


def check_question(question: str) -> str:
    """``question`` stripped; a UserError (one line, exit 2) when it is empty or over ``MAX_QUESTION_CHARS``."""
    from mmedtui.errors import UserError

    text = question.strip()
    if not text:
        raise UserError("--question: empty question")
    if len(text) > MAX_QUESTION_CHARS:
        raise UserError(f"--question: {len(text):,} characters; a question may have at most {MAX_QUESTION_CHARS:,}")
    return text


@dataclass
class Case:
    image: Image.Image  # RGB
    question: str
    options: list[str] | None = None  # multiple choice: the agents answer with a letter or the option text
    meta: dict = field(default_factory=dict)  # non-identifying scan metadata (modality, body part, size)
    id: str = ""
    extra_images: tuple[Image.Image, ...] = ()  # further images in question order (MMMU has up to 7)


def case_of(item: Item, images: Sequence[Image.Image], options: Sequence[str] | None, id: str | None = None) -> Case:
    """A benchmark or training item as a consultation case: every image in question order (MMMU has several),
    the options it is asked with (the bench's protocol may differ from the item's own), the dataset's modality
    label as metadata."""
    return Case(
        images[0],
        item.question,
        list(options) if options else None,
        {"modality": item.modality} if item.modality else {},
        id=item.id if id is None else id,
        extra_images=tuple(images[1:]),
    )
