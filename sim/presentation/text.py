"""Text summaries: what ``rotasim`` prints for a run, replications, a plan, a sweep, a report's verdict, a
comparison and a fleet import.

Why here and not in the CLI: they are views of result tables, like the report and the figures; the CLI only
prints them. Every number comes from the result's own ``summary()``, ``to_json()`` or tables, so a summary can
never disagree with the JSON of the same run. ``bold=True`` marks headings with ANSI bold; ``typer.echo``
strips it when the output is not a terminal.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim._version import __version__
from sim.analysis.dates import Clock
from sim.analysis.format import n2_signed
from sim.analysis.format import setting as fmt_setting
from sim.calibration.inventory import iso_utc
from sim.model.causes import CAUSE_MEANINGS

if TYPE_CHECKING:
    from sim.analysis.comparison import Comparison
    from sim.analysis.planning import Plan
    from sim.analysis.replications import Replications
    from sim.analysis.report import Report
    from sim.analysis.sweeps import Sweep
    from sim.analysis.verdict import Threshold
    from sim.calibration.importer import ImportResult
    from sim.experiments.digest import Savings
    from sim.experiments.result import Result

# ------------------------------------------------------------------------------------------- one run


def format_summary(
    result: Result,
    source: str,
    wall_seconds: float | None,
    *,
    bold: bool = False,
    savings: Savings | None = None,
) -> str:
    """The human-readable report of one run (``rotasim run``); every number comes from ``Result.summary()``
    (``savings``: the setting that would have saved each cause's orphans, from the planning probe)."""
    s = result.summary()
    clock = Clock.of(result.scenario)
    b = _bold if bold else _plain
    origin = f" ({clock.origin()})" if clock.known else ""
    lines = [
        b(f"rotasim {__version__}: scenario {s['scenario']} ({source})"),
        f"seed {s['seed']}, engine {s['engine']}, {s['clients']} clients, "
        f"horizon {_hd(s['horizon_hours'], clock)}; all times since the runbook's first step{origin}",
        "",
        *_orphan_lines(s, b),
        *_exposure_lines(s),
        *_saving_lines(savings, s["orphaned"]),
        "",
        *_one_draw_lines(source, savings.noun if savings is not None else None),
        "",
        b("Runbook steps"),
        *_steps_table(s["steps"], clock),
        "",
        b("New certificates"),
        _trust_line(s, clock),
        "",
        *_load_lines(s, b),
        f"Repair: {s['repair_hours']:.1f} hours of hands-on work "
        f"({s['orphaned']} orphans x {result.scenario.repair_minutes:g} min)",
    ]
    if wall_seconds is not None:
        lines.append(wall_line(wall_seconds))
    return "\n".join(lines)


def wall_line(seconds: float) -> str:
    """The command's own wall time: from the command's start (the library's imports included) to its output."""
    return f"Wall time: {seconds:.2f} s (this command, from its start to this line)"


def _one_draw_lines(source: str, noun: str | None) -> list[str]:
    """What one replication's count is, and the commands that give the interval and the recommendation."""
    q = shlex.quote(source)
    rows = [["expected orphans with a 95% interval:", f"rotasim run {q} --replications 40"]]
    if noun is not None:
        rows.append([f"the {noun} that meets your limit K:", f"rotasim plan {q} --max-orphans K"])
    rows.append(["a GO/NO-GO verdict and a report:", f"rotasim report {q} --max-orphans K"])
    head = "These counts are one replication: one draw of who is away and when each client checks in."
    return [head, *table(rows, ["<", "<"])]


def _saving_lines(sv: Savings | None, orphans: int) -> list[str]:
    """Per cause, the retention or wait that would have saved its orphans in this replication."""
    if sv is None or not orphans or not sv.causes:
        return []
    used = f"; this run's {sv.noun}: {fmt_setting(sv.used, sv.unit)}" if sv.used is not None else ""
    lines = [f"What a longer {sv.noun} would have saved (in this replication{used}):"]
    rows = []
    for c in sv.causes:
        if c.saved == 0 or c.setting is None:
            what = f"no {sv.noun} within the horizon saves them"
        else:
            part = "all" if c.saved == c.orphans else f"{c.saved} of them"
            what = f"a {sv.noun} of {fmt_setting(c.setting, sv.unit)} would have saved {part}"
            if c.half is not None and c.half < c.setting and c.orphans > 2:
                what += f" (half of the {c.orphans} by {fmt_setting(c.half, sv.unit)})"
            if c.saved < c.orphans:
                what += f"; {c.orphans - c.saved} no {sv.noun} within the horizon saves"
        rows.append([c.cause, str(c.orphans), what])
    return lines + table(rows, ["<", ">", "<"])


def _exposure_lines(s: dict[str, Any]) -> list[str]:
    """What the rotation exposed while it avoided orphans (``summary()["exposure"]``, docs/model.md)."""
    e = s.get("exposure") or {}
    out = []
    if e.get("relaxed_hours"):
        out.append(
            f"Exposure: HTTP list with secure communications off for {_hd(e['relaxed_hours'])}, "
            f"{e['share_relaxed']:.1%} of the clients exposed"
        )
    if e.get("old_certificate_hours"):
        out.append(
            f"Exposure: the old certificate still in service {_hd(e['old_certificate_hours'])} after the first update"
        )
    return out


def _load_lines(s: dict[str, Any], b: Any) -> list[str]:
    """Manager load against capacity, when the scenario models it (``load.enabled``)."""
    load = s.get("load")
    if not load:
        return []
    rows = [["manager", "capacity/s", "peak/s", "peak at", "hours over", "failed check-ins"]]
    for m in load["managers"]:
        rows.append(
            [
                m["manager"],
                f"{m['capacity_per_second']:g}",
                f"{m['peak_offered_per_second']:.2f}",
                _hd(m["peak_at_hours"]),
                f"{m['hours_over_capacity']:.1f}",
                f"{m['failed_checkins']:,.0f}",
            ]
        )
    d = load["learning_delay_hours"]
    sampled = " (estimated from a sample of clients)" if load.get("sampled") else ""
    return [
        b("Manager load" + sampled),
        *table(rows, ["<", ">", ">", ">", ">", "<"]),
        f"Overload delayed {d['clients_delayed']} clients' first new certificate: mean {d['mean']:.2f} h, "
        f"95th percentile {d['p95']:.2f} h, longest {d['max']:.1f} h",
        "",
    ]


def _orphan_lines(s: dict[str, Any], b: Any) -> list[str]:
    n, orphans = s["clients"], s["orphaned"]
    lines = [
        b(f"Orphaned: {orphans} of {n} clients ({_pct(orphans, n)})"),
        f"Gone: {s['gone']} (never came back; not counted as orphans)",
    ]
    if not orphans:
        return lines
    lines.append("By cause:")
    lines += table([[c, str(k), CAUSE_MEANINGS.get(c, "")] for c, k in s["orphaned_by_cause"].items()], ["<", ">", "<"])
    lines.append("By group:")
    lines += table([[g, str(k)] for g, k in s["orphaned_by_group"].items()], ["<", ">"])
    lines.append("By version:")
    lines += table([[v, str(k)] for v, k in s["orphaned_by_version"].items()], ["<", ">"])
    return lines


def _steps_table(steps: list[dict[str, Any]], clock: Clock | None = None) -> list[str]:
    """One row per step: hours and days since the first step, and the start's date when the clock is known."""
    dated = clock is not None and clock.known
    rows = [["name", "kind", "start h", "end h", "start d", "end d", *(["starts"] if dated else []), "detail"]]
    for st in steps:
        a, b = st["start_hours"], st["end_hours"]
        times = [f"{a:.2f}", f"{b:.2f}", f"{a / 24:.2f}", f"{b / 24:.2f}"]
        when = [clock.text(a)] if clock is not None and dated else []
        rows.append([st["name"], st["kind"], *times, *when, st["detail"]])
    return table(rows, ["<", "<", ">", ">", ">", ">", *(["<"] if dated else []), "<"])


def _trust_line(s: dict[str, Any], clock: Clock) -> str:
    missing = s["not_trusting_at_horizon"]
    if missing:
        return (
            f"{missing} returning client{'s' if missing != 1 else ''} did not trust the new certificates "
            f"by the horizon ({_hd(s['horizon_hours'], clock)})"
        )
    at = s["full_trust_at_hours"]
    if at is None:
        return "No client came back to trust the new certificates"
    return f"Every returning client trusted the new certificates by {_hd(at, clock)}"


# ------------------------------------------------------------------------------------------- many runs


def replications_json(reps: Replications) -> dict[str, Any]:
    """What ``rotasim run --replications N --json`` prints: the summary's statistics, without internals."""
    s = reps.summary()
    return {k: s[k] for k in ("scenario", "seed", "engine", "replications", "clients")} | {
        "orphaned": _public(s["orphaned"]),
        "orphaned_by_cause": {c: _public(v) for c, v in s["orphaned_by_cause"].items()},
        "orphaned_by_group": {c: _public(v) for c, v in s["orphaned_by_group"].items()},
        "orphaned_by_version": {c: _public(v) for c, v in s["orphaned_by_version"].items()},
        "gone": _public(s["gone"]),
        "repair_hours": _public(s["repair_hours"]),
        "full_trust_at_hours": _public(s["full_trust_at_hours"])
        | {
            "reached": s["full_trust_at_hours"]["reached"],
            "never": s["full_trust_at_hours"]["never"],
        },
        "steps": reps.digests[0].summary["steps"] if reps.digests else [],
    }


def _public(d: dict[str, Any]) -> dict[str, Any]:
    """A statistic as printed by ``--json``; ``missing`` (replications where it is undefined) is kept, since a
    mean over fewer replications than were run must say so."""
    keys = ("mean", "stderr", "ci95", "quantiles", "n", "missing")
    return {k: d[k] for k in keys}


def format_replications(reps: Replications) -> str:
    """What ``rotasim run --replications N`` prints: means, intervals and quantiles across replications."""
    s = reps.summary()
    lines = [
        f"scenario {s['scenario']}: {s['replications']} replications, root seed {s['seed']}, {s['clients']} clients",
        f"Orphaned: {format_stat(s['orphaned'])}",
        f"Gone: {format_stat(s['gone'])}",
        f"Repair hours: {format_stat(s['repair_hours'])}",
        f"Every returning client trusted the new certificates: {format_time(s['full_trust_at_hours'])}",
    ]
    for key, title in (("cause", "By cause"), ("group", "By group"), ("version", "By version")):
        part = s[f"orphaned_by_{key}"]
        if part:
            lines.append(f"{title}:")
            lines += [f"  {k}: {format_stat(v)}" for k, v in part.items()]
    return "\n".join(lines)


def format_stat(d: dict[str, Any]) -> str:
    """One summary with its interval (``sim.analysis.stats.describe``) on one line."""
    if d["mean"] is None:
        return "never reached in some replications"
    lo, hi = d["ci95"]
    q = d["quantiles"]
    if lo is None or hi is None:  # one replication: a value, no interval
        return f"{d['mean']:.2f} (one replication: no interval; run more for one)"
    return f"{d['mean']:.2f} (95% CI {lo:.2f}-{hi:.2f}; median {q['0.5']:g}, 95th percentile {q['0.95']:g})"


def format_time(d: dict[str, Any]) -> str:
    """A time some replications may never reach (``sim.analysis.stats.describe_time``): how many reached it by
    the horizon first, then the median and 95th percentile ("never" where they did not), and the mean only when
    every replication reached it."""
    q = d["quantiles"]

    def h(v: float | None) -> str:
        return "never" if v is None else f"{v:.1f} h (day {v / 24:.1f})"

    head = f"reached by the horizon in {d['reached']} of {d['n']} replications"
    tail = f"median {h(q.get('0.5'))}, 95th percentile {h(q.get('0.95'))}"
    if d["mean"] is not None:
        lo, hi = d["ci95"]
        ci = "" if lo is None or hi is None else f" (95% CI {lo:.1f}-{hi:.1f})"
        tail += f"; mean {d['mean']:.1f} h{ci}"
    return f"{head}; {tail}"


def format_plan(p: Plan) -> str:
    """What ``rotasim plan`` prints: the recommendation, what stands in its way, and the curve (every tenth
    day of a retention, and the recommended value)."""
    unit = p.unit
    lines = [p.statement(), ""]
    if p.blocking_causes:
        lines.append(f"Orphans no {p.noun} prevents (per rotation):")
        lines += [f"  {c}: {format_stat(v)}" for c, v in p.blocking_causes.items()]
        lines.append("")
    lines.append(
        f"Orphans by {p.noun} ({p.replications} replications: mean and 95% interval; how many replications exceed "
        "the target; verdict):"
    )
    for _, r in p.curve.iterrows():
        x = r[p.parameter]
        if unit == "days" and x % 10 and x != p.recommended:
            continue  # every tenth day, and the recommendation
        mark = "  <- recommended" if x == p.recommended else ""
        lines.append(
            f"  {x:>8g} {unit}: {r['orphaned_mean']:9.2f}  [{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]  "
            f"{int(r['exceeding']):>4d}  {r['verdict']}{mark}"
        )
    return "\n".join(lines + _gate_lines(p))


def _gate_lines(p: Plan) -> list[str]:
    """The per-share table of a plan with gate shares: the smallest GO cap, and at it the mean retention or wait,
    the mean orphans, the replications exceeding and the verdict (a share with none: at the longest cap)."""
    if p.gates is None:
        return []
    unit = p.unit
    lines = ["", f"Gates ({p.replications} replications; a share with no GO cap is shown at the longest cap):"]
    mean = f"mean {p.noun} ({unit})"
    lines.append(f"  {'share':>7}  {'cap':>10}  {mean}  {'orphans':>8}  exceeding  verdict")
    for r in p.gates.to_dict("records"):
        cap = "none" if r[p.parameter] != r[p.parameter] else f"{r[p.parameter]:g} {unit}"
        mark = "  <- recommended" if p.gate is not None and r["share"] == p.gate.share else ""
        lines.append(
            f"  {r['share'] * 100:>6g}%  {cap:>10}  {r[f'{unit}_mean']:>{len(mean)}.2f}  {r['orphaned_mean']:>8.2f}  "
            f"{int(r['exceeding']):>9d}  {r['verdict']}{mark}"
        )
    return lines


def format_sweep(sw: Sweep, points: pd.DataFrame | None = None) -> str:
    """What ``rotasim sweep`` prints: one row per grid point (``points``: ``sw.table()`` if already made)."""
    t = sw.table() if points is None else points
    cols = [*sw.fields, "replications", "orphaned_mean", "orphaned_ci95_low", "orphaned_ci95_high"]
    cols += ["full_trust_reached", "full_trust_at_hours_median"]
    if "verdict" in t:
        cols += ["exceeding", "chance", "verdict"]
    shown = t[cols].copy()
    for f in sw.fields:  # the grid's own values as given (a share of 0.9625 is not 0.96)
        shown[f] = [("none" if v != v else f"{v:g}") if isinstance(v, float) else str(v) for v in shown[f]]
    # inf: half or more of the point's replications did not reach full trust by the horizon
    shown["full_trust_at_hours_median"] = [
        "never" if not np.isfinite(v) else f"{v:.1f}" for v in shown["full_trust_at_hours_median"]
    ]
    with pd.option_context("display.max_rows", 500, "display.width", 160):
        table = str(shown.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    return (
        table + "\nfull_trust_reached: replications in which every returning client trusted the new certificates "
        "by the horizon; full_trust_at_hours_median: their median over all replications (never: half or more did not)."
        + (
            f"\nexceeding: replications over {sw.threshold.describe()}; chance: that one rotation exceeds it; "
            "verdict: as rotasim report gives it."
            if sw.threshold is not None and "verdict" in t
            else ""
        )
    )


# ------------------------------------------------------------------------------------------- report, compare


def verdict_line(rep: Report) -> str:
    """What ``rotasim report`` prints: the verdict, the estimate with its interval, the threshold, the count."""
    return (
        f"{rep.verdict}: {_estimate(rep.judgement, rep.threshold)}; threshold: {rep.threshold.describe()}; "
        f"{rep.sampling.n} replications"
    )


def comparison_lines(comp: Comparison) -> str:
    """What ``rotasim compare`` prints: the threshold judged against, then one line per scenario, its verdict
    and estimate, then its label."""
    head = (
        f"threshold: {comp.threshold.describe()} ({comp.threshold.option()}); {comp.replications} replications "
        f"per scenario, seed {comp.seed}"
    )
    from sim.analysis.comparison import paired_differences

    lines = [head] + [
        f"{r.verdict:<12} {_estimate(r.judgement, comp.threshold)}  {v.label}"
        for v, r in zip(comp.variants, comp.reports, strict=True)
    ]
    return "\n".join(lines + paired_lines(paired_differences(comp)))


def paired_lines(paired: pd.DataFrame) -> list[str]:
    """'paired, <scenario> minus <first>: orphans -1.13 (95% interval -2.00 to -0.25); ...' per scenario."""
    out = []
    for label, g in paired.groupby("scenario", sort=False):
        parts = [
            f"{m} {n2_signed(d)} (95% interval {n2_signed(lo)} to {n2_signed(hi)})"
            for m, d, lo, hi in zip(g["measure"], g["mean_difference"], g["ci95_low"], g["ci95_high"], strict=True)
        ]
        out.append(f"paired, {label} minus {g['against'].iloc[0]}: " + "; ".join(parts))
    return out


def _estimate(j: dict[str, Any], threshold: Threshold) -> str:
    def f(v: object) -> str:
        if not isinstance(v, int | float):
            return "n/a"
        return f"{100 * v:.2f}%" if threshold.is_rate else f"{v:.1f}"

    lo, hi = j["ci95"]
    clo, chi = j["chance_ci"]
    what = "orphan rate" if threshold.is_rate else "orphans"
    return (
        f"chance of exceeding {100 * j['chance']:.1f}% ({j['exceeding']} of {j['n']} replications, 95% interval "
        f"{100 * clo:.1f}% to {100 * chi:.1f}%); expected {what} {f(j['mean'])} (95% interval {f(lo)} to {f(hi)})"
    )


# ------------------------------------------------------------------------------------------- fleet import


def format_import(r: ImportResult, source: str) -> str:
    """What ``rotasim fleet import`` prints: counts, the purge age, the parameter table, the families, the
    invisible clients, notes, files written."""
    inv, fit = r.inventory, r.fit
    c = fit.counts
    st = fit.settings
    tz = next(iter(st.timezones))
    lines = [
        f"Read {inv.rows_read} rows from {source}: {inv.n} clients, {len(inv.bad)} skipped (bad rows)",
        f"Snapshot {iso_utc(r.snapshot)} ({'--snapshot' if r.snapshot_given else 'the newest check-in'}); "
        f"clients' local time UTC{tz:+g}",
    ]
    if r.purge is not None:
        p = r.purge
        lines.append(
            f"Purge age {p.days:g} days (from {p.source}; the oldest offline row {p.oldest_days:.1f} days): "
            "the console lists no client unseen for longer"
        )
    if r.always_on_groups:
        k = int(np.isin(inv.group, r.always_on_groups).sum())
        lines.append(
            f"Always on (no absence among their rows, not fitted): {', '.join(r.always_on_groups)} ({k} clients)"
        )
    lines += [
        f"  fitted {c.n}: online {c.online}, offline up to {st.absence_days:g} days "
        f"{int(c.bins[: fit.model.n_short].sum())}, absent ({st.absence_days:g} to {st.purge_days:g} days) {c.absent}",
        f"Fitted presence model ({fit.best} absence lengths, chosen by AIC, within the schema's limits; standard "
        "errors from the observed information):",
    ]
    rows = [["parameter", "value", "std. error", "unit"]]
    for e in fit.estimates():
        err = f"{e.stderr:.3g}" if e.stderr is not None else ("fixed" if e.note else "n/a")
        rows.append([e.name, f"{e.value:.6g}", err, e.unit])
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines += ["  " + "  ".join(f"{x:<{w}}" for x, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    ch = fit.chosen
    lines.append(
        f"Share on leave at any moment {100 * ch.prevalence:.1f}%; mean absence {ch.mean_days:.1f} days "
        f"(spells up to {st.max_days:g} days); absences longer than {st.absence_days:g} days: "
        f"{ch.long_rate_per_year:.3g} per client per year, lasting {ch.long_mean_days:.3g} days beyond that"
    )
    if r.invisible is not None:
        iv = r.invisible
        back = iv.as_dict()["back_after_days"]
        err = f" ± {iv.stderr:.0f}" if iv.stderr is not None else ""
        lines.append(
            f"Invisible clients: about {iv.expected:.0f}{err} purged by the console (unseen for over "
            f"{st.purge_days:g} days) but alive, returning with the old certificate; written as {iv.n} rows "
            f"{iv.as_dict()['client_ids'] or ''} with their return (back after 30 days: {back['30']}, "
            f"after 90: {back['90']})"
        )
    fams = sorted(fit.families.values(), key=lambda f: f.aic)
    lines.append(
        "Families by AIC: "
        + ", ".join(f"{f.family} {f.aic:.1f}" + ("" if f is ch else f" (+{f.aic - ch.aic:.1f})") for f in fams)
    )
    unsupported = [v for v in r.versions if not v["fails_over_on_cert_mismatch"]]
    if r.versions:
        lines.append(
            f"Versions: {len(r.versions)} ({sum(v['clients'] for v in unsupported)} clients of releases that cannot "
            "use the multi-server method: "
            + (", ".join(f"{v['version']} ({v['release']})" for v in unsupported) or "none")
            + ")"
        )
    if r.absences is not None:
        a = r.absences
        lines.append(f"Known absences: {len(a.table)} of {a.rows_read} rows kept, {len(a.bad)} skipped")
    for w in fit.warnings:
        lines.append(f"Note: {w}")
    lines.append(f"Wrote {', '.join(str(p) for p in r.written)} in {r.seconds['total']:.2f} s")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- formats


def table(rows: list[list[str]], align: list[str], indent: str = "  ") -> list[str]:
    """Plain aligned columns (the last one is left ragged); readable in a terminal and in a log file."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(align))]
    out = []
    for r in rows:
        cells = [f"{c:{a}{w}}" for c, a, w in zip(r[:-1], align[:-1], widths[:-1], strict=True)]
        out.append((indent + "  ".join([*cells, r[-1]])).rstrip())
    return out


def _hd(hours: float, clock: Clock | None = None) -> str:
    """Hours, days and, when the scenario's clock is known, the date: ``72.0 h (3.0 days, Thu 6 Mar 2025 08:00)``."""
    when = f", {clock.text(hours)}" if clock is not None and clock.known else ""
    return f"{hours:.1f} h ({hours / 24:.1f} days{when})"


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.2f}%" if n else "n/a"


def _bold(text: str) -> str:
    return f"\x1b[1m{text}\x1b[0m"


def _plain(text: str) -> str:
    return text
