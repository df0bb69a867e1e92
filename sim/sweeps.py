"""Sweeps: the same replications over a grid of scenario fields, with common random numbers.

Every grid point runs replications 0..n-1 under the same root seed, so point A and point B see the same
fleet (when the swept field does not change the fleet's shape) and the same per-client random streams: the
differences between points are the fields' doing, not sampling noise.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml

from .causes import CAUSES
from .errors import InputError
from .execution import run_tasks
from .planning import Digest, _digest
from .scenario import Scenario
from .simulate import Engine
from .stats import describe

MAX_POINTS = 10_000


def parse_values(spec: str) -> list[Any]:
    """'0:120:10' (a range, both ends included), '1,2,4' (a list) or one value; each parsed as YAML."""
    spec = spec.strip()
    if not spec:
        raise InputError("--set", spec, "expected values after '='")
    if spec.count(":") in (1, 2) and "," not in spec:
        parts = spec.split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise InputError("--set", spec, "a range is START:STOP[:STEP] with numbers") from None
        start, stop = nums[0], nums[1]
        step = nums[2] if len(nums) == 3 else 1.0
        if step <= 0 or stop < start:
            raise InputError("--set", spec, "a range needs STOP >= START and a positive STEP")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        if count > MAX_POINTS:
            raise InputError("--set", spec, f"more than {MAX_POINTS} values")
        vals = [start + i * step for i in range(count)]
        return [int(v) if all(float(p).is_integer() for p in nums) else round(v, 10) for v in vals]
    return [yaml.safe_load(v.strip()) for v in spec.split(",")]


def parse_set(items: list[str]) -> dict[str, list[Any]]:
    """['runbook.retention_days=0:90:30', 'fleet.jitter=0,0.2'] -> {field: values}."""
    out: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise InputError("--set", item, "expected FIELD=VALUES, for example runbook.retention_days=0:90:10")
        key, spec = item.split("=", 1)
        out[key.strip()] = parse_values(spec)
    return out


@dataclass
class Sweep:
    """``runs``: one row per grid point and replication; ``table()``: one row per grid point with intervals."""

    fields: list[str]
    runs: pd.DataFrame

    def plot(self, x: str | None = None) -> Any:
        """Figure: mean orphans against one swept field (``sim.plots.sweep``)."""
        from . import plots

        return plots.sweep(self, x)

    def table(self, confidence: float = 0.95) -> pd.DataFrame:
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
            ft = g["full_trust_at_hours"].to_numpy(dtype=float)
            row["full_trust_at_hours_mean"] = float(np.nanmean(ft)) if np.isfinite(ft).any() else None
            rows.append(row)
        return pd.DataFrame(rows)


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
) -> Sweep:
    """Run ``replications`` at every combination of the grid's values (fields as dotted scenario paths)."""
    if not grid:
        raise InputError("--set", "", "give at least one FIELD=VALUES")
    fields = list(grid)
    combos = list(itertools.product(*(grid[f] for f in fields)))
    if len(combos) * replications > MAX_POINTS * 10:
        raise InputError("--set", "", f"{len(combos) * replications} runs is more than this tool will start")
    seed = scenario.seed if seed is None else seed
    scenarios = [scenario.with_(**dict(zip(fields, c, strict=True))) for c in combos]  # validates every point
    tasks = [(sc, seed, k, engine, clients, horizon_days, False) for sc in scenarios for k in range(replications)]
    digests: list[Digest] = run_tasks(_digest, tasks, workers=workers, dask=dask, progress=progress, label="sweep")
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
    return Sweep(fields, pd.DataFrame(rows))
