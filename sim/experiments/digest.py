"""What one replication sends back to whoever runs many: its summary and the per-client numbers the
timing curves need (never its whole per-client tables)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.experiments.result import Result
from sim.experiments.simulate import Engine, simulate
from sim.scenario.document import Scenario
from sim.scenario.runbook import KbMultiServer, KbSingleServer

BLOCKING = ("unsupported-version", "missed-group", "no-failover-target")


@dataclass
class Digest:
    """What one replication sends back: its summary and the per-client numbers the curves need."""

    replication: int
    summary: dict[str, Any]
    blocked_by_cause: dict[str, int]
    need: np.ndarray  # per saveable client: the retention (days) or wait (hours) it needs; inf: none suffices
    live: int  # clients not gone
    floor: float = 0.0  # a shorter retention acts as this one: the rotations before it take that long
    setting: float | None = None  # the run's own retention (days) or wait (hours)
    result: Result | None = None


def _need(sc: Scenario, r: Result) -> tuple[np.ndarray, float | None, float]:
    """Per client, the smallest retention/wait that saves it, the run's own setting, and the floor below which
    a shorter setting changes nothing (the retained manager cannot change before the others are done)."""
    contact = r.clients["first_contact_hours"].to_numpy(dtype=float)
    contact = np.where(np.isnan(contact), np.inf, contact)
    rb = sc.runbook
    if r.first_update_hours is None or r.window_start_hours is None:
        return np.full(len(contact), np.inf), None, 0.0
    if isinstance(rb, KbMultiServer):
        op = rb.operator_minutes / 60.0 if rb.retention_end == "update" else 0.0
        retain = r.steps[r.steps["name"].str.startswith("retain-")]["start_hours"]
        floor = (float(retain.iloc[0]) - r.first_update_hours) / 24.0 if len(retain) else 0.0
        return (contact - r.first_update_hours - op) / 24.0, rb.retention_days, floor
    if isinstance(rb, KbSingleServer):
        op = rb.operator_minutes / 60.0
        need = contact - r.window_start_hours - op
        return need, r.first_update_hours - op - r.window_start_hours, 0.0
    return np.full(len(contact), np.inf), None, 0.0


def _digest(
    sc: Scenario, seed: int, k: int, engine: Engine, clients: int | None, horizon_days: float | None, keep: bool
) -> Digest:
    r = simulate(sc, seed, engine=engine, replication=k, clients=clients, horizon_days=horizon_days)
    c = r.clients
    live = (c["outcome"] != "gone").to_numpy()
    orph = (c["outcome"] == "orphaned").to_numpy()
    need, x_run, floor = _need(sc, r)
    blocking = orph & c["cause"].isin(BLOCKING).to_numpy()
    if x_run is not None:
        # orphaned although in contact in time (a manager down, a stale site): no wait would have helped
        blocking |= orph & (need < max(x_run, floor))
    blocked = c.loc[blocking, "cause"].value_counts()
    saveable = live & ~blocking
    return Digest(
        replication=k,
        summary=r.summary(),
        blocked_by_cause={str(a): int(b) for a, b in blocked.items()},
        need=np.sort(need[saveable]).astype(np.float64),
        live=int(live.sum()),
        result=r if keep else None,
        floor=floor,
        setting=x_run,
    )
