"""What ``mmedtui data list|verify|fetch`` needs: where the data root is, what is in it, and getting more.

The data root is ``--data-root``, else ``$MMEDTUI_DATA``, else the per-user data folder
(``$XDG_DATA_HOME/mmedtui/data``, i.e. ``~/.local/share/mmedtui/data`` on Linux).
"""

from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

from mmedtui.errors import DataError
from mmedtui.tasks import TASKS, get_task
from mmedtui.tasks.base import safe_relpath

# What `fetch` downloads per task (benchmarks.md §0): repo id and the files worth having.
FETCH = {
    "vqa-rad": ("flaviagiammarino/vqa-rad", ["data/*", "README.md"]),
    "slake": ("BoKelvin/SLAKE", ["*.json", "imgs.zip", "README.md"]),
    "pathvqa": ("flaviagiammarino/path-vqa", ["data/*", "README.md"]),
    "omnimedvqa": ("foreverbeliever/OmniMedVQA", ["*.zip", "README.md"]),
    "mmmu-med": (
        "MMMU/MMMU",
        [
            f"{c}/*"
            for c in (
                "Basic_Medical_Science",
                "Clinical_Medicine",
                "Diagnostics_and_Laboratory_Medicine",
                "Pharmacy",
                "Public_Health",
            )
        ]
        + ["README.md"],
    ),
}


def default_data_root() -> Path:
    """The per-user data folder, the way platformdirs' ``user_data_dir`` places it."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "mmedtui" / "data"


def resolve_data_root(cli_value: str | Path | None = None) -> Path:
    if cli_value:
        return Path(cli_value).expanduser()
    if env := os.environ.get("MMEDTUI_DATA"):
        return Path(env).expanduser()
    return default_data_root()


def list_tasks(root: Path, counts: bool = True) -> list[dict]:
    """One row per benchmark: where it was found, its layout, and item counts per available split.

    Counting loads the question files but skips the per-image existence checks (``verify`` does those).
    """
    rows = []
    for name, task in TASKS.items():
        folder = task.locate(root)
        row: dict = {
            "name": name,
            "in_domain": task.in_domain,
            "domain": "in-domain" if task.in_domain else "out-of-domain",
            "path": folder,
            "layout": None,
            "splits": {},
            "hf_id": task.hf_id,
            "licence": task.licence,
            "how_to_get": task.how_to_get,
            "error": None,
        }
        if folder is not None:
            row["layout"] = task.layout_of(folder)
            try:
                for split in task.available_splits(folder, row["layout"]):
                    row["splits"][split] = len(task.load(root, split, check_images=False).items) if counts else None
            except DataError as exc:
                row["error"] = str(exc)
        rows.append(row)
    return rows


def verify(root: Path, name: str, sample: int = 20, **opts) -> dict:
    """Load every available split, count items and skips, decode a sample of images; list the problems."""
    task = get_task(name)
    folder = task.locate(root)
    report: dict = {
        "name": task.name,
        "path": folder,
        "layout": None,
        "splits": {},
        "problems": [],
        "warnings": [],
        "lines": [],
    }
    if folder is None:
        report["problems"].append(f"not found under {Path(root) / task.name}. {task.how_to_get}")
        report["lines"] = list(report["problems"])
        return report
    report["layout"] = task.layout_of(folder)
    for split in task.available_splits(folder, report["layout"]):
        try:
            res = task.load(root, split, **opts)
        except DataError as exc:
            report["problems"].append(f"{split}: {exc}")
            continue
        if not res.items:
            report["problems"].append(f"{split}: no items")
        step = max(1, len(res.items) // sample) if sample else 0
        checked = res.items[::step][:sample] if step else []
        bad = 0
        for item in checked:
            try:
                item.image_ref.load()
            except Exception as exc:  # any decode failure is a problem to report, not a crash
                bad += 1
                report["problems"].append(f"{split}/{item.id}: image does not load ({exc})")
        report["splits"][split] = {
            "items": len(res.items),
            "skipped": res.skipped,
            "reasons": res.skip_reasons,
            "images_checked": len(checked),
            "images_failed": bad,
            "notes": res.notes,
        }
        # Missing or unreadable files are the local copy's fault; other skips are known flaws of the data.
        local = {k: v for k, v in res.skip_reasons.items() if _local_fault(k)}
        if local:
            report["problems"].append(f"{split}: {sum(local.values())} row(s) skipped ({local})")
        if len(local) < len(res.skip_reasons):
            report["warnings"].append(
                f"{split}: rows skipped for data flaws "
                f"({ {k: v for k, v in res.skip_reasons.items() if k not in local} })"
            )
        report["lines"].append(
            f"{task.name} {split}: {len(res.items)} items, {res.skipped} skipped, "
            f"{len(checked) - bad}/{len(checked)} sampled images load "
            f"({report['layout']}, {folder})"
        )
    report["lines"] += [f"note: {w}" for w in report["warnings"]] + [f"problem: {p}" for p in report["problems"]]
    return report


def _local_fault(reason: str) -> bool:
    return ("missing" in reason and "image" in reason and "restricted" not in reason) or "unreadable" in reason


def _offline() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def fetch(root: Path, name: str) -> Path:
    """Download the benchmark from the Hugging Face Hub into ``<root>/<name>/`` (zips of OmniMedVQA are
    unpacked, refusing any member that would land outside). Network problems become a DataError."""
    task = get_task(name)
    repo_id, patterns = FETCH[task.name]
    target = Path(root) / task.name
    if _offline():
        raise DataError(
            f"cannot fetch {task.name}: Hugging Face Hub offline mode is on (HF_HUB_OFFLINE). "
            f"Download {repo_id} elsewhere and put it in {target}. {task.how_to_get}"
        )
    try:
        from huggingface_hub import snapshot_download

        snapshot_download(repo_id=repo_id, repo_type="dataset", local_dir=str(target), allow_patterns=patterns)
    except Exception as exc:  # HTTP, auth (MMMU/OmniMedVQA may be gated), disk: all one message
        raise DataError(f"fetching {repo_id} into {target} failed: {exc.__class__.__name__}: {exc}") from exc
    if task.name == "omnimedvqa":
        for archive in target.glob("*.zip"):
            _safe_unzip(archive, target)
    return target


def _safe_unzip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if safe_relpath(info.filename) is None:
                raise DataError(f"{archive}: member {info.filename!r} would escape {dest}; not extracted")
        zf.extractall(dest)
