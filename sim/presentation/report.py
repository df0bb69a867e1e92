"""The risk report for people and pipelines: one command before a real rotation, a report for the
change-advisory board and a verdict a pipeline can gate on.

The numbers are ``sim.analysis``'s (``verdict``: the graded verdict; ``sampling``: the sequential
replications; ``report``: the record of every table). Here they become figures, a document of eight sections
(one function each, in ``SECTIONS``), rendered to HTML and Markdown, ``report.json`` for machines and the
at-risk CSV, all written atomically into one folder (``sim.io.write_outputs``), ``report.json`` (the
machine-read verdict) last: an interrupted run leaves the previous report or the new one, never a
half-written file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim._version import __version__
from sim.analysis.dates import Clock
from sim.analysis.format import duration, n1, pct
from sim.analysis.format import setting as fmt_setting
from sim.analysis.provenance import MODEL_DOC
from sim.analysis.report import Report, build_report, canonical_command
from sim.analysis.sampling import (
    DEFAULT_MAX_REPLICATIONS,
    DEFAULT_REPLICATIONS,
    Log,
    Sampling,
    chance_text,
    run_sequential,
)
from sim.analysis.verdict import CONFIDENCE, Threshold
from sim.experiments.options import RunOptions, merge_options
from sim.io import check_out_dir, csv_bytes, jsonable, write_outputs
from sim.presentation import figures as figs
from sim.presentation.document import Block, Bullets, Code, Details, Document, Fig, Para, Section, Table
from sim.presentation.html import render_html
from sim.presentation.markdown import render_markdown
from sim.runbooks import template_for
from sim.scenario.document import Scenario

TOP_AT_RISK = 15


# Files a report may write; a rerun removes those of the list it no longer produces (a stale figure).
FIGURE_FILES = {
    "verdict": "orphans-distribution.png",
    "curve": "orphans-vs-setting.png",
    "breakdown": "orphans-by-cause-group-version.png",
    "timeline": "runbook-timeline.png",
    "trust": "trust-over-time.png",
    "load": "manager-load.png",
}


REPORT_FILES = ("report.html", "report.md", "report.json", "at-risk-clients.csv", *FIGURE_FILES.values())


def report_figures(rep: Report) -> dict[str, tuple[Figure, str]]:
    """name -> (figure, alt text) for every figure of the report."""
    label = rep.scenario.name
    th = rep.threshold
    subject = f"{rep.scenario.name}: {template_for(rep.scenario.runbook).describe(rep.setting)}"
    limit = f"threshold: {th.describe()}"
    out: dict[str, tuple[Figure, str]] = {}
    j = rep.judgement
    values = rep.runs["orphan_rate"] * 100 if th.is_rate else rep.runs["orphaned"]
    scale = 100.0 if th.is_rate else 1.0
    lo, hi = j["ci95"]
    out["verdict"] = (
        figs.orphans_distribution_figure(
            {label: values.to_numpy(float)},
            threshold=th.value * scale,
            interval={label: (None if lo is None else lo * scale, None if hi is None else hi * scale)},
            xlabel="orphan rate per rotation (% of clients not gone)"
            if th.is_rate
            else "orphaned clients per rotation (count)",
            subject=subject,
            threshold_label=limit,
        ),
        "Histogram of orphans per replication with the 95% interval of the mean and the threshold.",
    )
    if rep.plan is not None:
        live = float(rep.runs["live"].mean()) if len(rep.runs) else 0.0
        line = th.value * live if th.is_rate else th.value
        out["curve"] = (
            figs.curve_figure(
                {
                    label: figs.CurveSpec(
                        rep.plan.curve, rep.plan.parameter, rep.plan.unit, rep.setting, rep.plan.recommended
                    )
                },
                threshold=line,
                subject=subject,
                threshold_label=limit if not th.is_rate else f"{limit} ({line:.1f} clients)",
            ),
            "Expected orphans against the retention or wait, with the 95% band and the threshold.",
        )
    out["breakdown"] = (
        figs.breakdown_figure({label: rep.breakdown}),
        "Bar charts of orphans per rotation by cause, by group and by version.",
    )
    if len(rep.steps):
        out["timeline"] = (figs.timeline_figure({label: rep.steps}), "Timeline of the runbook's steps and waits.")
    if len(rep.trust):
        out["trust"] = (
            figs.trust_figure(
                {label: rep.trust}, {label: rep.markers}, contacted={label: rep.contacted}, subject=subject
            ),
            "Share of clients trusting the new certificates over time, with its band and the changes marked.",
        )
    if rep.load is not None:
        out["load"] = (figs.load_figure(rep.load), "Manager load against capacity over time.")
    return out


def _next_section(rep: Report) -> Section:
    """What to do next, in three lines: the setting that reaches GO, the groups to rotate separately, whom
    to watch. Each points to the section with the evidence."""
    items: list[str] = []
    pl = rep.plan
    if rep.verdict == "GO":
        items.append("Rotate as written: the forecast meets the threshold (Verdict).")
    elif pl is not None and pl.recommended is not None:
        now = f" (the runbook has {fmt_setting(rep.setting, pl.unit)})" if rep.setting is not None else ""
        verb = "keep" if rep.setting is not None and rep.setting >= pl.recommended else "set"
        items.append(
            f"Setting: {verb} the {pl.noun} at {fmt_setting(pl.recommended, pl.unit)} or more{now}: the smallest "
            f"that meets the threshold with the verdict's rule, then rerun this report (What would reach GO)."
        )
    elif pl is not None:
        items.append(f"Setting: {pl.statement().rstrip('.')} (What would reach GO).")
    else:
        items.append("Setting: this runbook has no retention or wait to plan; change the runbook (By cause).")
    apart = rep.handle_apart
    if len(apart):
        top = apart.head(3)
        which = "; ".join(
            f"{r['group']} / {r['version']}: {n1(float(r['orphans_per_rotation']))} per rotation "
            f"({r['cause']}: {r['advice']})"
            for r in top.to_dict("records")
        )
        items.append(f"Rotate separately: {which} (What would reach GO).")
    else:
        items.append("Rotate separately: no group or version; every orphan's cause is cured by the setting.")
    prof = rep.profiles[rep.profiles["orphans_per_rotation"] > 0].head(3)
    if len(prof):
        who = "; ".join(
            f"{r['group']} / {r['version']} / {r['presence']}: {pct(float(r['orphaned_share']))} orphaned"
            for r in prof.to_dict("records")
        )
        items.append(
            f"Watch: {who}; the clients most often orphaned are in at-risk-clients.csv (Clients most at risk)."
        )
    else:
        items.append("Watch: no client was orphaned in any replication.")
    return Section("What to do next", "next", [Bullets(items)])


def _verdict_section(rep: Report) -> Section:
    """The verdict, what it rests on and how the sampling reached it."""
    sc = rep.scenario
    th = rep.threshold
    fmt = pct if th.is_rate else n1
    o = rep.orphans
    sampling = rep.sampling
    b: list[Block] = [Para(_verdict_meaning(rep.verdict, th), strong=True)]
    b.append(
        Bullets(
            [
                f"Chance that this rotation exceeds the threshold: {chance_text(rep.judgement)}.",
                f"Expected orphans per rotation: {n1(o['mean'])} (95% interval {n1(o['ci95'][0])} to "
                f"{n1(o['ci95'][1])}); median {n1(o['quantiles'].get('0.5'))}, 95th percentile "
                f"{n1(o['quantiles'].get('0.95'))}.",
                f"Expected orphan rate: {pct(rep.orphan_rate['mean'])} of the clients that are not gone "
                f"(95% interval {pct(rep.orphan_rate['ci95'][0])} to {pct(rep.orphan_rate['ci95'][1])}).",
                f"Repair work: {n1(rep.repair_hours['mean'])} hours of hands-on work (95% interval "
                f"{n1(rep.repair_hours['ci95'][0])} to {n1(rep.repair_hours['ci95'][1])} hours; about "
                f"{n1((rep.repair_hours['mean'] or 0) / 8)} person-days of 8 hours), assuming "
                f"{sc.repair_minutes:g} minutes per repair (repair_minutes, an assumption: set it in the scenario).",
                _sampling_text(sampling),
                *_unsupported_reading(sc),
                f"Scenario: {sc.name} ({rep.source}); runbook: {template_for(sc.runbook).describe(rep.setting)}; "
                f"{int(rep.runs['clients'].iloc[0]) if len(rep.runs) else 0} clients; horizon "
                f"{rep.horizon_hours / 24:g} days{_origin(sc)}.",
            ]
        )
    )
    b.append(Fig("verdict", "Orphans per replication: the mean's 95% interval (shaded) against the threshold."))
    b.append(
        Table(
            pd.DataFrame(sampling.batches)[["replications", "verdict", "exceeding", "chance_ci", "mean", "ci95"]]
            .assign(
                chance_ci=lambda d: [f"{pct(a)} to {pct(c)}" for a, c in d["chance_ci"]],
                ci95=lambda d: [f"{fmt(a)} to {fmt(c)}" for a, c in d["ci95"]],
                mean=lambda d: [fmt(v) for v in d["mean"]],
            )
            .rename(columns={"chance_ci": "chance of exceeding (95% interval)", "ci95": "mean (95% interval)"}),
            "Sequential sampling: the verdict after each batch.",
        )
    )
    return Section("Verdict", "verdict", b)


def _reach_go_section(rep: Report) -> Section:
    """The retention or wait that meets the threshold, and what no setting cures."""
    b: list[Block] = []
    if rep.plan is not None:
        pl = rep.plan
        what = "retention" if pl.parameter == "retention_days" else "wait"
        now = f"{rep.setting:g} {pl.unit}" if rep.setting is not None else "unknown"
        b.append(Para(pl.statement(), strong=True))
        if pl.recommended is not None:
            cmp = "already meets" if rep.setting is not None and rep.setting >= pl.recommended else "does not meet"
            b.append(
                Para(
                    f"The runbook's {what} is {now}; it {cmp} that. The recommended {what} is the smallest at which "
                    "the chance that one rotation exceeds the threshold is shown to be below 5%, the rule of the "
                    "verdict above, on the same replications."
                )
            )
        b.append(Fig("curve", f"Expected orphans had the {what} been longer or shorter (the band: 95% interval)."))
    else:
        b.append(
            Para(
                "This runbook has no retention or wait that rotasim plans for (it does for kb-multi-server and "
                "kb-single-server); the orphans by cause below show what stands in the way."
            )
        )
    if len(rep.handle_apart):
        b.append(Para("Groups and versions to handle apart: their orphans no retention or wait prevents."))
        b.append(Table(rep.handle_apart, formats={"orphans_per_rotation": "n2"}))
    else:
        b.append(
            Para(
                "No group or version needs handling apart: no orphan has a cause that a longer wait or retention "
                "cannot cure."
            )
        )
    return Section("What would reach GO", "reach-go", b)


def _breakdown_section(rep: Report) -> Section:
    """Orphans per rotation by cause, group and version."""
    b: list[Block] = [Fig("breakdown", "Orphans per rotation by cause, group and version (whiskers: 95% interval).")]
    for key in ("cause", "group", "version"):
        df = rep.breakdown[key]
        if len(df):
            b.append(
                Table(
                    df,
                    f"Orphans per rotation by {key}.",
                    {"mean": "n2", "ci95_low": "n2", "ci95_high": "n2", "share_of_orphans": "pct"},
                )
            )
        else:
            b.append(Para(f"By {key}: no orphans in any replication."))
    return Section("Orphans by cause, group and version", "breakdown", b)


def _at_risk_section(rep: Report) -> Section:
    """The profiles and clients most often orphaned."""
    sc = rep.scenario
    sampling = rep.sampling
    n = sampling.n
    generated = sc.fleet.files is None
    b: list[Block] = [
        Para(
            f"Risk is the share of the {n} replications in which a client was orphaned. "
            + (
                "The fleet is generated: a client id is not the same machine in every replication (its group, "
                "version and presence are drawn anew), so read the per-profile table first; the per-client "
                "columns show each id's most frequent profile when orphaned."
                if generated
                else "The fleet is read from files: a client id is the same machine in every replication."
            )
            + " first_contact_hours: the median, over the replications that orphaned it, of the client's first "
            "check-in after the procedure's window opened (blank: none within the horizon); profile_share: the "
            "share orphaned of all clients with its group, version and presence."
        ),
        Table(
            rep.profiles.head(TOP_AT_RISK),
            f"Profiles (group, version, presence) by share orphaned; top {TOP_AT_RISK}.",
            {"clients_per_rotation": "n1", "orphans_per_rotation": "n2", "orphaned_share": "pct"},
        ),
    ]
    if len(rep.at_risk):
        b.append(
            Table(
                rep.at_risk.head(TOP_AT_RISK)[
                    [
                        "client_id",
                        "orphaned_share",
                        "cause",
                        "group",
                        "version",
                        "presence",
                        "first_contact_hours_median",
                        "profile_orphaned_share",
                    ]
                ].rename(
                    columns={
                        "first_contact_hours_median": "first_contact_hours",
                        "profile_orphaned_share": "profile_share",
                    }
                ),
                f"The {min(TOP_AT_RISK, len(rep.at_risk))} clients most at risk, of {len(rep.at_risk)} orphaned in "
                "at least one replication (all of them in at-risk-clients.csv).",
                {"orphaned_share": "pct", "profile_share": "pct", "first_contact_hours": "h"},
            )
        )
    else:
        b.append(Para("No client was orphaned in any replication; at-risk-clients.csv has the header only."))
    return Section("Clients most at risk", "at-risk", b)


def _origin(sc: Scenario) -> str:
    """``; t = 0 is Mon 3 Mar 2025 08:00 UTC`` when the scenario knows its start, else nothing."""
    clock = Clock.of(sc)
    return f"; {clock.origin()}" if clock.known else ""


def _runbook_section(rep: Report) -> Section:
    """The runbook's steps and waits, with the start's date when the scenario knows its start."""
    b: list[Block] = []
    if len(rep.steps):
        clock = Clock.of(rep.scenario)
        st = rep.steps.assign(
            duration=lambda d: [
                duration(float(e) - float(s)) for s, e in zip(d["start_hours"], d["end_hours"], strict=True)
            ],
            starts=lambda d: [clock.text(float(v)) for v in d["start_hours"]],
        )
        cols = ["name", "kind", "start_hours", *(["starts"] if clock.known else []), "end_hours", "duration"]
        b.append(Fig("timeline", "The runbook's steps and waits (replication 1)."))
        b.append(
            Table(
                st[[*cols, "detail"]],
                f"Steps, hours since the first step{_origin(rep.scenario)} ({clock.zone()})."
                if clock.known
                else "Steps, hours since the first step.",
                {"start_hours": "h", "end_hours": "h"},
            )
        )
    else:
        b.append(Para("The runbook has no steps."))
    return Section("Runbook timeline", "runbook", b)


def _trust_section(rep: Report) -> Section:
    """Trust in the new certificates over time, beside the share that has checked in since the window opened
    (the observed progress: under kb-multi-server trust is 0 by definition until the last manager changes)."""
    b: list[Block] = []
    clock = Clock.of(rep.scenario)
    if not len(rep.trust):
        return Section("Progress: clients contacted and trusting the new certificates", "trust", b)
    t, cd = rep.trust, rep.contacted
    days = [d for d in (1, 7, 30, 60, 90) if d * 24 <= rep.horizon_hours] + [rep.horizon_hours / 24]
    rows = []
    for d in days:
        i = min(int(np.searchsorted(t["time_hours"].to_numpy(), d * 24 - 1e-9)), len(t) - 1)
        row: dict[str, Any] = {"day": f"{d:g}"}
        if clock.known:
            row["date"] = clock.text(d * 24)
        if len(cd):
            j = min(i, len(cd) - 1)
            row["contacted"] = cd["mean"].iloc[j]
            row["contacted (95% of replications)"] = f"{pct(cd['low'].iloc[j])} to {pct(cd['high'].iloc[j])}"
        row["trusting"] = t["mean"].iloc[i]
        row["trusting (95% of replications)"] = f"{pct(t['low'].iloc[i])} to {pct(t['high'].iloc[i])}"
        rows.append(row)
    last = next((x for x, label in reversed(rep.markers) if label), None)
    if rep.plan is not None and rep.plan.parameter == "retention_days" and last is not None:
        b.append(
            Para(
                "Under kb-multi-server no client trusts every new certificate until the last manager on the old "
                f"one is updated or retired (day {last / 24:.1f}): the share trusting stays at 0 until then by "
                "definition. The share that has checked in since the window opened is the progress to watch: "
                "those clients have learnt the new certificates from a manager and survive the end of the "
                "retention; the rest are who a shorter retention would orphan."
            )
        )
    b.append(
        Fig(
            "trust",
            "Share of clients (not gone) that checked in since the window opened (dashed) and that trust the new "
            "certificates (solid; band: middle 95% of replications); dotted lines: certificate changes and the "
            "end of the retention.",
        )
    )
    b.append(
        Table(
            pd.DataFrame(rows),
            "Progress at selected days: mean share of clients not gone, and the middle 95% of replications.",
            {"contacted": "pct", "trusting": "pct"},
        )
    )
    return Section("Progress: clients contacted and trusting the new certificates", "trust", b)


def _load_section(rep: Report) -> Section:
    """Manager load against capacity, when the scenario models it."""
    sampling = rep.sampling
    b: list[Block]
    if rep.load is not None or rep.load_summary is not None:
        b = []
        if rep.load is not None:
            b.append(Fig("load", "Check-ins offered per second against each manager's capacity (replication 1)."))
        if rep.load_summary is not None:
            b.append(
                Table(
                    rep.load_summary,
                    f"Per manager across the {sampling.n} replications: peak load, hours over capacity and "
                    "check-ins that timed out.",
                    {c: "n2" for c in rep.load_summary.columns if c != "manager"},
                )
            )
    else:
        b = [Para("Manager capacity is not modelled in this scenario: no load is shown.")]
    return Section("Manager load against capacity", "load", b)


def _assumptions_section(rep: Report) -> Section:
    """Every parameter with its source, and the command that reproduces the report."""
    sampling = rep.sampling
    b: list[Block] = [
        Para(
            f"Every parameter of the scenario, its value and where it comes from: the scenario file, the command "
            f"line or the default; 'domain fact N' cites the numbered facts and 'assumption' marks a value the "
            f"documentation does not give (both explained in {MODEL_DOC})."
        ),
        Bullets(
            [
                f"rotasim version: {__version__}",
                f"seed: {rep.seed} (replication k uses the seed sequence (seed, k))",
                f"replications: {sampling.n} (started at {sampling.initial}, cap {sampling.cap})",
                f"engine: {rep.sampling.reps.engine}",
                f"generated: {rep.generated_at}",
            ]
        ),
        Para("The exact command that reproduces this report:"),
        Code(rep.command),
    ]
    a = rep.assumptions
    names = a["parameter"].astype(str)
    shown = ~a["source"].astype(str).str.startswith("default") | a["source"].astype(str).str.contains("assumption")
    shown &= ~names.str.endswith(".name") & ~names.isin(["name", "description"])
    b.append(
        Table(
            a[shown],
            "The parameters that shape this forecast: set in the scenario or on the command line, and the model's "
            "assumptions (values the documentation does not give). 'inherited (x)': the group takes x from its parent.",
        )
    )
    b.append(Details(f"All {len(a)} scenario parameters, defaults included", Table(a, "Scenario parameters.")))
    return Section("Assumptions and reproduction", "assumptions", b)


# The report's sections, in the order the issue asks for.
SECTIONS: tuple[Callable[[Report], Section], ...] = (
    _next_section,
    _verdict_section,
    _reach_go_section,
    _breakdown_section,
    _at_risk_section,
    _runbook_section,
    _trust_section,
    _load_section,
    _assumptions_section,
)


def report_document(rep: Report, figures: Mapping[str, tuple[Figure, str]]) -> Document:
    """The report's sections, in the order the issue asks for."""
    pngs = {k: (figs.to_png(f), FIGURE_FILES[k], alt) for k, (f, alt) in figures.items()}
    th = rep.threshold
    j = rep.judgement
    fmt = pct if th.is_rate else n1
    lo, hi = j["ci95"]
    clo, chi = j["chance_ci"]
    headline = (
        f"{rep.verdict}: the chance that this rotation exceeds {th.describe()} is {pct(j['chance'])} "
        f"(95% interval {pct(clo)} to {pct(chi)}; {j['exceeding']} of {j['n']} replications); expected "
        f"{'orphan rate' if th.is_rate else 'orphans'} {fmt(j['mean'])} (95% interval {fmt(lo)} to {fmt(hi)})."
    )
    sc = rep.scenario
    sections = [section(rep) for section in SECTIONS]
    return Document(
        title=f"Certificate rotation risk report: {sc.name}",
        subtitle=f"rotasim {__version__}; {sc.description.strip()}"
        if sc.description.strip()
        else f"rotasim {__version__}",
        badge=rep.verdict,
        headline=headline,
        sections=sections,
        figures=pngs,
    )


def _unsupported_reading(sc: Scenario) -> list[str]:
    """Under kb-multi-server, which reading of the KB's warning on 14.2 clients the numbers rest on: a board
    must see when the kinder restart-timing reading (an option, never the default) was used."""
    if getattr(sc.runbook, "template", None) != "kb-multi-server":
        return []
    if sc.fleet.restart_saves_unsupported:
        return [
            "Clients that cannot use the multi-server method (14.2, 14.2.1): the restart-timing reading "
            "(fleet.restart_saves_unsupported: true, an assumption) was used; they survive when their manager "
            "is restarting as they check in. KB 187099 says they cannot use this method: treat their numbers "
            "as optimistic."
        ]
    return [
        "Clients that cannot use the multi-server method (14.2, 14.2.1): KB 187099's reading (the default): "
        "lost when their manager changes certificate while they hold only the old one, whatever the restart "
        "timing."
    ]


def _verdict_meaning(v: str, th: Threshold) -> str:
    """What the badge means (docs/model.md, "Risk and the verdict")."""
    if v == "GO":
        return (
            f"GO: this rotation stays within the threshold ({th.describe()}); the chance that it exceeds it is "
            "below 5%, and the replications show it (the whole 95% interval of that chance lies below 5%)."
        )
    if v == "NO-GO":
        return (
            f"NO-GO: the chance that this rotation exceeds the threshold ({th.describe()}) is above 5% (the whole "
            "95% interval of that chance lies above 5%)."
        )
    return (
        f"INCONCLUSIVE: the replications cannot tell whether the chance that this rotation exceeds the threshold "
        f"({th.describe()}) is below 5%, even after the replication cap; treat it as a NO-GO or raise the cap."
    )


def _sampling_text(s: Sampling) -> str:
    if len(s.batches) == 1:
        return f"Replications: {s.n}; the first batch decided the verdict (cap {s.cap})."
    steps = " -> ".join(str(bt["replications"]) for bt in s.batches)
    how = "until the verdict was decided" if s.batches[-1]["verdict"] != "INCONCLUSIVE" else "and reached the cap"
    return (
        f"Replications: {s.n}. Sequential sampling: {s.initial} replications could not decide the verdict, so "
        f"the report added replications ({steps}) {how} (cap {s.cap})."
    )


def report_json(rep: Report, files: Iterable[str]) -> dict[str, Any]:
    """The report for machines: the verdict and every table the page shows."""
    j = rep.judgement
    t = rep.trust
    clock = Clock.of(rep.scenario)
    daily = t[np.isclose(np.mod(t["time_hours"].to_numpy(float), 24.0), 0.0)] if len(t) else t
    daily = clock.with_dates(daily, ["time_hours"])
    return jsonable(
        {
            "rotasim_version": __version__,
            "verdict": rep.verdict,
            "exit_code": rep.exit_code,
            "threshold": rep.threshold.to_json(),
            "unsupported_reading": "restart-timing" if rep.scenario.fleet.restart_saves_unsupported else "kb",
            "risk": {
                "definition": "the chance that this rotation exceeds the threshold (docs/model.md, Risk)",
                "exceeding": j["exceeding"],
                "replications": j["n"],
                "chance": j["chance"],
                "interval": j["chance_ci"],
                "go_below": j["limit"],
                "confidence": CONFIDENCE,
            },
            "estimate": {
                "metric": "orphan_rate" if rep.threshold.is_rate else "orphans",
                "mean": j["mean"],
                "ci95": j["ci95"],
                "confidence": CONFIDENCE,
            },
            "orphans": rep.orphans,
            "orphan_rate": rep.orphan_rate,
            "repair": {
                "minutes_per_orphan": rep.scenario.repair_minutes,
                "minutes_source": "assumption (repair_minutes)",
                "hours": rep.repair_hours,
            },
            "sampling": {
                "initial": rep.sampling.initial,
                "cap": rep.sampling.cap,
                "replications": rep.sampling.n,
                "batches": rep.sampling.batches,
            },
            "scenario": {
                "name": rep.scenario.name,
                "source": rep.source,
                "description": rep.scenario.description,
                "runbook": template_for(rep.scenario.runbook).describe(rep.setting),
                "clients": int(rep.runs["clients"].iloc[0]) if len(rep.runs) else 0,
                "horizon_hours": rep.horizon_hours,
                "start_time": clock.iso(0.0),
                "time_zone": clock.zone() or None,
            },
            "seed": rep.seed,
            "command": rep.command,
            "generated_at": rep.generated_at,
            "reach_go": {
                "plan": rep.plan.to_json() if rep.plan is not None else None,
                "current_setting": rep.setting,
                "handle_apart": rep.handle_apart,
            },
            "orphans_by": rep.breakdown,
            "at_risk": {
                "top_clients": rep.at_risk.head(TOP_AT_RISK),
                "clients_file": "at-risk-clients.csv",
                "clients_at_risk": len(rep.at_risk),
                "profiles": rep.profiles,
            },
            "runbook": clock.with_dates(rep.steps, ["start_hours", "end_hours"]),
            "trust_daily": daily,
            "trust_markers": [{"time_hours": a, "time_at": clock.iso(a), "label": b} for a, b in rep.markers],
            "manager_load": "capacity not modelled in this scenario"
            if rep.load is None and rep.load_summary is None
            else {"figure": "manager-load.png" if rep.load is not None else None, "managers": rep.load_summary},
            "assumptions": rep.assumptions,
            "replication_runs": rep.runs,
            "files": sorted(files),
        }
    )


def report_files(rep: Report) -> dict[str, bytes]:
    """Every file of the report, name -> content."""
    figures = report_figures(rep)
    doc = report_document(rep, figures)
    files: dict[str, bytes] = {name: png for png, name, _alt in doc.figures.values()}
    files["at-risk-clients.csv"] = csv_bytes(
        Clock.of(rep.scenario).with_dates(rep.at_risk, ["first_contact_hours_median"])
    )
    files["report.md"] = render_markdown(doc).encode("utf-8")
    files["report.html"] = render_html(doc).encode("utf-8")
    names = [*files, "report.json"]
    files["report.json"] = (json.dumps(report_json(rep, names), indent=2, allow_nan=False) + "\n").encode("utf-8")
    return files


def write_report(rep: Report, out: Path) -> list[str]:
    """Write the report's files into ``out`` atomically; returns the file names."""
    files = report_files(rep)
    write_outputs(out, files, last=("report.json",), owned=REPORT_FILES)
    return sorted(files)


def generate_report(
    scenario: Scenario,
    out: Path,
    *,
    source: str,
    threshold: Threshold,
    replications: int = DEFAULT_REPLICATIONS,
    max_replications: int = DEFAULT_MAX_REPLICATIONS,
    seed: int | None = None,
    clients: int | None = None,
    horizon_days: float | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    log: Log | None = None,
    command: str | None = None,
    options: RunOptions | None = None,
) -> Report:
    """Run the sequential replications, build the report and write it; the library form of ``rotasim report``.
    ``options`` gives the run options as one ``RunOptions`` instead of (or with) the keywords."""
    check_out_dir(out)
    o = merge_options(
        options, seed=seed, clients=clients, horizon_days=horizon_days, workers=workers, progress=progress
    )
    o = o.replace(seed=o.root_seed(scenario))
    sampling = run_sequential(
        scenario, threshold, replications=replications, max_replications=max_replications, log=log, options=o
    )
    cmd = command or canonical_command(
        source,
        out=str(out),
        threshold=threshold,
        replications=replications,
        max_replications=max_replications,
        seed=o.root_seed(scenario),
        clients=o.clients,
        horizon_days=o.horizon_days,
        engine=o.engine,
    )
    rep = build_report(sampling, source=source, command=cmd)
    if log is not None:
        log("drawing figures and writing the report")
    write_report(rep, out)
    return rep
