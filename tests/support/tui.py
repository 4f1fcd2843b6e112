"""Shared pieces of the TUI tests (no tests here): a pinned image renderer size, a scan, waiting, the screen as text."""

from __future__ import annotations

import io
import re
import threading

# textual-image sizes images from the terminal's cell size in pixels, which it asks the terminal for. Pin it
# (the VT340 default it uses without a TTY) so the drawn image is the same in any terminal and in CI.
from textual_image._terminal import CellSize, get_cell_size

get_cell_size._result = CellSize(10, 20)

from PIL import Image, ImageDraw  # noqa: E402
from rich.console import Console  # noqa: E402

from mmedtui.agents.base import Backend, Generation, Prompt, Sampling  # noqa: E402
from mmedtui.imaging import Scan, ScanMeta  # noqa: E402

SPINNER_CHARS = re.compile("[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]")
SECONDS = re.compile(r"\d+\.\d+ s\b")


def synthetic_scan(name: str = "scan.png", modality: str | None = "CT", body_part: str | None = "HEAD") -> Scan:
    image = Image.new("RGB", (256, 256), (10, 10, 10))
    ImageDraw.Draw(image).ellipse((60, 60, 196, 196), fill=(200, 200, 200))
    return Scan(image, ScanMeta(name, "PNG", 256, 256, modality, body_part))


async def settle(app, pilot, timeout: float = 10.0) -> None:
    """Wait until the running consultation (if any) has finished and the screen shows it."""
    await app.workers.wait_for_complete()
    for _ in range(int(timeout / 0.02)):
        await pilot.pause()
        if not app.running:
            break
        await pilot.pause(0.02)
        await app.workers.wait_for_complete()
    for _ in range(3):  # the cards scroll to the newest one after the layout has settled
        await pilot.pause()


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached in time")


def plain(widget) -> str:
    """The text a Static shows."""
    return str(widget.content)


def screen_text(app) -> str:
    """The whole screen as plain text (what ``tmux capture-pane -p`` shows), spinners and timings masked."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    text = console.export_text(styles=False)
    text = SECONDS.sub("#.# s", SPINNER_CHARS.sub("⠿", text))
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


class GateBackend(Backend):
    """Answers only once ``gate`` is set: holds a step 'running' for as long as a test needs."""

    def __init__(self, reply: str = "<think>held</think><answer>yes</answer>") -> None:
        self.gate = threading.Event()
        self.reply = reply

    def generate(self, prompts: list[Prompt], sampling: Sampling = Sampling()) -> list[Generation]:
        self.gate.wait(timeout=30)
        return [Generation(self.reply) for _ in prompts]
