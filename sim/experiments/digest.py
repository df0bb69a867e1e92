"""What one replication sends back to whoever runs many: its summary and the per-client numbers the
timing curves need (never its whole per-client tables)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.experiments.result import Result
from sim.experiments.simulate import Engine, simulate
from sim.runbooks import template_for
from sim.scenario.document import Scenario

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
    tpl = template_for(sc.runbook)
    landing = tpl.landing(r.steps, [m.name for m in sc.managers])
    if r.first_update_hours is None or r.window_start_hours is None or landing is None:
        return np.full(len(contact), np.inf), None, 0.0
    need = (contact - landing.offset - landing.anchor) / landing.scale
    floor = float(landing.setting(landing.floor + landing.offset))
    return need, tpl.setting(r.steps), floor


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
