"""Hardening: property-based fuzzing (hypothesis, bounded budget) of everything that reads untrusted input.

- the image loader on random bytes and on mutated valid PNG / JPEG / BMP / TIFF / DICOM files: it loads an RGB
  image or raises ``ImageError`` with one line naming the file, never anything else;
- the model-output parsers and the scorer (tag parsing, departments, multiple choice, yes/no, answer keys,
  opinions and decisions): they never raise, and their results stay in range;
- the small parsers in front of the network and the disk (``Retry-After``, dataset-relative paths).

Extends tests/test_parsing.py (plain ``st.text``) and tests/test_imaging.py (fixed-seed corruptions).
"""

from __future__ import annotations

import io
import math
import os
import re
from functools import cache
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from mmedtui.agents.base import Generation
from mmedtui.agents.openai_backend import MAX_RETRY_AFTER, _retry_after
from mmedtui.agents.parsing import MAX_CHARS, format_reward, parse_tagged
from mmedtui.agents.roles import Opinion, parse_decision, parse_opinion
from mmedtui.consult.display import clean
from mmedtui.departments import DEFAULT_DEPARTMENTS, department_for_modality, match_department
from mmedtui.errors import ImageError
from mmedtui.imaging import load_scan_bytes
from mmedtui.tasks.base import ImageRef, Item, safe_join, safe_relpath
from mmedtui.tasks.scoring import LETTERS, gold_index, is_correct, normalize, open_recall, parse_choice, yes_no
from mmedtui.tasks.voting import answer_key, majority

# A bounded budget (the whole file runs in seconds); MMEDTUI_FUZZ_SCALE=50 makes a longer campaign of it.
SCALE = float(os.environ.get("MMEDTUI_FUZZ_SCALE", "1"))
FAST = settings(
    max_examples=int(200 * SCALE),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
IMAGES = settings(
    max_examples=int(300 * SCALE),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MAX_PIXELS = 200_000  # a mutated header may claim any size: keep each decode small (the limit is what is tested)

# -- the image loader -------------------------------------------------------------------------------------------


def _encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _dicom(
    rows: int = 8, cols: int = 6, frames: int = 1, bits: int = 16, photometric: str = "MONOCHROME2", bare: bool = False
) -> bytes:
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.BodyPartExamined, ds.PatientName = "CT", "HEAD", "Doe^Jane"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, photometric
    stored = 12 if bits == 16 else 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, stored, stored - 1, 0
    ds.RescaleSlope, ds.RescaleIntercept, ds.WindowCenter, ds.WindowWidth = 1, -1024, 40, 400
    if frames > 1:
        ds.NumberOfFrames = frames
    dtype = np.uint16 if bits == 16 else np.uint8
    ds.PixelData = (np.arange(rows * cols * frames) * 37 % 2**stored).astype(dtype).tobytes()
    buf = io.BytesIO()
    if bare:  # no preamble, no "DICM", no file meta (old exports, PACS dumps)
        del ds.file_meta
        ds.save_as(buf, implicit_vr=True, little_endian=True)
    else:
        ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@cache
def seeds() -> tuple[tuple[str, bytes], ...]:
    """Small valid files of every supported kind (and the odd sub-kinds each decoder has)."""
    from pydicom.data import get_testdata_file

    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))
    grey16 = Image.fromarray((rng.integers(0, 4096, (10, 10))).astype(np.uint16))
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    out = [
        ("a.png", _encode(rgb, "PNG")),
        ("b.png", _encode(grey16, "PNG")),
        ("c.png", _encode(palette, "PNG", transparency=0)),
        ("d.png", _encode(rgb.convert("RGBA"), "PNG")),
        ("e.jpg", _encode(rgb, "JPEG", quality=80)),
        ("f.jpg", _encode(rgb, "JPEG", progressive=True, exif=Image.Exif().tobytes())),
        ("g.bmp", _encode(rgb, "BMP")),
        ("h.tif", _encode(rgb, "TIFF")),
        ("i.tif", _encode(grey16, "TIFF", compression="tiff_lzw")),
        ("j.tif", _encode(rgb, "TIFF", save_all=True, append_images=[rgb.rotate(90)])),
        ("k.dcm", _dicom()),
        ("l.dcm", _dicom(frames=3, bits=8, photometric="MONOCHROME1")),
        ("m.dcm", _dicom(bare=True)),  # read as a bare dataset because of its suffix
        ("n.dcm", Path(get_testdata_file("CT_small.dcm")).read_bytes()),
    ]
    return tuple(out)


def check_load(data: bytes, name: str) -> None:
    try:
        scan = load_scan_bytes(data, name, max_pixels=MAX_PIXELS)
    except ImageError as exc:
        message = str(exc)
        assert message.startswith(Path(name).name + ":") and "\n" not in message, message
        assert "Doe" not in message  # never a patient's name
    else:
        assert scan.image.mode == "RGB" and scan.image.width >= 1 and scan.image.height >= 1
        assert scan.image.width * scan.image.height <= MAX_PIXELS
        assert scan.meta.format in ("PNG", "JPEG", "BMP", "TIFF", "DICOM")
        assert "Doe" not in repr(scan.meta)


NAMES = st.sampled_from(["x.png", "x.jpg", "x.dcm", "x.tif", "x.bmp", "IM0001", "x.dicom", "x.txt", "x"])


def test_every_seed_loads():
    for name, data in seeds():
        scan = load_scan_bytes(data, name, max_pixels=MAX_PIXELS)
        assert scan.image.mode == "RGB", name


def test_a_header_element_of_unknown_vr_reads_as_absent():
    """Found by the mutation test below: BodyPartExamined's VR "CS" flipped to "C\\0" made pydicom raise
    NotImplementedError while the scan's metadata was read, past every ImageError."""
    data = _dicom()
    assert b"\x18\x00\x15\x00CS" in data
    scan = load_scan_bytes(data.replace(b"\x18\x00\x15\x00CS", b"\x18\x00\x15\x00C\x00"), "k.dcm")
    assert scan.image.mode == "RGB" and scan.meta.body_part is None and scan.meta.modality == "CT"


@IMAGES
@given(data=st.binary(min_size=0, max_size=2048), name=NAMES)
def test_random_bytes_raise_only_image_error(data, name):
    if not data:
        with pytest.raises(ImageError, match="empty"):
            load_scan_bytes(data, name)
        return
    check_load(data, name)


@IMAGES
@given(body=st.binary(max_size=1024), name=NAMES)
def test_a_dicm_marker_before_random_bytes_raises_only_image_error(body, name):
    check_load(b"\0" * 128 + b"DICM" + body, name)


@st.composite
def mutated(draw):
    """A seed file with a few byte flips, insertions, deletions, or a cut (mostly in the headers)."""
    name, data = draw(st.sampled_from(seeds()))
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        if len(buf) < 2:
            break
        op = draw(st.sampled_from(["set", "set", "set", "insert", "delete", "cut", "int32"]))
        hot = draw(st.booleans())  # headers and the first chunks hold most of the parsing logic
        pos = draw(st.integers(0, min(len(buf), 600) - 1 if hot else len(buf) - 1))
        if op == "set":
            buf[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del buf[pos : pos + draw(st.integers(1, 16))]
        elif op == "cut":
            del buf[max(1, pos) :]
        else:  # a length, a dimension or an offset turned extreme
            value = draw(st.sampled_from([0, 1, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]))
            buf[pos : pos + 4] = value.to_bytes(4, draw(st.sampled_from(["little", "big"])))
    return name, bytes(buf)


@IMAGES
@given(case=mutated())
def test_mutated_files_load_or_raise_only_image_error(case):
    name, data = case
    check_load(data, name)


# -- model output: parsing never raises --------------------------------------------------------------------------

FRAGMENTS = [
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<ANSWER>",
    "</Think>",
    "<answer",
    "answer>",
    "\n",
    " ",
    "yes",
    "no",
    "A",
    "B.",
    "(C)",
    "Answer: D",
    "the answer is E",
    "Radiologist",
    "radiology",
    "pathology",
    "\x00",
    "\x1b[2J",
    "\u202e",
    "是",
    "不是",
    "x-ray",
    "1,000",
    "3.5",
    "（",
    "）",
    "ａ",
]
TAGGY = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=40).map("".join)
TEXT = st.one_of(st.text(max_size=300), TAGGY)
OPTIONS = st.lists(
    st.one_of(
        st.sampled_from(
            ["yes", "no", "", " ", "A", "left", "left kidney", "CT", "MRI", "None of the above", "a", "(b)"]
        ),
        st.text(max_size=20),
    ),
    min_size=0,
    max_size=8,
)
_TAG = re.compile(r"</?(think|answer)>", re.I)


@FAST
@given(text=st.one_of(TEXT, st.none()))
def test_parse_tagged_never_raises_and_stays_in_bounds(text):
    t = parse_tagged(text)
    assert isinstance(t.answer, str) and isinstance(t.reasoning, str)
    assert len(t.answer) <= 500 and len(t.reasoning) <= MAX_CHARS
    assert not _TAG.search(t.answer)
    assert format_reward(text) == (0.5 if t.well_formed else 0.0)
    if t.well_formed:
        assert "<answer>" in text.lower() and "</think>" in text.lower()


def test_parse_tagged_on_a_huge_output_is_cut():
    text = "<think>" + "<answer>" * 200_000 + "yes"
    t = parse_tagged(text)
    assert len(t.answer) <= 500


@FAST
@given(
    text=TEXT,
    departments=st.one_of(
        st.just(DEFAULT_DEPARTMENTS), st.lists(st.text(min_size=1, max_size=15), min_size=1, max_size=8)
    ),
)
def test_match_department_names_a_configured_department_or_none(text, departments):
    found = match_department(text, departments)
    assert found is None or found in departments
    assert department_for_modality(text, "Radiologist") is not None


@FAST
@given(pred=st.one_of(TEXT, st.none(), st.integers()), options=OPTIONS)
def test_parse_choice_picks_a_real_option_or_none(pred, options):
    choice = parse_choice(pred, options)
    assert choice is None or (isinstance(choice, int) and 0 <= choice < len(options))
    assert yes_no(pred) in (None, "yes", "no")
    assert 0.0 <= open_recall(pred, options or "x") <= 1.0


@FAST
@given(text=st.one_of(TEXT, st.none(), st.integers(), st.floats(allow_nan=True)))
def test_normalize_is_total_and_stable(text):
    once = normalize(text)
    assert isinstance(once, str) and once == once.strip()
    assert normalize(once) == once  # idempotent: a normalised gold and a normalised answer compare alike


@st.composite
def items(draw):
    kind = draw(st.sampled_from(["closed", "open", "mc"]))
    options = draw(st.one_of(st.none(), OPTIONS.filter(bool)))
    meta = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "answers": st.lists(st.one_of(st.text(max_size=10), st.integers()), max_size=3),
                "answer_letter": st.one_of(st.sampled_from(list(LETTERS[:6])), st.text(max_size=2)),
            },
        )
    )
    answer = draw(st.one_of(st.text(max_size=20), st.sampled_from(["yes", "no", "CT", "left kidney"])))
    return Item("vqa-rad", "test", "1", "q?", answer, kind, options, None, None, ImageRef(()), meta)


@FAST
@given(pred=st.one_of(TEXT, st.none()), item=items(), asked=st.one_of(st.none(), OPTIONS))
def test_is_correct_is_a_bool_whatever_the_item(pred, item, asked):
    assert is_correct(pred, item, asked) in (True, False)
    gold = gold_index(item, asked)
    opts = item.options if asked is None else asked
    assert gold is None or 0 <= gold < len(opts)


@FAST
@given(answers=st.lists(st.one_of(TEXT, st.just("")), max_size=6), options=st.one_of(st.none(), OPTIONS))
def test_answer_keys_and_the_majority_never_raise(answers, options):
    for a in answers:
        assert isinstance(answer_key(a, options), str)
    best, keys = majority(answers, options)
    assert len(keys) == len(answers)
    assert best is None or (0 <= best < len(answers) and keys[best])


@FAST
@given(
    texts=st.lists(st.one_of(TEXT, st.none()), min_size=1, max_size=4),
    errors=st.lists(st.booleans(), min_size=4, max_size=4),
    options=st.one_of(st.none(), OPTIONS.filter(bool)),
)
def test_opinions_and_decisions_parse_from_any_output(texts, errors, options):
    gens = [Generation(t or "", error="timeout after 3 tries" if e else None) for t, e in zip(texts, errors)]
    opinions = [parse_opinion(g, f"S{i}", "Radiologist") for i, g in enumerate(gens)]
    for o, g in zip(opinions, gens):
        assert isinstance(o, Opinion) and (o.error is not None or o.answer)
        assert o.error is None or g.error is None or o.error == g.error
    decision = parse_decision(gens, opinions, options)
    assert isinstance(decision.answer, str) and len(decision.votes) in (0, sum(g.ok for g in gens))
    judged = set(decision.followed) | set(decision.overruled)
    if any(g.ok for g in gens):  # every usable opinion is either followed or overruled, never both
        assert judged == {o.name for o in opinions if o.error is None}
        assert not set(decision.followed) & set(decision.overruled)
    else:
        assert decision.error == "timeout after 3 tries" and judged == set()


@FAST
@given(text=st.one_of(TEXT, st.none()))
def test_clean_removes_every_terminal_control(text):
    out = clean(text)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", out)


# -- the network and the disk ------------------------------------------------------------------------------------


@FAST
@given(
    value=st.one_of(
        st.none(),
        st.text(max_size=30),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers().map(str),
        st.sampled_from(["nan", "NaN", "-nan", "inf", "-inf", "1e999", "+5", " 3 ", "5_0", "０", "Wed, 21 Oct 2015"]),
    )
)
def test_retry_after_is_none_or_a_bounded_wait(value):
    wait = _retry_after(value)
    assert wait is None or (math.isfinite(wait) and 0.0 <= wait <= MAX_RETRY_AFTER)


PATH_PARTS = st.sampled_from(
    [
        "..",
        ".",
        "",
        "a",
        "b.jpg",
        "~",
        "C:",
        "c:",
        "\\",
        "/",
        "\x00",
        " ",
        "...",
        "..a",
        "imgs",
        "%2e%2e",
        "\u2025",
        "．．",
    ]
)


@FAST
@given(
    parts=st.lists(st.one_of(PATH_PARTS, st.text(max_size=6)), max_size=8),
    sep=st.sampled_from(["/", "\\", "//", "/./"]),
    lead=st.sampled_from(["", "/", "\\", "\\\\", "C:\\", "./"]),
)
def test_a_dataset_path_never_leaves_the_root(parts, sep, lead):
    rel = lead + sep.join(parts)
    clean_rel = safe_relpath(rel)
    root = Path("/data/root/vqa-rad")
    joined = safe_join(root, rel)
    if clean_rel is None:
        assert joined is None
        return
    assert joined == root / clean_rel
    assert not PurePosixPath(clean_rel).is_absolute() and ".." not in PurePosixPath(clean_rel).parts
    assert "\x00" not in clean_rel and "\\" not in clean_rel
    assert os.path.normpath(joined).startswith(str(root) + os.sep)


@FAST
@given(rel=st.text(max_size=40))
def test_safe_relpath_on_any_text(rel):
    clean_rel = safe_relpath(rel)
    assume(clean_rel is not None)
    assert os.path.normpath(os.path.join("/root", clean_rel)).startswith("/root/")
