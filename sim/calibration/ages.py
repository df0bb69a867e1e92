"""What one snapshot of a fleet shows: the ages of the last check-ins, as the presence model predicts them.

Why this works (docs/fleet-import.md, "The fit"): in a fleet in a steady state, leave spells start at random
times (a Poisson process of rate ``lambda`` per client, as ``sim.model.presence.generate_presence`` draws them),
so the spells still running at the moment of a snapshot are a length-biased sample, and the time since such a
spell started (its *backward recurrence time*) has the equilibrium density ``(1 - F(b)) / m`` of the spell
length ``D`` (``F`` its distribution, ``m = E[min(D, max_days)]``). The time until it ends (the *forward*
recurrence time, what a rotation has to wait for) has the very same density, so fitting ``F`` to the ages of the
last check-ins fits the return times the simulator needs.

What a snapshot shows is not the spell itself but the time since the last check-in:

- a machine with the weekly pattern (a laptop) that went on leave during the night or the weekend last
  checked in at the end of its last working day, so its age is the spell's age plus that gap;
- at a snapshot outside its working hours, a laptop that is not on leave is offline too, with the age of
  its last working day's end, and one whose leave ended since then has not been seen since it left.

``AgeModel`` computes, for the snapshot's weekday and hour, the exact distribution of the observed age for
each kind of machine: always-on machines (age = spell age) and laptops (the weekly pattern, each client's
working window shifted by a normal personal offset as the simulator does, and the fleet's time zones), by
numerical integration of the spell age over a fine grid that runs to the longest spell (``max_days``), so that
spells are *not* cut at the console's purge age: a client whose absence is older than the purge age is not in
the export (the console deleted it) but is alive; the model's mass beyond the purge age is what the import
reports as invisible clients (``sim.calibration.invisible``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sim.calibration.families import FAMILIES
from sim.model.presence import WEEK, WeeklyWindows
from sim.scenario.fields import WORKDAYS

GRID_HOURS = 1.0  # integration step of the absence age (hours), up to a purge age of LONG_PURGE_DAYS


LONG_PURGE_DAYS = 60.0  # beyond it the step is COARSE_GRID_HOURS (a divisor of the 6-hour bins): months of


COARSE_GRID_HOURS = 3.0  # ages matter by their shape over weeks, and the fit stays a few seconds


BIN_HOURS = 6.0  # width of the age classes of the likelihood and of the plot


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
    purge_days: float = 30.0  # the console's purge age: no listed client is older (offline)
    max_days: float = 365.0  # the longest leave spell (``leave.max_days``), above the purge age
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
        if not self.purge_days < self.max_days <= 3 * 365:
            out.append("the longest leave spell must be above the purge age and at most 1095 days")
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
        step = GRID_HOURS if settings.purge_days <= LONG_PURGE_DAYS else COARSE_GRID_HOURS
        n_grid = int(math.ceil(settings.max_days * 24.0 / step))
        self.dt = settings.max_days * 24.0 / n_grid
        self.r = np.arange(n_grid + 1) * self.dt  # where the survival function is evaluated
        # midpoints of the episode-age cells that can show an age within the purge age: an absence older than
        # that shows an older age on any machine, so the cells beyond only add to the class `beyond`
        self.n_cells = int(math.ceil(purge / self.dt))
        self.b = (np.arange(self.n_cells) + 0.5) * self.dt
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
        """(P online, P of each age class incl. beyond the purge age, m = E[min(D, max_days)]) for a client;
        ``surv`` is 1 - F at the points ``self.r``."""
        c, p, m = episode_mass(surv, lam, self.dt, self.n_cells)
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


def episode_mass(surv: np.ndarray, lam: float, dt: float, n_out: int | None = None) -> tuple[np.ndarray, float, float]:
    """Distribution of the time since a client's current absence began, for the simulator's leave process.

    Spells start as a Poisson process of rate ``lam`` (per hour) and last ``min(D, max)`` (``surv`` is
    ``1 - F`` at ``0, dt, ..., max``, zero at the end); overlapping spells merge into one absence. By time
    reversal the age of the absence covering a moment has the law of its remaining length, which a scan
    forward computes: the remaining coverage ``R`` falls at rate 1 and jumps to ``max(R, D)`` whenever a
    spell starts (rate ``lam``), and the absence ends when ``R`` hits 0. Unrolled on the grid, the mass
    ``c_k`` ending in step ``k`` solves a causal convolution equation ``c = a - (K * c)``, i.e. ``c`` is the
    power series ``a / (1 + K)``, computed by Newton iteration with FFT products (exact to rounding).

    Returns (``c``: mass per cell ``(k dt, (k+1) dt]``, ``p = 1 - exp(-lam m)``: share absent, ``m``);
    ``p - c.sum()`` is the mass of absences older than ``max``. The equation is causal, so ``n_out`` cells
    (the first) cost a series of that length only, whatever ``max``; ``p - c.sum()`` is then the mass older
    than ``n_out dt``.
    """
    n = len(surv) - 1 if n_out is None else min(n_out, len(surv) - 1)
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


@dataclass
class AgeCounts:
    """The snapshot reduced to the counts the likelihood needs."""

    n: int  # clients listed (within the purge age, or online)
    beyond: int  # offline and older than the purge age: left out of the fit (a console would not list them)
    online: int
    bins: np.ndarray  # offline within the purge age, per fine age bin
    absent_ages: np.ndarray  # hours, offline with age in (absence, purge]

    @property
    def fitted(self) -> int:
        """Clients the likelihood describes: listed ones within the purge age."""
        return self.n - self.beyond

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
        n=len(online), beyond=int(counts[-1]), online=int(online.sum()), bins=counts[:-1].copy(), absent_ages=absent
    )
