"""Snapshots of the app's main screens at 80×24 and 200×50, as text (what a person sees, minus colours).

Compared with ``tests/snapshots/*.txt``; spinners and timings are masked. After an intended change to the
look, regenerate with ``MMEDTUI_UPDATE_SNAPSHOTS=1 pytest tests/test_tui_snapshots.py`` and review the diff.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from mmedtui.tui import create_app
from mmedtui.tui.widgets import OpinionCard
from support.panels import scripted_panel
from support.tui import GateBackend, screen_text, settle, synthetic_scan, wait_for

SNAPSHOTS = Path(__file__).parent / "snapshots"
SIZES = [(80, 24), (200, 50)]
QUESTION = "Are regions of the brain infarcted?"
# textual-image 0.12 calls Pillow's deprecated Image.getdata when it draws.
pytestmark = pytest.mark.filterwarnings("ignore:Image.Image.getdata:DeprecationWarning")


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("MMEDTUI_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: run with MMEDTUI_UPDATE_SNAPSHOTS=1 and review it"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "\n".join(
            difflib.unified_diff(expected.splitlines(), text.splitlines(), "snapshot", "screen", lineterm="")
        )
        pytest.fail(f"screen differs from {path.name} (MMEDTUI_UPDATE_SNAPSHOTS=1 to accept):\n{diff}")


def _panel():
    return scripted_panel(
        specialist_replies=[
            "<think>Hypodense area in the left MCA territory.</think><answer>yes</answer>",
            "<think>Loss of grey-white differentiation on the left.</think><answer>yes</answer>",
            "<think>Could be artefact from the skull base.</think><answer>no</answer>",
        ]
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_snapshot_decided(size):
    app = create_app(synthetic_scan(), QUESTION, _panel(), image_mode="unicode")
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        check_snapshot(f"decided_{size[0]}x{size[1]}", screen_text(app))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_snapshot_running_with_a_failed_specialist(size):
    panel = _panel()
    panel.models["s0"] = {"backend": "scripted", "error": "timeout after 3 tries"}
    gate = GateBackend()
    panel._backends["s1"] = gate
    app = create_app(synthetic_scan(), QUESTION, panel, image_mode="unicode")
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: [c.state for c in app.cards.query(OpinionCard)][:1] == ["failed"])
        await pilot.pause()
        text = screen_text(app)
        gate.gate.set()
        await settle(app, pilot)
    check_snapshot(f"running_{size[0]}x{size[1]}", text)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_snapshot_help(size):
    app = create_app(synthetic_scan(), QUESTION, _panel(), image_mode="unicode")
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        check_snapshot(f"help_{size[0]}x{size[1]}", screen_text(app))
