"""When each client first checks in after the procedure's window opens: the one number per client from
which orphans at any other retention or wait follow (``sim.planning``).

The window opens when the last policy relaxation before the first certificate update lands (HTTP list,
secure communications off: kb-single-server), or at the first certificate update (kb-multi-server, naive).
A client that checks in between the opening and the change that would orphan it is saved; one that does
not is not, whatever else happens (causes that no wait cures, such as a 14.2 version or a missed group,
are counted apart).
"""

from __future__ import annotations

import numpy as np

from sim.model.fleet import Fleet
from sim.model.heartbeat import Draw, first_checkin
from sim.model.topology import Topology
from sim.model.world import StepRecord

RELAXING = ("msl-protocol", "secure-comms")


def procedure_window(records: list[StepRecord]) -> tuple[float | None, float | None]:
    """(window opens, first certificate update lands), hours; None where the runbook has no update."""
    first_update = next((r.end_hours for r in records if r.kind == "update-certificate"), None)
    if first_update is None:
        return None, None
    relax = [r.end_hours for r in records if r.kind in RELAXING and r.end_hours <= first_update]
    return (max(relax) if relax else first_update), first_update


def first_contact(fleet: Fleet, topo: Topology, t: float, draw: Draw) -> np.ndarray:
    """First check-in at or after ``t`` of every client, with the heartbeat its group had at the start."""
    idx = np.arange(fleet.n)
    h = topo.init_heartbeat[fleet.group] / 60.0
    h = np.where(np.isnan(fleet.heartbeat_override), h, fleet.heartbeat_override)
    return first_checkin(fleet, idx, np.full(fleet.n, t), np.full(fleet.n, np.nan), h, draw)
