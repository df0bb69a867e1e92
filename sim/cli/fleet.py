"""``rotasim fleet import``: a real inventory export in, a fleet and a fitted presence model out.

Registered on the ``rotasim`` app by ``app.add_typer(fleet_app, name="fleet")``; the app's error policy
(``sim.cli.app``) turns an ``InputError`` into one line and exit code 2. The work is done by
``sim.api.import_inventory``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.calibration.importer import MAX_BAD_ROWS_SHOWN, ImportOptions, ImportResult, run_import
from sim.calibration.inventory import (
    BadRow,
    iso_utc,
)
from sim.presentation.fit_figure import plot_fit

fleet_app = typer.Typer(
    name="fleet",
    help="Real fleet input: import an inventory export and fit the presence model to it.",
    add_completion=False,
    no_args_is_help=True,
)


@fleet_app.callback()
def _fleet() -> None:
    """Real fleet input: import an inventory export and fit the presence model to it."""


def format_report(r: ImportResult, source: str) -> str:
    """What the import prints: counts, the parameter table, the families, warnings, files written."""
    inv, fit = r.inventory, r.fit
    c = fit.counts
    st = fit.settings
    tz = next(iter(st.timezones))
    lines = [
        f"Read {inv.rows_read} rows from {source}: {inv.n} clients, {len(inv.bad)} skipped (bad rows)",
        f"Snapshot {iso_utc(r.snapshot)} ({'--snapshot' if r.snapshot_given else 'the newest check-in'}); "
        f"clients' local time UTC{tz:+g}",
        f"  online {c.online}, offline up to {st.absence_days:g} days {int(c.bins[: fit.model.n_short].sum())}, "
        f"absent ({st.absence_days:g} to {st.purge_days:g} days) {c.absent}, gone (over {st.purge_days:g} days) "
        f"{c.gone}",
        f"Fitted presence model ({fit.best} absence lengths, chosen by AIC; standard errors from the observed "
        "information):",
    ]
    rows = [["parameter", "value", "std. error", "unit"]]
    for e in fit.estimates():
        err = f"{e.stderr:.3g}" if e.stderr is not None else ("fixed" if e.note else "n/a")
        rows.append([e.name, f"{e.value:.4g}", err, e.unit])
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines += ["  " + "  ".join(f"{x:<{w}}" for x, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    ch = fit.chosen
    lines.append(
        f"Share on leave at any moment {100 * ch.prevalence:.1f}%; mean absence {ch.mean_days:.1f} days "
        f"(spells cut at {st.purge_days:g}); absences longer than {st.absence_days:g} days: "
        f"{ch.long_rate_per_year:.3g} per client per year, lasting {ch.long_mean_days:.3g} days beyond that"
    )
    fams = sorted(fit.families.values(), key=lambda f: f.aic)
    lines.append(
        "Families by AIC: "
        + ", ".join(f"{f.family} {f.aic:.1f}" + ("" if f is ch else f" (+{f.aic - ch.aic:.1f})") for f in fams)
    )
    if r.absences is not None:
        a = r.absences
        lines.append(f"Known absences: {len(a.table)} of {a.rows_read} rows kept, {len(a.bad)} skipped")
    for w in fit.warnings:
        lines.append(f"Note: {w}")
    lines.append(f"Wrote {', '.join(str(p) for p in r.written)} in {r.seconds['total']:.2f} s")
    return "\n".join(lines)


@fleet_app.command("import")
def import_command(
    inventory: Annotated[Path, typer.Argument(help="Inventory export (CSV), one row per client.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the outputs to.", show_default=False)],
    mapping: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            metavar="COLUMN=FIELD",
            help="Read COLUMN as FIELD (client_id, group, version, last_checkin, online, os); repeatable.",
        ),
    ] = None,
    snapshot: Annotated[
        str | None, typer.Option(help="When the export was taken (default: the newest check-in).")
    ] = None,
    tz: Annotated[float, typer.Option("--tz", help="UTC offset (hours) of times written without one.")] = 0.0,
    time_format: Annotated[
        str | None, typer.Option(help="strftime format of the times, if neither ISO 8601 nor M/D/YYYY h:mm:ss AM.")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on the first bad row (exit 2).")] = False,
    purge_days: Annotated[
        float, typer.Option(help="Last check-in older than this: gone (SEPM's purge of offline clients).")
    ] = 30.0,
    absence_days: Annotated[
        float, typer.Option(help="Offline longer than this: an absence (must exceed the longest weekend).")
    ] = 3.0,
    heartbeat_minutes: Annotated[
        float,
        typer.Option(
            help="Heartbeat for the scenario's root group; without a status column, online "
            "means a check-in within two heartbeats (at least 15 minutes)."
        ),
    ] = 5.0,
    client_utc_offset: Annotated[
        float | None, typer.Option(help="Clients' local UTC offset for the work pattern (default: --tz).")
    ] = None,
    work_days: Annotated[str, typer.Option(help="Days of the weekly pattern.")] = "mon,tue,wed,thu,fri",
    work_hours: Annotated[str, typer.Option(help="Local working hours START-END of the weekly pattern.")] = "8-18",
    always_on_share: Annotated[
        float | None, typer.Option(help="Fix the always-on share instead of fitting it.")
    ] = None,
    absences: Annotated[
        Path | None, typer.Option(help="Known absences (HR calendar): client_id,offline_from,offline_until.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="When the runbook starts (default: the snapshot).")] = None,
    msl: Annotated[str | None, typer.Option(help="Management server list of the root group.")] = None,
    managers: Annotated[
        str, typer.Option(help="Comma-separated manager names for scenario.yaml.")
    ] = "sepm1,sepm2,sepm3",
) -> None:
    """Read INVENTORY (e.g. SEPM's computer-status export), fit the presence model to the ages of the last
    check-ins, and write clients.csv, presence.yaml, groups.yaml, scenario.yaml, ages.csv, fit.json, fit.png."""
    opts = ImportOptions(
        mapping=list(mapping or []),
        snapshot=snapshot,
        tz_hours=tz,
        time_format=time_format,
        strict=strict,
        purge_days=purge_days,
        absence_days=absence_days,
        heartbeat_minutes=heartbeat_minutes,
        client_utc_offset=client_utc_offset,
        work_days=work_days,
        work_hours=work_hours,
        always_on_share=always_on_share,
        absences=absences,
        start=start,
        msl=msl,
        managers=managers,
    )
    result = run_import(inventory, out, opts, render=plot_fit)
    bad: list[tuple[Path | None, BadRow]] = [(inventory, b) for b in result.inventory.bad]
    if result.absences is not None:
        bad += [(absences, b) for b in result.absences.bad]
    for src, b in bad[:MAX_BAD_ROWS_SHOWN]:
        typer.echo(f"warning: {src}: {b} (skipped)", err=True)
    if len(bad) > MAX_BAD_ROWS_SHOWN:
        typer.echo(f"warning: {len(bad) - MAX_BAD_ROWS_SHOWN} more bad rows skipped (listed in fit.json)", err=True)
    typer.echo(format_report(result, str(inventory)))
