"""Small scans a 32 x 32 thumbnail tells apart, and a nearest-image model built on them."""

from __future__ import annotations

import torch
from PIL import Image, ImageOps

from mmedtui.agents.image_prior import ImagePrior, thumbnail


def scan(kind: str, shift: int = 0) -> Image.Image:
    """Three looks that a thumbnail tells apart; ``shift`` brightens a copy without changing its look."""
    base = {
        "down": Image.linear_gradient("L"),
        "across": Image.linear_gradient("L").rotate(90),
        "ring": Image.radial_gradient("L"),
    }[kind]
    return ImageOps.autocontrast(base).point(lambda v: min(255, v + shift)).convert("RGB").resize((64, 64))


def prior(k: int) -> ImagePrior:
    looks = ["down", "down", "across", "ring"]
    modality = ["CT", "CT", "MRI", None]
    asked = [
        {"is there a mass": "yes", "which side": "left"},
        {"is there a mass": "yes"},
        {"is there a mass": "no", "which side": "right"},
        {"which side": "right"},
    ]
    return ImagePrior(torch.stack([thumbnail(scan(look)) for look in looks]), asked, k, modality)
