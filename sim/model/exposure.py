"""How long a rotation leaves the fleet exposed, beside the orphans it makes (docs/model.md, "Exposure").

Two exposures, each the price of a way of not orphaning clients:

- **relaxed**: under the single-server procedure, from the moment both gates are open for the reached groups
  (an HTTP list and secure communications off, KB 187099 steps 1 to 7) until the first step that closes one
  again (secure communications on, or the list back to HTTPS or its original protocol). A client that checked
  in during that window holds the relaxed policy: it talks to any manager on its list unauthenticated over
  HTTP until it learns the closing step. ``share_relaxed`` is the share of the clients (not gone) that checked
  in within the window: the clients exposed.
- **old certificate**: from the first certificate update until no manager the runbook updates or retires still
  presents the certificate it had at the start (the retention of kb-multi-server: the KB's "30 days or more").
  The certificate being replaced is still in service that long.

Both run to the horizon when the closing step never comes within it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.model.world import StepRecord, World
from sim.scenario.runbook import MslProtocol, SecureComms

OPENING = {("msl-protocol", "http"), ("secure-comms", "False")}


def exposure(world: World, first_contact: np.ndarray, gone: np.ndarray, horizon: float) -> dict[str, Any]:
    """``exposure`` of the summary: relaxed hours and share exposed, old-certificate hours."""
    relaxed = _relaxed_window(world, horizon)
    share = 0.0
    hours = 0.0
    if relaxed is not None:
        t0, t1 = relaxed
        hours = t1 - t0
        live = ~gone
        if live.any():
            share = float(np.mean(first_contact[live] < t1))
    return {
        "relaxed_hours": round(hours, 6),
        "share_relaxed": round(share, 6),
        "old_certificate_hours": round(_old_certificate_hours(world, horizon), 6),
    }


def _setting(world: World, r: StepRecord) -> tuple[str, str] | None:
    """(kind, value) of a policy step that ran: which gate it opens or closes."""
    st = world.steps[r.index]
    if isinstance(st, MslProtocol):
        return "msl-protocol", st.protocol
    if isinstance(st, SecureComms):
        return "secure-comms", str(st.enabled)
    return None


def _relaxed_window(world: World, horizon: float) -> tuple[float, float] | None:
    """(both gates open, the first closing step after that), hours; None when the runbook never opens both."""
    opened: set[tuple[str, str]] = set()
    start: float | None = None
    for r in world.step_records:
        kv = _setting(world, r)
        if kv is None:
            continue
        if kv in OPENING:
            opened.add(kv)
            if start is None and opened == OPENING:
                start = r.end_hours
        elif start is not None:
            return start, min(r.end_hours, horizon)
        else:
            opened = {o for o in opened if o[0] != kv[0]}
    return None if start is None else (start, horizon)


def _old_certificate_hours(world: World, horizon: float) -> float:
    """From the first update until every manager the runbook changes no longer presents its first certificate."""
    first = world.first_cert_update
    if first is None:
        return 0.0
    changed = np.flatnonzero((world.final_cert > 0) | world.final_retired)
    if len(changed) == 0:  # every update restored: the old certificates are back for good
        return horizon - first
    ends = [world.first_change.get(int(m), horizon) for m in changed]
    return min(max(ends), horizon) - first
