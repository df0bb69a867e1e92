"""docs/architecture.md stays true to the package: its tree names every subpackage, its layer order is the
import-linter contract's, and every module (or name of a subpackage) it mentions exists.

Why: a map that has drifted from the territory misleads a newcomer more than no map at all.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
SUBPACKAGES = sorted(p.parent.name for p in (ROOT / "sim").glob("*/__init__.py"))


def test_the_tree_names_every_subpackage() -> None:
    tree = DOC.split("```")[1]
    for name in SUBPACKAGES:
        assert re.search(rf"^  {name}/ ", tree, re.M), f"docs/architecture.md: the tree lacks sim/{name}/"
    for module in ("api.py", "errors.py", "io.py", "_version.py"):
        assert module in tree


def test_the_layer_order_is_the_contracts() -> None:
    contract = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    bottom_up = [layer.replace(" ", "") for layer in reversed(contract["layers"])]
    line = next(ln for ln in DOC.split("\n\n") if ln.startswith("`sim.errors"))
    documented = [part.strip().strip("`").replace(" ", "") for part in line.replace("\n", " ").split("<")]
    assert documented == bottom_up


def test_every_module_it_names_exists() -> None:
    pkgs = "|".join(SUBPACKAGES)
    named = set(re.findall(rf"`(?:sim\.)?((?:{pkgs})\.[a-z_]+)", DOC))
    named |= {m.replace("/", ".").removesuffix(".py") for m in re.findall(rf"`((?:{pkgs})/[a-z_]+\.py)`", DOC)}
    assert len(named) > 15
    for name in sorted(named):
        pkg, attr = name.split(".")
        exists = importlib.util.find_spec(f"sim.{name}") is not None or hasattr(
            importlib.import_module(f"sim.{pkg}"), attr
        )
        assert exists, f"docs/architecture.md names sim.{name}, which is neither a module nor in sim.{pkg}"


def test_the_tests_mirror_the_package() -> None:
    """Every test folder is named after a subpackage of sim (docs/architecture.md, "The tests"), and holds tests."""
    helpers = {"data", "golden", "validation", "__pycache__"}
    folders = sorted(p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and p.name not in helpers)
    assert folders and set(folders) <= set(SUBPACKAGES), set(folders) - set(SUBPACKAGES)
    for name in folders:
        assert list((ROOT / "tests" / name).glob("test_*.py")), f"tests/{name}/ holds no test"
    top = sorted(p.name for p in (ROOT / "tests").glob("test_*.py"))
    assert top == sorted(
        ["test_api.py", "test_architecture.py", "test_golden.py", "test_io.py", "test_layers.py", "test_notebooks.py"]
    ), top
