"""Which textual-image widget draws the scan (``--image-mode``), and a copy of the scan small enough to draw.

textual-image picks its automatic renderer once, at import, by querying the terminal (Sixel, then the
Kitty graphics protocol, else half-cell blocks; unicode shading without a TTY). That query only works
before Textual owns the terminal, so ``widget_class`` must run before ``App.run()``: ``create_app`` calls it.
Explicit modes name a class; ``none`` draws no pixels (the metadata alone is shown).
"""

from __future__ import annotations

import logging

from PIL import Image as PILImage

MODES = ("auto", "tgp", "sixel", "halfcell", "unicode", "none")
DISPLAY_MAX_SIDE = 1024  # drawing never needs more pixels than this; keeps re-renders on resize cheap

_CLASS_NAMES = {
    "auto": "Image",
    "tgp": "TGPImage",
    "sixel": "SixelImage",
    "halfcell": "HalfcellImage",
    "unicode": "UnicodeImage",
}

log = logging.getLogger(__name__)


def widget_class(mode: str = "auto") -> type | None:
    """The textual-image widget class for ``mode``; None for ``none`` or when auto cannot draw at all.

    An explicit mode that cannot be imported raises ``ValueError``; ``auto`` falls back quietly to no image.
    """
    if mode not in MODES:
        raise ValueError(f"--image-mode: must be one of {', '.join(MODES)}, not {mode!r}")
    if mode == "none":
        return None
    try:
        from textual_image import widget as image_widgets
    except Exception as exc:  # noqa: BLE001 - a terminal that answers oddly must not stop the consultation
        if mode == "auto":
            log.debug("textual-image unavailable, drawing no image", exc_info=exc)
            return None
        raise ValueError(f"--image-mode {mode}: cannot load the renderer ({type(exc).__name__})") from None
    return getattr(image_widgets, _CLASS_NAMES[mode])


def renderer_label(cls: type | None) -> str:
    """A short name for the renderer in use, for the help screen ('half-cell', 'sixel', ...)."""
    if cls is None:
        return "none"
    renderable = getattr(cls, "_Renderable", None)
    module = getattr(renderable, "__module__", "") or getattr(cls, "__module__", "")
    for key, label in (("halfcell", "half-cell"), ("unicode", "unicode"), ("sixel", "sixel"), ("tgp", "tgp")):
        if key in module:
            return label
    return cls.__name__


def display_copy(image: PILImage.Image, max_side: int = DISPLAY_MAX_SIDE) -> PILImage.Image:
    """An RGB copy no larger than ``max_side`` on its longer side (the model still gets the full image)."""
    copy = image.convert("RGB") if image.mode != "RGB" else image.copy()
    if max(copy.size) > max_side:
        copy.thumbnail((max_side, max_side), PILImage.Resampling.LANCZOS)
    return copy
