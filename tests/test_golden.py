"""Golden outputs: the summary of one replication and the plan of every shipped scenario, pinned byte for byte.

Why: they are the safety net for any change that should not change behaviour (moving modules, renaming,
speeding up an engine). A change that *should* change a number updates them on purpose, in its own commit,
with the reason in the message:

    ROTASIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

then ``git diff tests/golden`` shows exactly what moved. Floats are written with 9 significant digits so
that the last bits of a libm call cannot make a golden file flaky; everything else is exact.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

import sim

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
SEED = 11
PLAN_REPLICATIONS = 6
UPDATE = os.environ.get("ROTASIM_UPDATE_GOLDEN", "") not in ("", "0")


def _canon(v: Any) -> Any:
    if isinstance(v, float):
        return v if not math.isfinite(v) else float(f"{v:.9g}")
    if isinstance(v, dict):
        return {str(k): _canon(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_canon(x) for x in v]
    return v


def _text(obj: Any) -> str:
    return json.dumps(_canon(json.loads(sim.io.dumps(obj))), indent=1, sort_keys=True, allow_nan=False) + "\n"


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path.name}: run with ROTASIM_UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{path.name} differs from the golden output (see tests/test_golden.py to update)"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_summary_is_golden(path: Path) -> None:
    sc = sim.load_scenario(path)
    _check(f"{path.stem}.summary.json", _text(sim.simulate(sc, seed=SEED).summary()))


PLANNED = [p for p in SHIPPED if str(getattr(sim.load_scenario(p).runbook, "template", "")).startswith("kb-")]


@pytest.mark.parametrize("path", PLANNED, ids=lambda p: p.stem)
def test_plan_is_golden(path: Path) -> None:
    sc = sim.load_scenario(path)
    reps = sim.replicate(sc, n=PLAN_REPLICATIONS, seed=SEED, workers=1, progress=False)
    _check(f"{path.stem}.plan.json", _text(sim.plan(reps, max_orphans=3).to_json()))
