"""Pieces both engines read the world through, so that they differ only in how they walk time."""

from __future__ import annotations

import numpy as np

from sim.model.fleet import Fleet
from sim.model.topology import Topology
from sim.model.trust import StateTable, WorldStatus
from sim.model.world import World


def world_status(world: World) -> WorldStatus:
    return WorldStatus(cert=world.cert_actual, unreachable=world.down | world.retired, retired=world.retired.copy())


def view_states(world: World, table: StateTable) -> np.ndarray:
    """(site, group) -> the state a client of that group learns from a manager of that site now."""
    topo = world.topo
    out = np.empty((len(world.views), topo.n_groups), np.int64)
    for s, v in enumerate(world.views):
        for g in range(topo.n_groups):
            out[s, g] = table.intern(int(v.msl[g]), bool(v.secure[g]), float(v.heartbeat[g]), v.cert)
    return out


def initial_last_used(fleet: Fleet, topo: Topology) -> np.ndarray:
    """The top-tier server each client used before the start: uniform within the tier (fact 13)."""
    lu = np.empty(fleet.n, np.int64)
    msl = topo.init_msl[fleet.group]
    for v in np.unique(msl):
        sel = np.flatnonzero(msl == v)
        top = np.array([m for m, _ in topo.variants[int(v)].tiers[0]], np.int64)
        lu[sel] = top[np.minimum((fleet.choice_u[sel] * len(top)).astype(np.int64), len(top) - 1)]
    return lu


def heartbeat_hours(
    fleet: Fleet, state_heartbeat_minutes: np.ndarray, state: np.ndarray, idx: np.ndarray
) -> np.ndarray:
    """A client's heartbeat: its own override (clients.csv) or its group's policy as it last learnt it."""
    h = state_heartbeat_minutes[state[idx]] / 60.0
    ov = fleet.heartbeat_override[idx]
    return np.where(np.isnan(ov), h, ov)
