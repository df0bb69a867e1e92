"""Progress of one long replication (the reference engine) on a terminal: shown only when asked, and the
answer is the same with it as without it."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim
from sim.experiments.options import RunOptions
from sim.experiments.progress import progress_line

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "three-manager-failover.yaml"


def test_progress_line_estimates_the_rest_at_the_pace_so_far() -> None:
    line = progress_line("reference engine", 30 * 24, 120 * 24, 20.0)
    assert line == "reference engine: day 30 of 120 simulated (25%), 20 s elapsed, about 1 min 00 s left"


def test_reference_progress_is_shown_when_asked_and_changes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    sc = sim.load_scenario(SHIPPED)
    common = {"seed": 3, "clients": 60, "horizon_days": 35, "engine": "reference"}
    quiet = sim.simulate(sc, options=RunOptions(**common))  # type: ignore[arg-type]
    assert capsys.readouterr().err == ""
    shown = sim.simulate(sc, options=RunOptions(**common, progress=True))  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert "reference engine, 60 clients, simulating: day " in err and "left" in err
    assert shown.clients.equals(quiet.clients) and shown.events.equals(quiet.events)
