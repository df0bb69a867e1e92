"""``rotasim run``: one replication (or ``--replications N``) of a scenario, printed or as JSON.

``--clients-out`` writes one row per client with the documented columns first (README, "Output columns").
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sim.cli.options import JsonOut, ScenarioPath, check_output, colour, run_options, to_stdout
from sim.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from sim.experiments.options import RunOptions
    from sim.experiments.result import Result

ClientsOut = Annotated[
    Path | None,
    typer.Option(
        "--clients-out", metavar="FILE.csv", help="Write one row per client ('-': stdout, the summary to stderr)."
    ),
]


Replications = Annotated[int | None, typer.Option(help="Run N replications and report means, intervals and quantiles.")]


@run_options
def run_command(
    scenario: ScenarioPath,
    json_out: JsonOut = False,
    clients_out: ClientsOut = None,
    replications: Replications = None,
    *,
    options: RunOptions,
) -> None:
    """Replay SCENARIO's runbook once (one replication: one draw of the fleet) and print who was orphaned,
    why, the retention or wait that would have saved them, and when each step happened. --replications N
    gives means and 95% intervals instead; `rotasim plan` the setting to use, `rotasim report` a verdict."""
    started = time.perf_counter()  # the command's own time: its imports, loading, simulating, writing
    check_output(clients_out, "--clients-out")
    if replications is not None:
        if clients_out is not None:
            raise InputError("--clients-out", str(clients_out), "writes one replication; leave out --replications")
        _replications(scenario, replications, json_out, options)
        return
    from sim.analysis.dates import Clock
    from sim.experiments.digest import run_with_savings
    from sim.io import dumps
    from sim.presentation.text import format_summary, wall_line
    from sim.scenario.document import load_scenario

    sc = load_scenario(scenario)
    reference = options.engine == "reference"
    if reference:
        options = _announce_reference(sc, options)
    # the reference engine is minutes already: its planning probe would double them (the fast engine's is exact)
    result, savings = run_with_savings(sc, options, probe=not reference)
    if clients_out is not None:
        write_clients_csv(result, clients_out)
        if str(clients_out) != "-":
            typer.echo(f"wrote {clients_out} ({len(result.clients):,} clients)", err=True)
    err = to_stdout(clients_out)
    if json_out:
        extra = {"would_have_saved": savings.to_json() if savings is not None else None}
        summary = Clock.of(result.scenario).dated_summary(result.summary())  # ISO dates when start_time is set
        typer.echo(dumps(summary | extra), err=err)  # NaN as null: any JSON reader accepts it
    else:
        text = format_summary(result, str(scenario), None, bold=True, savings=savings)
        if reference:
            text += (
                "\n(the reference engine skips the planning probe, which would double its time: "
                "the fast engine prints the retention or wait that would have saved each cause's orphans)"
            )
        typer.echo(text + "\n" + wall_line(time.perf_counter() - started), color=colour(), err=err)


def _announce_reference(sc: Any, options: RunOptions) -> RunOptions:
    """Say on stderr what a reference run will cost before it starts, and show its progress on a terminal."""
    n = options.clients if options.clients is not None else (sc.fleet.clients if sc.fleet.files is None else 0)
    days = options.horizon_days if options.horizon_days is not None else sc.horizon_days
    if options.progress is not False and n and n * days > 50_000:
        typer.echo(
            f"reference engine: {n:,} clients over {days:g} days play every heartbeat; this takes minutes "
            "(about 6 s per 1,000 clients and 14 days, README 'Performance'); --clients N runs a smaller fleet",
            err=True,
        )
    if options.progress is None and sys.stderr.isatty():
        return options.replace(progress=True)
    return options


def _replications(scenario: Path, n: int, json_out: bool, options: RunOptions) -> None:
    from sim.analysis.replications import replicate
    from sim.io import dumps
    from sim.presentation.text import format_replications, replications_json
    from sim.scenario.document import load_scenario

    reps = replicate(load_scenario(scenario), n=n, options=options)
    typer.echo(dumps(replications_json(reps)) if json_out else format_replications(reps))


def clients_table(result: Result) -> pd.DataFrame:
    """``Result.clients`` with the documented columns first (README, "Output columns"), and, when the scenario
    knows its start (``fleet.files.start_time``), an ISO 8601 date column at the end per time column."""
    from sim.analysis.dates import Clock, dated_name
    from sim.experiments.result import CLIENT_COLUMNS

    first = CLIENT_COLUMNS[:7]
    df = result.clients
    df = df[first + [c for c in df.columns if c not in first]]
    clock = Clock.of(result.scenario)
    if not clock.known:
        return df
    hours = [c for c in df.columns if c.endswith("_hours")]
    dated = clock.with_dates(df[hours], hours)
    return df.assign(**{dated_name(c): dated[dated_name(c)] for c in hours})


def write_clients_csv(result: Result, path: Path) -> None:
    from sim.io import atomic_write_csv

    try:
        atomic_write_csv(clients_table(result), path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError("--clients-out", str(path), f"cannot write the file ({reason})") from None
