"""Scan tools of the app: opening a file (by path, the file picker, next / previous image), zoom and panning,
DICOM window presets, frames of a multi-frame file. A mixin of ``ConsultApp``: it reads ``scan``, ``image_path``
and ``scan_pane``, loads files in a worker (``reload_scan``) and starts a consultation on a new scan.

Zoom only changes what is drawn (a crop, centred until shift + an arrow key pans it across the scan); a window
preset or another frame reloads the file, and the next question (or ``r``) is asked about what is shown.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image as PILImage
from textual import work
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static

from mmedtui.errors import error_line
from mmedtui.imaging import WINDOW_PRESETS
from mmedtui.tui.image import display_copy
from mmedtui.tui.messages import ScanFailed, ScanLoaded
from mmedtui.tui.picker import FilePicker, neighbour
from mmedtui.tui.widgets import PathPrompt

ZOOMS = (1.0, 1.5, 2.0, 3.0, 4.0)
WINDOWS = ("", *WINDOW_PRESETS)  # "": the file's own window
BAR = 16  # cells of the frame slider

SCAN_BINDINGS = [
    Binding("f", "pick", "Files", show=False),
    Binding("n", "step_image(1)", "Next image", show=False),
    Binding("p", "step_image(-1)", "Previous image", show=False),
    Binding("plus,equals_sign", "zoom(1)", "Zoom in", show=False),
    Binding("minus", "zoom(-1)", "Zoom out", show=False),
    # Shown in the footer only while zoomed (check_action); plain arrows scroll the consultation.
    Binding("shift+left", "pan(-1, 0)", "Pan", key_display="⇧+arrows"),
    Binding("shift+right", "pan(1, 0)", "Pan right", show=False),
    Binding("shift+up", "pan(0, -1)", "Pan up", show=False),
    Binding("shift+down", "pan(0, 1)", "Pan down", show=False),
    Binding("w", "window", "Window preset", show=False),
    Binding("right_square_bracket", "frame(1)", "Next frame", show=False),
    Binding("left_square_bracket", "frame(-1)", "Previous frame", show=False),
]


def zoomed(image: PILImage.Image, zoom: float, pan: tuple[float, float] = (0.0, 0.0)) -> PILImage.Image:
    """The 1/zoom part of ``image``, as a display copy (the model still gets the whole scan). ``pan`` places it:
    (0, 0) centred, -1 / +1 against the left / right (top / bottom) edge, in between in proportion."""
    if zoom <= 1.0:
        return display_copy(image)
    w, h = image.size
    cw, ch = max(1, round(w / zoom)), max(1, round(h / zoom))
    left, top = _offset(w, cw, pan[0]), _offset(h, ch, pan[1])
    return display_copy(image.crop((left, top, left + cw, top + ch)))


def _offset(size: int, crop: int, pan: float) -> int:
    """Where a ``crop`` wide part of ``size`` starts, for a pan from -1 (first edge) to +1 (last edge)."""
    return int((size - crop) * (min(max(pan, -1.0), 1.0) + 1) / 2)


def pan_step(zoom: float) -> float:
    """How far one key press pans, in ``zoomed``'s units: a quarter of the part shown (at most edge to centre)."""
    return min(1.0, 1 / (2 * (zoom - 1))) if zoom > 1.0 else 0.0


def frame_slider(frame: int, frames: int, width: int = BAR) -> Content:
    """``frame 3/10 ━━━━●─────────`` : where the shown frame lies in the file."""
    at = round(frame / max(1, frames - 1) * (width - 1))
    return Content.assemble(
        ("frame ", "dim"),
        f"{frame + 1}/{frames} ",
        ("━" * at, "$accent"),
        ("●", "bold $accent"),
        ("─" * (width - 1 - at), "dim"),
    )


class ScanToolsMixin:
    zoom_index = 0
    window_index = 0
    pan = (0.0, 0.0)  # where the zoomed part lies (see zoomed); back to the centre at zoom 1 and on a new scan

    def mount_scan_tools(self) -> None:
        self.scan_tools_line = Static(id="scan-tools")
        self.scan_pane.mount(self.scan_tools_line, before=self.scan_pane.query_one("#scan-meta"))
        self.show_scan_tools()

    def show_scan_tools(self) -> None:
        """Draw the scan at the current zoom and say what is not the default (zoom, window, frame)."""
        image_widget = self.scan_pane.query("#scan-image")
        if image_widget:
            image_widget.first().image = zoomed(self.scan.image, ZOOMS[self.zoom_index], self.pan)
        meta, parts = self.scan.meta, []
        if self.zoom_index:
            parts.append(Content.assemble(("zoom ", "dim"), f"{ZOOMS[self.zoom_index]:g}×"))
        if self.window_index:
            center, width = WINDOW_PRESETS[WINDOWS[self.window_index]]
            parts.append(Content.assemble(("window ", "dim"), f"{WINDOWS[self.window_index]} ({center:g}/{width:g})"))
        if meta.frames > 1:
            parts.append(frame_slider(meta.frame, meta.frames))
        self.scan_tools_line.update(Content("  ").join(parts))
        self.scan_tools_line.display = bool(parts)

    def reset_scan_tools(self) -> None:
        self.zoom_index = self.window_index = 0
        self.pan = (0.0, 0.0)
        self.refresh_bindings()

    def scan_action_available(self, action: str) -> bool:
        """False for panning until the scan is zoomed: its keys do nothing, the footer and the palette hide it."""
        return action != "pan" or self.zoom_index > 0

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return self.scan_action_available(action) and super().check_action(action, parameters)

    # -- actions -------------------------------------------------------------------------------------
    def action_zoom(self, step: int) -> None:
        index = min(max(self.zoom_index + step, 0), len(ZOOMS) - 1)
        if index == self.zoom_index:
            self.notify(f"Zoom is already {'at its most' if step > 0 else 'the whole scan'}.", timeout=2)
            return
        self.zoom_index = index
        if not index:
            self.pan = (0.0, 0.0)
        self.refresh_bindings()
        self.show_scan_tools()

    def action_pan(self, dx: int, dy: int) -> None:
        step = pan_step(ZOOMS[self.zoom_index])
        pan = tuple(round(min(max(p + d * step, -1.0), 1.0), 6) for p, d in zip(self.pan, (dx, dy)))
        if pan == self.pan:
            edge = {(-1, 0): "left", (1, 0): "right", (0, -1): "top", (0, 1): "bottom"}[(dx, dy)]
            self.notify(f"The view is at the {edge} edge of the scan.", timeout=2)
            return
        self.pan = pan
        self.show_scan_tools()

    def _file_or_warn(self, what: str) -> Path | None:
        if self.image_path is None:
            self.notify(f"{what} needs a scan opened from a file.", severity="warning", timeout=4)
        return self.image_path

    def action_window(self) -> None:
        meta = self.scan.meta
        if self._file_or_warn("A window preset") is None:
            return
        if meta.format != "DICOM" or (meta.modality or "").upper() != "CT":
            self.notify(
                "Window presets are in Hounsfield units: for CT DICOM files only.", severity="warning", timeout=4
            )
            return
        self.window_index = (self.window_index + 1) % len(WINDOWS)
        name = WINDOWS[self.window_index]
        self.reload_scan(self.image_path, frame=meta.frame, window=WINDOW_PRESETS.get(name), restart=False)

    def action_frame(self, step: int) -> None:
        meta = self.scan.meta
        if self._file_or_warn("Another frame") is None:
            return
        if meta.frames <= 1:
            self.notify("This scan has one frame.", timeout=2)
            return
        frame = min(max(meta.frame + step, 0), meta.frames - 1)
        if frame != meta.frame:
            window = WINDOW_PRESETS.get(WINDOWS[self.window_index])
            self.reload_scan(self.image_path, frame=frame, window=window, restart=False)

    def action_step_image(self, step: int) -> None:
        if self._file_or_warn("Next and previous") is None:
            return
        other = neighbour(self.image_path, step)
        if other is None:
            self.notify(f"No other scan in {self.image_path.parent}.", timeout=3)
            return
        self.reload_scan(other)

    def action_pick(self) -> None:
        folder = self.image_path.parent if self.image_path else Path.cwd()
        self.push_screen(FilePicker(folder), lambda path: self.reload_scan(path) if path else None)

    # -- loading (a worker reads the file; a message from an outdated ticket is dropped) ------------
    def action_open(self) -> None:
        hint = "PNG, JPEG, BMP, TIFF or DICOM. The current question is asked about it."
        self.push_screen(PathPrompt("Open another image", "", hint, placeholder="path/to/scan.dcm"), self._open_path)

    def _open_path(self, path: str | None) -> None:
        if path:
            self.scan_ticket += 1
            self._load_scan(self.scan_ticket, path)

    def reload_scan(
        self,
        path: str | Path,
        frame: int | None = None,
        window: tuple[float, float] | None = None,
        restart: bool = True,
    ) -> None:
        """Load ``path`` in a worker; ``restart``: a new scan, consulted at once (else the same one redrawn)."""
        self.scan_ticket += 1
        self._load_scan(self.scan_ticket, str(path), frame, window, restart)

    @work(thread=True, exclusive=True, group="scan", exit_on_error=False)
    def _load_scan(
        self,
        ticket: int,
        path: str,
        frame: int | None = None,
        window: tuple[float, float] | None = None,
        restart: bool = True,
    ) -> None:
        import os

        from mmedtui.agents.panel_checks import check_burned_in
        from mmedtui.imaging import load_scan

        full = Path(os.path.expanduser(path)).absolute()
        try:
            scan = load_scan(full, frame=frame, window=window)
            check_burned_in(scan.meta, self.panel.models, self.allow_burned_in)
        except Exception as exc:  # noqa: BLE001 - ImageError is one line naming the file; others too
            message = error_line(exc, typed=False)
            self.post_message(ScanFailed(ticket, message))
        else:
            self.post_message(ScanLoaded(ticket, scan, full, restart))

    def on_scan_loaded(self, message: ScanLoaded) -> None:
        if message.ticket != self.scan_ticket:
            return
        self.scan, self.image_path = message.scan, message.path
        if message.restart:
            self.reset_scan_tools()
        self.scan_pane.set_scan(self.scan)
        self.show_scan_tools()
        if message.restart:
            self.notify(f"Opened {self.scan.meta.source}.", markup=False, timeout=3)
            self.start_consult(self.question, self.options)
        else:
            self.notify("Shown. Press r to consult on what is shown.", markup=False, timeout=3)

    def on_scan_failed(self, message: ScanFailed) -> None:
        if message.ticket == self.scan_ticket:
            self.notify(message.error, title="Cannot open the image", severity="error", markup=False, timeout=8)
