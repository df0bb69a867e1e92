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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .causes import CAUSES
from .errors import InputError
from .execution import run_tasks
from .results import Result
from .scenario import KbMultiServer, KbSingleServer, Scenario
from .simulate import Engine, simulate
from .stats import describe

BLOCKING = ("unsupported-version", "missed-group", "no-failover-target")
MAX_REPLICATIONS = 10_000


@dataclass
class Digest:
    """What one replication sends back: its summary and the per-client numbers the curves need."""

    replication: int
    summary: dict[str, Any]
    blocked_by_cause: dict[str, int]
    need: np.ndarray  # per saveable client: the retention (days) or wait (hours) it needs; inf: none suffices
    live: int  # clients not gone
    floor: float = 0.0  # a shorter retention acts as this one: the rotations before it take that long
    setting: float | None = None  # the run's own retention (days) or wait (hours)
    result: Result | None = None


def plan_axis(sc: Scenario) -> tuple[str, str] | None:
    """(parameter, unit) the timing question is about, for the scenario's runbook."""
    if isinstance(sc.runbook, KbMultiServer):
        return "retention_days", "days"
    if isinstance(sc.runbook, KbSingleServer):
        return "wait_hours", "hours"
    return None


def _need(sc: Scenario, r: Result) -> tuple[np.ndarray, float | None, float]:
    """Per client, the smallest retention/wait that saves it, the run's own setting, and the floor below which
    a shorter setting changes nothing (the retained manager cannot change before the others are done)."""
    contact = r.clients["first_contact_hours"].to_numpy(dtype=float)
    contact = np.where(np.isnan(contact), np.inf, contact)
    rb = sc.runbook
    if r.first_update_hours is None or r.window_start_hours is None:
        return np.full(len(contact), np.inf), None, 0.0
    if isinstance(rb, KbMultiServer):
        op = rb.operator_minutes / 60.0 if rb.retention_end == "update" else 0.0
        retain = r.steps[r.steps["name"].str.startswith("retain-")]["start_hours"]
        floor = (float(retain.iloc[0]) - r.first_update_hours) / 24.0 if len(retain) else 0.0
        return (contact - r.first_update_hours - op) / 24.0, rb.retention_days, floor
    if isinstance(rb, KbSingleServer):
        op = rb.operator_minutes / 60.0
        need = contact - r.window_start_hours - op
        return need, r.first_update_hours - op - r.window_start_hours, 0.0
    return np.full(len(contact), np.inf), None, 0.0


def _digest(
    sc: Scenario, seed: int, k: int, engine: Engine, clients: int | None, horizon_days: float | None, keep: bool
) -> Digest:
    r = simulate(sc, seed, engine=engine, replication=k, clients=clients, horizon_days=horizon_days)
    c = r.clients
    live = (c["outcome"] != "gone").to_numpy()
    orph = (c["outcome"] == "orphaned").to_numpy()
    need, x_run, floor = _need(sc, r)
    blocking = orph & c["cause"].isin(BLOCKING).to_numpy()
    if x_run is not None:
        # orphaned although in contact in time (a manager down, a stale site): no wait would have helped
        blocking |= orph & (need < max(x_run, floor))
    blocked = c.loc[blocking, "cause"].value_counts()
    saveable = live & ~blocking
    return Digest(
        replication=k,
        summary=r.summary(),
        blocked_by_cause={str(a): int(b) for a, b in blocked.items()},
        need=np.sort(need[saveable]).astype(np.float64),
        live=int(live.sum()),
        result=r if keep else None,
        floor=floor,
        setting=x_run,
    )


@dataclass
class Replications:
    """Many replications of one scenario; ``runs`` has one row per replication, ``summary()`` the statistics."""

    scenario: Scenario
    seed: int
    engine: str
    digests: list[Digest] = field(default_factory=list)

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
            "full_trust_at_hours": describe(
                [np.inf if v is None else v for v in runs["full_trust_at_hours"]], confidence
            ),
        }
        for key in ("cause", "group", "version"):
            df = self.orphans_by(key)
            out[f"orphaned_by_{key}"] = {
                str(k): describe(g["orphaned"].to_numpy(), confidence) for k, g in df.groupby(key, sort=True)
            }
        return out

    # ---- the timing question

    def axis(self) -> tuple[str, str]:
        ax = plan_axis(self.scenario)
        if ax is None:
            raise InputError(
                self.scenario.source, "runbook", "planning needs the kb-multi-server or kb-single-server runbook"
            )
        return ax

    def orphans_at(self, x: np.ndarray | list[float]) -> np.ndarray:
        """(replication, x) -> orphans had the retention/wait been x."""
        x = np.asarray(x, dtype=float)
        out = np.empty((self.n, len(x)))
        for i, d in enumerate(self.digests):
            blocked = sum(d.blocked_by_cause.values())
            xe = np.maximum(x, d.floor)
            out[i] = blocked + (len(d.need) - np.searchsorted(d.need, xe, side="left"))
        return out

    def curve(self, x: np.ndarray | list[float] | None = None, confidence: float = 0.95) -> pd.DataFrame:
        """Orphans as a function of the retention (days) or wait (hours), with intervals across replications."""
        name, _ = self.axis()
        x = default_grid(self.scenario) if x is None else np.asarray(x, dtype=float)
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
        from . import plots

        return plots.curve(self)

    def needed(self, max_orphans: float | None = None, max_orphan_rate: float | None = None) -> np.ndarray:
        """Per replication, the retention/wait the target needs: any value above it meets the target
        (-inf: any value does; inf: none does)."""
        out = np.empty(self.n)
        for i, d in enumerate(self.digests):
            allowed = max_orphans if max_orphans is not None else math.floor((max_orphan_rate or 0.0) * d.live + 1e-9)
            budget = int(math.floor(allowed)) - sum(d.blocked_by_cause.values())
            if budget < 0:
                out[i] = np.inf
            elif budget >= len(d.need):
                out[i] = -np.inf
            else:
                # need sorted ascending; at x the orphans are those with need >= x: keep at most `budget`
                out[i] = float(d.need[len(d.need) - budget - 1])
        return out


def default_grid(sc: Scenario) -> np.ndarray:
    if isinstance(sc.runbook, KbMultiServer):
        return np.arange(0.0, math.floor(sc.horizon_days) + 1.0, 1.0)
    hours = [0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 72, 96, 120, 144, 168, 240, 336, 504, 720]
    return np.array([h for h in hours if h <= sc.horizon_days * 24.0], dtype=float)


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
) -> Replications:
    """Run replications 0..n-1 of the scenario under one root seed (serially, on a process pool, or on Dask).

    Replication k is ``simulate(scenario, seed, replication=k)``: the same numbers whichever way it runs.
    """
    if not 1 <= n <= MAX_REPLICATIONS:
        raise InputError("--replications", "", f"expected 1 to {MAX_REPLICATIONS} (got {n})")
    seed = scenario.seed if seed is None else seed
    tasks = [(scenario, seed, k, engine, clients, horizon_days, keep_results) for k in range(n)]
    digests = run_tasks(_digest, tasks, workers=workers, dask=dask, progress=progress)
    return Replications(scenario, seed, engine, digests)


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
        from . import plots

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
    name, unit = reps.axis()
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
    x = default_grid(reps.scenario) if grid is None else np.asarray(grid, float)
    if recommended is not None and recommended not in x:
        x = np.unique(np.append(x, recommended))
    return Plan(name, unit, target, confidence, recommended, needed, blocking, reps.curve(x, confidence), reps.n)
