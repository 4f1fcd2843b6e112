"""The wheel's contents as pyproject declares them: every package, and every file of the shipped assets/; and the
layout of tests/ (shared helpers in tests/support/, no test module importing another)."""

import ast
import tomllib
from pathlib import Path

from mmedtui.agents.panel import DEFAULT_PANEL, load_panel
from mmedtui.resources import asset_path

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_package_is_listed():
    # The list is explicit (assets/ is mapped in), so a new subpackage must be added by hand: fail loudly.
    found = {
        str(p.parent.relative_to(ROOT)).replace("/", ".")
        for top in ("mmedtui", "trainer")
        for p in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found <= set(SETUPTOOLS["packages"]), sorted(found - set(SETUPTOOLS["packages"]))


def test_package_data_covers_every_asset_file():
    folder = ROOT / SETUPTOOLS["package-dir"]["mmedtui.assets"]
    shipped = {p for pattern in SETUPTOOLS["package-data"]["mmedtui.assets"] for p in folder.glob(pattern)}
    files = {p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert files, "assets/ is empty"
    assert sorted(map(str, files - shipped)) == []


def test_asset_path_finds_the_embedded_panel():
    assert asset_path("panel.yaml") == DEFAULT_PANEL
    assert DEFAULT_PANEL.is_file()
    panel = load_panel()
    for model in panel.models.values():
        assert (panel.base_dir / model["path"]).is_dir(), model


def _imported_modules(path: Path) -> list[str]:
    """Every module a file imports, at any depth (function-local imports too); relative ones as ".NAME"."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def test_tests_import_helpers_only_from_the_support_package():
    # Shared helpers live in tests/support/ (imported as `support.NAME`); a test module importing another test
    # module or conftest runs that module's fixtures and tests twice over and hides where a helper lives.
    tests = ROOT / "tests"
    siblings = {p.stem for p in tests.glob("*.py")} | {p.name for p in tests.iterdir() if p.is_dir()}
    allowed = {"support"}
    wrong = []
    for path in sorted(tests.rglob("*.py")):
        for name in _imported_modules(path):
            top = name.split(".")[0]
            if (
                name.startswith(".")
                or top in ("tests", "conftest")
                or top.startswith("test_")
                or (top in siblings and top not in allowed)
            ):
                wrong.append(f"{path.relative_to(ROOT)}: {name}")
    assert wrong == [], "import shared helpers as `from support.NAME import ...`"
    assert (tests / "support" / "__init__.py").is_file()
