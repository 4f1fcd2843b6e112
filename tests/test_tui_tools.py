"""The app's history, saving, file picker, next / previous, zoom and panning, window presets, frames and palette
(pilot)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mmedtui.imaging import load_scan
from mmedtui.samples import SAMPLES
from mmedtui.tui import create_app, multiplexer_warning
from mmedtui.tui.picker import FilePicker, ScanTree, neighbour
from mmedtui.tui.widgets import DecisionCard, PathPrompt
from support.panels import scripted_panel
from support.tui import screen_text, settle, synthetic_scan, wait_for

SIZE = (120, 40)
pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")
CT = next(s for s in SAMPLES if s.file.endswith(".dcm"))


def app_for(path=None, **kwargs):
    scan = load_scan(path) if path else synthetic_scan()
    return create_app(scan, "Is there a lesion?", scripted_panel(), image_mode="unicode", image_path=path, **kwargs)


def multiframe_ct(path, frames=5):
    """A small multi-frame CT whose frame k is uniformly k * 100 HU (so each frame draws differently)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.Modality = CTImageStorage, "CT"
    ds.Rows = ds.Columns = 16
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.NumberOfFrames = 1, "MONOCHROME2", frames
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = np.concatenate([np.full(256, 1024 + 100 * k, np.uint16) for k in range(frames)]).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


async def test_every_consultation_of_a_session_stays_in_the_side_list(tmp_path):
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert not app.session.display and len(app.session.entries) == 1
        app.start_consult("Is there a mass?")
        await settle(app, pilot)
        assert app.session.display and len(app.session.entries) == 2
        assert "Is there a mass?" in app.record.case.question
        await pilot.press("h")
        assert app.focused is app.session
        await pilot.press("up", "enter")
        await pilot.pause()
        assert app.record.case.question == "Is there a lesion?" and app.question_box.value == "Is there a lesion?"
        assert "yes" in str(app.cards.query_one(DecisionCard).headline.content)
        assert "This session" in screen_text(app)


async def test_save_goes_to_the_consultations_folder_and_never_overwrites(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        prompt = app.screen
        assert isinstance(prompt, PathPrompt)
        folder = tmp_path / "xdg" / "mmedtui" / "consultations"
        value = prompt.query_one("#path-input").value
        assert value.startswith(str(folder)) and "scan" not in value.rsplit("/", 1)[-1]
        await pilot.press("enter")
        await pilot.pause()
        first = app.save_transcript(value)
        second = app.save_transcript(value)
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 6 and first[0].name.endswith("-2.md") and second[0].name.endswith("-3.md")
    assert json.loads(first[1].read_text())["question"] == "Is there a lesion?"


async def test_save_dir_is_where_the_app_saves(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    app = app_for(save_dir=tmp_path / "class-notes")  # what `consult --save-dir DIR` passes
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        value = app.screen.query_one("#path-input").value
        assert value.startswith(str(tmp_path / "class-notes")), value
        await pilot.press("enter")
        await pilot.pause()
    assert [p.suffix for p in sorted((tmp_path / "class-notes").iterdir())] == [".json", ".md"]
    assert not (tmp_path / "xdg").exists()


def test_history_lists_the_saved_consultations(tmp_path, capsys, monkeypatch):
    from support.cli import run_cli

    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_cli(capsys, monkeypatch, "history", "--save-dir", str(tmp_path))
    assert code == 0 and "No saved consultations" in out
    record = {"question": "Is the heart enlarged?", "attending": {"answer": "no", "valid": True}}
    (tmp_path / "20261202-060000-abcdef.json").write_text(json.dumps(record))
    (tmp_path / "notes.json").write_text("[1, 2]")  # not a transcript: skipped
    code, out, _ = run_cli(capsys, monkeypatch, "history", "--save-dir", str(tmp_path))
    assert code == 0 and "Is the heart enlarged?" in out and "20261202-060000-abcdef.md" in out
    assert "1 saved consultation" in out


async def test_the_file_picker_shows_scans_and_folders_only_and_opens_one(tmp_path, scan_image):
    scan_image.save(tmp_path / "b.png")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    shutil.copy(CT.path, tmp_path / "a.dcm")
    app = app_for(tmp_path / "b.png")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f")
        assert isinstance(app.screen, FilePicker)
        tree = app.screen.query_one(ScanTree)
        await wait_for(pilot, lambda: len(tree.root.children) > 0)
        assert sorted(str(n.label) for n in tree.root.children) == ["a.dcm", "b.png", "sub"]
        app.screen.dismiss(tmp_path / "a.dcm")
        await wait_for(pilot, lambda: app.scan.meta.source == "a.dcm")
        await settle(app, pilot)
        assert app.record is not None and app.record.case.meta["format"] == "DICOM"


async def test_next_and_previous_image_in_the_same_folder(tmp_path, scan_image):
    for name in ("a.png", "b.jpg", "c.png"):
        scan_image.save(tmp_path / name)
    assert neighbour(tmp_path / "c.png", 1).name == "a.png" and neighbour(tmp_path / "a.png", -1).name == "c.png"
    app = app_for(tmp_path / "a.png")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: app.scan.meta.source == "b.jpg")
        await pilot.press("p")
        await wait_for(pilot, lambda: app.scan.meta.source == "a.png")


async def test_zoom_window_presets_and_frames(tmp_path):
    path = multiframe_ct(tmp_path / "series.dcm")
    app = app_for(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.scan.meta.frame == 2 and "frame 3/5" in screen_text(app)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: app.scan.meta.frame == 3)
        assert "frame 4/5" in screen_text(app)
        await pilot.press("left_square_bracket", "left_square_bracket")
        await wait_for(pilot, lambda: app.scan.meta.frame == 1)
        drawn = app.scan_pane.query_one("#scan-image").image.size
        await pilot.press("plus", "plus")
        assert app.zoom_index == 2 and "zoom 2×" in screen_text(app)
        await pilot.press("minus")
        assert app.zoom_index == 1
        assert drawn == (16, 16)
        await pilot.press("w")  # brain: 40 / 80 HU shows 0..80 HU; frame 1 is 100 HU -> white
        await wait_for(pilot, lambda: app.scan.meta.window == (40.0, 80.0))
        assert app.scan.meta.frame == 1 and "window brain" in screen_text(app)
        assert np.asarray(app.scan.image).min() == 255
        await pilot.press("w")  # lung: -600 / 1500 shows -1350..150 HU -> 100 HU is (1450 / 1500) of white
        await wait_for(pilot, lambda: app.scan.meta.window == (-600.0, 1500.0))
        assert abs(np.asarray(app.scan.image).mean() - 255 * 1450 / 1500) < 1.5


async def test_a_zoomed_scan_pans_with_shift_and_the_arrow_keys():
    from PIL import Image

    from mmedtui.imaging import Scan, ScanMeta

    # Red grows to the right, green downwards: the drawn part's mean colour says where it lies on the scan.
    xs, ys = np.meshgrid(np.arange(256), np.arange(256))
    pixels = np.stack([xs, ys, np.zeros_like(xs)], axis=-1).astype(np.uint8)
    scan = Scan(Image.fromarray(pixels), ScanMeta("ramp.png", "PNG", 256, 256, "CT", "HEAD"))
    app = create_app(scan, "Is it normal?", scripted_panel(), image_mode="unicode")

    def shown() -> tuple[float, float]:
        red, green, _ = np.asarray(app.scan_pane.query_one("#scan-image").image, dtype=float).mean(axis=(0, 1))
        return red, green

    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        whole = shown()
        await pilot.press("shift+right")  # not zoomed: nothing to pan, and no hint in the footer
        assert shown() == whole and "⇧+arrows" not in screen_text(app)
        assert not any(c.title.startswith("Pan") for c in app.get_system_commands(app.screen))
        await pilot.press("plus", "plus")  # 2x: the centre half of the scan
        await pilot.pause()
        centre = shown()
        assert abs(centre[0] - whole[0]) < 2 and abs(centre[1] - whole[1]) < 2
        assert "⇧+arrows Pan" in screen_text(app)
        assert "Pan right" in [c.title for c in app.get_system_commands(app.screen)]
        await pilot.press("shift+right")
        right = shown()
        assert right[0] > centre[0] + 20 and abs(right[1] - centre[1]) < 2
        await pilot.press("shift+down", "shift+down")  # a quarter of the part shown per press: at the edge
        bottom = shown()
        assert bottom[1] > centre[1] + 40 and bottom[0] == right[0]
        await pilot.press("shift+down")
        assert shown() == bottom and any("bottom edge" in n.message for n in app._notifications)
        for key in ("shift+left", "shift+left", "shift+left", "shift+up", "shift+up", "shift+up", "shift+up"):
            await pilot.press(key)
        top_left = shown()
        assert top_left[0] < centre[0] - 40 and top_left[1] < centre[1] - 40
        await pilot.press("minus")  # 1.5x keeps the place, clamped to the scan
        assert shown()[0] < whole[0] - 20
        await pilot.press("minus", "plus", "plus")  # back to the whole scan, then 2x at the centre again
        await pilot.pause()
        assert shown() == centre and app.pan == (0.0, 0.0)


async def test_scan_tools_say_why_they_cannot_act():
    app = app_for()  # a scan with no file behind it
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        for key in ("w", "n", "right_square_bracket"):
            await pilot.press(key)
        messages = [n.message for n in app._notifications]
        assert sum("needs a scan opened from a file" in m for m in messages) == 3


async def test_the_command_palette_lists_the_apps_actions_and_themes():
    app = app_for()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Zoom in", "Window preset", "Open with the file picker", "Session history", "Theme"):
            assert any(title.lower() in t.lower() for t in titles), title
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert type(app.screen).__name__ == "CommandPalette"
        await pilot.press(*"zoom in")
        await pilot.pause(0.8)  # the palette searches in the background
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.zoom_index == 1)


async def test_a_forced_graphics_protocol_inside_tmux_warns_once():
    assert multiplexer_warning("tgp", {"TMUX": "/tmp/tmux-0/default,1,0"}).startswith("--image-mode tgp inside tmux")
    assert multiplexer_warning("sixel", {"STY": "1.pts"}) and not multiplexer_warning("halfcell", {"TMUX": "x"})
    assert not multiplexer_warning("tgp", {})
    app = app_for()
    app.start_warning = multiplexer_warning("sixel", {"TMUX": "x"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.start_consult("Is there a mass?")
        await settle(app, pilot)
        assert sum("inside tmux" in n.message for n in app._notifications) == 1


async def test_toasts_leave_the_disclaimer_line_visible():
    from mmedtui import DISCLAIMER

    app = app_for()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.notify("A rather long notification that would cover the bottom lines of the screen", timeout=30)
        await pilot.pause(0.3)
        assert DISCLAIMER in screen_text(app)


def test_the_consultations_folder_follows_xdg_and_names_never_collide(tmp_path):
    from pathlib import Path

    from mmedtui.tui.history import consultations_dir, free_stem

    assert consultations_dir({}) == Path.home() / ".local" / "share" / "mmedtui" / "consultations"
    assert consultations_dir({"XDG_DATA_HOME": "relative/dir"}) == consultations_dir({})  # XDG: absolute only
    assert consultations_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "mmedtui" / "consultations"
    (tmp_path / "a.json").write_text("{}")  # either half taken makes the name taken
    (tmp_path / "a-2.md").write_text("")
    assert free_stem(tmp_path, "a") == "a-3" and free_stem(tmp_path, "b") == "b"
