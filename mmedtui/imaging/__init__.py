"""Read a medical image (PNG, JPEG, BMP, TIFF or DICOM) into an RGB PIL image plus safe metadata.

Privacy: only the file's base name, format, size, frame numbers and the DICOM Modality,
BodyPartExamined and window ever leave this package. Patient-identifying DICOM tags are never
read into ScanMeta, logged, or put in error messages. Every failure is a one-line ``ImageError``
starting with the file's base name (not its full path, which may itself name the patient); only "file not
found" adds the absolute path it tried, for the person who typed it (a typo in a folder is otherwise invisible).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from mmedtui.errors import ImageError
from mmedtui.imaging import raster


def image_digest(image: Image.Image) -> str:
    """sha256 of the decoded pixels plus mode and size: same picture, same digest, whatever file it came from."""
    h = hashlib.sha256(f"{image.mode}|{image.width}x{image.height}|".encode())
    h.update(image.tobytes())
    return h.hexdigest()


#: CT window presets, (center, width) in Hounsfield units (the usual radiology reading windows).
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "abdomen": (40.0, 400.0),
}

SUPPORTED_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom")

# DICOM files often lack the 128-byte preamble + "DICM" (old exports) or any suffix (PACS dumps such
# as "IM0001"), so content that Pillow does not recognise is tried as a bare DICOM dataset for these.
_DICOM_SUFFIXES = (".dcm", ".dicom", ".dic", "")

__all__ = ["SUPPORTED_SUFFIXES", "WINDOW_PRESETS", "Scan", "ScanMeta", "load_scan", "load_scan_bytes"]


@dataclass(frozen=True)
class ScanMeta:
    source: str  # base name only: a full path can contain the patient's name
    format: str  # "PNG", "JPEG", "BMP", "TIFF", "DICOM"
    width: int
    height: int
    modality: str | None  # DICOM Modality code, e.g. "CT"
    body_part: str | None  # DICOM BodyPartExamined
    frames: int = 1
    frame: int = 0
    window: tuple[float, float] | None = None  # (center, width) applied to DICOM greyscale, if any
    burned_in: bool = False  # DICOM BurnedInAnnotation = YES: identifying text drawn into the pixels

    def to_dict(self) -> dict:
        """JSON-safe dict of the (non-identifying) fields above."""
        d = asdict(self)
        d["window"] = list(self.window) if self.window is not None else None
        return d


@dataclass(frozen=True)
class Scan:
    image: Image.Image  # always mode "RGB", full resolution (model processors do any resizing)
    meta: ScanMeta


def load_scan(
    path: str | os.PathLike,
    *,
    frame: int | None = None,
    window: tuple[float, float] | None = None,
    max_pixels: int = 50_000_000,
    max_bytes: int = 512 * 1024**2,
) -> Scan:
    """Load an image file. ``frame`` picks a frame of a multi-frame DICOM (default: the middle one)
    or a page of a multi-page TIFF (default: the first). ``window`` (center, width, in the modality's
    units, e.g. Hounsfield) replaces a greyscale DICOM's own window (see ``WINDOW_PRESETS``); other images
    ignore it. Raises ImageError on any problem."""
    p = Path(path)
    name = p.name or str(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found (looked for {p.resolve()})") from None
    except OSError as e:
        raise ImageError(f"{name}: cannot access file ({e.strerror or type(e).__name__})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{name}: is a directory, not an image file")
    if not stat.S_ISREG(st.st_mode):  # FIFOs and devices could block or never end
        raise ImageError(f"{name}: not a regular file")
    _check_size(name, st.st_size, max_bytes)
    try:
        fp = open(p, "rb")
    except OSError as e:
        raise ImageError(f"{name}: cannot open file ({e.strerror or type(e).__name__})") from None
    with fp:
        return _load(fp, name, frame=frame, max_pixels=max_pixels, window=window)


def load_scan_bytes(
    data: bytes,
    name: str,
    *,
    frame: int | None = None,
    max_pixels: int = 50_000_000,
    max_bytes: int = 512 * 1024**2,
) -> Scan:
    """Like load_scan, for an image already in memory (e.g. a dataset row); ``name`` labels it."""
    name = Path(name).name or name or "<image>"
    _check_size(name, len(data), max_bytes)
    return _load(io.BytesIO(data), name, frame=frame, max_pixels=max_pixels)


def _check_size(name: str, size: int, max_bytes: int) -> None:
    if size == 0:
        raise ImageError(f"{name}: file is empty")
    if size > max_bytes:
        raise ImageError(f"{name}: file is {size} bytes, over the limit of {max_bytes} bytes")


def _dicom():
    from mmedtui.imaging import dicom  # pydicom takes ~0.1 s to import: only when a file may be DICOM

    return dicom


def _load(
    fp: BinaryIO, name: str, *, frame: int | None, max_pixels: int, window: tuple[float, float] | None = None
) -> Scan:
    # Sniff by content, not suffix: a DICOM file has "DICM" after its 128-byte preamble.
    head = fp.read(132)
    fp.seek(0)
    if head[128:132] == b"DICM":
        image, info = _dicom().read(fp, name, frame=frame, max_pixels=max_pixels, window=window)
    else:
        try:
            image, info = raster.read(fp, name, frame=frame, max_pixels=max_pixels)
        except raster.Unrecognised:
            if Path(name).suffix.lower() not in _DICOM_SUFFIXES:
                raise
            fp.seek(0)
            image, info = _dicom().read(fp, name, frame=frame, max_pixels=max_pixels, headerless=True, window=window)
    meta = ScanMeta(
        source=name,
        width=image.width,
        height=image.height,
        format=info["format"],
        modality=info.get("modality"),
        body_part=info.get("body_part"),
        frames=info["frames"],
        frame=info["frame"],
        window=info.get("window"),
        burned_in=bool(info.get("burned_in")),
    )
    return Scan(image=image, meta=meta)
