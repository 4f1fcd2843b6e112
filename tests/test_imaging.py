"""mmedtui.imaging: every supported format to RGB, DICOM display pipeline, privacy, and failure modes.

Fixtures are built in tmp_path (Pillow, pydicom) or taken from pydicom's bundled test files.
"""

from __future__ import annotations

import json
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageFile
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder

from mmedtui.errors import ImageError, UserError
from mmedtui.imaging import SUPPORTED_SUFFIXES, Scan, ScanMeta, load_scan, load_scan_bytes
from support.dicom import write_dicom
from support.paths import VQA_RAD_SCAN, needs_shared_data  # tests/../../shared/data/vqa-rad/...


def pixels(scan: Scan) -> np.ndarray:
    assert scan.image.mode == "RGB"
    return np.asarray(scan.image)


def save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


def assert_image_error(path, *needles, **kwargs) -> str:
    with pytest.raises(ImageError) as info:
        load_scan(path, **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(Path(path).name + ":"), msg
    for needle in needles:
        assert needle.lower() in msg.lower(), msg
    return msg


# ---------------------------------------------------------------- raster formats


def test_png_rgb_meta_and_to_dict(tmp_path):
    arr = np.zeros((20, 30, 3), np.uint8)
    arr[:, :, 0] = 200
    scan = load_scan(save(Image.fromarray(arr), tmp_path / "plain.png"))
    assert isinstance(scan.meta, ScanMeta)
    assert (scan.meta.source, scan.meta.format, scan.meta.width, scan.meta.height) == ("plain.png", "PNG", 30, 20)
    assert (scan.meta.modality, scan.meta.body_part, scan.meta.frames, scan.meta.frame, scan.meta.window) == (
        None,
        None,
        1,
        0,
        None,
    )
    assert pixels(scan)[0, 0].tolist() == [200, 0, 0]
    assert json.loads(json.dumps(scan.meta.to_dict()))["source"] == "plain.png"
    assert issubclass(ImageError, UserError)
    assert set(SUPPORTED_SUFFIXES) >= {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm"}


@pytest.mark.parametrize("fmt", ["TIFF", "PNG"])
def test_16bit_grey_is_scaled_by_actual_min_max(tmp_path, fmt):
    arr = np.tile(np.linspace(1000, 3000, 64).astype(np.uint16), (8, 1))  # a 12-bit-ish detector range
    img = Image.fromarray(arr)
    assert img.mode.startswith("I;16")
    a = pixels(load_scan(save(img, tmp_path / f"wide.{fmt.lower()}", format=fmt)))[..., 0]
    assert a.min() == 0 and a.max() == 255  # stretched, not truncated / divided by 257
    assert np.all(np.diff(a[0].astype(int)) >= 0)


def test_32bit_int_tiff(tmp_path):
    arr = np.tile(np.arange(-500, 500, 10, dtype=np.int32), (4, 1))
    a = pixels(load_scan(save(Image.fromarray(arr), tmp_path / "int.tif")))
    assert a.min() == 0 and a.max() == 255


def test_cmyk_jpeg(tmp_path):
    img = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta + yellow: red
    scan = load_scan(save(img, tmp_path / "cmyk.jpg", quality=95))
    r, g, b = pixels(scan)[8, 8].tolist()
    assert scan.meta.format == "JPEG" and r > 200 and g < 60 and b < 60


def test_palette_png(tmp_path):
    img = Image.new("P", (8, 8), 1)
    img.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert pixels(load_scan(save(img, tmp_path / "pal.png")))[0, 0].tolist() == [10, 200, 30]


def test_rgba_png_composited_on_black(tmp_path):
    arr = np.zeros((4, 8, 4), np.uint8)
    arr[..., :3] = 255
    arr[:, :4, 3] = 255  # left half opaque white, right half transparent
    a = pixels(load_scan(save(Image.fromarray(arr, "RGBA"), tmp_path / "alpha.png")))
    assert a[0, 0].tolist() == [255, 255, 255] and a[0, 7].tolist() == [0, 0, 0]


def test_la_png(tmp_path):
    img = Image.new("LA", (4, 4), (180, 255))
    assert pixels(load_scan(save(img, tmp_path / "la.png")))[0, 0].tolist() == [180, 180, 180]


def test_bmp(tmp_path):
    scan = load_scan(save(Image.new("RGB", (5, 3), (1, 2, 3)), tmp_path / "x.bmp"))
    assert scan.meta.format == "BMP" and pixels(scan)[2, 4].tolist() == [1, 2, 3]


def test_grey_jpeg(tmp_path):
    scan = load_scan(save(Image.new("L", (16, 16), 90), tmp_path / "grey.jpg"))
    a = pixels(scan)
    assert scan.meta.format == "JPEG" and abs(int(a[8, 8, 0]) - 90) <= 2 and (a[..., 0] == a[..., 2]).all()


def test_exif_orientation_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    scan = load_scan(save(Image.new("RGB", (40, 20)), tmp_path / "phone.jpg", exif=exif))
    assert (scan.meta.width, scan.meta.height) == (20, 40)


def test_multipage_tiff_pages(tmp_path):
    pages = [Image.new("L", (4, 4), v) for v in (10, 120, 240)]
    path = tmp_path / "stack.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    assert pixels(load_scan(path))[0, 0, 0] == 10  # first page by default
    scan = load_scan(path, frame=2)
    assert (scan.meta.frames, scan.meta.frame, int(pixels(scan)[0, 0, 0])) == (3, 2, 240)
    assert_image_error(path, "frame 3", "3 frame", frame=3)


def test_load_scan_bytes_matches_load_scan(tmp_path):
    path = save(Image.new("RGB", (6, 6), (9, 8, 7)), tmp_path / "b.png")
    scan = load_scan_bytes(path.read_bytes(), "some/dir/b.png")
    assert scan.meta.source == "b.png" and scan.image.tobytes() == load_scan(path).image.tobytes()
    dcm = Path(get_testdata_file("CT_small.dcm"))
    assert load_scan_bytes(dcm.read_bytes(), "ct.dcm").meta.modality == "CT"
    with pytest.raises(ImageError, match=r"^x\.png: file is empty$"):
        load_scan_bytes(b"", "x.png")


@needs_shared_data(VQA_RAD_SCAN)
def test_real_vqa_rad_image():
    scan = load_scan(VQA_RAD_SCAN)
    assert scan.meta.format == "JPEG" and scan.meta.source == "synpic54610.jpg"
    assert scan.image.mode == "RGB" and min(scan.image.size) > 32 and pixels(scan).std() > 5


# ---------------------------------------------------------------- DICOM


def test_ct_small_modality_and_windowing():
    scan = load_scan(get_testdata_file("CT_small.dcm"))
    a = pixels(scan)[..., 0]
    assert (scan.meta.format, scan.meta.modality, scan.meta.width, scan.meta.height) == ("DICOM", "CT", 128, 128)
    assert scan.meta.window is not None  # no window in the file: min/max of the frame, reported
    assert len(np.unique(a)) > 50 and a.min() == 0 and a.max() == 255


def test_modality_lut_is_applied_before_window(tmp_path):
    # Stored 0..2047 with intercept -1024 are HU -1024..1023; a window at 0 HU must put stored 1024
    # at mid grey. Windowing the raw stored values would make it white instead.
    arr = np.array([[0, 1024, 2047]], np.uint16)
    path = write_dicom(
        tmp_path / "hu.dcm", arr, bits=12, RescaleIntercept=-1024, RescaleSlope=1, WindowCenter=0, WindowWidth=400
    )
    scan = load_scan(path)
    black, mid, white = pixels(scan)[0, :, 0].tolist()
    assert black == 0 and 120 <= mid <= 135 and white == 255
    assert scan.meta.window == (0.0, 400.0)


def test_mr_small_uses_window_from_file():
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    scan = load_scan(get_testdata_file("MR_small.dcm"))
    assert scan.meta.modality == "MR"
    assert scan.meta.window == (float(ds.WindowCenter), float(ds.WindowWidth))
    assert len(np.unique(pixels(scan))) > 20


def test_monochrome1_is_inverted(tmp_path):
    src = get_testdata_file("MR_small.dcm")
    ds = pydicom.dcmread(src)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(tmp_path / "mono1.dcm")
    normal, inverted = pixels(load_scan(src)).astype(int), pixels(load_scan(tmp_path / "mono1.dcm")).astype(int)
    assert np.array_equal(inverted, 255 - normal)


def test_rgb_and_ybr_dicom_agree():
    rgb = pixels(load_scan(get_testdata_file("SC_rgb_dcmtk_+eb+cr.dcm"))).astype(int)
    for name in ("SC_rgb_dcmtk_+eb+cy+n1.dcm", "SC_ybr_full_422_uncompressed.dcm"):
        assert np.abs(rgb - pixels(load_scan(get_testdata_file(name))).astype(int)).mean() < 5, name
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 3  # really colour


def test_palette_colour_dicom():
    a = pixels(load_scan(get_testdata_file("examples_palette.dcm"))).astype(int)
    assert (a[..., 0] != a[..., 1]).any()


def test_multiframe_dicom_frames(tmp_path):
    arr = np.zeros((5, 6, 8), np.uint8)
    for k in range(5):
        arr[k, :, k] = 255  # frame k: one bright column at x=k
    path = write_dicom(tmp_path / "cine.dcm", arr)
    scan = load_scan(path)
    assert (scan.meta.frames, scan.meta.frame) == (5, 2)  # the middle frame by default
    assert pixels(scan)[0, :, 0].tolist() == [0, 0, 255, 0, 0, 0, 0, 0]
    scan = load_scan(path, frame=4)
    assert scan.meta.frame == 4 and pixels(scan)[0, 4, 0] == 255
    msg = assert_image_error(path, "frame 5", "5 frame", frame=5)
    assert "Doe" not in msg
    assert_image_error(path, "frame -1", frame=-1)
    assert load_scan(get_testdata_file("rtdose.dcm")).meta.frame == 7  # 15 frames


def test_dicom_without_preamble(tmp_path):
    path = write_dicom(tmp_path / "bare.dcm", np.arange(64, dtype=np.uint8).reshape(8, 8), preamble=False)
    assert path.read_bytes()[128:132] != b"DICM"
    scan = load_scan(path)
    assert scan.meta.format == "DICOM" and pixels(scan)[7, 7, 0] == 255


def test_compressed_dicom_without_decoder():
    src = get_testdata_file("MR_small_jpeg_ls_lossless.dcm")
    if get_decoder(pydicom.dcmread(src).file_meta.TransferSyntaxUID).is_available:
        pytest.skip("a JPEG-LS decoder is installed")
    assert_image_error(src, "JPEG-LS", "needs an extra decoder", "pip install pylibjpeg")


def test_patient_data_never_in_meta_or_repr():
    src = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(src)
    secrets = {str(ds.PatientName), str(ds.PatientName).split("^")[0], str(ds.PatientID)}
    scan = load_scan(src)
    dumped = json.dumps(scan.meta.to_dict()) + repr(scan) + repr(scan.meta)
    for secret in secrets:
        assert secret and secret not in dumped


def test_loader_reads_only_image_elements(tmp_path, monkeypatch, caplog):
    """Stronger than checking outputs: the loader never even reads (so pydicom never converts,
    validates, warns about or logs) anything outside an allowlist of non-identifying elements."""
    allowed_groups = {0x0002, 0x0028, 0x7FE0}  # file meta, image pixel module, pixel data
    allowed = {0x00080005, 0x00080016, 0x00080060, 0x00180015}  # charset, SOP class, Modality, BodyPart
    seen: set[int] = set()
    original = Dataset.__getitem__

    def spy(self, key):
        if not isinstance(key, slice):
            seen.add(int(pydicom.tag.Tag(key)))
        return original(self, key)

    bare = write_dicom(tmp_path / "bare.dcm", np.zeros((4, 4), np.uint8), preamble=False)
    monkeypatch.setattr(Dataset, "__getitem__", spy)
    caplog.set_level(logging.DEBUG)
    for src in ("CT_small.dcm", "MR_small.dcm", "SC_rgb_jpeg.dcm", "examples_palette.dcm", "rtdose.dcm", bare):
        load_scan(src if isinstance(src, Path) else get_testdata_file(src))
    with pytest.raises(ImageError) as err:
        load_scan(get_testdata_file("CT_small.dcm"), frame=3)
    leaked = {hex(t) for t in seen if t >> 16 not in allowed_groups and t not in allowed}
    assert not leaked
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for secret in (str(ds.PatientName), str(ds.PatientID), "Doe^Jane", "PID-778899"):
        assert secret not in caplog.text + str(err.value)


# ---------------------------------------------------------------- failures and limits


def test_missing_file(tmp_path):
    assert_image_error(tmp_path / "nope.png", "not found")


def test_directory(tmp_path):
    (tmp_path / "folder").mkdir()
    assert_image_error(tmp_path / "folder", "directory")


def test_empty_file(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    assert_image_error(tmp_path / "empty.jpg", "empty")


def test_text_named_png(tmp_path):
    (tmp_path / "notes.png").write_text("this is not an image\n" * 20)
    assert_image_error(tmp_path / "notes.png", "unrecognised", "PNG, JPEG, BMP, TIFF or DICOM")


def test_random_bytes_named_dcm(tmp_path):
    (tmp_path / "noise.dcm").write_bytes(np.random.default_rng(1).bytes(4096))
    assert_image_error(tmp_path / "noise.dcm", "unrecognised")


def test_dicm_marker_then_garbage(tmp_path):
    (tmp_path / "bad.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 7)
    assert_image_error(tmp_path / "bad.dcm", "DICOM")


def test_gif_rejected(tmp_path):
    save(Image.new("P", (4, 4)), tmp_path / "anim.gif")
    assert_image_error(tmp_path / "anim.gif", "unsupported")


def test_truncated_jpeg(tmp_path, monkeypatch):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = save(Image.fromarray(noise), tmp_path / "full.jpg", quality=90).read_bytes()
    (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    # Even if some library switched Pillow to accept truncated files, we must not.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert_image_error(tmp_path / "half.jpg", "truncated")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # and the global is restored


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_png_bomb_header(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)  # 60000x60000 8-bit grey
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + _png_chunk(b"IEND", b"")
    )
    (tmp_path / "bomb.png").write_bytes(data)
    before = Image.MAX_IMAGE_PIXELS
    assert_image_error(tmp_path / "bomb.png", "too large")
    assert Image.MAX_IMAGE_PIXELS == before


def test_max_pixels_raster_and_dicom(tmp_path):
    path = save(Image.new("RGB", (100, 100)), tmp_path / "big.png")
    assert_image_error(path, "10000 pixels", "limit", max_pixels=5000)
    assert_image_error(get_testdata_file("CT_small.dcm"), "pixels", "limit", max_pixels=1000)


def test_max_bytes(tmp_path):
    assert_image_error(get_testdata_file("CT_small.dcm"), "bytes", "limit", max_bytes=1000)


def test_dicom_without_pixel_data(tmp_path):
    assert_image_error(write_dicom(tmp_path / "report.dcm", None), "no pixel data")


def test_corrupted_files_only_raise_image_error(tmp_path):
    """Flipped bytes and cut-offs in every format either load or raise a one-line ImageError."""
    rng = np.random.default_rng(7)
    noise = Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
    seeds = {
        f"s.{fmt.lower()}": save(noise, tmp_path / f"s.{fmt.lower()}", format=fmt).read_bytes()
        for fmt in ("PNG", "JPEG", "BMP", "TIFF")
    }
    seeds["s.dcm"] = Path(get_testdata_file("MR_small_RLE.dcm")).read_bytes()
    for name, data in seeds.items():
        for i in range(30):
            buf = bytearray(data)
            if i % 2:
                buf = buf[: int(rng.integers(1, len(buf)))]
            else:
                for pos in rng.integers(0, min(len(buf), 400), 4):
                    buf[pos] = int(rng.integers(0, 256))
            try:
                scan = load_scan_bytes(bytes(buf), name)
            except ImageError as e:
                assert str(e).startswith(name + ":") and "\n" not in str(e)
            else:
                assert scan.image.mode == "RGB"
