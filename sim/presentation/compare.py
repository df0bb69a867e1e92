"""The scenario comparison for people: the report's figures with the scenarios overlaid, a side-by-side
document (HTML and Markdown) and ``compare.json``, written atomically into one folder. The runs and tables
are ``sim.analysis.comparison``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from sim._version import __version__
from sim.analysis.comparison import (
    Comparison,
    comparison_csv,
    differing_parameters,
    paired_differences,
    side_by_side,
)
from sim.analysis.verdict import CONFIDENCE
from sim.io import check_out_dir, csv_bytes, jsonable, write_outputs
from sim.presentation import figures as figs
from sim.presentation.document import Block, Bullets, Code, Document, Fig, Para, Section, Table
from sim.presentation.html import render_html
from sim.presentation.markdown import render_markdown
from sim.runbooks import template_for

FIGURE_FILES = {
    "orphans": "compare-orphans.png",
    "breakdown": "compare-by-cause-group-version.png",
    "curve": "compare-orphans-vs-setting.png",
    "timeline": "compare-runbook-timelines.png",
    "trust": "compare-trust-over-time.png",
}


COMPARE_FILES = ("compare.html", "compare.md", "compare.json", "comparison.csv", *FIGURE_FILES.values())


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
            threshold_label=f"threshold: {th.describe()}",
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
            figs.curve_figure(
                curves,
                threshold=None if th.is_rate else th.value,
                subject=f"{len(curves)} scenarios, {comp.replications} replications each",
                threshold_label=f"threshold: {th.describe()}",
            ),
            "Expected orphans against the retention or the wait, the scenarios overlaid.",
        )
    steps = {lb: r.steps for lb, r in zip(labels, comp.reports, strict=True) if len(r.steps)}
    if steps:
        out["timeline"] = (figs.timeline_figure(steps), "The runbooks' timelines, one panel per scenario.")
    trust = {lb: r.trust for lb, r in zip(labels, comp.reports, strict=True) if len(r.trust)}
    if trust:
        marks = {lb: r.markers for lb, r in zip(labels, comp.reports, strict=True) if len(r.trust)}
        out["trust"] = (
            figs.trust_figure(trust, marks, subject=f"{len(trust)} scenarios, {comp.replications} replications each"),
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
    paired = paired_differences(comp)
    if len(paired):
        first = labels[0]
        shown = paired.rename(
            columns={"mean_difference": "mean difference", "ci95_low": "95% low", "ci95_high": "95% high"}
        ).drop(columns=["against"])
        b = [
            Para(
                f"Each scenario minus {first}, replication by replication (the same streams in both): the mean "
                "difference and its 95% interval. An interval that excludes 0 shows which runbook does better on "
                "that measure, with far fewer replications than the side-by-side intervals need."
            ),
            Table(shown, f"Paired differences against {first} (negative: fewer than {first}).",
                  {"mean difference": "n2", "95% low": "n2", "95% high": "n2"}),
        ]  # fmt: skip
        sections.append(Section("Paired differences", "paired", b))

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
                "runbook": template_for(v.scenario.runbook).describe(r.setting),
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
        "paired_differences": paired_differences(comp),
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
