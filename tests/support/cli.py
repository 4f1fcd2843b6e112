"""Running ``mmedtui`` in-process, as its console script does."""

from __future__ import annotations

import sys

import pytest

from mmedtui.cli import main


def run_cli(capsys, monkeypatch, *args) -> tuple[int, str, str]:
    """``mmedtui ARGS...``: its exit code, stdout and stderr."""
    monkeypatch.setattr(sys, "argv", ["mmedtui", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err
