"""``rotasim fleet import``: a real inventory export in, a fleet and a fitted presence model out.

Registered on the ``rotasim`` app by ``app.add_typer(fleet_app, name="fleet")``; the app's error policy
(``sim.cli.app``) turns an ``InputError`` into one line and exit code 2. The work is done by
``sim.api.import_inventory``; what it prints is ``sim.presentation.text.format_import``. The library is
imported when the command runs (``sim.cli.options``: start-up)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.cli.options import out_folder

if TYPE_CHECKING:
    from sim.calibration.inventory import BadRow

fleet_app = typer.Typer(
    name="fleet",
    help="Real fleet input: import an inventory export and fit the presence model to it.",
    add_completion=False,
    no_args_is_help=True,
)


@fleet_app.callback()
def _fleet() -> None:
    """Real fleet input: import an inventory export and fit the presence model to it."""


@fleet_app.command("import")
def import_command(
    inventory: Annotated[Path, typer.Argument(help="Inventory export (CSV), one row per client.", show_default=False)],
    out: Annotated[str, typer.Option("--out", help="Folder to write the outputs to.", show_default=False)],
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
        float | None,
        typer.Option(
            help="The console's purge age of offline clients (default: the export's oldest offline row, rounded "
            "up to whole days; an export older than the value given is a warning and the export's bound is used)."
        ),
    ] = None,
    max_leave_days: Annotated[
        float | None,
        typer.Option(help="Longest leave spell of the fitted model (default: the larger of 365 and 2 x purge age)."),
    ] = None,
    absence_days: Annotated[
        float, typer.Option(help="Offline longer than this: an absence (must exceed the longest weekend).")
    ] = 3.0,
    heartbeat_minutes: Annotated[
        float | None,
        typer.Option(
            help="Heartbeat for the scenario's root group (default SEPM's 5, marked PLACEHOLDER); without a status "
            "column, online means a check-in within two heartbeats (at least 15 minutes)."
        ),
    ] = None,
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
    from sim.api import import_inventory
    from sim.calibration.importer import MAX_BAD_ROWS_SHOWN
    from sim.presentation.text import format_import

    result = import_inventory(
        inventory,
        out_folder(out, Path(out)),
        mapping=list(mapping or []),
        snapshot=snapshot,
        tz_hours=tz,
        time_format=time_format,
        strict=strict,
        purge_days=purge_days,
        max_leave_days=max_leave_days,
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
    bad: list[tuple[Path | None, BadRow]] = [(inventory, b) for b in result.inventory.bad]
    if result.absences is not None:
        bad += [(absences, b) for b in result.absences.bad]
    for src, b in bad[:MAX_BAD_ROWS_SHOWN]:
        typer.echo(f"warning: {src}: {b} (skipped)", err=True)
    if len(bad) > MAX_BAD_ROWS_SHOWN:
        typer.echo(f"warning: {len(bad) - MAX_BAD_ROWS_SHOWN} more bad rows skipped (listed in fit.json)", err=True)
    typer.echo(format_import(result, str(inventory)))
