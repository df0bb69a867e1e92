"""The risk report as a record: every table and plain value ``rotasim report`` shows, assembled from the
sequential sampling (no simulation, no rendering here: ``sim.presentation.report`` formats this record).

Repair work is orphans times ``Scenario.repair_minutes`` (an assumption, stated as such): a board sees hours
of hands-on work, not only counts.
"""

from __future__ import annotations

import datetime as _dt
import shlex
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.planning import Plan, plan
from sim.analysis.provenance import assumptions_table
from sim.analysis.risk import Verdict
from sim.analysis.sampling import Sampling
from sim.analysis.stats import describe
from sim.analysis.tables import (
    at_risk_tables,
    breakdown_tables,
    handle_apart_table,
    load_summary_table,
    trust_band,
    trust_markers,
)
from sim.analysis.verdict import CONFIDENCE, EXIT_CODES, Threshold
from sim.runbooks import template_for
from sim.scenario.document import Scenario


@dataclass
class Report:
    """Everything the report shows, as tables and plain values; rendering only formats these."""

    scenario: Scenario
    source: str
    seed: int
    command: str
    threshold: Threshold
    sampling: Sampling
    judgement: dict[str, Any]
    orphans: dict[str, Any]
    orphan_rate: dict[str, Any]
    repair_hours: dict[str, Any]
    plan: Plan | None
    setting: float | None
    breakdown: dict[str, pd.DataFrame]
    handle_apart: pd.DataFrame
    at_risk: pd.DataFrame
    profiles: pd.DataFrame
    steps: pd.DataFrame
    trust: pd.DataFrame
    markers: list[tuple[float, str]]
    contacted: pd.DataFrame  # share that checked in since the window opened: time_hours, mean, low, high
    load: pd.DataFrame | None
    load_summary: pd.DataFrame | None
    assumptions: pd.DataFrame
    runs: pd.DataFrame
    horizon_hours: float
    generated_at: str

    @property
    def verdict(self) -> Verdict:
        v: Verdict = self.judgement["verdict"]
        return v

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


def build_report(sampling: Sampling, *, source: str, command: str) -> Report:
    """Assemble the report's tables from the replications (no simulation here)."""
    reps = sampling.reps
    sc = reps.scenario
    s = reps.summary(CONFIDENCE)
    th = sampling.threshold
    runs = reps.runs.copy()
    runs["live"] = [d.live for d in reps.digests]
    runs["orphan_rate"] = runs["orphaned"] / runs["live"].clip(lower=1)
    pl: Plan | None = None
    if template_for(sc.runbook).axis is not None:
        pl = plan(
            reps,
            max_orphans=None if th.is_rate else th.value,
            max_orphan_rate=th.value if th.is_rate else None,
            confidence=CONFIDENCE,
        )
    settings = [x.setting for x in sampling.extras if x.setting is not None]
    setting = float(np.median(settings)) if settings else None
    steps = sampling.extras[0].steps if sampling.extras else pd.DataFrame(columns=["name", "kind"])
    horizon = float(sampling.extras[0].trust_time[-1]) if sampling.extras else sc.horizon_days * 24.0
    overrides: dict[str, tuple[Any, str]] = {}
    if sampling.clients is not None:
        overrides["fleet.clients"] = (sampling.clients, "command line (--clients)")
    if sampling.horizon_days is not None:
        overrides["horizon_days"] = (sampling.horizon_days, "command line (--horizon-days)")
    if reps.seed != sc.seed:
        overrides["seed"] = (reps.seed, "command line (--seed)")
    at_risk, profiles = at_risk_tables(sampling.extras)
    load = next((x.load for x in sampling.extras if x.load is not None), None)
    return Report(
        scenario=sc,
        source=source,
        seed=reps.seed,
        command=command,
        threshold=th,
        sampling=sampling,
        judgement=sampling.judge(),
        orphans=s["orphaned"],
        orphan_rate=describe(runs["orphan_rate"].to_numpy(), CONFIDENCE),
        repair_hours=s["repair_hours"],
        plan=pl,
        setting=setting,
        breakdown=breakdown_tables(reps),
        handle_apart=handle_apart_table(sampling.extras),
        at_risk=at_risk,
        profiles=profiles,
        steps=steps,
        trust=trust_band(sampling.extras),
        markers=trust_markers(sc, steps, horizon) if len(steps) else [],
        contacted=trust_band(sampling.extras, "contact_share"),
        load=load,
        load_summary=load_summary_table(sampling.extras),
        assumptions=assumptions_table(sc, overrides),
        runs=runs,
        horizon_hours=horizon,
        generated_at=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def canonical_command(
    scenario_path: str,
    *,
    out: str,
    threshold: Threshold,
    replications: int,
    max_replications: int,
    seed: int,
    clients: int | None = None,
    horizon_days: float | None = None,
    engine: str = "fast",
) -> str:
    """The exact command that reproduces the report: every choice explicit, the seed included (where the
    replications ran, workers or Dask, changes no number and is left out)."""
    args = [
        "rotasim",
        "report",
        scenario_path,
        "--out",
        out,
        "--replications",
        str(replications),
        "--max-replications",
        str(max_replications),
        *threshold.option().split(),
        "--seed",
        str(seed),
    ]
    if clients is not None:
        args += ["--clients", str(clients)]
    if horizon_days is not None:
        args += ["--horizon-days", f"{horizon_days:g}"]
    if engine != "fast":
        args += ["--engine", engine]
    return shlex.join(args)
