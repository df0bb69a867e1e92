"""Scenario comparison: the report's figures with the scenarios overlaid, and a side-by-side table.

Why: a board choosing between runbooks (the KB's single-server procedure with a 3-heartbeat wait or a 7-day
one, the multi-server procedure with 30 or 90 days of retention) wants them on one page, measured the same
way. Every scenario runs the same replications 0..n-1 under one root seed (common random numbers): where
two scenarios share a fleet shape they replay the same clients, so the differences are the runbooks' doing,
not sampling noise.

A scenario argument is a YAML file, optionally followed by ``:field=value[,field=value...]`` (dotted
scenario fields, values read as YAML) so that variants need no copied files::

    rotasim compare scenarios/single-site-small.yaml scenarios/single-site-small.yaml:runbook.wait_hours=168
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from matplotlib.figure import Figure

from sim._version import __version__
from sim.errors import InputError
from sim.io import check_out_dir, csv_bytes, jsonable, write_outputs
from sim.model.causes import CAUSES
from sim.presentation import figures as figs
from sim.presentation.report import (
    CONFIDENCE,
    Block,
    Bullets,
    Code,
    Document,
    Fig,
    Log,
    Para,
    Report,
    Section,
    Table,
    Threshold,
    build_report,
    render_html,
    render_markdown,
    run_sequential,
    runbook_text,
)
from sim.scenario.document import Scenario, load_scenario

FIGURE_FILES = {
    "orphans": "compare-orphans.png",
    "breakdown": "compare-by-cause-group-version.png",
    "curve": "compare-orphans-vs-setting.png",
    "timeline": "compare-runbook-timelines.png",
    "trust": "compare-trust-over-time.png",
}


COMPARE_FILES = ("compare.html", "compare.md", "compare.json", "comparison.csv", *FIGURE_FILES.values())


MAX_SCENARIOS = 12


_ARG = re.compile(r"^(?P<path>.+?\.ya?ml)(?::(?P<over>.*))?$", re.I)


@dataclass
class Variant:
    """One scenario to compare: its file, the field overrides, and a label for legends and columns."""

    arg: str
    path: Path
    overrides: dict[str, Any]
    scenario: Scenario
    label: str


def parse_variant(arg: str) -> tuple[Path, dict[str, Any]]:
    """``FILE.yaml[:field=value,field=value]`` -> (path, overrides)."""
    m = _ARG.match(arg.strip())
    if m is None:
        return Path(arg), {}
    over: dict[str, Any] = {}
    text = m.group("over")
    if text is not None:
        if not text.strip():
            raise InputError(arg, "", "expected field=value after ':'")
        for item in text.split(","):
            if "=" not in item:
                raise InputError(arg, item, "expected field=value, for example runbook.retention_days=90")
            key, value = item.split("=", 1)
            try:
                over[key.strip()] = yaml.safe_load(value.strip())
            except yaml.YAMLError:
                raise InputError(arg, key.strip(), f"cannot read the value {value.strip()!r}") from None
    return Path(m.group("path")), over


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
) -> Comparison:
    """Run ``replications`` of every scenario file (``FILE.yaml[:field=value,...]``) under one root seed."""
    variants = load_variants(args)
    seed = variants[0].scenario.seed if seed is None else seed
    cmd = command or compare_command_line(args, threshold, replications, seed, clients, horizon_days)
    return run_variants(
        variants,
        threshold=threshold,
        replications=replications,
        seed=seed,
        clients=clients,
        horizon_days=horizon_days,
        workers=workers,
        progress=progress,
        log=log,
        command=cmd,
    )


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
) -> Comparison:
    """Run ``replications`` of every variant under one root seed and build each one's report tables."""
    seed = variants[0].scenario.seed if seed is None else seed
    reports = []
    for v in variants:
        if log is not None:
            log(f"scenario {v.label}")
        sampling = run_sequential(
            v.scenario,
            threshold,
            replications=replications,
            max_replications=replications,
            seed=seed,
            clients=clients,
            horizon_days=horizon_days,
            workers=workers,
            progress=progress,
            log=log,
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
) -> str:
    parts = ["rotasim", "compare", *args]
    if out is not None:
        parts += ["--out", out]
    parts += ["--replications", str(replications), *threshold.option().split(), "--seed", str(seed)]
    if clients is not None:
        parts += ["--clients", str(clients)]
    if horizon_days is not None:
        parts += ["--horizon-days", f"{horizon_days:g}"]
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
            rec = "none within the horizon"
        else:
            rec = f"{r.plan.recommended:g} {r.plan.unit}"
        last = r.trust.iloc[-1] if len(r.trust) else None
        cols[v.label] = [
            runbook_text(v.scenario, r.setting),
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
            "runbook": runbook_text(v.scenario, r.setting),
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


def compare_figures(comp: Comparison) -> dict[str, tuple[Figure, str]]:
    th = comp.threshold
    out: dict[str, tuple[Figure, str]] = {}
    t = comparison_csv(comp)
    scale = 100.0 if th.is_rate else 1.0
    if th.is_rate:
        rates = [r.orphan_rate for r in comp.reports]
        table = pd.DataFrame(
            {
                "label": t["label"],
                "mean": [100 * (d["mean"] or 0.0) for d in rates],
                "ci95_low": [100 * (d["ci95"][0] if d["ci95"][0] is not None else d["mean"] or 0) for d in rates],
                "ci95_high": [100 * (d["ci95"][1] if d["ci95"][1] is not None else d["mean"] or 0) for d in rates],
            }
        )
    else:
        table = t.rename(
            columns={"orphaned_mean": "mean", "orphaned_ci95_low": "ci95_low", "orphaned_ci95_high": "ci95_high"}
        )
    out["orphans"] = (
        figs.orphans_compare_figure(
            table,
            threshold=th.value * scale,
            xlabel="orphan rate per rotation (% of clients not gone)"
            if th.is_rate
            else "orphaned clients per rotation (count)",
        ),
        "Expected orphans per scenario with their 95% intervals and the threshold.",
    )
    labels = [v.label for v in comp.variants]
    out["breakdown"] = (
        figs.breakdown_figure({lb: r.breakdown for lb, r in zip(labels, comp.reports, strict=True)}),
        "Orphans by cause, group and version, the scenarios side by side.",
    )
    curves = {
        lb: figs.CurveSpec(r.plan.curve, r.plan.parameter, r.plan.unit, r.setting, r.plan.recommended)
        for lb, r in zip(labels, comp.reports, strict=True)
        if r.plan is not None
    }
    if curves:
        out["curve"] = (
            figs.curve_figure(curves, threshold=None if th.is_rate else th.value),
            "Expected orphans against the retention or the wait, the scenarios overlaid.",
        )
    steps = {lb: r.steps for lb, r in zip(labels, comp.reports, strict=True) if len(r.steps)}
    if steps:
        out["timeline"] = (figs.timeline_figure(steps), "The runbooks' timelines, one panel per scenario.")
    trust = {lb: r.trust for lb, r in zip(labels, comp.reports, strict=True) if len(r.trust)}
    if trust:
        marks = {lb: r.markers for lb, r in zip(labels, comp.reports, strict=True) if len(r.trust)}
        out["trust"] = (
            figs.trust_figure(trust, marks),
            "Share of clients trusting the new certificates over time, the scenarios overlaid.",
        )
    return out


def compare_document(comp: Comparison, figures: Mapping[str, tuple[Figure, str]]) -> Document:
    pngs = {k: (figs.to_png(f), FIGURE_FILES[k], alt) for k, (f, alt) in figures.items()}
    th = comp.threshold
    labels = [v.label for v in comp.variants]
    best = min(
        zip(labels, comp.reports, strict=True),
        key=lambda lr: lr[1].judgement["mean"] if lr[1].judgement["mean"] is not None else float("inf"),
    )
    headline = (
        f"{len(labels)} scenarios, {comp.replications} replications each under seed {comp.seed}; threshold: "
        f"{th.describe()}. Fewest expected orphans: {best[0]} ({best[1].verdict})."
    )
    sections: list[Section] = []
    b: list[Block] = [
        Para(
            "Every scenario ran the same replications under the same root seed (common random numbers): where "
            "the fleets have the same shape the same clients are replayed, so differences come from the runbooks."
        ),
        Table(side_by_side(comp), "Side by side (intervals: 95%)."),
        Fig("orphans", "Expected orphans per scenario (whiskers: 95% interval) and the threshold."),
    ]
    sections.append(Section("Side by side", "side-by-side", b))

    rows = []
    for lb, r in zip(labels, comp.reports, strict=True):
        if r.plan is not None:
            rows.append({"scenario": lb, "statement": r.plan.statement()})
        else:
            rows.append({"scenario": lb, "statement": "No retention or wait to plan for this runbook."})
    b = [Table(pd.DataFrame(rows), "What would reach the threshold, per scenario.")]
    if "curve" in figures:
        b.append(Fig("curve", "Expected orphans against the retention or wait (bands: 95% intervals)."))
    sections.append(Section("What would reach GO", "reach-go", b))

    b = [Fig("breakdown", "Orphans per rotation by cause, group and version (whiskers: 95% interval).")]
    for key in ("cause", "group", "version"):
        names: list[str] = []
        for r in comp.reports:
            names += [str(n) for n in r.breakdown[key][key] if str(n) not in names]
        if not names:
            continue
        data: dict[str, Any] = {key: names}
        for lb, r in zip(labels, comp.reports, strict=True):
            m = r.breakdown[key].set_index(r.breakdown[key][key].astype(str))["mean"]
            data[lb] = [float(m.get(n, 0.0)) for n in names]
        b.append(Table(pd.DataFrame(data), f"Orphans per rotation by {key} (mean).", {lb: "n2" for lb in labels}))
    sections.append(Section("Orphans by cause, group and version", "breakdown", b))

    b = [Fig("timeline", "Each runbook's steps and waits.")] if "timeline" in figures else []
    sections.append(Section("Runbook timelines", "runbooks", b or [Para("No steps.")]))
    b = [Fig("trust", "Share of clients (not gone) trusting the new certificates; bands: middle 95% of replications.")]
    sections.append(Section("Clients trusting the new certificates", "trust", b))
    diff = differing_parameters(comp)
    b = [
        Para(
            "Parameters whose values differ between the scenarios (each scenario's own report lists all of them "
            "with their sources; `rotasim report` on one scenario writes it)."
        ),
        Table(diff, "Differing parameters.") if len(diff) else Para("The scenarios share every parameter value."),
        Bullets([f"rotasim version: {__version__}", f"seed: {comp.seed}", f"replications: {comp.replications}"]),
        Para("The exact command that reproduces this comparison:"),
        Code(comp.command),
    ]
    sections.append(Section("Assumptions and reproduction", "assumptions", b))
    return Document(
        title="Certificate rotation scenarios compared",
        subtitle=f"rotasim {__version__}; " + "; ".join(labels),
        badge=None,
        headline=headline,
        sections=sections,
        figures=pngs,
    )


def compare_json(comp: Comparison, files: Sequence[str]) -> dict[str, Any]:
    out = {
        "rotasim_version": __version__,
        "threshold": comp.threshold.to_json(),
        "seed": comp.seed,
        "replications": comp.replications,
        "confidence": CONFIDENCE,
        "command": comp.command,
        "scenarios": [
            {
                "label": v.label,
                "argument": v.arg,
                "name": v.scenario.name,
                "overrides": v.overrides,
                "runbook": runbook_text(v.scenario, r.setting),
                "verdict": r.verdict,
                "estimate": {"mean": r.judgement["mean"], "ci95": r.judgement["ci95"]},
                "orphans": r.orphans,
                "orphan_rate": r.orphan_rate,
                "repair_hours": r.repair_hours,
                "orphans_by": r.breakdown,
                "plan": None if r.plan is None else r.plan.to_json(),
            }
            for v, r in zip(comp.variants, comp.reports, strict=True)
        ],
        "side_by_side": side_by_side(comp),
        "files": sorted(files),
    }
    return jsonable(out)


def write_comparison(comp: Comparison, out: Path) -> list[str]:
    """Write the comparison's files into ``out`` atomically; returns the file names."""
    check_out_dir(out)
    figures = compare_figures(comp)
    doc = compare_document(comp, figures)
    files: dict[str, bytes] = {name: png for png, name, _alt in doc.figures.values()}
    files["comparison.csv"] = csv_bytes(comparison_csv(comp))
    files["compare.md"] = render_markdown(doc).encode("utf-8")
    files["compare.html"] = render_html(doc).encode("utf-8")
    names = [*files, "compare.json"]
    files["compare.json"] = (json.dumps(compare_json(comp, names), indent=2, allow_nan=False) + "\n").encode()
    write_outputs(out, files, last=("compare.json",), owned=COMPARE_FILES)
    return sorted(files)
