"""A Qwen2.5-VL processor without the video slot.

Why: the stock ``Qwen2_5_VLProcessor`` type-checks its video processor against a class that only exists
when torchvision is installed, and torchvision does not work beside the pinned CPU torch. Images are
all we need. Registering it makes ``AutoProcessor.from_pretrained(dir)`` return this processor instead
of silently falling back to the bare tokenizer.
"""

from __future__ import annotations

from transformers import AutoProcessor, Qwen2_5_VLConfig
from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor


class ImageOnlyQwen2_5_VLProcessor(Qwen2_5_VLProcessor):
    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        kwargs.pop("video_processor", None)
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


def register() -> None:
    try:
        AutoProcessor.register(Qwen2_5_VLConfig, ImageOnlyQwen2_5_VLProcessor, exist_ok=True)
    except TypeError:  # older signature without exist_ok
        AutoProcessor.register(Qwen2_5_VLConfig, ImageOnlyQwen2_5_VLProcessor)


register()
