"""Regenerate docs/consult.svg: `mmedtui consult` on the first sample scan with the embedded panel, at 120x36.

    python docs/make_screenshot.py

A Textual pilot runs the real app (the same factory as the CLI), waits for the decision, and saves
Textual's SVG export of the screen. Nothing is downloaded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual_image._terminal import CellSize, get_cell_size

get_cell_size._result = CellSize(10, 20)  # a fixed cell size: the drawn scan does not depend on the terminal

from mmedtui.agents.panel import load_panel  # noqa: E402
from mmedtui.imaging import load_scan  # noqa: E402
from mmedtui.samples import get_sample  # noqa: E402
from mmedtui.tasks.choices import question_options  # noqa: E402
from mmedtui.tui import create_app  # noqa: E402

OUT = Path(__file__).resolve().parent / "consult.svg"


async def main() -> None:
    sample = get_sample()
    app = create_app(
        load_scan(sample.path),
        sample.question,
        load_panel(None),
        image_mode="halfcell",
        options=question_options(sample.question),
        image_path=sample.path,
    )
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(6000):  # up to 10 minutes on a busy machine
            await pilot.pause(0.1)
            if app.record is not None and not app.running:
                break
        await pilot.pause(0.5)
        app.save_screenshot(filename=OUT.name, path=str(OUT.parent))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    asyncio.run(main())
