"""DICOM via pydicom 3: one frame, modality LUT then VOI LUT/window, converted to RGB.

Only non-identifying attributes are ever read from the dataset (geometry, photometric
interpretation, LUT/window, Modality, BodyPartExamined), so pydicom never has cause to convert,
validate, warn about or log a patient's name, ID or dates.
"""

from __future__ import annotations

import warnings
from typing import BinaryIO

import numpy as np
import pydicom
from PIL import Image
from pydicom import uid
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, apply_windowing, get_decoder, pixel_array
from pydicom.pixels.utils import get_nr_frames

from mmedtui.errors import ImageError, error_line
from mmedtui.imaging.raster import stretch, to_uint8

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# What to pip install when pydicom has no working decoder for a compressed transfer syntax.
_CODECS = (
    (uid.JPEG2000TransferSyntaxes, "JPEG 2000", "pylibjpeg pylibjpeg-openjpeg"),
    (uid.JPEGLSTransferSyntaxes, "JPEG-LS", "pylibjpeg pylibjpeg-libjpeg"),
    (uid.JPEGTransferSyntaxes, "JPEG", "pylibjpeg pylibjpeg-libjpeg"),
)
_COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420")


def read(
    fp: BinaryIO,
    name: str,
    *,
    frame: int | None,
    max_pixels: int,
    headerless: bool = False,
    window: tuple[float, float] | None = None,
) -> tuple[Image.Image, dict]:
    """``window``: (center, width) in the modality LUT's units, used instead of the file's own VOI."""
    # pydicom warns (and logs) about odd values it meets; keep that noise out of the terminal.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _read(fp, name, frame=frame, max_pixels=max_pixels, headerless=headerless, window=window)


def _read(
    fp: BinaryIO,
    name: str,
    *,
    frame: int | None,
    max_pixels: int,
    headerless: bool,
    window: tuple[float, float] | None = None,
):
    try:
        # force=True reads a bare dataset without preamble/"DICM" (only tried for .dcm-like names).
        ds = pydicom.dcmread(fp, force=headerless)
    except Exception:
        raise ImageError(f"{name}: not a readable DICOM file") from None
    # force=True will "parse" any bytes; insist on at least one real image/SOP attribute.
    if headerless and not any(k in ds for k in (*_PIXEL_KEYWORDS, "SOPClassUID", "Modality", "Rows")):
        raise ImageError(f"{name}: unsupported or unrecognised image format (expected PNG, JPEG, BMP, TIFF or DICOM)")
    if not any(k in ds for k in _PIXEL_KEYWORDS):
        raise ImageError(f"{name}: DICOM file has no pixel data (not an image, e.g. a report or plan)")
    if "TransferSyntaxUID" not in ds.file_meta:
        # Bare or damaged file meta: pydicom already guessed the encoding while parsing, reuse it.
        implicit, little = ds.original_encoding
        explicit = uid.ExplicitVRLittleEndian if little else uid.ExplicitVRBigEndian
        ds.file_meta.TransferSyntaxUID = uid.ImplicitVRLittleEndian if implicit else explicit
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        frames = int(get_nr_frames(ds, warn=False))  # IS values may come back as str
        photometric = str(ds.PhotometricInterpretation).strip().upper()
    except Exception:
        raise ImageError(
            f"{name}: DICOM image attributes (Rows, Columns, NumberOfFrames, PhotometricInterpretation)"
            " are missing or malformed"
        ) from None

    # Check size before decoding. Only one frame is ever decoded, so the per-frame size is what
    # costs memory; the file-size limit already bounds the whole (possibly compressed) pixel data.
    if rows * cols > max_pixels:
        raise ImageError(
            f"{name}: image is {cols}x{rows} = {rows * cols} pixels per frame, over the limit of {max_pixels}"
        )
    index = frames // 2 if frame is None else frame  # the middle slice is the most representative
    if not 0 <= index < frames:
        raise ImageError(f"{name}: frame {index} is out of range; the file has {frames} frame(s) (0..{frames - 1})")

    try:
        arr = pixel_array(ds, index=index)  # YBR is converted to RGB here (raw=False)
    except Exception as e:
        raise ImageError(_decode_error(name, ds.file_meta.TransferSyntaxUID, e)) from None
    try:
        image, window = _render(arr, ds, photometric, name, window)
    except ImageError:
        raise
    except Exception as e:
        raise ImageError(f"{name}: could not convert DICOM pixel data ({error_line(e, typed=False)})") from None
    info = {
        "format": "DICOM",
        "frames": frames,
        "frame": index,
        "window": window,
        "modality": _text(ds, "Modality"),
        "body_part": _text(ds, "BodyPartExamined"),
        # The pixels themselves carry text (name, MRN, dates): no header scrubbing removes it.
        # A damaged flag counts as text burned in: it keeps the scan from a remote panel, never the reverse.
        "burned_in": (_text(ds, "BurnedInAnnotation", damaged="YES") or "").upper() == "YES",
    }
    return image, info


def _render(arr: np.ndarray, ds, photometric: str, name: str, window: tuple[float, float] | None = None):
    """A decoded frame to an RGB image, and the (center, width) window used, if any."""
    if photometric in ("MONOCHROME1", "MONOCHROME2") and arr.ndim == 2:
        grey, window = _voi(arr, ds) if window is None else (_linear_window(arr, ds, window), window)
        if photometric == "MONOCHROME1":  # MONOCHROME1 means low values are displayed white
            grey = 1.0 - grey
        return Image.fromarray(to_uint8(grey)).convert("RGB"), window
    if photometric == "PALETTE COLOR" and arr.ndim == 2:
        rgb = apply_color_lut(arr, ds)  # uint8 or uint16 depending on the palette's entry size
        return Image.fromarray(to_uint8(rgb / np.iinfo(rgb.dtype).max)), None
    if photometric in _COLOUR and arr.ndim == 3 and arr.shape[-1] == 3:
        top = 2 ** int(ds.get("BitsStored") or arr.dtype.itemsize * 8) - 1
        return Image.fromarray(to_uint8(arr / top)), None
    raise ImageError(f"{name}: unsupported DICOM photometric interpretation {photometric!r} (shape {arr.shape})")


def _voi(arr: np.ndarray, ds) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Greyscale frame to 0..1 display values, and the (center, width) window used, if any."""
    # Modality LUT first (stored values -> real units such as Hounsfield): windows are given in
    # those units, so windowing raw stored values would be wrong (PS3.3 C.11.1 before C.11.2).
    values = apply_modality_lut(arr, ds)
    item = (ds.get("VOILUTSequence") or [None])[0]
    if item is not None and "LUTDescriptor" in item and "LUTData" in item:
        try:
            ints = values if np.issubdtype(values.dtype, np.integer) else np.rint(values).astype(np.int64)
            return apply_voi(ints, ds) / (2 ** int(item.LUTDescriptor[2]) - 1), None
        except Exception:
            pass  # malformed LUT: fall through to the window, then to min/max
    if "WindowCenter" in ds and "WindowWidth" in ds:
        try:
            out = apply_windowing(values, ds)
            # pydicom scales its output to the stored-value range; find that range by pushing
            # -inf/+inf through the same function (they land on the window's floor and ceiling).
            lo, hi = apply_windowing(np.array([-np.inf, np.inf]), ds)
            return (out - lo) / (hi - lo), (_first(ds.WindowCenter), _first(ds.WindowWidth))
        except Exception:
            pass  # malformed window (e.g. width 0): fall back to min/max rather than fail
    unit, lo, hi = stretch(values)
    return unit, ((lo + hi) / 2, hi - lo)


def _linear_window(arr: np.ndarray, ds, window: tuple[float, float]) -> np.ndarray:
    """Modality LUT (e.g. to Hounsfield units), then a linear window [center - width/2, center + width/2]."""
    center, width = window
    values = apply_modality_lut(arr, ds).astype(np.float64)
    return np.clip((values - (center - width / 2)) / max(width, 1.0), 0.0, 1.0)


def _decode_error(name: str, ts: uid.UID, err: Exception) -> str:
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        return f"{name}: DICOM transfer syntax {ts.name!r} is not supported"
    family, hint = next(((f, h) for syntaxes, f, h in _CODECS if ts in syntaxes), (ts.name, ""))
    if not decoder.is_available and hint:
        return f"{name}: {family} compressed DICOM needs an extra decoder: pip install {hint}"
    extra = f"; another decoder may help: pip install {hint}" if hint else ""
    return f"{name}: could not decode {ts.name} pixel data ({error_line(err, typed=False)}){extra}"


def _first(value) -> float:
    """Window attributes may hold several alternatives (VM 1-n); pydicom applies the first."""
    return float(value[0] if isinstance(value, (list, tuple, MultiValue)) else value)


def _text(ds, keyword: str, damaged: str | None = None) -> str | None:
    """A short header text; ``damaged`` where the element cannot be read (an unknown VR, a bad length)."""
    try:
        value = ds.get(keyword)
        text = str(value).strip() if value is not None else ""
    except Exception:  # noqa: BLE001 - pydicom raises what the damaged bytes make it raise (NotImplementedError, ...)
        return damaged
    return text[:64] or None
