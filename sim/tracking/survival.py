"""Learning from the rotation itself: the returns seen between exports are survival data for time away.

Data (docs/model.md, "Tracking a rotation"): a client silent at an export for longer than the presence
model's weekly patterns explain (``away_threshold_hours``) is away since its last check-in. At the next
export it has either returned (its last check-in is after the earlier export: it came back within that
interval, taken at the interval's midpoint, A) or is still away (right-censored at the later export). It is
seen only because it was still away at the first export where it was silent: its record enters at that
age (left truncation), or a long absence would be over-represented.

Fits: Kaplan-Meier with delayed entry (the product-limit estimate over the risk set of absences entered and
not yet ended), and the log-normal family with a share that never returns (decommissioned clients are in the
exports too: without it the fit takes them for a heavy tail) by maximum likelihood under the same truncation
and censoring (``log f(d) - log S(a)`` for a return, ``log S(d) - log S(a)`` for one still away), sigma
within the scenario schema's range (0.05 to 5). The scenario's leave
duration (what ``fleet import`` fitted, or the planner assumed) is set beside them: median and the chance of
an absence lasting beyond 7, 30 and 90 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.model.presence import WEEK, WeeklyWindows
from sim.scenario.fields import PresenceSpec
from sim.tracking.observed import Export
from sim.tracking.start import frozen_distribution

MIN_RETURNS = 3  # fewer returns than this: no fit (the data say too little)


def away_threshold_hours(spec: PresenceSpec, heartbeat_minutes: float) -> float:
    """Silent longer than the longest offline gap of the weekly patterns plus two heartbeats: away."""
    gap = 0.0
    for p in spec.patterns:
        if p.share > 0 and p.schedule != "always":
            w = WeeklyWindows.from_days(list(p.days), p.start_hour, p.end_hour)
            gaps = np.append(w.a[1:] - w.b[:-1], w.a[0] + WEEK - w.b[-1])
            gap = max(gap, float(gaps.max()) + min(6.0, 3.0 * p.start_spread_hours))
    return gap + 2.0 * heartbeat_minutes / 60.0


@dataclass
class TimeAway:
    """Absences seen across exports (hours): entry age, end (return or censoring), returned or not."""

    entry: np.ndarray
    end: np.ndarray
    returned: np.ndarray

    @property
    def n(self) -> int:
        return len(self.entry)


def absences(exports: list[Export], start_seconds: float, threshold_hours: float) -> TimeAway:
    """One record per absence open at some export: from the first export where it is seen silent to its
    return (midpoint of the interval between exports) or the last export."""
    entry: list[float] = []
    end: list[float] = []
    back: list[bool] = []
    open_since: dict[str, tuple[float, float]] = {}  # client -> (last check-in, age at entry)
    prev_at = -np.inf
    for e in exports:
        last = (e.inventory.checkin - start_seconds) / 3600.0
        seen = {str(c).casefold(): float(t) for c, t in zip(e.inventory.client_id, last, strict=True)}
        for cid, (c0, a0) in list(open_since.items()):
            t = seen.get(cid)
            if t is not None and t > c0 + 1e-9:  # came back since the previous export
                ret = (max(prev_at, c0) + min(t, e.at)) / 2.0
                entry.append(a0)
                end.append(max(ret - c0, a0 + 1e-6))
                back.append(True)
                del open_since[cid]
        for cid, t in seen.items():
            if cid not in open_since and e.at - t > threshold_hours:
                open_since[cid] = (t, e.at - t)
        prev_at = e.at
    for c0, a0 in open_since.values():
        entry.append(a0)
        end.append(max(exports[-1].at - c0, a0))
        back.append(False)
    return TimeAway(np.array(entry), np.array(end), np.array(back, bool))


def kaplan_meier(ta: TimeAway) -> pd.DataFrame:
    """The product-limit survival of time away (days) with delayed entry: at each return time t, the risk set
    is the absences entered before t and not ended before t."""
    times = np.unique(ta.end[ta.returned])
    s = 1.0
    rows = []
    for t in times:
        at_risk = int(((ta.entry < t) & (ta.end >= t)).sum())
        d = int(((ta.end == t) & ta.returned).sum())
        if at_risk > 0:
            s *= 1.0 - d / at_risk
        rows.append({"days": t / 24.0, "at_risk": at_risk, "returned": d, "still_away": s})
    return pd.DataFrame(rows, columns=["days", "at_risk", "returned", "still_away"])


def fit_lognormal(ta: TimeAway) -> tuple[float, float, float] | None:
    """(median days, sigma, share never returning) of a log-normal time away with a share of clients that never
    return (decommissioned: ``gone_share``'s counterpart), by maximum likelihood under left truncation and
    right censoring; None with fewer than ``MIN_RETURNS`` returns."""
    if int(ta.returned.sum()) < MIN_RETURNS:
        return None
    from scipy import optimize, special, stats  # only here: import sim stays free of scipy

    d, ev = np.maximum(ta.end / 24.0, 1e-6), ta.returned
    a = np.minimum(np.maximum(ta.entry / 24.0, 1e-6), d)
    live = d > a + 1e-9  # an absence first seen at the last export says nothing yet

    def nll(x: np.ndarray) -> float:
        mu, log_s, logit_p = x
        sig, pi = float(np.exp(log_s)), float(special.expit(logit_p))
        z, za = (np.log(d) - mu) / sig, (np.log(a) - mu) / sig
        s_d = pi + (1 - pi) * stats.norm.sf(z)
        s_a = pi + (1 - pi) * stats.norm.sf(za)
        f_d = (1 - pi) * stats.norm.pdf(z) / (sig * d)
        ll = np.where(ev, np.log(np.maximum(f_d, 1e-300)), np.log(np.maximum(s_d, 1e-300))) - np.log(s_a)
        return float(-ll[live].sum())

    x0 = np.array([np.log(np.median(d[ev])), 0.0, -2.0])
    # the schema's range for sigma (0 < sigma <= 5), medians from an hour to ten years
    bounds = [(np.log(1 / 24), np.log(3650.0)), (np.log(0.05), np.log(5.0)), (-12.0, 12.0)]
    res = optimize.minimize(nll, x0, method="L-BFGS-B", bounds=bounds)
    return float(np.exp(res.x[0])), float(np.exp(res.x[1])), float(special.expit(res.x[2]))


def compare_fits(ta: TimeAway, spec: PresenceSpec) -> dict[str, Any]:
    """The rotation's own fit beside the scenario's leave duration: medians and tail chances."""
    km = kaplan_meier(ta)
    fit = fit_lognormal(ta)
    model = frozen_distribution(spec.leave.duration_days) if spec.leave.rate_per_year > 0 else None
    out: dict[str, Any] = {
        "absences": ta.n,
        "returned": int(ta.returned.sum()),
        "still_away": int((~ta.returned).sum()),
        "kaplan_meier": km,
        "lognormal": None if fit is None else {"median_days": fit[0], "sigma": fit[1], "never_return": fit[2]},
        "scenario_leave": spec.leave.duration_days.model_dump(),
    }
    tails = {}
    for days in (7.0, 30.0, 90.0):
        row: dict[str, float | None] = {"scenario": float(model.sf(days)) if model is not None else None}
        if fit is not None:
            from scipy import stats

            row["rotation_lognormal"] = float(stats.lognorm(s=fit[1], scale=fit[0]).sf(days))  # of those returning
        tails[f"away_over_{days:g}_days"] = row
    out["tails"] = tails
    return out


def describe(cmp: dict[str, Any]) -> str:
    """One line for the summary."""
    if cmp["absences"] == 0:
        return "Time away: no absence seen across the exports"
    fit = cmp["lognormal"]
    head = f"Time away seen across the exports: {cmp['absences']} absences, {cmp['returned']} returned"
    if fit is None:
        return head + f" (fewer than {MIN_RETURNS} returns: no fit)"
    t30 = cmp["tails"]["away_over_30_days"]
    model = t30["scenario"]
    vs = "" if model is None else f" (scenario: {model:.1%})"
    return (
        head + f"; log-normal fit median {fit['median_days']:.1f} d, sigma {fit['sigma']:.2f}, "
        f"{fit['never_return']:.1%} never returning; away over 30 days {t30['rotation_lognormal']:.1%}{vs}"
    )
