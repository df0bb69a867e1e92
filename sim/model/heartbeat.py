"""When a client next checks in, computed for many clients at once without walking every heartbeat.

Rules (docs/model.md, "Heartbeat"): on coming online a client checks in at once (after a short delay,
fact 9), then every heartbeat interval while online; an interval is U(h(1-j), h(1+j)) (jitter j, fact 10).
A client that came online before the start (its working window opened, an absence ended) checked in then and
every interval since; only one online since ever (always on, no absence) is at a uniformly random point of its
cycle (its forward-recurrence time). Jitter needs memory of phase: we keep each client's last known check-in
and step through jittered intervals when the target is near (fewer than ``STEP_LIMIT`` intervals); farther
away the next check-in is drawn from the forward-recurrence (equilibrium) distribution, which a renewal process
reaches after a few intervals (measured error in ../shared/docs/performance-notes.md; tested in
tests/model/test_heartbeat.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sim.model import kernels
from sim.model.fleet import Fleet
from sim.model.presence import FAR
from sim.model.streams import ClientStreams

Draw = Callable[[np.ndarray], np.ndarray]  # client indices -> one uniform each, from that client's stream


STEP_LIMIT = 40


EPS = 1e-9  # hours: "strictly after" a check-in


def forward_recurrence(u: np.ndarray, h: np.ndarray, jitter: float) -> np.ndarray:
    """Inverse CDF of the time to the next renewal seen from a random moment, intervals U(a, b)."""
    if jitter <= 0:
        return u * h
    a, b = h * (1 - jitter), h * (1 + jitter)
    mu = h
    x = u * mu
    lin = x < a
    inner = np.maximum((b - a) ** 2 - 2 * (b - a) * (x - a), 0.0)
    return np.where(lin, x, b - np.sqrt(inner))


def first_checkin(
    fleet: Fleet,
    idx: np.ndarray,
    t: np.ndarray,
    last: np.ndarray,
    h: np.ndarray,
    draw: Draw,
) -> np.ndarray:
    """First check-in at or after ``t`` of clients ``idx``, given their last known check-in ``last`` (NaN if
    none) and heartbeat ``h`` in hours. +inf when the client is never online again."""
    out = np.full(len(idx), np.inf)
    pres = fleet.presence
    s, e = pres.next_spell(idx, t)
    live = np.isfinite(s)
    # offline at t: the check-in on coming online
    off = live & (s > t)
    out[off] = s[off] + fleet.online_delay(idx[off], s[off])
    on = np.flatnonzero(live & ~off)
    if len(on) == 0:
        return out
    s_on, e_on, t_on, h_on = s[on], e[on], t[on], h[on]
    ci = idx[on]
    # anchor: the last check-in in this spell, else the spell's first check-in: on coming online, also when
    # that was before the start (a working window that opened at 08:00, an absence that ended last night);
    # only a client online since ever has no known first check-in and is at a random point of its cycle
    anchor = last[on].copy()
    fresh = ~(anchor >= s_on)  # NaN or from an earlier spell
    since_ever = fresh & (s_on <= -FAR / 2)
    came_online = fresh & ~since_ever
    anchor[came_online] = s_on[came_online] + fleet.online_delay(ci[came_online], s_on[came_online])
    anchor[since_ever] = forward_recurrence(fleet.phase_u[ci[since_ever]], h_on[since_ever], fleet.jitter)
    # anchors at or after t are the answer; anchors before t were not the start of a new cycle for
    # clients online since before the start, except when they fall after t
    nxt = np.where(anchor >= t_on, anchor, _step(ci, anchor, t_on, h_on, fleet.jitter, draw))
    inside = nxt < e_on
    res = np.where(inside, nxt, np.inf)
    # the spell ends before the next heartbeat: the check-in on coming online next time
    out_idx = np.flatnonzero(~inside)
    if len(out_idx):
        s2, _ = pres.next_spell(ci[out_idx], e_on[out_idx])
        ok = np.isfinite(s2)
        r = np.full(len(out_idx), np.inf)
        r[ok] = s2[ok] + fleet.online_delay(ci[out_idx][ok], s2[ok])
        res[out_idx] = r
    out[on] = res
    return out


def _step(
    clients: np.ndarray, anchor: np.ndarray, t: np.ndarray, h: np.ndarray, jitter: float, draw: Draw
) -> np.ndarray:
    """First anchor + sum of intervals that is >= t, for clients whose anchor is before t."""
    if jitter <= 0:
        n = np.ceil((t - anchor) / h - 1e-12)
        return anchor + np.maximum(n, 1) * h
    res = anchor.copy()
    far = (t - anchor) / h > STEP_LIMIT
    res[far] = t[far] + forward_recurrence(draw(clients[far]), h[far], jitter)
    todo = np.flatnonzero(~far & (res < t))
    streams = getattr(draw, "__self__", None)  # the compiled walk draws from the very same per-client streams
    kern = kernels.use_kernel(len(todo)) if isinstance(streams, ClientStreams) else None
    if kern is not None and streams is not None and getattr(draw, "__func__", None) is ClientStreams.uniform:
        part = res[todo]
        kern["jitter_steps"](clients[todo], part, t[todo], h[todo], float(jitter), streams.base, streams.counter)
        res[todo] = part
        return res
    while len(todo):
        hh = h[todo]
        res[todo] += hh * (1 - jitter) + 2 * jitter * hh * draw(clients[todo])
        todo = todo[res[todo] < t[todo]]
    return res
