"""Where the shipped ``assets/`` folder (embedded models, panel.yaml, sample scans) lies on this machine.

The repository keeps it at the top level, ``assets/``; a wheel ships the same files as package data under
``mmedtui/assets/`` (pyproject maps the package ``mmedtui.assets`` onto the folder). A source checkout or
an editable install reads the top-level folder, a wheel install reads the copy inside the package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CANDIDATES = (_PACKAGE / "assets", _PACKAGE.parent / "assets")  # wheel install, then source checkout


def assets_root() -> Path:
    """The assets folder in use: the first candidate holding panel.yaml (else the checkout's, for messages)."""
    for folder in _CANDIDATES:
        if (folder / "panel.yaml").is_file():
            return folder
    return _CANDIDATES[-1]


def asset_path(*parts: str) -> Path:
    """The path of ``assets/<parts...>``, e.g. ``asset_path("models", "triage")``; it may not exist."""
    return assets_root().joinpath(*parts)
