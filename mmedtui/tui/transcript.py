"""Saving a consultation: a Markdown transcript and its JSON twin, written atomically, free of identifying data.

The JSON is ``ConsultRecord.to_dict(image=<file name only>)`` (the ``consult --json`` shape); the scan
metadata in it is ``ScanMeta.to_dict()``, which never holds DICOM patient tags.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from mmedtui import DISCLAIMER, __version__
from mmedtui.consult.display import clean, invalid_text, probability_text, readable
from mmedtui.consult.record import ConsultRecord
from mmedtui.fileio import atomic_write_text
from mmedtui.tasks.scoring import lettered

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~!])")


def _md(text: str | None) -> str:
    return _MD_SPECIAL.sub(r"\\\1", clean(text)).strip()


def _quote(text: str | None) -> str:
    body = _md(text)
    return "\n".join(f"> {line}" if line else ">" for line in body.splitlines()) if body else "> (none)"


def scan_facts(meta: dict) -> str:
    """'JPEG, 566×555, CT, HEAD' from ``ScanMeta.to_dict()``."""
    facts = [meta.get("format") or "", f"{meta.get('width', '?')}×{meta.get('height', '?')}"]
    facts += [str(v) for v in (meta.get("modality"), meta.get("body_part")) if v]
    if (meta.get("frames") or 1) > 1:
        facts.append(f"frame {meta.get('frame', 0) + 1} of {meta['frames']}")
    return ", ".join(f for f in facts if f)


def _note(result) -> str:
    """' (p = 0.82) **not valid: names no option**' after an answer, as far as each applies."""
    note = f" ({probability_text(result)})" if probability_text(result) else ""
    reason = invalid_text(result)
    return note + (f" **not valid: {_md(reason)}**" if reason else "")


def to_markdown(
    record: ConsultRecord, image: str, triage_name: str = "Triage doctor", attending_name: str = "Attending physician"
) -> str:
    case = record.case
    lines = [
        "# mmedtui consultation",
        "",
        f"> **{DISCLAIMER}**",
        "",
        f"- **Image:** {_md(Path(image).name)} ({_md(scan_facts(case.meta))})",
        f"- **Question:** {_md(case.question)}",
    ]
    if case.options:
        lines.append("- **Options:** " + "; ".join(_md(o) for o in lettered(case.options)))
    lines += ["", f"## Triage ({_md(triage_name)})", ""]
    if record.triage:
        note = {"scored": " (the model's most likely department)", "default": " (fallback)"}.get(
            record.triage.fallback or "", ""
        )
        lines += [f"**Department:** {_md(record.triage.department)}{note}", ""]
        if record.triage.error:
            lines += [f"**Failed:** {_md(record.triage.error)}", ""]
        lines.append(_quote(record.triage.rationale))
    else:
        lines.append("(not reached)")
    lines += ["", "## Specialists", ""]
    for opinion in record.specialists or []:
        lines += [f"### {_md(opinion.name)} ({_md(opinion.department)})", ""]
        if opinion.error:
            lines.append(f"**{'Declined' if opinion.declined else 'Failed'}:** {_md(opinion.error)}")
        else:
            lines.append(f"**Answer:** {_md(opinion.answer)}{_note(opinion)}")
        if opinion.reasoning:
            lines += ["", _quote(readable(opinion.reasoning))]
        lines.append("")
    if not record.specialists:
        lines += ["(none)", ""]
    lines += [f"## Decision ({_md(attending_name)})", ""]
    decision = record.attending
    if decision is None:
        lines.append("(not reached)")
    else:
        if decision.error:
            lines.append(f"**Failed:** {_md(decision.error)}")
        elif not decision.valid:
            lines.append("**No valid answer.**")
        if decision.answer:
            lines.append(f"**Answer:** {_md(decision.answer)}{_note(decision)}")
        lines.append("")
        if record.agreement:
            lines.append(f"- Panel agreement: {record.agreement}")
        lines.append(f"- Followed: {_md(', '.join(decision.followed)) or '(none)'}")
        lines.append(f"- Overruled: {_md(', '.join(decision.overruled)) or '(none)'}")
        if decision.votes:
            lines.append(f"- Sampled answers: {_md(', '.join(decision.votes))}")
        lines += ["", "**Reasoning:**", "", _quote(readable(decision.reasoning))]
    lines += ["", "---", "", f"mmedtui {__version__}, {record.seconds:.1f} s. {DISCLAIMER}", ""]
    return "\n".join(lines)


def to_json(record: ConsultRecord, image: str) -> str:
    return json.dumps(record.to_dict(image=Path(image).name), ensure_ascii=False, indent=2) + "\n"


def transcript_paths(target: str | os.PathLike, default_stem: str) -> tuple[Path, Path]:
    """(markdown, json) paths for what the user typed: a folder, a stem, or a name ending .md / .json."""
    raw = os.path.expanduser(str(target).strip()) or "."
    path = Path(raw)
    if raw.endswith(os.sep) or path.is_dir():
        path = path / default_stem
    elif path.suffix.lower() in (".md", ".markdown", ".json"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".md"), path.with_name(path.name + ".json")


def save(
    record: ConsultRecord, image: str, target: str | os.PathLike, default_stem: str, **names: str
) -> tuple[Path, Path]:
    """Write both files; returns their paths. Raises OSError (folder missing, no permission, ...)."""
    md_path, json_path = transcript_paths(target, default_stem)
    if not md_path.parent.is_dir():
        raise FileNotFoundError(f"folder {md_path.parent} does not exist")
    atomic_write_text(md_path, to_markdown(record, image, **names), newline="\n")
    atomic_write_text(json_path, to_json(record, image), newline="\n")
    return md_path, json_path
