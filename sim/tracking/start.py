"""From an observed state to what the engines start from: the initial state, and a fleet whose presence from
now on is conditioned on what the exports show.

Rules (docs/model.md, "Tracking a rotation"):
- **Away or not.** A client whose last check-in is older than ``away_grace_hours`` (the longest offline gap
  of the presence model's weekly patterns, its start spread and two of the slowest heartbeats) is away; the
  others follow a weekly pattern drawn from the model, with no absence covering now.
- **When an away client returns.** Its absence began at its last check-in and has lasted its age ``a``: its
  return is drawn from the leave duration *conditioned on lasting more than a* (the residual life at age a,
  inverse CDF between F(a) and 1), capped at ``leave.max_days``; not a fresh draw.
- **Gone.** It is never coming back (decommissioned) with probability
  ``g / (g + (1 - g) r E[(D - a)+])`` (``g``: ``gone_share``; ``r``: leave spells per hour; ``E[(D - a)+]``:
  the expected leave time beyond age a): the chance of being away at least ``a`` on leave against gone (A).
  Away longer than the longest spell, or with no leave in the model: gone.
- Future leave: spells drawn by the model that start after now; none that started before (the exports show
  where each client was).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.engines.initial import InitialState
from sim.model.fleet import Fleet
from sim.model.presence import FAR, WEEK, Presence, WeeklyWindows, generate_presence, pack_absences
from sim.model.streams import keys_from_ids, splitmix64, to_unit
from sim.model.topology import Topology
from sim.model.versions import warn_unmatched
from sim.scenario.document import Scenario
from sim.scenario.fields import (
    AwayAtStartSpec,
    Distribution,
    Exponential,
    Fixed,
    LeaveSpec,
    LogNormal,
    Pareto,
    PresenceSpec,
    Uniform,
)
from sim.tracking.observed import Observed


def pattern_tail_hours(spec: PresenceSpec, age_hours: np.ndarray) -> np.ndarray:
    """Q(a): the chance that a random client at a random moment is in an offline gap of its weekly pattern
    (a night, a weekend) that began at least ``a`` hours ago: sum over patterns and gaps G of
    share * (G - a)+ / week."""
    out = np.zeros(len(age_hours))
    total = sum(p.share for p in spec.patterns) or 1.0
    for p in spec.patterns:
        if p.share <= 0 or p.schedule == "always":
            continue
        w = WeeklyWindows.from_days(list(p.days), p.start_hour, p.end_hour)
        gaps = np.append(w.a[1:] - w.b[:-1], w.a[0] + WEEK - w.b[-1])
        gaps = gaps[gaps > 0] + min(6.0, 3.0 * p.start_spread_hours)  # a personal start later than the pattern's
        out += p.share / total * np.maximum(gaps[None, :] - age_hours[:, None], 0.0).sum(axis=1) / WEEK
    return out


def _frozen(dist: Distribution) -> Any:
    from scipy import stats  # only here: import sim stays free of scipy

    if isinstance(dist, Exponential):
        return stats.expon(scale=dist.mean)
    if isinstance(dist, LogNormal):
        return stats.lognorm(s=dist.sigma, scale=dist.median)
    if isinstance(dist, Pareto):
        return stats.pareto(b=dist.alpha, scale=dist.minimum)
    if isinstance(dist, Uniform):
        return stats.uniform(loc=dist.low, scale=max(dist.high - dist.low, 1e-12))
    raise TypeError(type(dist).__name__)


def residual_days(leave: LeaveSpec, age_days: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Total spell length (days) of spells that have lasted ``age_days``, by inverse CDF above F(age); inf where
    the model has no spell that long."""
    dist = leave.duration_days
    out = np.full(len(age_days), np.inf)
    ok = age_days < leave.max_days
    if isinstance(dist, Fixed):
        ok &= age_days < dist.value
        out[ok] = min(dist.value, leave.max_days)
        return out
    f = _frozen(dist)
    lo = f.cdf(age_days[ok])
    d = f.ppf(lo + u[ok] * (1.0 - lo))
    d = np.where(np.isfinite(d), d, leave.max_days)
    out[ok] = np.minimum(np.maximum(d, age_days[ok]), leave.max_days)
    return out


def leave_tail_hours(spec: PresenceSpec, age_hours: np.ndarray) -> np.ndarray:
    """L(a): the chance that a random client at a random moment is on a leave spell that began at least ``a``
    hours ago: spells per hour times E[(D - a)+] (a stationary renewal process); 0 beyond the longest spell."""
    lv = spec.leave
    if lv.rate_per_year <= 0:
        return np.zeros(len(age_hours))
    grid = np.linspace(0.0, lv.max_days, 2001)
    if isinstance(lv.duration_days, Fixed):
        sf = (grid < lv.duration_days.value).astype(float)
    else:
        sf = _frozen(lv.duration_days).sf(grid)
    tail = np.concatenate([[0.0], np.cumsum((sf[1:] + sf[:-1]) / 2.0 * np.diff(grid))])
    a_days = np.minimum(age_hours / 24.0, lv.max_days)
    beyond_days = tail[-1] - np.interp(a_days, grid, tail)  # E[(D - a)+]
    return np.where(age_hours / 24.0 < lv.max_days, lv.rate_per_year / 8760.0 * beyond_days * 24.0, 0.0)


def explanations(spec: PresenceSpec, age_hours: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pattern gap, leave, gone): why a client has not checked in for ``age_hours``, each by its stationary
    chance of lasting at least that long (module docstring); nothing explains it: gone."""
    q = pattern_tail_hours(spec, age_hours)
    lv = leave_tail_hours(spec, age_hours)
    g = np.full(len(age_hours), spec.gone_share)
    tot = q + lv + g
    none = tot <= 0
    tot = np.where(none, 1.0, tot)
    return q / tot, lv / tot, np.where(none, 1.0, g / tot)


@dataclass
class Start:
    """One replication's start: the fleet (presence conditioned), the engines' initial state, each client's
    drawn return (hours; NaN: present now, inf: never) and whether it was drawn as gone."""

    fleet: Fleet
    initial: InitialState
    away: np.ndarray
    returns_at: np.ndarray
    gone: np.ndarray


def initial_state(obs: Observed) -> InitialState:
    return InitialState(
        at=obs.at,
        msl=obs.msl.astype(np.int64),
        secure=obs.secure,
        heartbeat=obs.heartbeat,
        cert=obs.cert.astype(np.int64),
        last_server=obs.last_server,
        last_checkin=obs.last_checkin,
        learnt_at=obs.learnt_at,
    )


def draw_start(sc: Scenario, topo: Topology, obs: Observed, horizon: float, rng: np.random.Generator) -> Start:
    """The fleet of the exported clients for one replication, its presence from now conditioned on the ages."""
    spec = sc.fleet.presence
    n = obs.n
    # checked in within a heartbeat (and the check-in delay): present; else why it is silent is drawn
    grace = obs.heartbeat / 60.0 * (1.0 + sc.fleet.jitter) + 2.0 * spec.online_checkin_delay_seconds / 3600.0
    silent = obs.age > grace + 1e-9
    model = spec.model_copy(update={"away_at_start": AwayAtStartSpec(), "gone_share": 0.0})
    pres = generate_presence(model, n, horizon, rng)
    age = np.maximum(obs.age, 0.0)
    age_days = age / 24.0
    u_ret, u_why = rng.random(n), rng.random(n)
    p_gap, p_leave, _ = explanations(spec, age)
    away = silent & (u_why >= p_gap)  # on leave or gone; the others are in a gap of their weekly pattern
    gone = away & (u_why >= p_gap + p_leave)
    back = np.full(n, np.nan)
    a = np.flatnonzero(away & ~gone)
    back[a] = obs.last_checkin[a] + residual_days(spec.leave, age_days[a], u_ret[a]) * 24.0
    back[gone] = np.inf
    gone |= away & ~np.isfinite(back)
    # absences: the model's future leave (starting after now), the observed absences to their drawn end
    A, B = pres.abs_start, pres.abs_end
    rows, cols = np.nonzero(np.isfinite(A) & (obs.at < A))
    c = np.concatenate([rows, a])
    s = np.concatenate([A[rows, cols], obs.last_checkin[a]])
    e = np.concatenate([B[rows, cols], np.minimum(back[a], FAR)])
    A2, B2 = pack_absences(c, s, e, n)
    presence = Presence(
        pres.pattern, pres.offset, pres.windows, A2, B2, gone, pres.pattern_names, np.zeros(n, bool), pres.tz
    )
    fleet = _fleet(sc, topo, obs, presence, rng)
    return Start(fleet, initial_state(obs), away, back, gone)


def _fleet(sc: Scenario, topo: Topology, obs: Observed, presence: Presence, rng: np.random.Generator) -> Fleet:
    fs = sc.fleet
    ids = np.asarray(obs.client_id)
    vnames = sorted({str(v) for v in obs.version})
    pos = {v: i for i, v in enumerate(vnames)}
    version = np.array([pos[str(v)] for v in obs.version], np.int16)
    warn_unmatched(
        topo.versions, {v: int((version == i).sum()) for i, v in enumerate(vnames)}, obs.exports[-1].source, "version"
    )
    keys = keys_from_ids(ids)
    salt = rng.integers(0, 2**63, size=3, dtype=np.uint64)
    phase_u, choice_u, delay_u = (to_unit(splitmix64(keys ^ s)) for s in salt)
    n = obs.n
    return Fleet(
        client_id=ids,
        group=obs.group.astype(np.int32),
        version=version,
        version_names=vnames,
        unsupported=topo.versions.unsupported(vnames)[version],
        heartbeat_override=np.full(n, np.nan),
        push=rng.random(n) < fs.push_share,
        jitter=fs.jitter,
        presence=presence,
        phase_u=phase_u,
        choice_u=choice_u,
        delay_u=delay_u,
        delay_mean_hours=fs.presence.online_checkin_delay_seconds / 3600.0,
        use_last_server=fs.use_last_server,
        failback_hours=np.inf if fs.failback_hours is None else fs.failback_hours,
        keys=keys,
    )
