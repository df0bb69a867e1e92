"""Fitting the presence model to one snapshot of a real fleet: the ages of the last check-ins.

Why this works (docs/fleet-import.md, "The fit"): in a fleet in a steady state, leave spells start at random
times (a Poisson process of rate ``lambda`` per client, as ``sim.presence.generate_presence`` draws them),
so the spells still running at the moment of a snapshot are a length-biased sample, and the time since
such a spell started (its *backward recurrence time*) has the equilibrium density ``(1 - F(b)) / m`` of the
spell length ``D`` (``F`` its distribution, ``m = E[min(D, max_days)]``). The time until it ends (the
*forward* recurrence time, what a rotation has to wait for) has the very same density, so fitting ``F`` to
the ages of the last check-ins fits the return times the simulator needs.

What a snapshot shows is not the spell itself but the time since the last check-in:

- a machine with the weekly pattern (a laptop) that went on leave during the night or the weekend last
  checked in at the end of its last working day, so its age is the spell's age plus that gap;
- at a snapshot outside its working hours, a laptop that is not on leave is offline too, with the age of
  its last working day's end, and one whose leave ended since then has not been seen since it left.

``AgeModel`` computes, for the snapshot's weekday and hour, the exact distribution of the observed age for
each kind of machine: always-on machines (age = spell age) and laptops (the weekly pattern, each client's
working window shifted by a normal personal offset as the simulator does, and the fleet's time zones),
by numerical integration of the spell age over a fine grid. The fit is then a maximum-likelihood fit of a
multinomial over age classes of the clients that are not gone:

- *online* at the snapshot (the export's online status),
- *offline, last check-in at most* ``absence_days`` *ago* (one class: nights, weekends, short spells),
- *offline, age in* ``(absence_days, purge_days]``, in 6-hour bins (the absences: their shape fits ``F``),

conditioned on the age being at most ``purge_days``. Clients whose last check-in is older than the purge
age are treated as gone (decommissioned). Leave spells in the fitted model are cut at the purge age
(``max_days``), so absences longer than that are in ``gone_share``; what the fitted model itself still puts
beyond the purge age (spells cut at the purge age that began in a weekend gap, overlapping spells) is
subtracted, so that a fleet drawn from the written model shows as many clients beyond the purge age as the
export: ``gone_share = (n_beyond / n - q) / (1 - q)``, ``q`` that share, binomial standard error.

The share on leave at any moment is ``p = 1 - exp(-lambda m)`` (spells start as a Poisson process whatever
the client is doing, and overlapping ones merge: ``sim.presence``); the alternating-renewal form
``lambda m / (1 + lambda m)`` agrees to first order. Overlaps of two spells are neglected in the age
distribution (second order in ``lambda m``, about 1% for 3 spells a year of a week each).

Parameters: always-on share ``s`` (logit), leave rate ``lambda`` (log) and the spell-length parameters
(logs), per family (exponential, lognormal, Pareto); the family with the smallest AIC is written, all are
reported. Standard errors come from the observed information: the inverse of the numerical Hessian of the
log-likelihood at the maximum, carried to the reported units by the delta method.

The always-on share is identified by the clients online at a snapshot taken outside working hours; inside
working hours laptops are online too and the share is barely determined (a warning says so; pass
``always_on_share`` to fix it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.model.presence import WEEK, Presence, WeeklyWindows, generate_presence
from sim.scenario.fields import (
    WEEKDAYS,
    WORKDAYS,
    AwayAtStartSpec,
    Distribution,
    Exponential,
    LeaveSpec,
    LogNormal,
    Pareto,
    PatternSpec,
    PresenceSpec,
)

HOURS_PER_YEAR = 8760.0


GRID_HOURS = 1.0  # integration step of the absence age (hours)


BIN_HOURS = 6.0  # width of the age classes of the likelihood and of the plot


MIN_ABSENT = 20  # fewer absent clients than this: the spell-length shape is not fitted


FAMILIES: tuple[str, ...] = ("exponential", "lognormal", "pareto")


DEFAULT_DURATION = LogNormal(distribution="lognormal", median=5.0, sigma=1.0)  # LeaveSpec's default


MAX_RATE_PER_YEAR = 52.0


MAX_SIGMA = 5.0


PARETO_ALPHA = (0.5, 10.0)


@dataclass(frozen=True)
class WorkPattern:
    """The weekly pattern of the machines that are not always on (local time), as ``PatternSpec``."""

    days: tuple[str, ...] = tuple(WORKDAYS)
    start_hour: float = 8.0
    end_hour: float = 18.0
    spread_hours: float = 1.0

    def windows(self) -> WeeklyWindows:
        return WeeklyWindows.from_days(list(self.days), self.start_hour, self.end_hour)

    def longest_gap_hours(self) -> float:
        """Longest regular off time (e.g. 62 h from Friday 18:00 to Monday 08:00)."""
        w = self.windows()
        gaps = np.concatenate([w.a[1:] - w.b[:-1], [w.a[0] + WEEK - w.b[-1]]])
        return float(gaps.max())


@dataclass(frozen=True)
class FitSettings:
    purge_days: float = 30.0
    absence_days: float = 3.0
    pattern: WorkPattern = field(default_factory=WorkPattern)
    timezones: dict[float, float] = field(default_factory=lambda: {0.0: 1.0})
    always_on_share: float | None = None  # fixed instead of fitted
    bin_hours: float = BIN_HOURS
    families: tuple[str, ...] = FAMILIES  # absence-length families to fit and compare

    def check(self) -> list[str]:
        """Problems with the settings themselves (empty: fine)."""
        out = []
        if not 0 < self.absence_days < self.purge_days:
            out.append("the absence threshold must be positive and below the purge age")
        gap = self.pattern.longest_gap_hours()
        if self.absence_days * 24.0 <= gap:
            out.append(
                f"the absence threshold ({self.absence_days:g} days) must exceed the longest regular off time of "
                f"the work pattern ({gap:g} hours), or every weekend looks like an absence"
            )
        if self.always_on_share is not None and not 0 <= self.always_on_share <= 1:
            out.append("the always-on share must be between 0 and 1")
        if not self.families or any(f not in FAMILIES for f in self.families):
            out.append(f"families must be some of {', '.join(FAMILIES)}")
        return out


def _since_window_end(win: WeeklyWindows, w: np.ndarray) -> np.ndarray:
    """Hours since the machine was last inside its weekly window at local week-hour ``w`` (0: inside)."""
    wm = np.mod(w, WEEK)
    j = np.searchsorted(win.a, wm, side="right") - 1
    last_end = np.where(j >= 0, win.b[np.maximum(j, 0)], win.b[-1] - WEEK)
    inside = (j >= 0) & (wm < win.b[np.maximum(j, 0)])
    return np.where(inside, 0.0, wm - last_end)


def _phases(pattern: WorkPattern, timezones: dict[float, float], nodes: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature of the clients' local-time offsets: time zone minus the personal shift of the window.

    ``generate_presence`` shifts each client's window by ``clip(N(0, spread), -6, 6)`` hours; Gauss-Hermite
    nodes integrate over it.
    """
    if pattern.spread_hours > 0:
        z, wz = np.polynomial.hermite_e.hermegauss(nodes)
        shift = np.clip(z * pattern.spread_hours, -6.0, 6.0)
        wz = wz / wz.sum()
    else:
        shift, wz = np.zeros(1), np.ones(1)
    offs = np.array(list(timezones.keys()), dtype=float)
    tzw = np.array(list(timezones.values()), dtype=float)
    tzw = tzw / tzw.sum()
    phi = (offs[:, None] - shift[None, :]).ravel()
    w = (tzw[:, None] * wz[None, :]).ravel()
    return phi, w


class AgeModel:
    """Distribution of the observed age classes at one snapshot, for any spell-length survival function.

    Age classes: fine bins of ``bin_hours`` over ``[0, purge]`` (the bins below ``absence`` are summed into
    one class by the likelihood) and one class ``beyond`` for ages over the purge age.

    The time since the current absence began (``episode_mass``) is computed exactly for the simulator's
    leave process, overlapping spells merged; the kernels built here map it to the observed age of an
    always-on machine (the same) and of a weekly-pattern machine (plus the gap back to the end of its last
    working window, for each local-time offset).
    """

    def __init__(self, snapshot_weekhour_utc: float, settings: FitSettings) -> None:
        self.settings = settings
        tau = settings.absence_days * 24.0
        purge = settings.purge_days * 24.0
        bw = settings.bin_hours
        self.edges = np.unique(np.concatenate([np.arange(0.0, tau, bw), [tau], np.arange(tau, purge, bw), [purge]]))
        self.n_bins = len(self.edges) - 1
        self.n_short = int(np.searchsorted(self.edges, tau))  # bins [0, n_short) lie below the threshold
        n_grid = int(math.ceil(purge / GRID_HOURS))
        self.dt = purge / n_grid
        self.r = np.arange(n_grid + 1) * self.dt  # where the survival function is evaluated
        self.b = (np.arange(n_grid) + 0.5) * self.dt  # midpoints of the episode-age cells
        # always-on machines: the age is the episode's age
        self.idx_always = self.bin_of(self.b)
        # weekly-pattern machines, one row per local-time offset
        win = settings.pattern.windows()
        phi, self.w = _phases(settings.pattern, settings.timezones)
        w_snap = snapshot_weekhour_utc + phi
        d0 = _since_window_end(win, w_snap)  # time since the last moment in the window before the snapshot
        self.inside = d0 == 0.0
        self.q = float(self.w[self.inside].sum())  # share of laptops inside their window at the snapshot
        start = w_snap[:, None] - d0[:, None] - self.b[None, :]
        ages = d0[:, None] + self.b[None, :] + _since_window_end(win, start)
        self.idx_laptop = self.bin_of(ages).ravel()
        self.gap = np.bincount(self.bin_of(d0[~self.inside]), weights=self.w[~self.inside], minlength=self.n_bins + 1)

    def bin_of(self, age_hours: np.ndarray) -> np.ndarray:
        """Age class of each age (``n_bins``: beyond the purge age)."""
        k = np.searchsorted(self.edges, age_hours, side="right") - 1
        return np.clip(k, 0, self.n_bins)

    def probabilities(self, s: float, lam: float, surv: np.ndarray) -> tuple[float, np.ndarray, float]:
        """(P online, P of each age class incl. beyond, m = E[min(D, purge)]) for a non-gone client;
        ``surv`` is 1 - F at the points ``self.r``."""
        c, p, m = episode_mass(surv, lam, self.dt)
        beyond = max(p - float(c.sum()), 0.0)
        k_always = np.bincount(self.idx_always, weights=c, minlength=self.n_bins + 1)
        k_laptop = np.bincount(
            self.idx_laptop, weights=(self.w[:, None] * c[None, :]).ravel(), minlength=self.n_bins + 1
        )
        k_always[-1] += beyond
        k_laptop[-1] += beyond
        p_online = (1.0 - p) * (s + (1.0 - s) * self.q)
        classes = s * k_always + (1.0 - s) * k_laptop + (1.0 - p) * (1.0 - s) * self.gap
        return p_online, classes, m


def episode_mass(surv: np.ndarray, lam: float, dt: float) -> tuple[np.ndarray, float, float]:
    """Distribution of the time since a client's current absence began, for the simulator's leave process.

    Spells start as a Poisson process of rate ``lam`` (per hour) and last ``min(D, max)`` (``surv`` is
    ``1 - F`` at ``0, dt, ..., max``, zero at the end); overlapping spells merge into one absence. By time
    reversal the age of the absence covering a moment has the law of its remaining length, which a scan
    forward computes: the remaining coverage ``R`` falls at rate 1 and jumps to ``max(R, D)`` whenever a
    spell starts (rate ``lam``), and the absence ends when ``R`` hits 0. Unrolled on the grid, the mass
    ``c_k`` ending in step ``k`` solves a causal convolution equation ``c = a - (K * c)``, i.e. ``c`` is the
    power series ``a / (1 + K)``, computed by Newton iteration with FFT products (exact to rounding).

    Returns (``c``: mass per cell ``(k dt, (k+1) dt]``, ``p = 1 - exp(-lam m)``: share absent, ``m``);
    ``p - c.sum()`` is the mass of absences older than ``max``.
    """
    n = len(surv) - 1
    tail = np.concatenate([np.cumsum(((surv[1:] + surv[:-1]) / 2 * dt)[::-1])[::-1], [0.0]])  # int_r^max
    m = float(tail[0])
    c0 = np.exp(-lam * tail) - math.exp(-lam * m)  # P(0 < R0 <= r): residual of the spells covering now
    k = np.exp(np.concatenate([[0.0], np.cumsum(-lam * dt * surv[1:])]))
    c = _convolve(k[1 : n + 1] * c0[1 : n + 1], _series_inverse(np.concatenate([[1.0], k[1:n]]), n))[:n]
    return np.maximum(c, 0.0), -math.expm1(-lam * m), m


def _convolve(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    size = len(x) + len(y) - 1
    nfft = 1 << (size - 1).bit_length()
    return np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(y, nfft), nfft)[:size]


def _series_inverse(b: np.ndarray, n: int) -> np.ndarray:
    """First ``n`` coefficients of the power series ``1 / b(z)`` (Newton: inv <- inv (2 - b inv))."""
    inv = np.array([1.0 / b[0]])
    t = 1
    while t < n:
        t2 = min(2 * t, n)
        corr = -_convolve(b[:t2], inv)[:t2]
        corr[0] += 2.0
        inv = _convolve(inv, corr)[:t2]
        t = t2
    return inv


def survival(family: str, theta: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - F(b) of the spell length, ``theta`` the logs of the parameters in hours."""
    from scipy import special  # here, not at the top: scipy is slow to import (sim.analysis.stats)

    if family == "exponential":
        out = np.exp(-b / math.exp(theta[0]))
    elif family == "lognormal":
        out = special.ndtr(-(np.log(np.maximum(b, 1e-9)) - theta[0]) / math.exp(theta[1]))
    elif family == "pareto":
        xm, alpha = math.exp(theta[0]), math.exp(theta[1])
        out = (xm / np.maximum(b, xm)) ** alpha
    else:
        raise ValueError(family)
    out[-1] = 0.0  # spells are cut at the purge age (max_days)
    return out


PARAM_NAMES: dict[str, tuple[tuple[str, str, bool], ...]] = {
    # (name, unit, in hours: shown in days)
    "exponential": (("mean", "days", True),),
    "lognormal": (("median", "days", True), ("sigma", "", False)),
    "pareto": (("minimum", "days", True), ("alpha", "", False)),
}


def _start_shapes(family: str, absent_ages: np.ndarray, tau: float) -> list[np.ndarray]:
    """Starting points from the absent clients' ages (hours); the Pareto likelihood has a second, worse
    maximum at a small minimum, so its starts sit at and above the absence threshold."""
    med = float(np.median(absent_ages)) if len(absent_ages) else 5 * 24.0
    if family == "exponential":
        return [np.array([math.log(max(med - tau, 24.0) * 1.4)])]
    if family == "lognormal":
        return [np.array([math.log(max(med / 1.5, 12.0)), 0.0]), np.array([math.log(max(med / 3, 12.0)), 0.4])]
    return [np.array([math.log(tau), math.log(1.5)]), np.array([math.log(2 * tau), math.log(2.0)])]


def to_distribution(family: str, values: dict[str, float]) -> Distribution:
    if family == "exponential":
        return Exponential(distribution="exponential", mean=values["mean"])
    if family == "lognormal":
        return LogNormal(distribution="lognormal", median=values["median"], sigma=min(values["sigma"], MAX_SIGMA))
    lo, hi = PARETO_ALPHA
    alpha = min(max(values["alpha"], lo + 0.01), hi)
    return Pareto(distribution="pareto", minimum=values["minimum"], alpha=alpha)


@dataclass
class AgeCounts:
    """The snapshot reduced to the counts the likelihood needs."""

    n: int  # clients
    gone: int  # offline, last check-in older than the purge age
    online: int
    bins: np.ndarray  # offline and not gone, per fine age bin
    absent_ages: np.ndarray  # hours, offline with age in (absence, purge]

    @property
    def present(self) -> int:
        return self.n - self.gone

    @property
    def absent(self) -> int:
        return len(self.absent_ages)


def count_ages(model: AgeModel, age_hours: np.ndarray, online: np.ndarray) -> AgeCounts:
    """Online clients count as online whatever the age (an export's "last status change" of a machine that
    has been online for weeks is old); offline ones by the age of their last check-in."""
    online = np.asarray(online, bool)
    off = np.asarray(age_hours, float)[~online]
    k = model.bin_of(np.maximum(off, 0.0))
    counts = np.bincount(k, minlength=model.n_bins + 1)
    tau = model.settings.absence_days * 24.0
    absent = off[(off > tau) & (k < model.n_bins)]
    return AgeCounts(
        n=len(online), gone=int(counts[-1]), online=int(online.sum()), bins=counts[:-1].copy(), absent_ages=absent
    )


@dataclass
class Estimate:
    name: str
    value: float
    stderr: float | None
    unit: str
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "stderr": self.stderr, "unit": self.unit, "note": self.note}


@dataclass
class FamilyFit:
    family: str
    estimates: list[Estimate]
    loglik: float
    aic: float
    n_params: int
    converged: bool
    shape_fitted: bool
    theta: np.ndarray  # transformed parameters: [logit s]?, log lambda (per hour), log shape...
    always_on_share: float
    rate_per_year: float
    shape: dict[str, float]  # natural units (days for lengths)
    prevalence: float  # share on leave at any moment
    mean_days: float  # E[min(D, purge)]
    long_rate_per_year: float  # spells longer than the absence threshold, per client per year
    long_mean_days: float  # their mean length beyond the threshold (cut at the purge age)
    p_beyond: float  # share of the clients that are not gone whose last check-in is older than the purge age
    fitted: np.ndarray  # expected clients per fine bin (offline, not gone)
    fitted_online: float

    def estimate(self, name: str) -> Estimate:
        return next(e for e in self.estimates if e.name == name)

    def distribution(self) -> Distribution:
        return to_distribution(self.family, self.shape)

    def as_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "shape_fitted": self.shape_fitted,
            "parameters": [e.as_dict() for e in self.estimates],
            "loglik": self.loglik,
            "aic": self.aic,
            "n_params": self.n_params,
            "converged": self.converged,
            "prevalence": self.prevalence,
            "mean_absence_days": self.mean_days,
            "long_absences_per_year": self.long_rate_per_year,
            "long_absence_mean_days_beyond_threshold": self.long_mean_days,
            "present_beyond_purge": self.p_beyond,
        }


def _logit(x: float) -> float:
    x = min(max(x, 1e-6), 1 - 1e-6)
    return math.log(x / (1 - x))


def _expit(x: float) -> float:
    from scipy import special

    return float(special.expit(x))


def numeric_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, step: float = 2e-3) -> np.ndarray:
    """Central-difference Hessian of ``f`` at ``x`` (parameters on log/logit scales, so one step fits all)."""
    k = len(x)
    h = np.full(k, step)
    f0 = f(x)
    H = np.zeros((k, k))
    for i in range(k):
        ei = np.zeros(k)
        ei[i] = h[i]
        H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
        for j in range(i + 1, k):
            ej = np.zeros(k)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
    return H


class _Likelihood:
    """Negative log-likelihood of one family over the transformed parameter vector."""

    def __init__(self, model: AgeModel, data: AgeCounts, family: str, fixed_s: float | None, shape: np.ndarray | None):
        self.model, self.data, self.family = model, data, family
        self.fixed_s, self.fixed_shape = fixed_s, shape
        ns = model.n_short
        self.n_short = float(data.bins[:ns].sum())
        self.window = data.bins[ns:].astype(float)

    def unpack(self, x: np.ndarray) -> tuple[float, float, np.ndarray]:
        i = 0
        if self.fixed_s is None:
            s = _expit(x[0])
            i = 1
        else:
            s = self.fixed_s
        lam = math.exp(x[i])
        shape = x[i + 1 :] if self.fixed_shape is None else self.fixed_shape
        return s, lam, shape

    def parts(self, x: np.ndarray) -> tuple[float, np.ndarray, float, float]:
        s, lam, shape = self.unpack(x)
        p_on, classes, m = self.model.probabilities(s, lam, survival(self.family, shape, self.model.r))
        return p_on, classes, m, lam

    def __call__(self, x: np.ndarray) -> float:
        if not np.all(np.isfinite(x)) or np.any(np.abs(x) > 50):
            return 1e300
        p_on, classes, _, _ = self.parts(x)
        ns = self.model.n_short
        tiny = 1e-300
        norm = max(1.0 - classes[-1], tiny)
        d = self.data
        ll = (
            d.online * math.log(max(p_on, tiny))
            + self.n_short * math.log(max(float(classes[:ns].sum()), tiny))
            + float(np.dot(self.window, np.log(np.maximum(classes[ns:-1], tiny))))
            - d.present * math.log(norm)
        )
        return -ll if math.isfinite(ll) else 1e300


def _fit_family(
    model: AgeModel, data: AgeCounts, family: str, fixed_s: float | None, fixed_shape: np.ndarray | None
) -> FamilyFit:
    from scipy import optimize

    nll = _Likelihood(model, data, family, fixed_s, fixed_shape)
    tau = model.settings.absence_days * 24.0
    shapes = _start_shapes(family, data.absent_ages, tau) if fixed_shape is None else [np.zeros(0)]
    # start: the share online tells s when laptops are off; the absent count tells p and so lambda
    p0 = min(max(data.absent / max(data.present, 1) / 0.6, 1e-4), 0.9)
    mean0 = float(np.median(data.absent_ages)) if data.absent else 5 * 24.0
    lam0 = -math.log1p(-p0) / max(mean0, 1.0)
    s0 = min(max((data.online / max(data.present, 1) / (1 - p0) - model.q) / max(1 - model.q, 1e-3), 0.05), 0.95)
    head = [] if fixed_s is not None else [_logit(s0)]
    starts = [np.array([*head, math.log(lam0), *shape0]) for shape0 in shapes]
    best: optimize.OptimizeResult | None = None
    for x0 in starts:
        res = optimize.minimize(nll, x0, method="L-BFGS-B")
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    # polish without gradients: the Pareto likelihood has a kink where the minimum crosses a grid point
    polish = optimize.minimize(
        nll, best.x, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 600, "adaptive": True}
    )
    if polish.fun <= best.fun:
        polish.success = bool(best.success or polish.success)
        best = polish
    x = np.asarray(best.x, float)
    cov = _covariance(nll, x)
    s, lam, shape = nll.unpack(x)
    p_on, classes, m, _ = nll.parts(x)
    norm = 1.0 - classes[-1]
    se = np.sqrt(np.diag(cov)) if cov is not None else np.full(len(x), np.nan)
    estimates: list[Estimate] = []
    i = 0
    if fixed_s is None:
        estimates.append(Estimate("always_on_share", s, _finite(s * (1 - s) * se[0]), "share of clients"))
        i = 1
    else:
        estimates.append(Estimate("always_on_share", s, None, "share of clients", "fixed by the user"))
    rate = lam * HOURS_PER_YEAR
    estimates.append(Estimate("leave_rate_per_year", rate, _finite(rate * se[i]), "spells per client per year"))
    values: dict[str, float] = {}
    for j, (name, unit, hours) in enumerate(PARAM_NAMES[family]):
        v = float(f"{math.exp(shape[j]) / (24.0 if hours else 1.0):.12g}")
        values[name] = v
        err = _finite(v * se[i + 1 + j]) if fixed_shape is None else None
        note = "" if fixed_shape is None else "default shape: too few absent clients to fit it"
        estimates.append(Estimate(f"duration_{name}", v, err, unit, note))
    # what one snapshot pins down whatever the family: the spells longer than the absence threshold
    surv = survival(family, shape, model.r)
    tau = model.settings.absence_days * 24.0
    s_tau = float(np.interp(tau, model.r, surv))
    beyond = model.r >= tau
    long_mean = float(np.trapezoid(surv[beyond], model.r[beyond])) / s_tau / 24.0 if s_tau > 0 else 0.0
    k = len(x)
    ll = -float(best.fun)
    return FamilyFit(
        family=family,
        estimates=estimates,
        loglik=ll,
        aic=2 * k - 2 * ll,
        n_params=k,
        converged=bool(best.success),
        shape_fitted=fixed_shape is None,
        theta=x,
        always_on_share=s,
        rate_per_year=rate,
        shape=values,
        prevalence=-math.expm1(-lam * m),
        mean_days=m / 24.0,
        long_rate_per_year=rate * s_tau,
        long_mean_days=long_mean,
        p_beyond=float(classes[-1]),
        fitted=data.present * classes[:-1] / norm,
        fitted_online=data.present * p_on / norm,
    )


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _covariance(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray | None:
    """Inverse observed information, or None where the Hessian is not positive definite (not identified)."""
    for step in (2e-3, 1e-2):
        H = numeric_hessian(f, x, step)
        if not np.all(np.isfinite(H)):
            continue
        try:
            np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            continue
        return np.asarray(np.linalg.inv(H))
    return None


@dataclass
class PresenceFit:
    """Everything the import reports: counts, each family's fit, the chosen one and the age table."""

    settings: FitSettings
    snapshot_weekhour_utc: float
    counts: AgeCounts
    model: AgeModel
    families: dict[str, FamilyFit]
    best: str
    gone_share: float
    gone_share_se: float | None
    warnings: list[str]

    @property
    def chosen(self) -> FamilyFit:
        return self.families[self.best]

    def estimates(self) -> list[Estimate]:
        """The chosen family's parameters and the gone share: the table the import prints."""
        note = "clients last seen before the purge age, less the model's own absences running past it; binomial"
        g = Estimate("gone_share", self.gone_share, self.gone_share_se, "share of clients", note)
        return [*self.chosen.estimates, g]

    def presence_spec(self, start_weekday: str = "mon", start_hour_utc: float = 9.0) -> PresenceSpec:
        """The fitted model as the scenario's ``fleet.presence`` (leave cut at the purge age, see module doc)."""
        fit = self.chosen
        s = round(fit.always_on_share, 6)
        pat = self.settings.pattern
        patterns = [
            PatternSpec(name="always-on", share=s, schedule="always"),
            PatternSpec(
                name="laptop",
                share=round(1.0 - s, 6),
                schedule="weekly",
                days=list(pat.days),
                start_hour=pat.start_hour,
                end_hour=pat.end_hour,
                start_spread_hours=pat.spread_hours,
            ),
        ]
        return PresenceSpec(
            patterns=patterns,
            timezones=dict(self.settings.timezones),
            leave=LeaveSpec(
                rate_per_year=min(fit.rate_per_year, MAX_RATE_PER_YEAR),
                duration_days=fit.distribution(),
                max_days=self.settings.purge_days,
            ),
            away_at_start=AwayAtStartSpec(),
            gone_share=self.gone_share,
            start_weekday=start_weekday,
            start_hour_utc=start_hour_utc,
        )

    def age_table(self) -> list[dict[str, Any]]:
        """Observed against fitted clients per age class (offline, not gone), all families."""
        rows: list[dict[str, Any]] = [
            {
                "class": "online",
                "from_days": None,
                "to_days": None,
                "observed": self.counts.online,
                **{f"fitted_{f}": round(ff.fitted_online, 3) for f, ff in self.families.items()},
            }
        ]
        e = self.model.edges / 24.0
        for k in range(self.model.n_bins):
            rows.append(
                {
                    "class": "offline" if k < self.model.n_short else "absent",
                    "from_days": round(float(e[k]), 6),
                    "to_days": round(float(e[k + 1]), 6),
                    "observed": int(self.counts.bins[k]),
                    **{f"fitted_{f}": round(float(ff.fitted[k]), 3) for f, ff in self.families.items()},
                }
            )
        return rows

    def as_dict(self) -> dict[str, Any]:
        st = self.settings
        return {
            "method": {
                "likelihood": "multinomial over age classes of the clients not gone (online; offline up to the "
                "absence threshold; 6-hour bins of absences up to the purge age), conditioned on age <= purge",
                "stderr": "observed information: inverse numerical Hessian of the log-likelihood at the maximum, "
                "delta method to the reported units; gone_share: binomial",
                "model_choice": "smallest AIC",
            },
            "settings": {
                "purge_days": st.purge_days,
                "absence_days": st.absence_days,
                "bin_hours": st.bin_hours,
                "work_days": list(st.pattern.days),
                "work_hours": [st.pattern.start_hour, st.pattern.end_hour],
                "work_start_spread_hours": st.pattern.spread_hours,
                "timezones": {str(k): v for k, v in st.timezones.items()},
                "always_on_share_fixed": st.always_on_share,
            },
            "snapshot_weekhour_utc": self.snapshot_weekhour_utc,
            "laptops_in_window_at_snapshot": self.model.q,
            "chosen_family": self.best,
            "parameters": [e.as_dict() for e in self.estimates()],
            "derived": {
                "share_on_leave": self.chosen.prevalence,
                "mean_absence_days": self.chosen.mean_days,
                "long_absences_per_year": self.chosen.long_rate_per_year,
                "long_absence_mean_days_beyond_threshold": self.chosen.long_mean_days,
            },
            "families": {f: ff.as_dict() for f, ff in self.families.items()},
            "age_table": self.age_table(),
            "warnings": list(self.warnings),
        }


def fit_presence(
    age_hours: np.ndarray, online: np.ndarray, snapshot_weekhour_utc: float, settings: FitSettings | None = None
) -> PresenceFit:
    """Fit the presence model to one snapshot: each client's hours since its last check-in and whether it
    was online. ``snapshot_weekhour_utc``: hours since Monday 00:00 UTC of the snapshot."""
    st = settings or FitSettings()
    problems = st.check()
    if problems:
        raise ValueError("; ".join(problems))
    model = AgeModel(snapshot_weekhour_utc, st)
    data = count_ages(model, age_hours, online)
    if data.n == 0:
        raise ValueError("no clients to fit")
    warnings: list[str] = []
    families: dict[str, FamilyFit] = {}
    if data.present == 0:
        raise ValueError("every client is gone (older than the purge age): nothing to fit")
    if data.absent >= MIN_ABSENT:
        for fam in st.families:
            families[fam] = _fit_family(model, data, fam, st.always_on_share, None)
    else:
        warnings.append(
            f"only {data.absent} absent clients (offline more than {st.absence_days:g} days, less than "
            f"{st.purge_days:g}): too few to fit the absence lengths; kept the default lognormal shape "
            f"(median {DEFAULT_DURATION.median:g} days, sigma {DEFAULT_DURATION.sigma:g}) and fitted the rest"
        )
        shape = np.array([math.log(DEFAULT_DURATION.median * 24.0), math.log(DEFAULT_DURATION.sigma)])
        families["lognormal"] = _fit_family(model, data, "lognormal", st.always_on_share, shape)
    best = min(families, key=lambda f: families[f].aic)
    fit = families[best]
    # older than the purge age: gone, less what the model itself puts there (absences running past it)
    raw = data.gone / data.n
    pb = min(fit.p_beyond, 0.5)
    g = max(0.0, (raw - pb) / (1.0 - pb))
    g_se = math.sqrt(raw * (1 - raw) / data.n) / (1.0 - pb)
    if st.always_on_share is None:
        e = fit.estimate("always_on_share")
        if model.q > 0.5 or e.stderr is None or e.stderr > 0.1:
            warnings.append(
                f"the always-on share ({_pm(e.value, e.stderr)}) rests on the assumed working hours: at the "
                f"snapshot {100 * model.q:.0f}% of the weekly-pattern machines are in them and online like "
                "always-on ones, so only the shape of the absence ages tells them apart; an export taken in the "
                "evening or at the weekend measures it directly, or give it (--always-on-share)"
            )
    close = [ff for ff in families.values() if ff.aic - fit.aic < 4.0]
    means = [ff.mean_days for ff in close]
    if len(close) > 1 and max(means) > 1.25 * min(means):
        names = ", ".join(f"{ff.family} {ff.rate_per_year:.3g}/year, mean {ff.mean_days:.3g} days" for ff in close)
        warnings.append(
            f"families within 4 AIC of the best disagree on absences shorter than {st.absence_days:g} days "
            f"({names}): at this snapshot short spells look like nights and weekends, so their rate is the "
            "family's extrapolation; the absences longer than the threshold (fit.json, derived) are pinned down. "
            "An export taken in working hours shows short absences of laptops too"
        )
    for ff in families.values():
        if not ff.converged:
            warnings.append(f"the {ff.family} fit did not report convergence; treat it with care")
        if any(e.stderr is None for e in ff.estimates if not e.note):
            warnings.append(f"{ff.family}: some parameters are not identified (no standard error)")
    if fit.rate_per_year > MAX_RATE_PER_YEAR:
        warnings.append(f"leave rate {fit.rate_per_year:.3g} per year is over the model's limit; cut to 52")
    if fit.family == "lognormal" and fit.shape["sigma"] > MAX_SIGMA:
        warnings.append(f"lognormal sigma {fit.shape['sigma']:.3g} is over the model's limit; cut to {MAX_SIGMA:g}")
    if fit.family == "pareto" and not PARETO_ALPHA[0] < fit.shape["alpha"] <= PARETO_ALPHA[1]:
        warnings.append(f"Pareto alpha {fit.shape['alpha']:.3g} is outside the model's range {PARETO_ALPHA}; cut")
    return PresenceFit(st, snapshot_weekhour_utc, data, model, families, best, g, g_se, warnings)


def _pm(v: float, se: float | None) -> str:
    return f"{v:.3g} ± {se:.2g}" if se is not None else f"{v:.3g}, no standard error"


def last_online(presence: Presence, t: float, lookback_hours: float) -> np.ndarray:
    """The last moment at or before ``t`` each client was online (-inf: not within ``lookback_hours``).

    Walks forward through each client's online spells from ``t - lookback_hours`` with
    ``Presence.next_spell``, so it agrees with what the simulator would have had the client do.
    """
    n = presence.n
    cur = np.full(n, t - lookback_hours)
    last = np.full(n, -np.inf)
    active = np.arange(n)
    for _ in range(100_000):  # each pass moves every active client to its next spell; bounded by their count
        if not len(active):
            break
        s, e = presence.next_spell(active, cur[active])
        ok = s <= t
        last[active[ok]] = np.minimum(e[ok], t)
        cur[active[ok]] = e[ok]
        active = active[ok & (e < t)]
    return last


def synthetic_snapshot(
    spec: PresenceSpec,
    n: int,
    rng: np.random.Generator,
    snapshot_weekhour_utc: float,
    heartbeat_hours: float = 5 / 60,
) -> tuple[np.ndarray, np.ndarray]:
    """(age in hours of the last check-in, online) of ``n`` clients drawn from ``spec`` at a snapshot taken
    at ``snapshot_weekhour_utc``; gone clients and those unseen for the whole look-back get ``inf``.

    The fleet is ``generate_presence``'s (stationary: leave spells start from ``max_days`` before time 0);
    the snapshot is taken late enough that every spell that could still be running started after time 0.
    A check-in happens within a heartbeat of going offline, so offline ages grow by U(0, heartbeat).
    """
    lookback = spec.leave.max_days * 24.0 + 4 * 24.0
    start_wh = WEEKDAYS.index(spec.start_weekday) * 24.0 + spec.start_hour_utc
    t = lookback + np.mod(snapshot_weekhour_utc - start_wh - lookback, WEEK)
    pres = generate_presence(spec, n, t + 1.0, rng)
    last = last_online(pres, t, lookback)
    online = last >= t
    age = t - last + np.where(online, 0.0, rng.uniform(0.0, heartbeat_hours, n))
    age[online] = rng.uniform(0.0, heartbeat_hours, int(online.sum()))
    return age, online


def synthetic_export(
    spec: PresenceSpec,
    n: int,
    rng: np.random.Generator,
    snapshot: str = "2025-03-05T21:30:00+00:00",
    groups: tuple[str, ...] = ("My Company\\Laptops", "My Company\\Desktops", "My Company\\Servers"),
    versions: tuple[str, ...] = ("14.3.8289.5000", "14.3.9210.6000"),
) -> pd.DataFrame:
    """A computer-status export (SEPM column names) of ``n`` clients drawn from ``spec`` at ``snapshot``:
    for tests, the benchmark and trying the import. Gone clients were last seen 31 to 400 days before."""
    snap = pd.Timestamp(snapshot).tz_convert("UTC")
    weekhour = snap.day_of_week * 24.0 + snap.hour + snap.minute / 60.0
    age, online = synthetic_snapshot(spec, n, rng, weekhour)
    unseen = ~np.isfinite(age)
    age[unseen] = 24.0 * rng.uniform(max(spec.leave.max_days, 30.0) + 1.0, 400.0, int(unseen.sum()))
    secs = snap.timestamp() - age * 3600.0
    stamps = np.datetime_as_string(np.round(secs).astype("int64").astype("datetime64[s]"), unit="s")
    return pd.DataFrame(
        {
            "Computer Name": [f"PC-{i:07d}" for i in range(n)],
            "Group Name": np.array(groups, dtype=object)[rng.integers(0, len(groups), n)],
            "Client Version": np.array(versions, dtype=object)[rng.integers(0, len(versions), n)],
            "Operating System": "Windows 11 Enterprise",
            "Last Check-in": np.char.replace(stamps.astype(str), "T", " "),
            "Online Status": np.where(online, "Online", "Offline"),
        }
    )
