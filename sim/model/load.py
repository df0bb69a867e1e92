"""Check-in load on each manager over time, and what an overloaded manager does to it.

Computed without one event per heartbeat: a client offers 1/h check-ins per hour to the manager it uses
while it is online, plus one check-in each time it comes online (fact 8). The engine logs when a client's
manager or heartbeat changes (``Assignments``); presence spells come from ``Presence.next_spell``. Summing
rate x overlap over spells and assignment segments, binned exactly, gives the offered check-ins per bin.

Overload (an assumption, docs/model.md): ``fluid``: the share of check-ins beyond capacity times out;
``erlang-b``: each manager is a loss system with c = capacity x session_seconds sessions, and a check-in that
finds every session busy times out (Erlang B blocking with the offered load, Poisson check-ins). A timed-out
check-in fails; the client tries again at its next heartbeat (fact 11).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.model.fleet import Fleet
from sim.scenario.fields import LoadSpec


def erlang_b(offered: np.ndarray, servers: int) -> np.ndarray:
    """Blocking probability of an M/G/c/c loss system with offered load ``offered`` erlangs (recursion)."""
    a = np.asarray(offered, dtype=float)
    b = np.ones_like(a)
    for k in range(1, servers + 1):
        b = a * b / (k + a * b)
    return b


def fail_probability(offered_per_second: np.ndarray, capacity: np.ndarray, spec: LoadSpec) -> np.ndarray:
    """(manager, bin) -> probability that a check-in times out."""
    cap = capacity[:, None]
    if spec.overload == "fluid":
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(offered_per_second > cap, 1.0 - cap / offered_per_second, 0.0)
        return p
    out = np.empty_like(offered_per_second)
    for m in range(len(capacity)):
        c = max(1, int(round(capacity[m] * spec.session_seconds)))
        out[m] = erlang_b(offered_per_second[m] * spec.session_seconds, c)
    return out


def online_spells(fleet: Fleet, idx: np.ndarray, horizon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every online spell of clients ``idx`` within [0, horizon): (client, start, end), start < 0 clipped."""
    cs, ss, es = [], [], []
    cur_idx = idx.copy()
    t = np.zeros(len(idx))
    while len(cur_idx):
        s, e = fleet.presence.next_spell(cur_idx, t)
        keep = s < horizon
        cur_idx, s, e = cur_idx[keep], s[keep], e[keep]
        cs.append(cur_idx)
        ss.append(s)
        es.append(np.minimum(e, horizon))
        more = e < horizon
        cur_idx, t = cur_idx[more], e[more]
    return np.concatenate(cs), np.concatenate(ss), np.concatenate(es)


def offered_checkins(
    fleet: Fleet,
    asg: Assignments,
    n_managers: int,
    horizon: float,
    bin_hours: float,
    sample: np.ndarray | None = None,
    timeouts: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(manager, bin) -> check-ins offered in that bin (scaled up when computed from a sample of clients).

    A check-in that starts a train (coming online, a switch to another manager) is a point at its time on the
    manager it goes to; the regular heartbeats after it are a rate of 1/h from half an interval later, and the
    old manager's rate stops half an interval before the switch: on average this is the count of a heartbeat
    grid laid from that check-in. A new heartbeat on the same manager changes the rate at its check-in.
    ``timeouts`` (client, time, manager) moves a timed-out check-in
    the engine played from the client's own manager to the one that timed it out.
    """
    bins = int(math.ceil(horizon / bin_hours))
    idx = np.arange(fleet.n) if sample is None else np.sort(sample)
    idx = idx[~fleet.presence.gone[idx]]
    scale = 1.0 if sample is None else fleet.n / max(len(sample), 1)
    out = np.zeros((n_managers, bins))
    if len(idx) == 0:
        return out
    c, s, e = online_spells(fleet, idx, horizon)
    order = np.argsort(c, kind="stable")  # per client, spells stay in time order
    c, s, e = c[order], s[order], e[order]
    # assignment segments of the same clients: [t_k, t_{k+1}) with manager m_k at rate 1/h_k
    keep = np.isin(asg.client, idx)
    ac, at, am, ah = asg.client[keep], asg.time[keep], asg.manager[keep], asg.heartbeat_hours[keep]
    nxt = np.append(at[1:], np.inf)
    last = np.append(ac[1:] != ac[:-1], True)
    seg_end = np.where(last, np.inf, nxt)
    slack = 2.0 * fleet.delay_mean_hours + 1e-9  # a coming-online check-in lands this long after the spell start
    # which assignment changes are the check-in on coming online (already a point at the spell start)
    spell_key = c * 65536.0 + np.maximum(s, -1.0)
    row_key = ac * 65536.0 + at
    k = np.searchsorted(spell_key, row_key, side="right") - 1
    kk = np.maximum(k, 0)
    on_coming = (k >= 0) & (c[kk] == ac) & (s[kk] >= 0) & (at - s[kk] <= slack)
    # a new manager starts a new train; a new heartbeat on the same manager only changes the rate at that
    # check-in (old rate up to it, new rate from it: one check-in either way)
    first_row = np.append(True, ac[1:] != ac[:-1])
    moved = ~first_row & (am != np.append(-1, am[:-1]))
    moves_next = np.append(moved[1:], False)
    switch_point = (at > 0) & moved & ~on_coming
    # pair every spell with every segment of its client (few segments per client)
    first_seg = np.searchsorted(ac, c, side="left")
    n_seg = np.searchsorted(ac, c, side="right") - first_seg
    rep = np.repeat(np.arange(len(c)), n_seg)
    seg = first_seg[rep] + (np.arange(len(rep)) - np.repeat(np.cumsum(n_seg) - n_seg, n_seg))
    h = ah[seg]
    a = np.maximum(np.maximum(s[rep], 0.0), at[seg])
    b = np.minimum(e[rep], seg_end[seg])
    starts_at_checkin = ((a == s[rep]) & (s[rep] >= 0)) | ((a == at[seg]) & (at[seg] > 0) & moved[seg])
    ends_at_switch = (b == seg_end[seg]) & (b < e[rep]) & moves_next[seg]
    a = a + np.where(starts_at_checkin, h / 2, 0.0)
    b = b - np.where(ends_at_switch, h / 2, 0.0)
    ok = b > a
    out += _binned_rates(a[ok], b[ok], am[seg[ok]], 1.0 / h[ok], n_managers, bins, bin_hours)

    def bin_of(t: np.ndarray) -> np.ndarray:
        return np.clip((t / bin_hours).astype(np.int64), 0, bins - 1)

    # points: the check-in on coming online, at the manager it went to; the check-ins that switched
    came = s >= 0
    cs_, st = c[came], s[came]
    np.add.at(out, (am[_assignment_at(ac, at, cs_, st + slack)], bin_of(st)), 1.0)
    sw = switch_point & (at < horizon)
    np.add.at(out, (am[sw], bin_of(at[sw])), 1.0)
    if timeouts is not None and len(timeouts[0]):
        tc, tt, tm = timeouts
        inside = np.isin(tc, idx) & (tt < horizon)
        tc, tt, tm = tc[inside], tt[inside], tm[inside]
        np.add.at(out, (tm, bin_of(tt)), 1.0)
        np.add.at(out, (am[_assignment_at(ac, at, tc, tt)], bin_of(tt)), -1.0)
        np.maximum(out, 0.0, out=out)
    return out * scale


def _binned_rates(
    a: np.ndarray, b: np.ndarray, m: np.ndarray, rate: np.ndarray, n_managers: int, bins: int, bin_hours: float
) -> np.ndarray:
    """(manager, bin) -> the integral of each rate over [a, b) within the bin, exactly: the integral
    G(t) = sum r * (clip(t, a, b) - a) taken at the bin edges."""
    out = np.zeros((n_managers, bins))
    edges = np.arange(bins + 1) * bin_hours
    for lo, sign in ((a, 1.0), (b, -1.0)):
        j = np.searchsorted(edges, lo, side="left")
        slope = np.zeros((n_managers, bins + 2))
        inter = np.zeros((n_managers, bins + 2))
        np.add.at(slope, (m, j), sign * rate)
        np.add.at(inter, (m, j), sign * rate * lo)
        g = edges * np.cumsum(slope, axis=1)[:, : bins + 1] - np.cumsum(inter, axis=1)[:, : bins + 1]
        out += np.diff(g, axis=1)
    return out


def _assignment_at(ac: np.ndarray, at: np.ndarray, clients: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Row of each client's assignment in force at time t (rows sorted by client, then time)."""
    lo, hi = np.searchsorted(ac, clients, side="left"), np.searchsorted(ac, clients, side="right")
    pos = lo.copy()
    for k in range(1, int((hi - lo).max(initial=1))):
        step = (lo + k < hi) & (at[np.minimum(lo + k, len(at) - 1)] <= t)
        pos[step] = lo[step] + k
    return pos


def load_table(
    offered: np.ndarray, capacity: np.ndarray, fail: np.ndarray, bin_hours: float, manager_names: list[str]
) -> pd.DataFrame:
    """Tidy: one row per manager and bin."""
    m, bins = offered.shape
    per_s = offered / (bin_hours * 3600.0)
    return pd.DataFrame(
        {
            "time_hours": np.tile(np.arange(bins) * bin_hours, m),
            "manager": np.repeat(np.array(manager_names, dtype=object), bins),
            "offered_per_second": per_s.ravel(),
            "capacity_per_second": np.repeat(capacity, bins),
            "fail_probability": fail.ravel(),
            "failed_per_second": (per_s * fail).ravel(),
        }
    )


def load_summary(table: pd.DataFrame, bin_hours: float) -> list[dict[str, float | str]]:
    """Per manager: peak load, hours over capacity, failed check-ins."""
    out: list[dict[str, float | str]] = []
    for name, g in table.groupby("manager", sort=False):
        over = g["offered_per_second"] > g["capacity_per_second"]
        out.append(
            {
                "manager": str(name),
                "capacity_per_second": float(g["capacity_per_second"].iloc[0]),
                "peak_offered_per_second": float(g["offered_per_second"].max()),
                "peak_at_hours": float(g["time_hours"].to_numpy()[int(np.argmax(g["offered_per_second"].to_numpy()))]),
                "hours_over_capacity": float(over.sum() * bin_hours),
                "failed_checkins": float((g["failed_per_second"] * bin_hours * 3600.0).sum()),
            }
        )
    return out


@dataclass
class LoadOutcome:
    """The load table of a run with capacity modelled, and what the run without overload looked like."""

    table: pd.DataFrame
    bin_hours: float
    learnt_without_overload: np.ndarray  # first time each client held a new certificate, no overload
    learnt_with_overload: np.ndarray
    timeouts_played: int
    sampled: bool


@dataclass
class Assignments:
    """Which manager each client uses, and at what heartbeat, from when: one row per change (t=0 rows first)."""

    client: np.ndarray
    time: np.ndarray
    manager: np.ndarray
    heartbeat_hours: np.ndarray

    @classmethod
    def build(cls, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> Assignments:
        c, t, m, h = (np.concatenate([p[i] for p in parts]) for i in range(4))
        order = np.lexsort((t, c))
        return cls(c[order], t[order], m[order], h[order])
