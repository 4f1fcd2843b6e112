"""A Qwen2.5-VL processor without the video slot, that prepares each image once per process.

Why no video slot: the stock ``Qwen2_5_VLProcessor`` type-checks its video processor against a class that
only exists when torchvision is installed, and torchvision does not work beside the pinned CPU torch. Images
are all we need. Registering it makes ``AutoProcessor.from_pretrained(dir)`` return this processor instead
of silently falling back to the bare tokenizer.

Why a cache: a consultation shows the same scan to five models (triage, three specialists, attending) whose
image processors are configured alike; resizing and normalising a large scan is the costliest part of
encoding a prompt, so the result is kept for as long as the image object lives (never longer: an id is
only trusted while its weak reference still points at the same image). Images must not be changed in place
after they were first processed.
"""

from __future__ import annotations

import threading
import weakref

import torch
from PIL import Image
from transformers import AutoProcessor, BatchFeature, Qwen2_5_VLConfig
from transformers.image_utils import make_flat_list_of_images
from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor

# id(image) -> (weak reference to the image, {image processor settings: its features})
_FEATURES: dict[int, tuple[weakref.ref, dict[str, BatchFeature]]] = {}
_LOCK = threading.Lock()


def _features(image: Image.Image, settings: str, compute) -> BatchFeature:
    """``compute()`` for this image and these settings, run once while the image object lives."""
    key = id(image)
    with _LOCK:
        entry = _FEATURES.get(key)
        if entry is None or entry[0]() is not image:  # a new image, or a dead one's id reused
            entry = _FEATURES[key] = (weakref.ref(image, lambda _: _FEATURES.pop(key, None)), {})
    if settings not in entry[1]:
        entry[1][settings] = compute()
    return entry[1][settings]


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        kwargs.pop("video_processor", None)
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    def _process_images(self, images, **kwargs):
        """As the base class, one image at a time through the cache (the Qwen2-VL image processor treats
        every image on its own and concatenates their patches, so the result is the same)."""
        flat = make_flat_list_of_images(images)
        if kwargs.get("return_tensors") != "pt" or not all(isinstance(i, Image.Image) for i in flat):
            return super()._process_images(images, **kwargs)
        settings = self.image_processor.to_json_string() + repr(sorted(kwargs.items()))
        parts = [_features(i, settings, lambda i=i: self.image_processor([i], **kwargs)) for i in flat]
        processed = BatchFeature({k: torch.cat([p[k] for p in parts]) for k in parts[0]})
        return processed, [self.replace_image_token(processed, image_idx=i, **kwargs) for i in range(len(flat))]


def register() -> None:
    try:
        AutoProcessor.register(Qwen2_5_VLConfig, ImageOnlyQwen2_5_VLProcessor, exist_ok=True)
    except TypeError:  # older signature without exist_ok
        AutoProcessor.register(Qwen2_5_VLConfig, ImageOnlyQwen2_5_VLProcessor)


register()
