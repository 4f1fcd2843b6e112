"""Saving the consultation shown (the ``s`` key): the prompt with a free default name, then Markdown + JSON.

A mixin of ``ConsultApp``: it reads ``record``, ``running``, ``scan``, ``panel`` and ``save_dir``. The files
themselves are written by ``transcript.save``; names and the per-user folder come from ``history``.
"""

from __future__ import annotations

from pathlib import Path

from mmedtui.tui import transcript
from mmedtui.tui.history import consultations_dir, free_stem, transcript_stem
from mmedtui.tui.widgets import PathPrompt


class TranscriptSavingMixin:
    def default_transcript_stem(self) -> str:
        """Time and a short hash, never the image's name (it may name the patient)."""
        return transcript_stem(self.record) if self.record is not None else "consultation"

    def transcript_folder(self) -> Path:
        return Path(self.save_dir).expanduser() if self.save_dir else consultations_dir()

    def action_save(self) -> None:
        if self.record is None:
            what = "still running" if self.running else "not finished"
            self.notify(f"Nothing to save yet: the consultation is {what}.", severity="warning")
            return
        folder = self.transcript_folder()
        hint = (
            "Writes NAME.md and NAME.json (no patient data, no full paths); an existing name gets -2, -3 "
            "(nothing is overwritten). `mmedtui history` lists this folder."
        )
        self.push_screen(
            PathPrompt("Save the transcript as", str(folder / f"{self.default_transcript_stem()}.md"), hint),
            self._save_to,
        )

    def _save_to(self, target: str | None) -> None:
        if not target or self.record is None:
            return
        self.save_transcript(target)

    def save_transcript(self, target: str) -> tuple[Path, Path] | None:
        """Write the consultation shown as Markdown + JSON at ``target`` (a free name: never over an existing
        transcript); the per-user folder is created when it is the target. Errors become a notification."""
        md_path, _ = transcript.transcript_paths(target, self.default_transcript_stem())
        folder = self.transcript_folder()
        try:
            if md_path.parent == folder:
                folder.mkdir(parents=True, exist_ok=True)
            if md_path.parent.is_dir():
                target = str(md_path.parent / free_stem(md_path.parent, md_path.stem))
            md_path, json_path = transcript.save(
                self.record,
                self.scan.meta.source,
                target,
                self.default_transcript_stem(),
                triage_name=self.panel.triage.name,
                attending_name=self.panel.attending.name,
            )
        except OSError as exc:
            reason = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)
            self.notify(reason, title="Cannot save the transcript", severity="error", markup=False, timeout=8)
            return None
        self.notify(
            f"Saved {md_path.name} and {json_path.name}\nin {md_path.parent}",
            title="Transcript saved",
            markup=False,
            timeout=5,
        )
        return md_path, json_path
