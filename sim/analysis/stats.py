"""Summaries across replications: mean, standard error, a 95% interval of the mean, quantiles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def describe(values: np.ndarray | list[float] | pd.Series, confidence: float = 0.95) -> dict[str, Any]:
    """Mean, its standard error and Student-t interval, and quantiles; NaN values (a run where the quantity
    is undefined) are dropped and counted in ``missing``. Infinite values are kept for quantiles only."""
    v = np.asarray(values, dtype=float)
    missing = int(np.isnan(v).sum())
    v = v[~np.isnan(v)]
    finite = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return {"n": 0, "missing": missing, "mean": None, "stderr": None, "ci95": [None, None], "quantiles": {}}
    q = {
        f"{p:g}": _num(np.quantile(v, p, method="linear"))
        if np.isfinite(v).all()
        else _num(np.quantile(v, p, method="higher"))
        for p in QUANTILES
    }
    if len(finite) < n:  # some replications never reach it: no mean
        return {
            "n": n,
            "missing": missing,
            "mean": None,
            "stderr": None,
            "ci95": [None, None],
            "quantiles": q,
            "never": n - len(finite),
        }
    mean = float(finite.mean())
    se = float(finite.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    half = float(_t_quantile(0.5 + confidence / 2, n - 1) * se) if n > 1 else float("nan")
    lo = mean - half
    if (finite >= 0).all():
        lo = max(lo, 0.0)  # counts and durations: an interval below zero says nothing more than zero
    return {
        "n": n,
        "missing": missing,
        "mean": mean,
        "stderr": _num(se),
        "ci95": [_num(lo), _num(mean + half)],
        "quantiles": q,
    }


def describe_time(values: np.ndarray | list[float] | pd.Series, confidence: float = 0.95) -> dict[str, Any]:
    """A time some replications may never reach by their horizon (``None`` or ``inf``: never), e.g. when every
    returning client trusted the new certificates. Why apart from ``describe``: a mean over the replications
    that reached it is not the mean (the others would add more), so it is given only when all reached it, and
    the answer leads with how many did (``reached`` of ``n``). The median is ``None`` ("never") when half or
    more did not reach it by the horizon."""
    v = np.array([np.inf if x is None else float(x) for x in values], dtype=float)
    d = describe(np.where(np.isnan(v), np.inf, v), confidence)
    n = d["n"]
    reached = int(np.isfinite(v).sum())
    d["reached"] = reached
    d["never"] = n - reached
    return d


def _t_quantile(p: float, dof: int) -> float:
    """Student's t quantile. scipy is imported here, not at the top: it costs a third of a second, and
    ``import sim`` (every ``rotasim`` command) must not pay it before anything needs an interval."""
    from scipy import stats

    return float(stats.t.ppf(p, dof))


def _num(x: float) -> float | None:
    """A JSON-safe number: None where undefined or never reached."""
    x = float(x)
    return x if np.isfinite(x) else None
