"""Start-up: what ``import sim`` and each ``rotasim`` command load before they do anything.

Why: every command pays for ``import sim`` and for the CLI's own imports before it prints a line; scipy and
matplotlib alone cost most of a second. These tests check *which modules* are loaded, in a fresh interpreter
each, never how long it takes (the times are measured in benchmarks/bench_cli_start.py and quoted in the
README): a module list is the same on every machine, a wall time is not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import sim

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "scenarios" / "three-manager-failover.yaml"
HEAVY = ("matplotlib", "scipy")


def _loaded(code: str) -> set[str]:
    """The top-level names of the modules loaded after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    return set(json.loads(res.stdout.splitlines()[-1]))


def _cli(*args: str) -> str:
    """Run ``rotasim ARGS`` in this interpreter without exiting, then list the modules."""
    return f"from sim.cli.app import app\napp({list(args)!r}, standalone_mode=False)"


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_import_sim_loads_neither_matplotlib_nor_scipy_nor_the_layers() -> None:
    mods = _loaded("import sim")
    assert not _top(mods) & {*HEAVY, "pandas", "numpy"}
    assert {m for m in mods if m.startswith("sim.")} <= {"sim._version", "sim.errors"}


def test_public_names_load_no_more_than_they_need() -> None:
    mods = _loaded("import sim\nsim.simulate, sim.replicate, sim.plan, sim.sweep, sim.RunOptions")
    assert "scipy" not in _top(mods)  # scipy is imported when an interval or a fit is computed
    mods = _loaded("import sim\nsim.simulate, sim.replicate, sim.sweep, sim.RunOptions, sim.Scenario")
    assert not _top(mods) & set(HEAVY)  # running needs neither; figures and reports do


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["run", "--help"], ["report", "--help"]])
def test_version_and_help_load_no_library(args: list[str]) -> None:
    mods = _loaded(_cli(*args))
    assert not _top(mods) & {*HEAVY, "pandas", "numpy"}, "the library is imported when a command runs"
    assert not {m for m in mods if m.startswith("sim.") and not m.startswith("sim.cli")} - {
        "sim._version",
        "sim.errors",
    }


def test_validate_loads_no_analysis_presentation_or_heavy_module() -> None:
    mods = _loaded(_cli("validate", str(SHIPPED)))
    assert "sim.scenario.document" in mods  # it did run
    assert not _top(mods) & {*HEAVY, "pandas"}  # a generated fleet is not drawn: no table is needed
    assert not {m for m in mods if m.startswith(("sim.analysis", "sim.presentation", "sim.calibration"))}


def test_lazy_names_are_the_real_objects_and_dir_lists_them() -> None:
    from sim.analysis.replications import replicate
    from sim.api import plan
    from sim.experiments.options import RunOptions
    from sim.scenario.document import Scenario

    assert sim.replicate is replicate and sim.plan is plan and sim.Scenario is Scenario
    assert sim.RunOptions is RunOptions
    assert set(sim.__all__) <= set(dir(sim))
    for name in sim.__all__:
        assert getattr(sim, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nosuch'"):
        sim.nosuch  # noqa: B018 - the attribute access is the test


def test_submodules_are_reached_as_attributes_as_before() -> None:
    """``sim.io.dumps`` worked when ``import sim`` imported everything; it still does, importing ``sim.io``."""
    mods = _loaded("import sim\nassert '\"a\": 1' in sim.io.dumps({'a': 1})")
    assert "sim.io" in mods


def test_star_import_gives_every_public_name() -> None:
    ns: dict[str, object] = {}
    exec("from sim import *", ns)  # noqa: S102 - the statement under test
    assert set(sim.__all__) <= set(ns)
