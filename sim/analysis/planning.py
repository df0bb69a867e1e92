"""Planning answers: replications with confidence, and the retention or wait that meets an orphan target.

One replication is an anecdote; ``replicate`` runs many with seeds from one root, each the same wherever it
runs. The timing questions are answered from each run's per-client first contact after the window opens
(``sim.contact``): under kb-multi-server a client survives a retention of R days iff it checks in before
the last old-certificate manager changes, R days after the first update; under kb-single-server it survives
a wait of W hours iff it checks in between secure communications going off and the update. Orphans that no
retention or wait cures (blocking causes: 14.2 clients, missed groups, lists with nowhere to fail over) are
counted apart. So one run gives the whole curve, orphans(R), without re-running per R.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.replications import Replications
from sim.analysis.stats import describe
from sim.errors import InputError
from sim.experiments.digest import BLOCKING


@dataclass
class Plan:
    """The recommended retention or wait for a target, with the curve and what stands in the way."""

    parameter: str
    unit: str
    target: dict[str, float]
    confidence: float
    recommended: float | None
    needed_by_replication: np.ndarray
    blocking_causes: dict[str, Any]
    curve: pd.DataFrame
    replications: int

    def to_json(self) -> dict[str, Any]:
        x = "days" if self.unit == "days" else "hours"
        points = [
            {
                x: float(r[self.parameter]),
                "orphaned_mean": _r(r["orphaned_mean"]),
                "ci95": [_r(r["ci95_low"]), _r(r["ci95_high"])],
                "q95": _r(r["q95"]),
            }
            for _, r in self.curve.iterrows()
        ]
        key = "recommended_retention_days" if self.parameter == "retention_days" else "recommended_wait_hours"
        return {
            key: self.recommended,
            "parameter": self.parameter,
            "target": self.target,
            "confidence": self.confidence,
            "replications": self.replications,
            "blocking_causes": self.blocking_causes,
            "statement": self.statement(),
            "curve": points,
        }

    def plot(self, reps: Replications) -> Any:
        """Figure: the curve with the recommendation and the target marked."""
        from sim.presentation import plots

        return plots.curve(reps, self)

    def statement(self) -> str:
        what = "orphans" if "max_orphans" in self.target else "orphan rate"
        limit = self.target.get("max_orphans", self.target.get("max_orphan_rate"))
        pct = f"{self.confidence:.0%}"
        name = "keeping the old certificate" if self.parameter == "retention_days" else "waiting"
        if self.recommended is None:
            causes = ", ".join(f"{c} ({v['mean']:.1f} on average)" for c, v in self.blocking_causes.items()) or "none"
            return (
                f"No {self.parameter.replace('_', ' ')} meets {what} <= {limit:g} with {pct} confidence; "
                f"orphans no {name.split()[0]} can prevent: {causes}."
            )
        return f"With {pct} confidence, {name} {self.recommended:g} {self.unit} keeps {what} at or below {limit:g}."


def _r(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else round(float(v), 4)


def plan(
    reps: Replications,
    *,
    max_orphans: float | None = None,
    max_orphan_rate: float | None = None,
    confidence: float = 0.95,
    grid: np.ndarray | list[float] | None = None,
) -> Plan:
    """The smallest retention (kb-multi-server) or wait (kb-single-server) that meets the target in a
    ``confidence`` share of replications: the ``confidence`` quantile of each replication's own smallest.
    No target given means no orphan at all."""
    if max_orphans is not None and max_orphan_rate is not None:
        raise InputError("plan", "target", "give one of --max-orphans or --max-orphan-rate, not both")
    if max_orphans is None and max_orphan_rate is None:
        max_orphans = 0
    if max_orphans is not None and max_orphans < 0:
        raise InputError("plan", "--max-orphans", "must be 0 or more")
    if max_orphan_rate is not None and not 0 <= max_orphan_rate <= 1:
        raise InputError("plan", "--max-orphan-rate", "must be between 0 and 1")
    if not 0.5 <= confidence < 1:
        raise InputError("plan", "--confidence", "must be at least 0.5 and below 1")
    ax = reps.axis()
    name, unit = ax.parameter, ax.unit
    needed = reps.needed(max_orphans, max_orphan_rate)
    q = float(np.quantile(needed, confidence, method="higher"))
    step = 0.01 if unit == "days" else 0.05
    recommended: float | None
    if q == np.inf:
        recommended = None
    elif q < 0:
        recommended = 0.0
    else:  # the first step strictly above the need of the last client it must save
        recommended = round((math.floor(q / step + 1e-9) + 1) * step, 4)
    blocking: dict[str, Any] = {}
    for c in BLOCKING:
        vals = np.array([d.blocked_by_cause.get(c, 0) for d in reps.digests], float)
        if vals.any():
            blocking[c] = describe(vals, confidence)
    target = (
        {"max_orphans": float(max_orphans)}
        if max_orphans is not None
        else {"max_orphan_rate": float(max_orphan_rate or 0.0)}
    )
    x = reps.default_grid() if grid is None else np.asarray(grid, float)
    if recommended is not None and recommended not in x:
        x = np.unique(np.append(x, recommended))
    return Plan(name, unit, target, confidence, recommended, needed, blocking, reps.curve(x, confidence), reps.n)
