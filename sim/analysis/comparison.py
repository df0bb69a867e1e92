"""Scenario comparison as tables: several scenarios run on the same replications, side by side.

Why: a board choosing between runbooks (the KB's single-server procedure with a 3-heartbeat wait or a 7-day
one, the multi-server procedure with 30 or 90 days of retention) wants them on one page, measured the same
way. Every scenario runs the same replications 0..n-1 under one root seed (common random numbers): where
two scenarios share a fleet shape they replay the same clients, so the differences are the runbooks' doing,
not sampling noise.

A scenario argument is a YAML file, optionally followed by ``:field=value[,field=value...]`` (dotted
scenario fields, values read as YAML; ``sim.scenario.overrides.parse_variant``) so that variants need no
copied files::

    rotasim compare scenarios/single-site-small.yaml scenarios/single-site-small.yaml:runbook.wait_hours=168

The figures and the document are drawn from these tables by ``sim.presentation.compare``.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis.format import setting as fmt_setting
from sim.analysis.report import Report, build_report
from sim.analysis.sampling import Log, run_sequential
from sim.analysis.stats import describe
from sim.analysis.verdict import CONFIDENCE, Threshold
from sim.errors import InputError
from sim.experiments.options import RunOptions, merge_options
from sim.model.causes import CAUSES
from sim.runbooks import template_for
from sim.scenario.document import Scenario, load_scenario
from sim.scenario.overrides import parse_variant

MAX_SCENARIOS = 12


@dataclass
class Variant:
    """One scenario to compare: its file, the field overrides, and a label for legends and columns."""

    arg: str
    path: Path
    overrides: dict[str, Any]
    scenario: Scenario
    label: str


def load_variants(args: Sequence[str]) -> list[Variant]:
    """Load and validate every scenario (and its overrides) before anything runs."""
    if len(args) < 2:
        raise InputError("compare", "", "give at least two scenarios to compare")
    if len(args) > MAX_SCENARIOS:
        raise InputError("compare", "", f"at most {MAX_SCENARIOS} scenarios at once (got {len(args)})")
    out: list[Variant] = []
    for arg in args:
        path, over = parse_variant(arg)
        sc = load_scenario(path)
        if over:
            sc = sc.with_(**over)
        label = sc.name + ("" if not over else " [" + ", ".join(f"{k}={v}" for k, v in over.items()) + "]")
        out.append(Variant(arg, path, over, sc, label))
    seen: dict[str, int] = {}
    for v in out:
        seen[v.label] = seen.get(v.label, 0) + 1
    counter: dict[str, int] = {}
    for v in out:
        if seen[v.label] > 1:
            counter[v.label] = counter.get(v.label, 0) + 1
            v.label = f"{v.label} #{counter[v.label]}"
    return out


@dataclass
class Comparison:
    """Several scenarios run on the same replications (one root seed: the same clients), each with the
    report's tables (``reports``); ``table()`` puts them side by side."""

    variants: list[Variant]
    reports: list[Report]
    threshold: Threshold
    seed: int
    replications: int
    command: str

    def table(self) -> pd.DataFrame:
        """Side by side, numeric: one row per scenario, one column per measure (``comparison.csv``)."""
        return comparison_csv(self)

    def paired(self, confidence: float = CONFIDENCE) -> pd.DataFrame:
        """Each scenario after the first minus the first, replication by replication (``paired_differences``)."""
        return paired_differences(self, confidence)


def run_compare(
    args: Sequence[str],
    *,
    threshold: Threshold,
    replications: int = 20,
    seed: int | None = None,
    clients: int | None = None,
    horizon_days: float | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    log: Log | None = None,
    command: str | None = None,
    options: RunOptions | None = None,
) -> Comparison:
    """Run ``replications`` of every scenario file (``FILE.yaml[:field=value,...]``) under one root seed.
    ``options`` gives the run options as one ``RunOptions`` instead of (or with) the keywords."""
    o = merge_options(
        options, seed=seed, clients=clients, horizon_days=horizon_days, workers=workers, progress=progress
    )
    variants = load_variants(args)
    o = o.replace(seed=o.root_seed(variants[0].scenario))
    cmd = command or compare_command_line(
        args, threshold, replications, o.root_seed(variants[0].scenario), o.clients, o.horizon_days, engine=o.engine
    )
    return run_variants(variants, threshold=threshold, replications=replications, log=log, command=cmd, options=o)


def run_variants(
    variants: Sequence[Variant],
    *,
    threshold: Threshold,
    replications: int = 20,
    seed: int | None = None,
    clients: int | None = None,
    horizon_days: float | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    log: Log | None = None,
    command: str = "",
    options: RunOptions | None = None,
) -> Comparison:
    """Run ``replications`` of every variant under one root seed and build each one's report tables.
    ``options`` gives the run options as one ``RunOptions`` instead of (or with) the keywords."""
    o = merge_options(
        options, seed=seed, clients=clients, horizon_days=horizon_days, workers=workers, progress=progress
    )
    seed = o.root_seed(variants[0].scenario)
    o = o.replace(seed=seed)
    reports = []
    for v in variants:
        if log is not None:
            log(f"scenario {v.label}")
        sampling = run_sequential(
            v.scenario,
            threshold,
            replications=replications,
            max_replications=replications,
            log=log,
            options=o,
        )
        reports.append(build_report(sampling, source=v.arg, command=""))
    return Comparison(list(variants), reports, threshold, seed, replications, command)


def compare_command_line(
    args: Sequence[str],
    threshold: Threshold,
    replications: int,
    seed: int,
    clients: int | None,
    horizon_days: float | None,
    out: str | None = None,
    engine: str = "fast",
) -> str:
    parts = ["rotasim", "compare", *args]
    if out is not None:
        parts += ["--out", out]
    parts += ["--replications", str(replications), *threshold.option().split(), "--seed", str(seed)]
    if clients is not None:
        parts += ["--clients", str(clients)]
    if horizon_days is not None:
        parts += ["--horizon-days", f"{horizon_days:g}"]
    if engine != "fast":
        parts += ["--engine", engine]
    return shlex.join(parts)


def side_by_side(comp: Comparison) -> pd.DataFrame:
    """One row per measure, one column per scenario (text cells, formatted for reading)."""
    cols: dict[str, list[str]] = {}
    measures = [
        "runbook",
        "clients",
        "replications",
        "verdict",
        "expected orphans (95% interval)",
        "orphan rate (95% interval)",
        "repair hours (95% interval)",
        *[f"orphans: {c}" for c in CAUSES],
        "retention or wait that meets the threshold",
        "clients trusting the new certificates at the horizon",
    ]
    for v, r in zip(comp.variants, comp.reports, strict=True):
        o, rate, rh = r.orphans, r.orphan_rate, r.repair_hours
        by_cause = r.breakdown["cause"].set_index("cause")["mean"] if len(r.breakdown["cause"]) else pd.Series()
        if r.plan is None:
            rec = "not planned for this runbook"
        elif r.plan.recommended is None:
            rec = {
                "replications": f"more replications needed to show it (--replications {r.sampling.n} is too few)",
                "blocked": "none: clients no setting saves exceed the threshold",
            }.get(r.plan.reason, f"none within the {r.plan.horizon_days:g}-day horizon")
        else:
            rec = fmt_setting(r.plan.recommended, r.plan.unit)
        last = r.trust.iloc[-1] if len(r.trust) else None
        cols[v.label] = [
            template_for(v.scenario.runbook).describe(r.setting),
            str(int(r.runs["clients"].iloc[0])) if len(r.runs) else "0",
            str(r.sampling.n),
            r.verdict,
            _interval(o, "{:,.1f}"),
            _interval(rate, "{:.2%}"),
            _interval(rh, "{:,.1f}"),
            *[f"{float(by_cause.get(c, 0.0)):.2f}" for c in CAUSES],
            rec,
            "n/a" if last is None else f"{100 * float(last['mean']):.1f}%",
        ]
    df = pd.DataFrame(cols)
    df.insert(0, "measure", measures)
    return df


def _interval(d: Mapping[str, Any], f: str) -> str:
    if d.get("mean") is None:
        return "n/a"
    lo, hi = d["ci95"]
    if lo is None or hi is None:
        return f.format(d["mean"])
    return f"{f.format(d['mean'])} ({f.format(lo)} to {f.format(hi)})"


# measure shown -> (column of the replications' runs table, factor to the unit shown)
PAIRED_MEASURES: dict[str, tuple[str, float]] = {
    "orphans": ("orphaned", 1.0),
    "repair hours": ("repair_hours", 1.0),
    "days the old certificate stays in service": ("exposure:old_certificate_hours", 1.0 / 24.0),
    "hours with secure communications off": ("exposure:relaxed_hours", 1.0),
}

PAIRED_COLUMNS = ["scenario", "against", "measure", "mean_difference", "ci95_low", "ci95_high", "replications"]


def paired_differences(comp: Comparison, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Every scenario after the first against the first, replication by replication: the mean of (scenario minus
    first) and its Student-t interval, for orphans, repair hours and the exposure measures both have.

    Why paired: replication k of every scenario draws from the same streams (common random numbers), so the
    difference of replication k is the runbooks' doing on that rotation; its interval is far narrower than the
    two scenarios' own intervals side by side suggest (the gated-retention scenario: orphans 15.0 and 16.1, each
    with a wide spread, but the paired difference -1.1, 95% interval -2.0 to -0.3 over 400 replications). The
    interval is valid whether or not the two fleets have the same shape; it is only narrower when they do.
    """
    rows: list[dict[str, Any]] = []
    if not comp.reports:
        return pd.DataFrame(columns=PAIRED_COLUMNS)
    base = comp.reports[0].runs.set_index("replication")
    for v, r in zip(comp.variants[1:], comp.reports[1:], strict=True):
        runs = r.runs.set_index("replication")
        common = base.index.intersection(runs.index)
        for measure, (col, factor) in PAIRED_MEASURES.items():
            if col not in base or col not in runs:
                continue
            d = (runs.loc[common, col].astype(float) - base.loc[common, col].astype(float)) * factor
            if d.isna().all() or (
                col.startswith("exposure:") and not (base[col].fillna(0).any() or runs[col].fillna(0).any())
            ):
                continue  # neither runbook has that exposure
            st = describe(d.to_numpy(), confidence)
            rows.append(
                {
                    "scenario": v.label,
                    "against": comp.variants[0].label,
                    "measure": measure,
                    "mean_difference": st["mean"],
                    "ci95_low": st["ci95"][0],
                    "ci95_high": st["ci95"][1],
                    "replications": st["n"],
                }
            )
    return pd.DataFrame(rows, columns=PAIRED_COLUMNS)


def differing_parameters(comp: Comparison) -> pd.DataFrame:
    """The scenario parameters whose values differ between the compared scenarios (all of them are in
    each scenario's own report)."""
    tables = [r.assumptions.set_index("parameter")["value"] for r in comp.reports]
    names: list[str] = []
    for t in tables:
        names += [n for n in t.index if n not in names]
    rows = []
    for n in names:
        vals = [str(t.get(n, "(absent)")) for t in tables]
        if len(set(vals)) > 1:
            rows.append([n, *vals])
    return pd.DataFrame(rows, columns=["parameter", *[v.label for v in comp.variants]])


def comparison_csv(comp: Comparison) -> pd.DataFrame:
    """One row per scenario with the numbers (not text) of the side-by-side table."""
    rows = []
    for v, r in zip(comp.variants, comp.reports, strict=True):
        by_cause = r.breakdown["cause"].set_index("cause")["mean"] if len(r.breakdown["cause"]) else pd.Series()
        row: dict[str, Any] = {
            "label": v.label,
            "scenario": v.scenario.name,
            "argument": v.arg,
            "runbook": template_for(v.scenario.runbook).describe(r.setting),
            "replications": r.sampling.n,
            "clients": int(r.runs["clients"].iloc[0]) if len(r.runs) else 0,
            "verdict": r.verdict,
            "orphaned_mean": r.orphans["mean"],
            "orphaned_ci95_low": r.orphans["ci95"][0],
            "orphaned_ci95_high": r.orphans["ci95"][1],
            "orphan_rate_mean": r.orphan_rate["mean"],
            "repair_hours_mean": r.repair_hours["mean"],
            "recommended": None if r.plan is None else r.plan.recommended,
            "recommended_unit": None if r.plan is None else r.plan.unit,
        }
        for c in CAUSES:
            row[f"orphaned_mean:{c}"] = float(by_cause.get(c, 0.0))
        rows.append(row)
    return pd.DataFrame(rows)
