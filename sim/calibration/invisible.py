"""Clients a console no longer lists but who are alive: how many, and when they come back.

Why: a console deletes clients not seen for its purge age (domain fact 25), so an export holds no row older
than that, yet a laptop on long leave comes back, with the old certificate. The fitted model (whose spells
run to ``max_days``, not cut at the purge age) puts a share ``q`` of the whole fleet beyond the purge age, so
for ``n`` listed clients the fleet has about ``n q / (1 - q)`` more (``PresenceFit.invisible_clients``).

When each comes back: an absence running at the snapshot and older than the purge age ``P`` has, for one
spell, a remaining length with survival ``P(R > r) = int_{P+r}^{max} S(u) du / int_P^{max} S(u) du`` (the
joint density of age ``b`` and remaining ``r`` of a spell covering a moment is ``f(b + r) / E[D]``; integrate
``b`` over ``(P, max)``). Overlapping spells are neglected (second order in the share on leave). The import
writes them as listed clients with a known absence up to that return, at evenly spaced quantiles of ``R``
(``(i + 1/2) / k``), so that their number coming back after any day is the model's, without sampling noise.
"""

from __future__ import annotations

import numpy as np

from sim.calibration.families import shape_theta, survival
from sim.calibration.fit import PresenceFit


def remaining_quantiles(fit: PresenceFit, k: int) -> np.ndarray:
    """``k`` return times (days after the snapshot) of absences older than the purge age, at the quantiles
    ``(i + 1/2) / k`` of the chosen family's conditional remaining length."""
    if k <= 0:
        return np.zeros(0)
    ch = fit.chosen
    model = fit.model
    surv = survival(ch.family, shape_theta(ch.family, ch.shape), model.r)
    purge = fit.settings.purge_days * 24.0
    r = model.r
    sel = r >= purge
    u = r[sel] - purge
    s = surv[sel]
    tail = np.concatenate([[0.0], np.cumsum((s[1:] + s[:-1]) / 2 * np.diff(u))])  # int_P^{P+u} S
    total = tail[-1]
    if total <= 0:
        return np.zeros(k)
    cdf = tail / total  # P(R <= u)
    p = (np.arange(k) + 0.5) / k
    return np.interp(p, cdf, u) / 24.0


def invisible_count(fit: PresenceFit) -> int:
    """The whole number of invisible clients the import writes: the expected count, rounded."""
    return int(round(fit.invisible_clients))
