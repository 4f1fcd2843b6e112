"""PNG, JPEG, BMP and TIFF via Pillow, converted to RGB. Also the shared 0..1 -> uint8 helpers."""

from __future__ import annotations

import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from mmedtui.errors import ImageError, error_line

# Only these decoders ever see the bytes: fewer parsers on untrusted input, and anything else
# (GIF, WebP, ...) is outside the design's list of formats.
_FORMATS = ("PNG", "JPEG", "BMP", "TIFF")
_WIDE_GREY = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")  # 16/32-bit integer or float greyscale
_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")


class Unrecognised(ImageError):
    """Pillow does not recognise the content as one of the supported raster formats."""


def read(fp: BinaryIO, name: str, *, frame: int | None, max_pixels: int) -> tuple[Image.Image, dict]:
    # Silence Pillow's warnings: corrupt-metadata chatter would scribble over the TUI (real damage
    # still fails in load() below), and DecompressionBombWarning fires above Image.MAX_IMAGE_PIXELS
    # while our own max_pixels check is the limit we enforce. Pillow still raises
    # DecompressionBombError above 2x its global, which we leave untouched (no process-wide change).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read(fp, name, frame=frame, max_pixels=max_pixels)


def _read(fp: BinaryIO, name: str, *, frame: int | None, max_pixels: int) -> tuple[Image.Image, dict]:
    try:
        img = Image.open(fp, formats=_FORMATS)
        frames = getattr(img, "n_frames", 1)  # TIFF pages; walks the IFD chain, so inside the try
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: image dimensions are too large (possible decompression bomb)") from None
    except UnidentifiedImageError:
        raise Unrecognised(
            f"{name}: unsupported or unrecognised image format (expected PNG, JPEG, BMP, TIFF or DICOM)"
        ) from None
    except Exception as e:  # a plugin choked on a malformed header
        raise ImageError(f"{name}: corrupt image header ({error_line(e, typed=False)})") from None

    fmt = "JPEG" if img.format == "MPO" else img.format  # MPO = JPEG with extra (stereo/preview) frames
    index = 0 if frame is None else frame
    if not 0 <= index < frames:
        raise ImageError(f"{name}: frame {index} is out of range; the image has {frames} frame(s)")
    try:
        if index:
            img.seek(index)
        w, h = img.size  # from the header: nothing has been decoded yet
        if w * h > max_pixels:
            raise ImageError(f"{name}: image is {w}x{h} = {w * h} pixels, over the limit of {max_pixels}")
        # A truncated file must fail, not come back half grey. LOAD_TRUNCATED_IMAGES is a Pillow
        # global that another library may have switched on, so force it off just for this load.
        saved = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            img.load()
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = saved
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: image dimensions are too large (possible decompression bomb)") from None
    except Exception as e:
        raise ImageError(f"{name}: truncated or corrupt image data ({error_line(e, typed=False)})") from None
    try:
        # Camera/phone photos of films carry their rotation in EXIF; show them upright.
        rgb = to_rgb(ImageOps.exif_transpose(img))
    except Exception as e:
        raise ImageError(f"{name}: cannot convert {img.mode} image to RGB ({error_line(e, typed=False)})") from None
    return rgb, {"format": fmt, "frames": frames, "frame": index}


def to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in _WIDE_GREY:
        # 16-bit scans often use a small part of 0..65535 (e.g. 12-bit detectors): stretch by the
        # actual min/max rather than truncating or dividing by 257, which would give a black image.
        return Image.fromarray(to_uint8(stretch(np.asarray(img))[0])).convert("RGB")
    if img.mode in _ALPHA or "transparency" in img.info:
        # Composite on black: radiology images have black surrounds, so transparent margins blend
        # in instead of adding a bright frame a model might read as anatomy or a film edge.
        rgba = img.convert("RGBA")
        out = Image.new("RGB", img.size, (0, 0, 0))
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return img.convert("RGB")  # L, 1, P, CMYK, YCbCr, RGB


def stretch(a: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Map ``a`` linearly so its finite min..max becomes 0..1; also return that min and max."""
    a = a.astype(np.float32)
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return np.zeros_like(a), 0.0, 0.0
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:  # a flat image has no contrast to stretch
        return np.zeros_like(a), lo, hi
    return (a - lo) / (hi - lo), lo, hi


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """0..1 floats (NaN -> 0) to uint8, rounded."""
    return np.clip(np.nan_to_num(unit) * 255.0 + 0.5, 0, 255).astype(np.uint8)
