"""The Textual app of ``mmedtui consult``: the scan, then the triage, the specialists and the attending.

Importing this package costs nothing: Textual and textual-image load in ``create_app``. The factory is what
the CLI and the tests share (the tests pass a scripted panel and an explicit image mode)::

    app = create_app(scan, "Is there a fracture?", panel, image_mode="unicode")
    async with app.run_test(size=(120, 40)) as pilot: ...
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmedtui.agents.panel import Panel
    from mmedtui.imaging import Scan
    from mmedtui.tui.app import ConsultApp

__all__ = ["create_app", "run_app"]


def create_app(
    scan: Scan,
    question: str,
    panel: Panel,
    image_mode: str = "auto",
    options: list[str] | None = None,
    auto_options: bool = True,
    save_dir: Path | None = None,
    image_path: Path | None = None,
    allow_burned_in: bool = False,
) -> ConsultApp:
    """Build the app. Picks the image renderer now (textual-image must query the terminal before Textual
    starts); ``image_mode`` is one of auto, tgp, sixel, halfcell, unicode, none. ``save_dir``: where ``s``
    saves (default: the per-user consultations folder); ``image_path``: the opened file, for next / previous;
    ``allow_burned_in``: scans opened in the app may carry burned-in text to remote models (``--allow-burned-in``)."""
    from mmedtui.errors import UserError
    from mmedtui.tui.image import widget_class

    try:
        image_cls = widget_class(image_mode)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    from mmedtui.tui.app import ConsultApp

    renderer = "" if image_cls is not None else ("none" if image_mode == "none" else "unavailable here")
    return ConsultApp(
        scan,
        question,
        panel,
        image_cls,
        options=options,
        renderer=renderer,
        auto_options=auto_options,
        save_dir=save_dir,
        image_path=image_path,
        warning=multiplexer_warning(image_mode),
        allow_burned_in=allow_burned_in,
    )


def multiplexer_warning(image_mode: str, environ=os.environ) -> str:
    """Why a forced graphics protocol will not draw here: tmux and screen pass neither Kitty graphics (tgp)
    nor Sixel through by default (garbage or nothing on screen); '' when there is no reason to warn."""
    if image_mode not in ("tgp", "sixel"):
        return ""
    where = "tmux" if environ.get("TMUX") else "screen" if environ.get("STY") else ""
    if not where:
        return ""
    return (
        f"--image-mode {image_mode} inside {where}: {where} usually does not pass this protocol through, so the "
        "scan may be garbled or missing; --image-mode halfcell always works."
    )


def run_app(
    scan: Scan,
    question: str,
    panel: Panel,
    image_mode: str = "auto",
    options: list[str] | None = None,
    auto_options: bool = True,
    save_dir: Path | None = None,
    image_path: Path | None = None,
    allow_burned_in: bool = False,
) -> str | None:
    """Create the app and run it until the user quits. Returns why the session's latest finished consultation
    reached no decision (for exit 3), None when it reached one or none finished."""
    app = create_app(
        scan,
        question,
        panel,
        image_mode=image_mode,
        options=options,
        auto_options=auto_options,
        save_dir=save_dir,
        image_path=image_path,
        allow_burned_in=allow_burned_in,
    )
    _warm_up(panel)
    return app.run()


def _warm_up(panel: Panel) -> None:
    """Start building the panel's backends (imports, weights) while Textual starts, in a daemon thread.

    The first run waits for them on the panel's lock instead of starting from scratch; a backend that fails
    to build here fails again in the run, where the app shows the error.
    """
    import threading

    keys = dict.fromkeys(
        [panel.triage.model, *(s.model for specs in panel.specialists.values() for s in specs), panel.attending.model]
    )

    def build() -> None:
        for key in keys:
            try:
                panel.backend(key)
            except Exception:  # noqa: BLE001, S110 - reported by the run itself
                pass

    threading.Thread(target=build, name="mmedtui-warm-up", daemon=True).start()
