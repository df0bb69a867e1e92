"""The runbook as the world replays it during tracking: the steps done at their logged times, the rest as
planned, nothing landing before now; and the sites' databases as they were at any moment of it.

Rules (docs/model.md, "Tracking a rotation"):
- a done step lands at its logged time (its hands-on time is in the log: it is replayed with none);
- a wait between done steps is dropped: the log says when the next step was done;
- the steps not yet done follow from now (the newest export): the wait right after the last done step is
  shortened by the time already passed since that step, a wait anchored to a done step (``after_step``, the
  retention) keeps its anchor, and no step lands before now.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import simpy

from sim.model.topology import Topology
from sim.model.world import World
from sim.scenario.runbook import Step, Wait, step_name
from sim.tracking.log import RotationLog


def replay_steps(steps: list[Step], log: RotationLog, now: float, topo: Topology) -> list[Step]:
    """The world's steps: the log's done steps at their times, then the remaining plan resumed at ``now``."""
    done = {d.index: d for d in log.done}
    last = log.done[-1].index if log.done else -1
    out: list[Step] = []
    prev = 0.0
    remaining: list[Step] = []
    for i, st in enumerate(steps):
        name = step_name(st, i)
        if i in done:
            out.append(Wait(kind="wait", name=f"logged: {name}", hours=max(0.0, done[i].done_at - prev)))
            out.append(st.model_copy(update={"name": name, "operator_minutes": 0.0}))
            prev = done[i].done_at
        elif i > last:
            remaining.append(st.model_copy(update={"name": name}))
    passed = max(0.0, now - prev)
    if remaining and isinstance(remaining[0], Wait) and remaining[0].after_step is None:
        first = remaining[0]
        planned = first.hours if first.hours is not None else _heartbeats_hours(first, topo)
        remaining[0] = Wait(kind="wait", name=first.name, hours=max(0.0, planned - passed))
    if passed > 0 and remaining:
        out.append(Wait(kind="wait", name="now (newest export)", hours=passed))
    return out + remaining


def _heartbeats_hours(w: Wait, topo: Topology) -> float:
    assert w.heartbeats is not None
    groups = None if w.groups == "all" else [topo.group_index(g) for g in w.groups]
    return w.heartbeats * topo.slowest_heartbeat_hours(topo.init_heartbeat, groups)


def without(steps: list[Step], name: str) -> list[Step]:
    """The steps up to (not including) the step named ``name``: the planning probe's world never lands it."""
    k = next(i for i, s in enumerate(steps) if s.name == name)
    return steps[:k]


@dataclass
class ViewHistory:
    """What every site's database said, after each change: ``times[k]`` and per site (msl, secure, heartbeat
    per group; certificate per manager) from then on."""

    times: np.ndarray
    msl: np.ndarray  # (changes, sites, groups)
    secure: np.ndarray
    heartbeat: np.ndarray
    cert: np.ndarray  # (changes, sites, managers)
    world: World

    def at(self, t: np.ndarray) -> np.ndarray:
        """Index of the views in force at each time (a change at t is seen by a check-in at t)."""
        return np.searchsorted(self.times, t, side="right") - 1


class _Recorder:
    def __init__(self, world: World):
        self.world = world
        self.rows: list[tuple[float, list[np.ndarray]]] = []
        self.record(0.0)

    def record(self, t: float) -> None:
        vs = self.world.views
        arrays = [np.stack([getattr(v, f) for v in vs]) for f in ("msl", "secure", "heartbeat", "cert")]
        arrays = [a.copy() for a in arrays]
        if self.rows and self.rows[-1][0] == t:
            self.rows[-1] = (t, arrays)
        else:
            self.rows.append((t, arrays))

    def before_change(self, t: float) -> None:
        pass

    def after_change(self, t: float) -> None:
        self.record(t)


def view_history(topo: Topology, steps: list[Step], replication_hours: float, until: float) -> ViewHistory:
    """Replay the world alone (no fleet) to ``until`` and keep its sites' views after every change."""
    world = World(simpy.Environment(), topo, steps, replication_hours)
    rec = _Recorder(world)
    world.listeners.append(rec)
    world.start()
    world.env.run(until=until + 1e-9)
    times = np.array([t for t, _ in rec.rows])
    msl, secure, hb, cert = (np.stack([r[1][k] for r in rec.rows]) for k in range(4))
    return ViewHistory(times, msl, secure, hb, cert, world)
