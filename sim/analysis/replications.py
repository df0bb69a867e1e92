"""Many replications of one scenario with confidence: one replication is an anecdote; ``replicate`` runs
many with seeds from one root, each the same wherever it runs, and ``Replications`` summarises them and
gives the timing curve orphans(retention or wait) from each run's per-client first contact."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.stats import describe, describe_time
from sim.errors import InputError
from sim.experiments.digest import Digest, _digest
from sim.experiments.execution import run_tasks
from sim.experiments.options import Engine, RunOptions, check_replications, merge_options
from sim.experiments.probe import OrphanCurve
from sim.experiments.result import Result
from sim.model.causes import CAUSES
from sim.runbooks import Axis, template_for
from sim.scenario.document import Scenario


@dataclass
class Replications:
    """Many replications of one scenario; ``runs`` has one row per replication, ``summary()`` the statistics."""

    scenario: Scenario
    seed: int
    engine: str
    digests: list[Digest] = field(default_factory=list)
    gate_shares: tuple[float, ...] = ()  # shares of a gate planned from the same probes (besides the runbook's)

    @property
    def n(self) -> int:
        return len(self.digests)

    @property
    def results(self) -> list[Result]:
        """Full per-replication results (only when run with ``keep_results=True``)."""
        out = [d.result for d in self.digests if d.result is not None]
        if len(out) != self.n:
            raise ValueError("run replicate(..., keep_results=True) to keep each replication's tables")
        return out

    @property
    def runs(self) -> pd.DataFrame:
        rows = []
        for d in self.digests:
            s = d.summary
            row = {
                "replication": d.replication,
                "clients": s["clients"],
                "orphaned": s["orphaned"],
                "gone": s["gone"],
                "full_trust_at_hours": s["full_trust_at_hours"],
                "repair_hours": s["repair_hours"],
                "not_trusting_at_horizon": s["not_trusting_at_horizon"],
                "repaired": s.get("repaired", 0),
                **{f"exposure:{k}": v for k, v in (s.get("exposure") or {}).items()},
            }
            row.update({f"orphaned:{c}": s["orphaned_by_cause"].get(c, 0) for c in CAUSES})
            rows.append(row)
        return pd.DataFrame(rows)

    def orphans_by(self, key: str) -> pd.DataFrame:
        """Orphans per replication by ``cause``, ``group`` or ``version``, tidy (replication, key, orphaned)."""
        name = {"cause": "orphaned_by_cause", "group": "orphaned_by_group", "version": "orphaned_by_version"}[key]
        keys = sorted({k for d in self.digests for k in d.summary[name]})
        rows = [
            {"replication": d.replication, key: k, "orphaned": d.summary[name].get(k, 0)}
            for d in self.digests
            for k in keys
        ]
        return pd.DataFrame(rows, columns=["replication", key, "orphaned"])

    def summary(self, confidence: float = 0.95) -> dict[str, Any]:
        runs = self.runs
        out: dict[str, Any] = {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "engine": self.engine,
            "replications": self.n,
            "clients": int(runs["clients"].iloc[0]) if self.n else 0,
            "orphaned": describe(runs["orphaned"], confidence),
            "gone": describe(runs["gone"], confidence),
            "repair_hours": describe(runs["repair_hours"], confidence),
            "repaired": describe(runs["repaired"], confidence),
            "exposure": {
                c.split(":", 1)[1]: describe(runs[c], confidence) for c in runs.columns if c.startswith("exposure:")
            },
            "full_trust_at_hours": describe_time(list(runs["full_trust_at_hours"]), confidence),
        }
        for key in ("cause", "group", "version"):
            df = self.orphans_by(key)
            out[f"orphaned_by_{key}"] = {
                str(k): describe(g["orphaned"].to_numpy(), confidence) for k, g in df.groupby(key, sort=True)
            }
        return out

    # ---- the timing question

    def axis(self) -> Axis:
        ax = template_for(self.scenario.runbook).axis
        if ax is None:
            raise InputError(
                self.scenario.source, "runbook", "planning needs the kb-multi-server or kb-single-server runbook"
            )
        return ax

    @property
    def horizon_days(self) -> float:
        """The horizon the replications ran (the scenario's, or the one a run option set)."""
        return float(self.digests[0].summary["horizon_hours"]) / 24.0 if self.digests else self.scenario.horizon_days

    def _curve(self, d: Digest, share: float | None = None) -> OrphanCurve:
        """A replication's curve (``share``: under the gate at that share instead of the runbook's own); a
        runbook whose decisive step never ran within the horizon has none, and that is the horizon's fault (too
        short), said in one line rather than a failed assertion."""
        if d.curve is None:
            raise InputError(
                self.scenario.source,
                "horizon_days",
                f"the runbook's steps do not all run within the horizon ({self.horizon_days:g} days) "
                f"in replication {d.replication}; give a longer horizon",
            )
        if share is None:
            return d.curve
        point = next((g for g in d.gates or () if abs(g.share - share) < 1e-12), None)
        if point is None:
            raise InputError("plan", "gate share", f"{share:g} was not planned: give it to replicate(gate_shares=...)")
        return d.curve.gated(point)

    def shares(self) -> list[float]:
        """The gate shares the replications can plan (the runbook's own and ``gate_shares``), ascending."""
        return sorted({g.share for d in self.digests for g in d.gates or ()})

    def in_service(self, x: float, share: float | None = None) -> np.ndarray:
        """Per replication, the setting in effect at cap x (the gate's moment when it opens first): the days
        the old certificate stays in service (kb-multi-server), the hours of the wait (kb-single-server)."""
        return np.array([float(self._curve(d, share).in_service(x)) for d in self.digests])

    def default_grid(self) -> np.ndarray:
        return template_for(self.scenario.runbook).grid(self.horizon_days)

    def orphans_at(self, x: np.ndarray | list[float], share: float | None = None) -> np.ndarray:
        """(replication, x) -> orphans had the retention/wait been x (from each replication's planning probe,
        on the axis' resolution: 0.01 day, 0.05 hour); ``share``: under the gate at that share."""
        self.axis()
        x = np.asarray(x, dtype=float)
        out = np.empty((self.n, len(x)))
        for i, d in enumerate(self.digests):
            out[i] = self._curve(d, share).at(x)
        return out

    def allowed(self, max_orphans: float | None = None, max_orphan_rate: float | None = None) -> np.ndarray:
        """Per replication, the most orphans the target allows (a rate applies to that replication's live
        clients)."""
        if max_orphan_rate is not None:
            return np.array([math.floor(max_orphan_rate * d.live + 1e-9) for d in self.digests], float)
        return np.full(self.n, math.floor(max_orphans or 0.0))

    def curve(self, x: np.ndarray | list[float] | None = None, confidence: float = 0.95) -> pd.DataFrame:
        """Orphans as a function of the retention (days) or wait (hours), with intervals across replications."""
        name = self.axis().parameter
        x = self.default_grid() if x is None else np.asarray(x, dtype=float)
        m = self.orphans_at(x)
        rows = []
        for j, xv in enumerate(x):
            d = describe(m[:, j], confidence)
            rows.append(
                {
                    name: float(xv),
                    "orphaned_mean": d["mean"],
                    "stderr": d["stderr"],
                    "ci95_low": d["ci95"][0],
                    "ci95_high": d["ci95"][1],
                    "q95": d["quantiles"].get("0.95"),
                }
            )
        return pd.DataFrame(rows)

    def plot_curve(self) -> Any:
        """Figure: expected orphans against the retention or wait (``sim.plots.curve``)."""
        from sim.presentation import plots

        return plots.curve(self)

    def needed(
        self, max_orphans: float | None = None, max_orphan_rate: float | None = None, share: float | None = None
    ) -> np.ndarray:
        """Per replication, the smallest retention/wait from which on every longer one meets the target
        (-inf: any does; inf: none within the horizon does); ``share``: the gate's cap at that share."""
        allowed = self.allowed(max_orphans, max_orphan_rate)
        out = np.empty(self.n)
        for i, d in enumerate(self.digests):
            out[i] = self._curve(d, share).smallest_meeting(allowed[i])
        return out

    def exceeding(
        self, max_orphans: float | None = None, max_orphan_rate: float | None = None, setting: float | None = None
    ) -> int:
        """How many replications exceed the target: had the setting been ``setting`` (from the probes, a
        setting from which on a longer one would meet it), else with each replication's own orphans."""
        if setting is not None:
            return int((self.needed(max_orphans, max_orphan_rate) > setting + 1e-9).sum())
        orphaned = np.array([d.summary["orphaned"] for d in self.digests], float)
        return int((orphaned > self.allowed(max_orphans, max_orphan_rate)).sum())


def replicate(
    scenario: Scenario,
    n: int = 30,
    seed: int | None = None,
    *,
    engine: Engine = "fast",
    clients: int | None = None,
    horizon_days: float | None = None,
    workers: int | None = None,
    dask: str | None = None,
    progress: bool | None = None,
    keep_results: bool = False,
    options: RunOptions | None = None,
    gate_shares: Sequence[float] = (),
) -> Replications:
    """Run replications 0..n-1 of the scenario under one root seed (serially, on a process pool, or on Dask).

    Replication k is ``simulate(scenario, seed, replication=k)``: the same numbers whichever way it runs.
    ``options`` gives the run options as one ``RunOptions`` instead of (or with) the keywords. ``gate_shares``:
    shares of a gate (``retention_until_share``, ``wait_until_share``) to plan besides the runbook's own, from
    the same probes (``Replications.needed(share=...)``).
    """
    check_replications(n)
    shares = check_shares(gate_shares)
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
    o.check(scenario)
    seed = o.root_seed(scenario)
    tasks = [(scenario, seed, k, o.engine, o.clients, o.horizon_days, keep_results, shares) for k in range(n)]
    digests = run_tasks(_digest, tasks, workers=o.workers, dask=o.dask, progress=o.progress)
    return Replications(scenario, seed, o.engine, digests, shares)


def run_more(reps: Replications, n: int, options: RunOptions) -> Replications:
    """``reps`` with replications ``reps.n .. n - 1`` added (the same root seed: nothing is re-run), run with
    ``options`` (their engine and horizon must be those ``reps`` ran with)."""
    check_replications(n, option="--max-replications")
    tasks = [
        (reps.scenario, reps.seed, k, options.engine, options.clients, options.horizon_days, False, reps.gate_shares)
        for k in range(reps.n, n)
    ]
    more = run_tasks(_digest, tasks, workers=options.workers, dask=options.dask, progress=options.progress)
    return Replications(reps.scenario, reps.seed, reps.engine, [*reps.digests, *more], reps.gate_shares)


def check_shares(shares: Sequence[Any]) -> tuple[float, ...]:
    """Gate shares as given (numbers above 0 and at most 1), sorted without repeats; else one line naming
    ``--gate-shares``."""
    out: set[float] = set()
    for s in shares:
        v = _number(s)
        if v is None or not (0 < v <= 1):
            raise InputError("plan", "--gate-shares", f"each share must be a number above 0 and at most 1 (got {s!r})")
        out.add(round(v, 9))
    return tuple(sorted(out))


def _number(s: Any) -> float | None:
    if isinstance(s, bool):
        return None
    try:
        v = float(s)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
