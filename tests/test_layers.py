"""The import graph runs one way: imaging -> tasks -> agents -> consult -> bench / tui -> cli. The trainer sits
beside the bench and the TUI (it uses the pipeline and the scorer, never the bench or the screens), and the
product package never imports the trainer except from the CLI. Every import counts, also those inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What each layer may import from the project (besides itself and the shared ground floor).
GROUND = {"errors", "fileio", "resources", "departments", "__init__"}
ALLOWED = {
    "imaging": set(),
    "tasks": {"imaging"},
    "agents": {"imaging", "tasks"},
    "consult": {"imaging", "tasks", "agents"},
    "bench": {"imaging", "tasks", "agents", "consult"},
    "tui": {"imaging", "tasks", "agents", "consult"},
    "trainer": {"imaging", "tasks", "agents", "consult"},
}


def _layer(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("").parts
    return "trainer" if rel[0] == "trainer" else rel[1]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = (
            [node.module]
            if isinstance(node, ast.ImportFrom) and node.module and not node.level
            else [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else []
        )
        for name in names:
            parts = name.split(".")
            if parts[0] == "trainer":
                found.add("trainer")
            elif parts[0] == "mmedtui" and len(parts) > 1:
                found.add(parts[1])
    return found


FILES = sorted((ROOT / "trainer").rglob("*.py")) + sorted(
    p for layer in ALLOWED if layer != "trainer" for p in (ROOT / "mmedtui" / layer).rglob("*.py")
)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_runs_back_up_the_layers(path):
    layer = _layer(path)
    upward = _imports(path) - GROUND - ALLOWED[layer] - {layer}
    assert not upward, f"{path.relative_to(ROOT)} ({layer}) imports {sorted(upward)}"


def test_the_rule_catches_an_upward_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from mmedtui.tui.app import ConsultApp\n")
    assert _imports(probe) - ALLOWED["consult"] == {"tui"}
