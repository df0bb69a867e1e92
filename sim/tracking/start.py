"""From an observed state to what the engines start from: the initial state, and a fleet whose presence from
now on is conditioned on what the exports show.

Rules (docs/model.md, "Tracking a rotation"):
- **Silent or not.** A client that checked in within its heartbeat (and the check-in delay) is present. For
  a silent one, why it is silent is drawn from three explanations, each by its density at the client's age
  ``a`` (hours since its last check-in) in the stationary presence model (A): a gap of its weekly pattern
  (``q(a)``: share / week for each gap longer than a; it then follows a drawn pattern), a leave spell
  (``l(a) = r P(D > a)``, r spells per hour), or decommissioned (``g / W``: ``gone_share`` spread over the
  console's window W, the oldest last check-in shown, at least 30 days).
- **When an away client returns.** Its absence began at its last check-in and has lasted its age ``a``: its
  return is drawn from the leave duration *conditioned on lasting more than a* (the residual life at age a,
  inverse CDF between F(a) and 1), capped at ``leave.max_days``; not a fresh draw.
- **Gone** clients never come back; away longer than the longest spell, or with nothing in the model to
  explain the silence: gone.
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


def pattern_density(spec: PresenceSpec, age_hours: np.ndarray) -> np.ndarray:
    """q(a), per hour: the chance that a random client at a random moment is ``a`` hours into an offline gap
    of its weekly pattern (a night, a weekend): sum over patterns and gaps G > a of share / week."""
    out = np.zeros(len(age_hours))
    total = sum(p.share for p in spec.patterns) or 1.0
    for p in spec.patterns:
        if p.share <= 0 or p.schedule == "always":
            continue
        w = WeeklyWindows.from_days(list(p.days), p.start_hour, p.end_hour)
        gaps = np.append(w.a[1:] - w.b[:-1], w.a[0] + WEEK - w.b[-1])
        gaps = gaps[gaps > 0] + min(6.0, 3.0 * p.start_spread_hours)  # a personal start later than the pattern's
        out += p.share / total * (gaps[None, :] > age_hours[:, None]).sum(axis=1) / WEEK
    return out


def frozen_distribution(dist: Distribution) -> Any:
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
    f = frozen_distribution(dist)
    lo = f.cdf(age_days[ok])
    d = f.ppf(lo + u[ok] * (1.0 - lo))
    d = np.where(np.isfinite(d), d, leave.max_days)
    out[ok] = np.minimum(np.maximum(d, age_days[ok]), leave.max_days)
    return out


def leave_density(spec: PresenceSpec, age_hours: np.ndarray) -> np.ndarray:
    """l(a), per hour: the chance that a random client at a random moment is ``a`` hours into a leave spell:
    spells per hour times P(D > a) (a stationary renewal process); 0 beyond the longest spell."""
    lv = spec.leave
    if lv.rate_per_year <= 0:
        return np.zeros(len(age_hours))
    days = age_hours / 24.0
    if isinstance(lv.duration_days, Fixed):
        sf = (days < lv.duration_days.value).astype(float)
    else:
        sf = frozen_distribution(lv.duration_days).sf(days)
    return np.where(days < lv.max_days, lv.rate_per_year / 8760.0 * sf, 0.0)


def explanations(
    spec: PresenceSpec, age_hours: np.ndarray, window_hours: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pattern gap, leave, gone): why a client has not checked in for ``age_hours``, each by its density at
    that age (module docstring); a gone client's age is uniform over the console's window (``window_hours``:
    the oldest last check-in an export shows, at least 30 days). Nothing explains it: gone."""
    q = pattern_density(spec, age_hours)
    lv = leave_density(spec, age_hours)
    g = np.full(len(age_hours), spec.gone_share / max(window_hours, 1.0))
    tot = q + lv + g
    none = tot <= 0
    tot = np.where(none, 1.0, tot)
    return q / tot, lv / tot, np.where(none, 1.0, g / tot)


GONE_WINDOW_DAYS = 30.0  # the least window over which a gone client's last check-in is spread


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


def silent_clients(sc: Scenario, obs: Observed) -> np.ndarray:
    """Not checked in within a heartbeat (times 1 + jitter, plus the check-in delay): why is drawn."""
    spec = sc.fleet.presence
    grace = obs.heartbeat / 60.0 * (1.0 + sc.fleet.jitter) + 2.0 * spec.online_checkin_delay_seconds / 3600.0
    return np.asarray(obs.age > grace + 1e-9)


def draw_start(sc: Scenario, topo: Topology, obs: Observed, horizon: float, rng: np.random.Generator) -> Start:
    """The fleet of the exported clients for one replication, its presence from now conditioned on the ages."""
    spec = sc.fleet.presence
    n = obs.n
    silent = silent_clients(sc, obs)
    model = spec.model_copy(update={"away_at_start": AwayAtStartSpec(), "gone_share": 0.0})
    pres = generate_presence(model, n, horizon, rng)
    age = np.maximum(obs.age, 0.0)
    age_days = age / 24.0
    u_ret, u_why = rng.random(n), rng.random(n)
    window = max(float(age.max()), GONE_WINDOW_DAYS * 24.0)
    p_gap, p_leave, _ = explanations(spec, age, window)
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
