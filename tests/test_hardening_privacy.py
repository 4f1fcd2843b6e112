"""Hardening: the API key never leaves the Authorization header, and no patient data or file name reaches a
remote backend (only the question and a plain PNG of the pixels do).

Every output is searched: stdout and stderr of consult --json / --plain and bench --output, every file written
under tmp_path (results, samples, the .work cache, transcripts), the log records at DEBUG, and the TUI's screen.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import shutil
import struct

import pytest
import yaml
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from mmedtui.bench import runner as bench_runner
from mmedtui.bench import units as bench_stages
from mmedtui.bench.systems import load_bench_panel
from mmedtui.bench.units import Settings, Units
from mmedtui.imaging import load_scan
from support.bench import write_vqa_rad
from support.cli import run_cli
from support.mode_server import panel_dict, write_panel

KEY_ENV = "MMEDTUI_HARDENING_KEY"
SECRET = "sk-hardening-PLANTED-7f3a9c0e5b1d2468"
FRAGMENTS = (SECRET, SECRET[-12:], base64.b64encode(SECRET.encode()).decode()[:24])
KEY_MODES = ["ok", "400-leaky", "always-500", "malformed", "echo"]
SAFE_PNG_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"sRGB", b"gAMA", b"cHRM", b"pHYs", b"iCCP", b"sBIT"}


def assert_no_key(text: str | bytes, where: str) -> None:
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    for fragment in FRAGMENTS:
        assert fragment.encode() not in data, f"API key fragment in {where}"


def every_file(root) -> list:
    return sorted(p for p in root.rglob("*") if p.is_file())  # hidden ones (.work, temp files) too


# -- API keys ------------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")  # textual-image 0.12
async def test_the_api_key_appears_in_no_output_file_log_or_screen(
    mode_server, tmp_path, scan_image, capsys, monkeypatch, caplog
):
    from mmedtui.agents.panel import load_panel
    from mmedtui.tui import create_app
    from support.tui import screen_text, settle

    caplog.set_level(logging.DEBUG)  # httpx / httpcore debug lines included
    monkeypatch.setenv(KEY_ENV, SECRET)
    monkeypatch.setenv("COLUMNS", "200")
    scan_image.save(tmp_path / "scan.png")
    panel_path = write_panel(tmp_path / "panel.yaml", mode_server.url, KEY_MODES, key_env=KEY_ENV, remote_roles=True)
    assert SECRET not in panel_path.read_text() and KEY_ENV in panel_path.read_text()
    outputs: dict[str, str] = {}

    for view in ("--json", "--plain"):
        code, out, err = run_cli(
            capsys, monkeypatch, "consult", str(tmp_path / "scan.png"), view, "--agents", str(panel_path)
        )
        assert code == 0, err
        outputs[f"consult {view} stdout"], outputs[f"consult {view} stderr"] = out, err
    record = json.loads(outputs["consult --json stdout"])
    leaky = next(s for s in record["specialists"] if s["name"] == "Spec 400-leaky")
    assert leaky["error"] == "HTTP 400: bad key Bearer ***"  # the server echoed it; we scrubbed it

    root = write_vqa_rad(tmp_path / "data")
    run_dir = tmp_path / "run"
    for attempt in range(2):  # the second run resumes from .work
        code, out, err = run_cli(
            capsys,
            monkeypatch,
            "bench",
            "--task",
            "vqa-rad",
            "--agents",
            str(panel_path),
            "--data-root",
            str(root),
            "--output",
            str(run_dir),
            "--limit",
            "2",
            "--system",
            "mmedagent-rl",
            "--system",
            "majority-vote",
            "--system",
            "specialist:Spec 400-leaky",
        )
        assert code == 0, err
        outputs[f"bench {attempt} stdout"], outputs[f"bench {attempt} stderr"] = out, err
    doc = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert_no_key(json.dumps(doc["run"]), "results.json run info")
    assert doc["run"]["panel_sha256"]  # the panel is identified by its file's hash, which holds no key

    panel = load_panel(panel_path)
    app = create_app(load_scan(tmp_path / "scan.png"), "Is there a lesion?", panel, image_mode="unicode")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app, pilot)
            assert app.record is not None
            outputs["tui screen"] = screen_text(app)
            assert app.save_transcript(str(tmp_path / "tui" / "visit.md")) is None  # no such folder: notified
            (tmp_path / "tui").mkdir()
            assert app.save_transcript(str(tmp_path / "tui" / "visit.md")) is not None
            await pilot.pause()
            outputs["tui notifications"] = "\n".join(str(n.message) for n in app._notifications)
            outputs["tui record"] = repr(app.record)
    finally:
        panel.close()
    assert r"Bearer \*\*\*" in (tmp_path / "tui" / "visit.md").read_text(encoding="utf-8")  # Markdown-escaped

    # The key did go out, in the header and nowhere else in the requests.
    requests = mode_server.requests
    assert requests and all(r["headers"]["authorization"] == f"Bearer {SECRET}" for r in requests)
    for r in mode_server.requests:
        assert_no_key(json.dumps(r["body"]), "a request body")

    for where, text in outputs.items():
        assert_no_key(text, where)
    files = every_file(tmp_path)
    assert {p.name for p in files} >= {
        "results.json",
        "results.csv",
        "samples.jsonl",
        "vqa-rad-test.jsonl",
        "visit.md",
        "visit.json",
    }
    for path in files:
        assert_no_key(path.read_bytes(), str(path.relative_to(tmp_path)))
    assert caplog.records  # debug logging really was on
    assert_no_key(caplog.text, "the log")
    for rec in caplog.records:
        assert_no_key(f"{rec.getMessage()} {rec.args!r}", f"log record of {rec.name}")


def test_the_key_is_in_no_fingerprint_and_rotating_it_keeps_the_caches(mode_server, tmp_path, monkeypatch):
    """Work-cache keys and response-cache identities are built from the panel, never from the key."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    panel_path = write_panel(tmp_path / "panel.yaml", mode_server.url, ["ok"], key_env=KEY_ENV, remote_roles=True)
    seen: list[str] = []
    for module in (bench_stages, bench_runner):
        real = module.digest
        monkeypatch.setattr(
            module, "digest", lambda obj, real=real: seen.append(json.dumps(obj, default=str)) or real(obj)
        )
    panel, baselines = load_bench_panel(panel_path)
    prints = {u: Units(panel, baselines, Settings()).fingerprint(u) for u in ("panel", "attending")}
    backend = panel.backend("m-ok")
    identity = backend.cache_identity
    assert seen and all(SECRET not in s for s in seen)
    assert_no_key(identity + repr(backend) + repr(panel), "identity / repr")
    panel.close()

    monkeypatch.setenv(KEY_ENV, "sk-rotated-0000")
    panel, baselines = load_bench_panel(panel_path)
    assert {u: Units(panel, baselines, Settings()).fingerprint(u) for u in prints} == prints
    assert panel.backend("m-ok").cache_identity == identity
    panel.close()


def test_a_missing_key_names_the_variable_and_nothing_else(mode_server, tmp_path, scan_image, capsys, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    scan_image.save(tmp_path / "scan.png")
    panel_path = write_panel(tmp_path / "panel.yaml", mode_server.url, ["ok"], key_env=KEY_ENV)
    code, out, err = run_cli(
        capsys, monkeypatch, "consult", str(tmp_path / "scan.png"), "--json", "--agents", str(panel_path)
    )
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and KEY_ENV in err and "unset or empty" in err
    assert not mode_server.requests


# -- DICOM and raster metadata never reach a remote backend --------------------------------------------------


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def split_requests(requests: list[dict]) -> tuple[list[str], list[bytes]]:
    """(every request as JSON text with its images cut out, the decoded PNG of every image)."""
    texts, pngs = [], []
    for r in requests:
        body = json.loads(json.dumps(r["body"]))
        assert set(body) <= {"model", "messages", "max_tokens", "temperature", "top_p", "seed", "logprobs"}
        system, user = body["messages"]
        assert system["role"] == "system" and isinstance(system["content"], str)
        for part in user["content"]:
            assert set(part) == {"type", part["type"]} and part["type"] in ("text", "image_url")
            if part["type"] == "image_url":
                assert set(part["image_url"]) == {"url"}
                prefix, _, payload = part["image_url"]["url"].partition(",")
                assert prefix == "data:image/png;base64"
                pngs.append(base64.b64decode(payload, validate=True))
                part["image_url"]["url"] = "<image>"
        texts.append(json.dumps(body) + json.dumps(r["headers"]) + r["path"])
    return texts, pngs


def assert_plain_png(png: bytes, size: tuple[int, int], secrets: list[str]) -> None:
    kinds = [kind for kind, _ in png_chunks(png)]
    assert set(kinds) <= SAFE_PNG_CHUNKS, kinds  # no tEXt / zTXt / iTXt / eXIf / tIME
    meta = b"".join(body for kind, body in png_chunks(png) if kind != b"IDAT")  # IDAT is compressed pixels
    for secret in secrets:
        assert secret.encode() not in meta
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        assert img.format == "PNG" and img.size == size and img.mode in ("RGB", "L")
        assert not img.info.keys() - {"dpi", "gamma", "srgb", "chromaticity", "icc_profile", "transparency"}


def dicom_secrets(ds) -> list[str]:
    keywords = (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "OtherPatientIDs",
        "InstitutionName",
        "InstitutionAddress",
        "ReferringPhysicianName",
        "AccessionNumber",
        "StudyID",
        "StudyDate",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "OperatorsName",
        "StationName",
        "DeviceSerialNumber",
    )
    values = [str(ds.get(k, "")).strip() for k in keywords]
    return [v for v in values if len(v) >= 3]


def test_a_dicom_consulted_with_remote_agents_sends_pixels_and_question_only(
    mode_server, tmp_path, capsys, monkeypatch, caplog
):
    import pydicom
    from pydicom.data import get_testdata_file

    original = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(original)
    secrets = dicom_secrets(ds)
    assert {str(ds.PatientName), str(ds.PatientID)} <= set(secrets) and len(secrets) >= 6
    folder = tmp_path / "MRN-998877 Smith^John"
    folder.mkdir()
    path = folder / "smith_john_19500101.dcm"
    shutil.copy(original, path)
    names = ["MRN-998877", "Smith^John", "smith_john_19500101", str(tmp_path)]

    panel_path = write_panel(tmp_path / "panel.yaml", mode_server.url, ["ok", "echo"], remote_roles=True)
    caplog.set_level(logging.DEBUG)
    code, out, err = run_cli(
        capsys, monkeypatch, "consult", str(path), "--json", "--agents", str(panel_path), "-q", "Is there a mass?"
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["scan"]["format"] == "DICOM" and record["scan"]["modality"] == "CT"
    assert record["image"] == "smith_john_19500101.dcm"  # locally, the base name is shown; never sent

    # triage + two specialists + attending, each one request with the scan.
    assert len(mode_server.requests) == 4
    texts, pngs = split_requests(mode_server.requests)
    assert len(pngs) == 4
    for text in texts:
        for secret in secrets + names:
            assert secret not in text, secret
        # The question went out; the scan's metadata (format, window, frame) did not.
        assert "Is there a mass?" in text
        for word in ("DICOM", "window", "modality", "body_part", ".dcm"):
            assert word not in text, word
    for png in pngs:
        assert_plain_png(png, (ds.Columns, ds.Rows), secrets + names)
    for secret in secrets:  # nor in what the user sees, nor in the logs
        assert secret not in out and secret not in err and secret not in caplog.text
    assert caplog.records


def test_text_and_exif_in_png_and_jpeg_files_are_not_sent(mode_server, tmp_path, scan_image):
    """Raster files carry metadata too (PNG text chunks, JPEG EXIF and comments): only pixels go out."""
    from mmedtui.agents.panel import load_panel
    from mmedtui.consult import Case, Pipeline

    name = "Doe^Jane 1970-01-01 MRN QX4455"  # letters in the MRN: the server's port number can contain "4455"
    info = PngInfo()
    info.add_text("Patient", name)
    info.add_itxt("Comment", name, lang="en", tkey="Kommentar")
    scan_image.save(tmp_path / "a.png", pnginfo=info, dpi=(72, 72))
    exif = Image.Exif()
    exif[0x010E] = name  # ImageDescription
    exif[0x013B] = name  # Artist
    scan_image.save(tmp_path / "b.jpg", exif=exif.tobytes(), comment=name.encode())
    scans = [load_scan(tmp_path / "a.png"), load_scan(tmp_path / "b.jpg")]
    assert name in str(scans[0].image.info) + str(scans[1].image.info)  # the decoded images do carry it

    panel = load_panel(write_panel(tmp_path / "panel.yaml", mode_server.url, ["ok"], remote_roles=True))
    try:
        Pipeline(panel).run([Case(s.image, "Is it normal?", meta=s.meta.to_dict(), id=s.meta.source) for s in scans])
    finally:
        panel.close()
    texts, pngs = split_requests(mode_server.requests)
    assert len(pngs) == 6  # two cases x triage, one specialist, attending
    for text in texts:
        assert "Doe" not in text and "QX4455" not in text and "a.png" not in text and "b.jpg" not in text
    for png in pngs:
        assert_plain_png(png, scan_image.size, [name, "Doe", "QX4455"])


def test_a_key_written_into_the_panel_is_refused_without_echoing_it(tmp_path):
    """``api_key`` is not an option: the key belongs in an environment variable; the error never quotes it."""
    from mmedtui.agents.panel import load_panel
    from mmedtui.errors import ConfigError

    data = panel_dict("http://127.0.0.1:9/v1", ["ok"])
    data["models"]["m-ok"]["api_key"] = SECRET
    (tmp_path / "panel.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    panel = load_panel(tmp_path / "panel.yaml")
    with pytest.raises(ConfigError) as info:
        panel.backend("m-ok")
    assert "api_key" in str(info.value)
    assert_no_key(str(info.value) + repr(info.value), "the config error")
