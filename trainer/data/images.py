"""Images as the trained model sees them: RGB, downscaled to ``data.image_max_side``, PNG-encoded (lossless) in
an HF ``Image`` cell; one cache per run, so each image file is decoded once."""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import TYPE_CHECKING

from PIL import Image, ImageEnhance, ImageOps

from mmedtui.errors import DataError
from mmedtui.imaging import image_digest

if TYPE_CHECKING:
    import random

    from mmedtui.tasks.base import Item


def downscale(image: Image.Image, max_side: int | None) -> Image.Image:
    image = image.convert("RGB")
    if max_side and max(image.size) > max_side:
        scale = max_side / max(image.size)
        image = image.resize(
            (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BICUBIC
        )
    return image


def encode_image(image: Image.Image) -> dict:
    """An HF ``Image`` cell (PNG bytes: lossless, so the model trains on what it will see)."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=1)
    return {"bytes": buf.getvalue(), "path": None}


def augment(
    image: Image.Image,
    rng: random.Random,
    *,
    crop: float = 0.85,
    degrees: float = 8.0,
    light: float = 0.15,
    flip: bool = False,
    resample: Image.Resampling = Image.Resampling.NEAREST,
) -> Image.Image:
    """A seeded random crop (``crop`` to 100 % of each side), a mirror half the time with ``flip``, a rotation within
    ``degrees`` and a brightness / contrast change within ``light``. Radiology labels name sides ("left kidney"),
    so only the triage doctor's few-image sources are flipped."""
    image = image.convert("RGB")
    w, h = image.size
    scale = rng.uniform(crop, 1.0)
    cw, ch = max(8, int(w * scale)), max(8, int(h * scale))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    image = image.crop((x, y, x + cw, y + ch))
    if flip and rng.random() < 0.5:
        image = ImageOps.mirror(image)
    image = image.rotate(rng.uniform(-degrees, degrees), resample=resample, fillcolor=(0, 0, 0))
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(1 - light, 1 + light))
    return ImageEnhance.Contrast(image).enhance(rng.uniform(1 - light, 1 + light))


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

            return encode_image(augment(self.small(item), random.Random(variant)))
        key = self.key(item)
        if key not in self._cells:
            self._cells[key] = encode_image(self.small(item))
        return self._cells[key]
