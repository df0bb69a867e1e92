"""Which setting a runbook's timing question is about (the planning axis) and its default grid."""

from __future__ import annotations

import math

import numpy as np

from sim.scenario.document import Scenario
from sim.scenario.runbook import KbMultiServer, KbSingleServer


def plan_axis(sc: Scenario) -> tuple[str, str] | None:
    """(parameter, unit) the timing question is about, for the scenario's runbook."""
    if isinstance(sc.runbook, KbMultiServer):
        return "retention_days", "days"
    if isinstance(sc.runbook, KbSingleServer):
        return "wait_hours", "hours"
    return None


def default_grid(sc: Scenario) -> np.ndarray:
    if isinstance(sc.runbook, KbMultiServer):
        return np.arange(0.0, math.floor(sc.horizon_days) + 1.0, 1.0)
    hours = [0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 72, 96, 120, 144, 168, 240, 336, 504, 720]
    return np.array([h for h in hours if h <= sc.horizon_days * 24.0], dtype=float)
