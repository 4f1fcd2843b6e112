"""What a consultation is about: one image, one question, optional options."""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image


@dataclass
class Case:
    image: Image.Image          # RGB
    question: str
    options: list[str] | None = None  # multiple choice: the agents answer with a letter or the option text
    meta: dict = field(default_factory=dict)  # non-identifying scan metadata (modality, body part, size)
    id: str = ""
    extra_images: tuple[Image.Image, ...] = ()  # further images in question order (MMMU has up to 7)
