"""Fitting the presence model to one snapshot of a real fleet: the ages of the last check-ins.

The observation model is ``sim.calibration.ages`` (what a snapshot shows for given parameters); the families
and their schema limits are ``sim.calibration.families``. The fit is a maximum-likelihood fit of a multinomial
over age classes of the listed clients:

- *online* at the snapshot (the export's online status),
- *offline, last check-in at most* ``absence_days`` *ago* (one class: nights, weekends, short spells),
- *offline, age in* ``(absence_days, purge_days]``, in 6-hour bins (the absences: their shape fits ``F``),

conditioned on the age being at most ``purge_days``: the console deleted the clients not seen for longer, so
an export lists none (domain fact 25). Spells are not cut at the purge age (they run to ``max_days``); the
model's mass beyond it is the share of the fleet the console no longer lists (``invisible_share``).

The share on leave at any moment is ``p = 1 - exp(-lambda m)`` (spells start as a Poisson process whatever
the client is doing, and overlapping ones merge: ``sim.model.presence``).

Parameters: always-on share ``s`` (logit), leave rate ``lambda`` (log) and the spell-length parameters
(logs), per family (exponential, lognormal, Pareto), each fitted *within the schema's limits* (bounded
L-BFGS-B, then a bounded Nelder-Mead polish), so the written model is the fitted one; the family with the
smallest AIC is written, all are reported. Standard errors come from the observed information: the inverse of
the numerical Hessian of the log-likelihood at the maximum (over the parameters not at a limit), carried to
the reported units by the delta method.

The always-on share is identified by the clients online at a snapshot taken outside working hours; inside
working hours laptops are online too and the share is barely determined (a warning says so; pass
``always_on_share`` to fix it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.calibration.ages import AgeCounts, AgeModel, FitSettings, count_ages
from sim.calibration.families import (
    DEFAULT_DURATION,
    FAMILIES,
    HOURS_PER_YEAR,
    MIN_ABSENT,
    PARAM_NAMES,
    rate_bound,
    shape_bounds,
    start_shapes,
    survival,
    to_distribution,
)
from sim.scenario.fields import AwayAtStartSpec, Distribution, LeaveSpec, PatternSpec, PresenceSpec

__all__ = ["FAMILIES", "FamilyFit", "PresenceFit", "fit_presence"]

SIGNIFICANT_DIGITS = 6  # of every value written to presence.yaml, fit.json and the scenario alike


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
    theta: np.ndarray  # transformed parameters of the written (rounded) values: [logit s]?, log lambda, log shape
    always_on_share: float
    rate_per_year: float
    shape: dict[str, float]  # natural units (days for lengths)
    at_limit: list[str]  # parameters the schema's limits hold (the data would have them beyond)
    prevalence: float  # share on leave at any moment
    mean_days: float  # E[min(D, max_days)]
    long_rate_per_year: float  # spells longer than the absence threshold, per client per year
    long_mean_days: float  # their mean length beyond the threshold (cut at max_days)
    invisible_share: float  # share of the whole fleet whose last check-in is older than the purge age
    invisible_share_se: float | None
    fitted: np.ndarray  # expected clients per fine bin (offline, within the purge age)
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
            "at_schema_limit": list(self.at_limit),
            "loglik": self.loglik,
            "aic": self.aic,
            "n_params": self.n_params,
            "converged": self.converged,
            "prevalence": self.prevalence,
            "mean_absence_days": self.mean_days,
            "long_absences_per_year": self.long_rate_per_year,
            "long_absence_mean_days_beyond_threshold": self.long_mean_days,
            "invisible_share": self.invisible_share,
            "invisible_share_stderr": self.invisible_share_se,
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

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """The schema's limits on the transformed parameters (``sim.calibration.families``)."""
        head: list[tuple[float | None, float | None]] = [] if self.fixed_s is not None else [(None, None)]
        shape = shape_bounds(self.family) if self.fixed_shape is None else []
        return [*head, rate_bound(), *shape]

    def names(self) -> list[str]:
        head = [] if self.fixed_s is not None else ["always_on_share"]
        shape = [f"duration_{n}" for n, _, _ in PARAM_NAMES[self.family]] if self.fixed_shape is None else []
        return [*head, "leave_rate_per_year", *shape]

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
            - d.fitted * math.log(norm)
        )
        return -ll if math.isfinite(ll) else 1e300


def _sig(v: float) -> float:
    return float(f"{v:.{SIGNIFICANT_DIGITS}g}")


def _optimise(nll: _Likelihood, starts: list[np.ndarray]) -> tuple[np.ndarray, bool]:
    """Bounded L-BFGS-B from each start, then a bounded Nelder-Mead polish where it may help (the Pareto
    likelihood has a kink where the minimum crosses a grid point; or the gradient fit did not converge).
    Returns the best point and whether the optimiser said it converged."""
    from scipy import optimize

    bounds = nll.bounds()
    lo = np.array([-np.inf if a is None else a for a, _ in bounds])
    hi = np.array([np.inf if b is None else b for _, b in bounds])
    best: optimize.OptimizeResult | None = None
    for x0 in starts:
        res = optimize.minimize(nll, np.clip(x0, lo, hi), method="L-BFGS-B", bounds=bounds)
        if best is None or res.fun < best.fun:
            best = res
    assert best is not None
    if nll.family != "pareto" and best.success:  # smooth likelihoods: the gradient fit has converged
        return np.clip(np.asarray(best.x, float), lo, hi), True
    polish = optimize.minimize(
        nll,
        best.x,
        method="Nelder-Mead",
        bounds=bounds,
        options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 600, "adaptive": True},
    )
    ok = bool(best.success)
    if polish.fun <= best.fun:
        ok = bool(best.success or polish.success)
        best = polish
    return np.clip(np.asarray(best.x, float), lo, hi), ok


def _rounded(nll: _Likelihood, x: np.ndarray) -> tuple[np.ndarray, float, float, dict[str, float]]:
    """The written values (``SIGNIFICANT_DIGITS``) and their transformed vector, so that everything derived
    (fitted counts, invisible share, AIC) is of the model the scenario holds, not of unrounded numbers."""
    s, lam, shape = nll.unpack(x)
    s_w = _sig(s) if nll.fixed_s is None else s
    rate_w = _sig(lam * HOURS_PER_YEAR)
    values: dict[str, float] = {}
    for j, (name, _, hours) in enumerate(PARAM_NAMES[nll.family]):
        values[name] = _sig(math.exp(shape[j]) / (24.0 if hours else 1.0))
    xs: list[float] = [] if nll.fixed_s is not None else [_logit(s_w)]
    xs.append(math.log(rate_w / HOURS_PER_YEAR))
    if nll.fixed_shape is None:
        for name, _, hours in PARAM_NAMES[nll.family]:
            xs.append(math.log(values[name] * (24.0 if hours else 1.0)))
    lo = np.array([-np.inf if a is None else a for a, _ in nll.bounds()])
    hi = np.array([np.inf if b is None else b for _, b in nll.bounds()])
    return np.clip(np.array(xs), lo, hi), s_w, rate_w, values


def _at_limit(nll: _Likelihood, x: np.ndarray) -> np.ndarray:
    """Which parameters sit at a schema limit (within the rounding of what is written)."""
    out = np.zeros(len(x), bool)
    for i, (a, b) in enumerate(nll.bounds()):
        out[i] = (a is not None and x[i] <= a + 1e-5) or (b is not None and x[i] >= b - 1e-5)
    return out


def _fit_family(
    model: AgeModel, data: AgeCounts, family: str, fixed_s: float | None, fixed_shape: np.ndarray | None
) -> FamilyFit:
    nll = _Likelihood(model, data, family, fixed_s, fixed_shape)
    tau = model.settings.absence_days * 24.0
    shapes = start_shapes(family, data.absent_ages, tau) if fixed_shape is None else [np.zeros(0)]
    # start: the share online tells s when laptops are off; the absent count tells p and so lambda
    p0 = min(max(data.absent / max(data.fitted, 1) / 0.6, 1e-4), 0.9)
    mean0 = float(np.median(data.absent_ages)) if data.absent else 5 * 24.0
    lam0 = -math.log1p(-p0) / max(mean0, 1.0)
    s0 = min(max((data.online / max(data.fitted, 1) / (1 - p0) - model.q) / max(1 - model.q, 1e-3), 0.05), 0.95)
    head = [] if fixed_s is not None else [_logit(s0)]
    x_opt, converged = _optimise(nll, [np.array([*head, math.log(lam0), *shape0]) for shape0 in shapes])
    x, s, rate, values = _rounded(nll, x_opt)
    limit = _at_limit(nll, x)
    cov = _covariance(nll, x, ~limit)
    _, lam, shape = nll.unpack(x)
    p_on, classes, m, _ = nll.parts(x)
    norm = 1.0 - classes[-1]
    se = np.sqrt(np.diag(cov)) if cov is not None else np.full(len(x), np.nan)
    names = nll.names()
    scale = {"always_on_share": s * (1 - s), "leave_rate_per_year": rate}
    units = {"always_on_share": "share of clients", "leave_rate_per_year": "spells per client per year"}
    natural = {"always_on_share": s, "leave_rate_per_year": rate}
    for name, unit, _ in PARAM_NAMES[family]:
        natural[f"duration_{name}"] = values[name]
        scale[f"duration_{name}"] = values[name]
        units[f"duration_{name}"] = unit
    estimates: list[Estimate] = []
    if fixed_s is not None:
        estimates.append(Estimate("always_on_share", s, None, "share of clients", "fixed by the user"))
    for i, name in enumerate(names):
        note = "at the schema's limit: the data would have it beyond; no standard error" if limit[i] else ""
        estimates.append(Estimate(name, natural[name], _finite(scale[name] * se[i]), units[name], note))
    if fixed_shape is not None:
        for name, unit, _ in PARAM_NAMES[family]:
            note = "default shape: too few absent clients to fit it"
            estimates.append(Estimate(f"duration_{name}", values[name], None, unit, note))
    # what one snapshot pins down whatever the family: the spells longer than the absence threshold
    surv = survival(family, shape, model.r)
    s_tau = float(np.interp(tau, model.r, surv))
    beyond = model.r >= tau
    long_mean = float(np.trapezoid(surv[beyond], model.r[beyond])) / s_tau / 24.0 if s_tau > 0 else 0.0
    k = len(x)
    ll = -nll(x)
    return FamilyFit(
        family=family,
        estimates=estimates,
        loglik=ll,
        aic=2 * k - 2 * ll,
        n_params=k,
        converged=converged,
        shape_fitted=fixed_shape is None,
        theta=x,
        always_on_share=s,
        rate_per_year=rate,
        shape=values,
        at_limit=[names[i] for i in np.flatnonzero(limit)],
        prevalence=-math.expm1(-lam * m),
        mean_days=m / 24.0,
        long_rate_per_year=rate * s_tau,
        long_mean_days=long_mean,
        invisible_share=float(classes[-1]),
        invisible_share_se=_invisible_se(nll, x, cov, ~limit),
        fitted=data.fitted * classes[:-1] / norm,
        fitted_online=data.fitted * p_on / norm,
    )


def _invisible_se(nll: _Likelihood, x: np.ndarray, cov: np.ndarray | None, free: np.ndarray) -> float | None:
    """Delta method: the gradient of the model's share beyond the purge age over the free parameters."""
    if cov is None:
        return None
    idx = np.flatnonzero(free)
    g = np.zeros(len(idx))
    h = 1e-4
    for a, i in enumerate(idx):
        e = np.zeros(len(x))
        e[i] = h
        g[a] = (nll.parts(x + e)[1][-1] - nll.parts(x - e)[1][-1]) / (2 * h)
    v = float(g @ cov[np.ix_(idx, idx)] @ g)
    return math.sqrt(v) if v >= 0 and math.isfinite(v) else None


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _covariance(f: Callable[[np.ndarray], float], x: np.ndarray, free: np.ndarray) -> np.ndarray | None:
    """Inverse observed information over the ``free`` parameters (those at a schema limit held fixed), as a
    full-size matrix with NaN for the fixed ones; None where the Hessian is not positive definite."""
    idx = np.flatnonzero(free)
    if len(idx) == 0:
        return None

    def sub(y: np.ndarray) -> float:
        z = x.copy()
        z[idx] = y
        return f(z)

    for step in (2e-3, 1e-2):
        H = numeric_hessian(sub, x[idx], step)
        if not np.all(np.isfinite(H)):
            continue
        try:
            np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            continue
        out = np.full((len(x), len(x)), np.nan)
        out[np.ix_(idx, idx)] = np.linalg.inv(H)
        return out
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
    warnings: list[str]

    @property
    def chosen(self) -> FamilyFit:
        return self.families[self.best]

    @property
    def invisible_clients(self) -> float:
        """Expected clients the console no longer lists but who are alive: the fitted clients times
        ``q / (1 - q)``, ``q`` the model's share of the whole fleet last seen before the purge age."""
        q = self.chosen.invisible_share
        return self.counts.fitted * q / (1.0 - q)

    @property
    def invisible_clients_se(self) -> float | None:
        se = self.chosen.invisible_share_se
        q = self.chosen.invisible_share
        return None if se is None else self.counts.fitted * se / (1.0 - q) ** 2

    def estimates(self) -> list[Estimate]:
        """The chosen family's parameters and the invisible clients: the table the import prints."""
        note = "purged from the console but alive: the fitted model's clients older than the purge age"
        g = Estimate("invisible_clients", self.invisible_clients, self.invisible_clients_se, "clients", note)
        return [*self.chosen.estimates, g]

    def presence_spec(self, start_weekday: str = "mon", start_hour_utc: float = 9.0) -> PresenceSpec:
        """The fitted model as the scenario's ``fleet.presence``: exactly the chosen family's (rounded) values,
        leave spells up to ``max_days`` (not cut at the purge age), no gone share (a snapshot cannot tell a
        decommissioned machine from long leave: docs/fleet-import.md)."""
        fit = self.chosen
        s = fit.always_on_share
        pat = self.settings.pattern
        patterns = [
            PatternSpec(name="always-on", share=s, schedule="always"),
            PatternSpec(
                name="laptop",
                share=round(1.0 - s, 12),
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
                rate_per_year=fit.rate_per_year, duration_days=fit.distribution(), max_days=self.settings.max_days
            ),
            away_at_start=AwayAtStartSpec(),
            gone_share=0.0,
            start_weekday=start_weekday,
            start_hour_utc=start_hour_utc,
        )

    def age_table(self) -> list[dict[str, Any]]:
        """Observed against fitted clients per age class (listed, within the purge age), all families."""
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
                "likelihood": "multinomial over age classes of the listed clients (online; offline up to the "
                "absence threshold; 6-hour bins of absences up to the purge age), conditioned on age <= purge "
                "(the console lists no older client); leave spells run to max_days, not cut at the purge age",
                "constraints": "each family fitted within the scenario schema's limits (leave rate <= 52 a year, "
                "lognormal sigma <= 5, Pareto alpha in (0.5, 10]): bounded L-BFGS-B and Nelder-Mead",
                "stderr": "observed information: inverse numerical Hessian of the log-likelihood at the maximum "
                "(parameters at a limit held fixed), delta method to the reported units",
                "model_choice": "smallest AIC",
                "written": f"values rounded to {SIGNIFICANT_DIGITS} significant digits; the likelihood, AIC and "
                "derived quantities are of the rounded values, i.e. of the model presence.yaml holds",
            },
            "settings": {
                "purge_days": st.purge_days,
                "max_days": st.max_days,
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
                "invisible_share": self.chosen.invisible_share,
                "invisible_clients": self.invisible_clients,
            },
            "families": {f: ff.as_dict() for f, ff in self.families.items()},
            "age_table": self.age_table(),
            "warnings": list(self.warnings),
        }


def fit_presence(
    age_hours: np.ndarray, online: np.ndarray, snapshot_weekhour_utc: float, settings: FitSettings | None = None
) -> PresenceFit:
    """Fit the presence model to one snapshot: each client's hours since its last check-in and whether it
    was online. ``snapshot_weekhour_utc``: hours since Monday 00:00 UTC of the snapshot. Offline clients older
    than the purge age are left out (a console would not list them; ``counts.beyond``)."""
    st = settings or FitSettings()
    problems = st.check()
    if problems:
        raise ValueError("; ".join(problems))
    model = AgeModel(snapshot_weekhour_utc, st)
    data = count_ages(model, age_hours, online)
    if data.n == 0:
        raise ValueError("no clients to fit")
    if data.fitted == 0:
        raise ValueError("every client is older than the purge age: nothing to fit")
    warnings: list[str] = []
    families: dict[str, FamilyFit] = {}
    if data.absent >= MIN_ABSENT:
        for fam in st.families:
            families[fam] = _fit_family(model, data, fam, st.always_on_share, None)
    else:
        warnings.append(
            f"only {data.absent} absent clients (offline more than {st.absence_days:g} days): too few to fit the "
            f"absence lengths; kept the default lognormal shape (median {DEFAULT_DURATION.median:g} days, sigma "
            f"{DEFAULT_DURATION.sigma:g}) and fitted the rest"
        )
        shape = np.array([math.log(DEFAULT_DURATION.median * 24.0), math.log(DEFAULT_DURATION.sigma)])
        families["lognormal"] = _fit_family(model, data, "lognormal", st.always_on_share, shape)
    best = min(families, key=lambda f: families[f].aic)
    warnings += _fit_warnings(model, data, families, best)
    return PresenceFit(st, snapshot_weekhour_utc, data, model, families, best, warnings)


LATE_ROWS = 5  # absent rows in the last quarter of the window that say the purge cut a tail


def _fit_warnings(model: AgeModel, data: AgeCounts, families: dict[str, FamilyFit], best: str) -> list[str]:
    st = model.settings
    fit = families[best]
    out: list[str] = []
    if st.always_on_share is None:
        e = fit.estimate("always_on_share")
        if model.q > 0.5 or e.stderr is None or e.stderr > 0.1:
            out.append(
                f"the always-on share ({_pm(e.value, e.stderr)}) rests on the assumed working hours: at the "
                f"snapshot {100 * model.q:.0f}% of the weekly-pattern machines are in them and online like "
                "always-on ones, so only the shape of the absence ages tells them apart; an export taken in the "
                "evening or at the weekend measures it directly, or give it (--always-on-share)"
            )
    close = [ff for ff in families.values() if ff.aic - fit.aic < 4.0]
    means = [ff.mean_days for ff in close]
    if len(close) > 1 and max(means) > 1.25 * min(means):
        names = ", ".join(f"{ff.family} {ff.rate_per_year:.3g}/year, mean {ff.mean_days:.3g} days" for ff in close)
        out.append(
            f"families within 4 AIC of the best disagree on absences shorter than {st.absence_days:g} days "
            f"({names}): at this snapshot short spells look like nights and weekends, so their rate is the "
            "family's extrapolation; the absences longer than the threshold (fit.json, derived) are pinned down. "
            "An export taken in working hours shows short absences of laptops too"
        )
    tau, purge = st.absence_days * 24.0, st.purge_days * 24.0
    edge = purge - (purge - tau) / 4.0
    late = int((data.absent_ages > edge).sum())
    if late >= LATE_ROWS:
        out.append(
            f"{late} absent clients were last seen in the last quarter of the export's window (over "
            f"{edge / 24:.0f} of the {st.purge_days:g} days): absences run up to the purge age, so the console "
            f"has likely deleted longer ones. Their number (invisible clients) and return are the {best} "
            "family's extrapolation beyond what the export shows; a console keeping clients longer, or an HR "
            "leave calendar (--absences), shows them"
        )
    inv = {ff.family: ff.invisible_share for ff in close}
    if len(inv) > 1 and max(inv.values()) > 1.25 * min(inv.values()) + 1e-4:
        named = ", ".join(f"{f} {100 * q:.2g}%" for f, q in sorted(inv.items(), key=lambda kv: kv[1]))
        out.append(
            f"families within 4 AIC of the best disagree on the share of the fleet unseen for longer than the purge "
            f"age ({named}; the invisible clients): the export shows no absence older than {st.purge_days:g} days, "
            "so that tail is the family's extrapolation. A longer purge age on the console, or an export taken "
            "before the purge, shows it"
        )
    for ff in families.values():
        if not ff.converged:
            out.append(f"the {ff.family} fit did not report convergence; treat it with care")
        if any(e.stderr is None for e in ff.estimates if not e.note):
            out.append(f"{ff.family}: some parameters are not identified (no standard error)")
    if fit.at_limit:
        out.append(
            f"the chosen {best} fit holds {', '.join(fit.at_limit)} at the scenario schema's limit (the data would "
            "have it beyond): the written model is the best admissible one, fitted within the limits"
        )
    return out


def _pm(v: float, se: float | None) -> str:
    return f"{v:.3g} ± {se:.2g}" if se is not None else f"{v:.3g}, no standard error"
