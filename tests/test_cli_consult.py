"""`mmedtui consult` end to end: JSON shape, privacy of DICOM tags, and exit 2 with one line on bad input."""

import json
import struct
import subprocess
import sys
import zlib

import pytest

from support.cli import run_cli
from support.paths import SHARED_DATA, VQA_RAD_SCAN, needs_shared_data


def _png_header_claiming(width, height):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _bad_inputs(tmp_path, scan_image):
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("this is not an image\n")
    scan_image.save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "random.dcm").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "bomb.png").write_bytes(_png_header_claiming(60000, 60000))
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = ds.file_meta.MediaStorageSOPClassUID, generate_uid(), "CT"
    ds.PatientName = "Doe^Jane"
    ds.save_as(tmp_path / "nopixels.dcm", enforce_file_format=True)
    return [
        "missing.png",
        "empty.png",
        "text.png",
        "truncated.jpg",
        "random.dcm",
        "folder.png",
        "bomb.png",
        "nopixels.dcm",
    ]


def test_bad_inputs_exit_2_with_one_line_naming_the_file(tmp_path, scan_image, capsys, monkeypatch):
    for name in _bad_inputs(tmp_path, scan_image):
        code, out, err = run_cli(capsys, monkeypatch, "consult", str(tmp_path / name), "--json")
        assert code == 2, (name, err)
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and name in lines[0] and "Traceback" not in err, (name, err)
        assert "Doe" not in err


def test_bad_flags_and_panels_exit_2(tmp_path, scan_image, capsys, monkeypatch):
    scan_image.save(tmp_path / "scan.png")
    code, _, err = run_cli(
        capsys, monkeypatch, "consult", str(tmp_path / "scan.png"), "--agents", str(tmp_path / "nope.yaml"), "--json"
    )
    assert code == 2 and "nope.yaml" in err
    code, _, err = run_cli(capsys, monkeypatch, "consult", str(tmp_path / "scan.png"), "--image-mode", "x")
    assert code == 2
    code, _, err = run_cli(capsys, monkeypatch, "consult", str(tmp_path / "scan.png"), "-q", " ", "--json")
    assert code == 2 and "question" in err


def _panel_file(tmp_path, tiny_model_dir):
    path = tmp_path / "panel.yaml"
    path.write_text(
        f"models: {{t: {{backend: transformers, path: '{tiny_model_dir}'}}}}\n"
        "triage: {model: t, max_new_tokens: 8}\nattending: {model: t, max_new_tokens: 8, temperature: 1.0, seed: 0}\n"
        "specialists: {default: [{name: A, model: t, max_new_tokens: 8}, {name: B, model: t, max_new_tokens: 8},"
        " {name: C, model: t, max_new_tokens: 8}]}\n"
    )
    return path


def test_json_on_a_dicom_keeps_identifying_tags_out(tmp_path, tiny_model_dir, capsys, monkeypatch):
    import pydicom
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    tags = ("PatientBirthDate", "InstitutionName", "ReferringPhysicianName")
    secrets = [str(ds.PatientName), str(ds.PatientID)] + [str(ds.get(t, "")) for t in tags]
    code, out, err = run_cli(
        capsys,
        monkeypatch,
        "consult",
        path,
        "-q",
        "Is there a mass?",
        "--json",
        "--agents",
        str(_panel_file(tmp_path, tiny_model_dir)),
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["scan"]["modality"] == "CT"
    assert record["triage"]["department"] in (
        "Pathologist",
        "Radiologist",
        "Surgeon",
        "Oncologist",
        "Endocrinologist",
        "Ophthalmologist",
        "Dermatologist",
    )
    for secret in filter(None, (s.strip() for s in secrets)):
        assert secret not in out and secret not in err, secret


def test_a_yes_no_question_is_asked_with_options_unless_free_text(tmp_path, scan_image, capsys, monkeypatch):
    from trainer.testing import scripted_panel_file

    scan_image.save(tmp_path / "scan.png")
    panel = str(scripted_panel_file(tmp_path / "panel.yaml"))
    for extra, options in (([], ["yes", "no"]), (["--free-text"], None)):
        code, out, err = run_cli(
            capsys,
            monkeypatch,
            "consult",
            str(tmp_path / "scan.png"),
            "-q",
            "Is there a mass?",
            "--json",
            "--agents",
            panel,
            *extra,
        )
        assert code == 0, err
        assert json.loads(out)["options"] == options


def test_plain_view_prints_every_step(tmp_path, tiny_model_dir, scan_image, capsys, monkeypatch):
    scan_image.save(tmp_path / "scan.png")
    code, out, err = run_cli(
        capsys,
        monkeypatch,
        "consult",
        str(tmp_path / "scan.png"),
        "--plain",
        "--agents",
        str(_panel_file(tmp_path, tiny_model_dir)),
    )
    assert code == 0, err
    for title in ("Triage", "A - ", "B - ", "C - ", "Attending physician", "Research use only"):
        assert title in out


@pytest.mark.slow  # loads the embedded panel in a fresh process
@needs_shared_data(VQA_RAD_SCAN)
def test_readme_consult_on_a_real_scan_with_the_default_panel():
    """The README's main command, as a user runs it (a real process, the embedded default panel)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mmedtui",
            "consult",
            str(VQA_RAD_SCAN),
            "-q",
            "Are regions of the brain infarcted?",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["triage"]["department"]
    assert len(record["specialists"]) >= 3
    assert record["attending"]["answer"] or record["attending"]["error"]
    assert record["disclaimer"] == "Research use only. Not for clinical decisions."


def test_help_lists_the_commands_without_importing_torch():
    code = (
        "import sys; sys.argv = ['mmedtui', '--help']\nfrom mmedtui.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    for command in ("consult", "train", "bench", "data"):
        assert command in proc.stdout
    assert proc.stdout.strip().endswith("False")


@pytest.mark.slow  # a fresh process that imports torch
def test_a_process_that_loaded_torch_keeps_its_exit_code_and_message(tmp_path, scan_image):
    """`run` leaves quickly once torch is loaded; the error line and exit code 2 still come through."""
    scan = tmp_path / "scan.png"
    scan_image.save(scan)
    panel = tmp_path / "panel.yaml"
    panel.write_text(
        "models:\n  m: {backend: transformers, path: " + str(tmp_path / "missing") + "}\n"
        "triage: {model: m}\nspecialists:\n  default: [{name: A, model: m}]\nattending: {model: m}\n"
    )
    code = "import sys; sys.argv = ['mmedtui'] + sys.argv[1:]\nfrom mmedtui.cli import run\nrun()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "consult", str(scan), "-q", "Is it normal?", "--json", "--agents", str(panel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "model folder not found" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _failing_panel(tmp_path, error="connection refused after 3 tries"):
    """Every model errors: no specialist opinion, no decision (an unreachable server)."""
    import yaml

    models = {k: {"backend": "scripted", "error": error} for k in ("t", "s", "a")}
    data = {
        "models": models,
        "triage": {"model": "t"},
        "attending": {"model": "a"},
        "specialists": {"default": [{"name": "A", "model": "s"}, {"name": "B", "model": "s"}]},
    }
    path = tmp_path / "failing.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def test_no_decision_exits_3_with_the_reason_and_json_still_prints(tmp_path, scan_image, capsys, monkeypatch):
    scan_image.save(tmp_path / "scan.png")
    for view in ("--json", "--plain"):
        code, out, err = run_cli(
            capsys, monkeypatch, "consult", str(tmp_path / "scan.png"), view, "--agents", _failing_panel(tmp_path)
        )
        assert code == 3, (view, err)
        assert err.strip().splitlines() == [err.strip()] and "no decision" in err and "attending" in err
        assert "connection refused" in err and "2 of 2 specialists failed" in err
        if view == "--json":
            record = json.loads(out)
            assert record["attending"]["error"] and all(s["error"] for s in record["specialists"])


def test_with_no_image_a_sample_opens_from_any_folder(tmp_path, capsys, monkeypatch):
    from mmedtui.samples import SAMPLES
    from trainer.testing import scripted_panel_file

    monkeypatch.chdir(tmp_path)
    panel = str(scripted_panel_file(tmp_path / "panel.yaml"))
    code, out, err = run_cli(capsys, monkeypatch, "consult", "--json", "--agents", panel)
    assert code == 0, err
    record = json.loads(out)
    assert record["image"] == SAMPLES[0].file and record["question"] == SAMPLES[0].question
    for sample in SAMPLES[1:]:
        code, out, err = run_cli(
            capsys, monkeypatch, "consult", "--sample", sample.name, "--json", "--agents", panel, "-q", "Is it normal?"
        )
        assert code == 0, err
        record = json.loads(out)
        assert record["image"] == sample.file and record["question"] == "Is it normal?"
    assert json.loads(out)["scan"]["format"] in ("DICOM", "JPEG", "PNG")


def test_samples_are_small_licensed_and_readable():
    from mmedtui.imaging import load_scan
    from mmedtui.samples import SAMPLES

    readme = SAMPLES[0].path.parent.joinpath("README.md").read_text(encoding="utf-8")
    assert sum(s.path.stat().st_size for s in SAMPLES) < 1_000_000
    formats = set()
    for sample in SAMPLES:
        assert f"`{sample.file}`" in readme and f"`{sample.name}`" in readme
        formats.add(load_scan(sample.path).meta.format)
    assert "DICOM" in formats and ("CC0" in readme and "MIT" in readme)


def test_usage_errors_exit_2_in_one_line(tmp_path, scan_image, capsys, monkeypatch):
    scan_image.save(tmp_path / "scan.png")
    for args, words in (
        (["--json", "--plain"], "exclude"),
        (["--sample", "nope"], "spine-ct"),
        ([str(tmp_path / "scan.png"), "--sample", "spine-ct", "--json"], "exclude"),
    ):
        code, out, err = run_cli(capsys, monkeypatch, "consult", *args)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and words in err, (args, err)


def test_file_not_found_names_the_full_path_it_tried(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, monkeypatch, "consult", "sub/missing.png", "--json")
    assert code == 2 and str(tmp_path.resolve() / "sub" / "missing.png") in err


def test_help_names_the_argument_in_capitals_and_flags_without_a_type(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "160")
    code, out, _ = run_cli(capsys, monkeypatch, "consult", "--help")
    assert code == 0
    assert "[IMAGE]" in out and "{image}" not in out and "<bool>" not in out
    for name in ("spine-ct", "mr-slice", "retina-fundus", "--save-dir"):
        assert name in out


@needs_shared_data()
def test_no_sample_is_a_copy_of_a_data_pack_file():
    """The data pack is read in place, never redistributed: no shipped sample has the bytes of one of its files."""
    import hashlib

    from mmedtui.samples import SAMPLES

    shipped = {hashlib.sha256(s.path.read_bytes()).hexdigest() for s in SAMPLES}
    for path in SHARED_DATA.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert hashlib.sha256(path.read_bytes()).hexdigest() not in shipped, path
