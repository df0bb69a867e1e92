"""The absence-length families the import fits (exponential, lognormal, Pareto), on the scales the fit uses,
with the limits of the scenario schema.

Why the limits live here: what the import writes must load (``sim.scenario.fields.LeaveSpec``: at most 52
spells a year; lognormal sigma at most 5; Pareto alpha in (0.5, 10]). The fit is *constrained* to them (bounds on
the transformed parameters), so the written model is the maximum-likelihood model among the admissible ones and
no estimate is cut after the fit (docs/fleet-import.md, "Families").
"""

from __future__ import annotations

import math

import numpy as np

from sim.scenario.fields import Distribution, Exponential, LeaveSpec, LogNormal, Pareto

HOURS_PER_YEAR = 8760.0


FAMILIES: tuple[str, ...] = ("exponential", "lognormal", "pareto")


DEFAULT_DURATION = LogNormal(distribution="lognormal", median=5.0, sigma=1.0)  # LeaveSpec's default


MIN_ABSENT = 20  # fewer absent clients than this: the spell-length shape is not fitted


def _schema_limit(model: type, name: str, kind: str) -> float:
    """A bound of a scenario field (``le`` / ``gt``), read from the schema so that the two cannot drift."""
    for m in model.model_fields[name].metadata:  # type: ignore[attr-defined]
        v = getattr(m, kind, None)
        if v is not None:
            return float(v)
    raise LookupError(f"{model.__name__}.{name} has no {kind}")


MAX_RATE_PER_YEAR = _schema_limit(LeaveSpec, "rate_per_year", "le")


MAX_SIGMA = _schema_limit(LogNormal, "sigma", "le")


PARETO_ALPHA = (_schema_limit(Pareto, "alpha", "gt"), _schema_limit(Pareto, "alpha", "le"))


PARAM_NAMES: dict[str, tuple[tuple[str, str, bool], ...]] = {
    # (name, unit, in hours: shown in days)
    "exponential": (("mean", "days", True),),
    "lognormal": (("median", "days", True), ("sigma", "", False)),
    "pareto": (("minimum", "days", True), ("alpha", "", False)),
}


def shape_bounds(family: str) -> list[tuple[float | None, float | None]]:
    """Bounds of the shape parameters on the fit's scale (logs of hours or of the dimensionless parameter)."""
    if family == "exponential":
        return [(None, None)]
    if family == "lognormal":
        return [(None, None), (None, math.log(MAX_SIGMA))]
    lo, hi = PARETO_ALPHA
    return [(None, None), (math.log(lo + 1e-3), math.log(hi))]  # alpha > 0.5 once written to 6 digits


def rate_bound() -> tuple[float | None, float | None]:
    """Bound of log(leave rate per hour)."""
    return (None, math.log(MAX_RATE_PER_YEAR / HOURS_PER_YEAR))


def shape_theta(family: str, values: dict[str, float]) -> np.ndarray:
    """The fit's scale (logs, lengths in hours) of natural values (lengths in days)."""
    return np.array([math.log(values[n] * (24.0 if hours else 1.0)) for n, _, hours in PARAM_NAMES[family]])


def survival(family: str, theta: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - F(b) of the spell length, ``theta`` the logs of the parameters in hours; the last point of ``b`` is
    the longest spell (``leave.max_days``): spells are cut there, as the simulator cuts them."""
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
    out[-1] = 0.0
    return out


def start_shapes(family: str, absent_ages: np.ndarray, tau: float) -> list[np.ndarray]:
    """Starting points from the absent clients' ages (hours); the Pareto likelihood has a second, worse
    maximum at a small minimum, so its starts sit at and above the absence threshold."""
    med = float(np.median(absent_ages)) if len(absent_ages) else 5 * 24.0
    if family == "exponential":
        return [np.array([math.log(max(med - tau, 24.0) * 1.4)])]
    if family == "lognormal":
        return [np.array([math.log(max(med / 1.5, 12.0)), 0.0]), np.array([math.log(max(med / 3, 12.0)), 0.4])]
    return [np.array([math.log(tau), math.log(1.5)]), np.array([math.log(2 * tau), math.log(2.0)])]


def to_distribution(family: str, values: dict[str, float]) -> Distribution:
    """The scenario's distribution with exactly these values (the fit kept them admissible)."""
    if family == "exponential":
        return Exponential(distribution="exponential", mean=values["mean"])
    if family == "lognormal":
        return LogNormal(distribution="lognormal", median=values["median"], sigma=values["sigma"])
    return Pareto(distribution="pareto", minimum=values["minimum"], alpha=values["alpha"])
