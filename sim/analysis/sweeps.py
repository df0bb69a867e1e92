"""Sweeps: the same replications over a grid of scenario fields, with common random numbers.

Every grid point runs replications 0..n-1 under the same root seed, so point A and point B see the same
fleet (when the swept field does not change the fleet's shape) and the same per-client random streams: the
differences between points are the fields' doing, not sampling noise.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.stats import describe, describe_time
from sim.analysis.verdict import Threshold, judge
from sim.errors import InputError
from sim.experiments.digest import Digest, _digest
from sim.experiments.execution import run_tasks
from sim.experiments.options import Engine, RunOptions, check_replications, merge_options
from sim.model.causes import CAUSES
from sim.scenario.document import Scenario
from sim.scenario.overrides import MAX_POINTS


@dataclass
class Sweep:
    """``runs``: one row per grid point and replication; ``table()``: one row per grid point with intervals."""

    fields: list[str]
    runs: pd.DataFrame
    threshold: Threshold | None = None  # the target each point is judged against (``table``'s verdict)

    def plot(self, x: str | None = None) -> Any:
        """Figure: mean orphans against one swept field (``sim.plots.sweep``)."""
        from sim.presentation import plots

        return plots.sweep(self, x)

    def table(self, confidence: float = 0.95, threshold: Threshold | None = None) -> pd.DataFrame:
        """One row per grid point. With a threshold (given here or to ``sweep``), each point also gets the
        same risk as ``report`` and ``plan`` (``sim.analysis.risk``): how many replications exceed it, the
        chance that one rotation does with its exact interval, and the verdict."""
        threshold = threshold if threshold is not None else self.threshold
        rows = []
        for key, g in self.runs.groupby(self.fields, sort=False, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            d = describe(g["orphaned"].to_numpy(), confidence)
            row = dict(zip(self.fields, key, strict=True))
            row.update(
                {
                    "replications": len(g),
                    "orphaned_mean": d["mean"],
                    "orphaned_stderr": d["stderr"],
                    "orphaned_ci95_low": d["ci95"][0],
                    "orphaned_ci95_high": d["ci95"][1],
                }
            )
            for c in CAUSES:
                row[f"orphaned_mean:{c}"] = float(g[f"orphaned:{c}"].mean())
            ft = describe_time(list(g["full_trust_at_hours"]), confidence)
            # how many replications reached full trust by the horizon, and their median (inf: never, i.e.
            # half or more did not); not a mean over those that reached it, which would flatter the point
            row["full_trust_reached"] = ft["reached"]
            median = ft["quantiles"].get("0.5")
            row["full_trust_at_hours_median"] = float("inf") if median is None else float(median)
            if threshold is not None:
                row.update(_risk_columns(g, threshold, confidence))
            rows.append(row)
        return pd.DataFrame(rows)


def _risk_columns(g: pd.DataFrame, threshold: Threshold, confidence: float) -> dict[str, Any]:
    orphaned = g["orphaned"].to_numpy(float)
    if threshold.is_rate:
        at_risk = np.maximum(g["clients"].to_numpy(float) - g["gone"].to_numpy(float), 1.0)
        values = orphaned / at_risk
    else:
        values = orphaned
    j = judge(values, threshold.value, confidence)
    return {
        "exceeding": j["exceeding"],
        "chance": j["chance"],
        "chance_ci95_low": j["chance_ci"][0],
        "chance_ci95_high": j["chance_ci"][1],
        "verdict": j["verdict"],
    }


def sweep(
    scenario: Scenario,
    grid: dict[str, list[Any]],
    *,
    replications: int = 10,
    seed: int | None = None,
    engine: Engine = "fast",
    clients: int | None = None,
    horizon_days: float | None = None,
    workers: int | None = None,
    dask: str | None = None,
    progress: bool | None = None,
    options: RunOptions | None = None,
    max_orphans: float | None = None,
    max_orphan_rate: float | None = None,
) -> Sweep:
    """Run ``replications`` at every combination of the grid's values (fields as dotted scenario paths).
    ``options`` gives the run options as one ``RunOptions`` instead of (or with) the keywords. With a target
    (``max_orphans`` or ``max_orphan_rate``), ``table()`` judges each point as ``report`` would."""
    # the target is checked before any replication runs
    threshold = None if max_orphans is None and max_orphan_rate is None else Threshold(max_orphans, max_orphan_rate)
    o = merge_options(
        options,
        seed=seed,
        engine=engine,
        clients=clients,
        horizon_days=horizon_days,
        workers=workers,
        dask=dask,
        progress=progress,
    )
    check_replications(replications)
    if not grid:
        raise InputError("--set", "", "give at least one FIELD=VALUES")
    fields = list(grid)
    combos = list(itertools.product(*(grid[f] for f in fields)))
    if len(combos) * replications > MAX_POINTS * 10:
        raise InputError("--set", "", f"{len(combos) * replications} runs is more than this tool will start")
    seed = o.root_seed(scenario)
    scenarios = [scenario.with_(**dict(zip(fields, c, strict=True))) for c in combos]  # validates every point
    for sc in scenarios:
        o.check(sc)
    tasks = [(sc, seed, k, o.engine, o.clients, o.horizon_days, False) for sc in scenarios for k in range(replications)]
    digests: list[Digest] = run_tasks(
        _digest, tasks, workers=o.workers, dask=o.dask, progress=o.progress, label="sweep"
    )
    rows = []
    for i, d in enumerate(digests):
        combo = combos[i // replications]
        s = d.summary
        row: dict[str, Any] = dict(zip(fields, combo, strict=True))
        row.update(
            {
                "replication": d.replication,
                "clients": s["clients"],
                "orphaned": s["orphaned"],
                "gone": s["gone"],
                "full_trust_at_hours": s["full_trust_at_hours"],
                "repair_hours": s["repair_hours"],
            }
        )
        row.update({f"orphaned:{c}": s["orphaned_by_cause"].get(c, 0) for c in CAUSES})
        rows.append(row)
    return Sweep(fields, pd.DataFrame(rows), threshold)
