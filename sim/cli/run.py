"""``rotasim run``: one replication (or ``--replications N``) of a scenario, printed or as JSON.

``--clients-out`` writes one row per client with the documented columns first (README, "Output columns").
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    """Run one replication of SCENARIO and print who was orphaned, why, and when each step happened."""
    check_output(clients_out, "--clients-out")
    if replications is None:
        for given, name in ((options.dask, "--dask"), (options.workers, "--workers")):
            if given is not None:  # one replication runs here: the option would be ignored
                raise InputError(name, "", "places replications; give --replications N, or leave it out")
    if replications is not None:
        if clients_out is not None:
            raise InputError("--clients-out", str(clients_out), "writes one replication; leave out --replications")
        _replications(scenario, replications, json_out, options)
        return
    from sim.experiments.simulate import simulate
    from sim.io import dumps
    from sim.presentation.text import format_summary
    from sim.scenario.document import load_scenario

    started = time.perf_counter()
    result = simulate(load_scenario(scenario), options=options)
    wall = time.perf_counter() - started
    if clients_out is not None:
        write_clients_csv(result, clients_out)
    err = to_stdout(clients_out)
    if json_out:
        typer.echo(dumps(result.summary()), err=err)  # NaN as null: any JSON reader accepts it
    else:
        typer.echo(format_summary(result, str(scenario), wall, bold=True), color=colour(), err=err)


def _replications(scenario: Path, n: int, json_out: bool, options: RunOptions) -> None:
    from sim.analysis.replications import replicate
    from sim.io import dumps
    from sim.presentation.text import format_replications, replications_json
    from sim.scenario.document import load_scenario

    reps = replicate(load_scenario(scenario), n=n, options=options)
    typer.echo(dumps(replications_json(reps)) if json_out else format_replications(reps))


def clients_table(result: Result) -> pd.DataFrame:
    """``Result.clients`` with the documented columns first (README, "Output columns")."""
    from sim.experiments.result import CLIENT_COLUMNS

    first = CLIENT_COLUMNS[:7]
    df = result.clients
    return df[first + [c for c in df.columns if c not in first]]


def write_clients_csv(result: Result, path: Path) -> None:
    from sim.io import atomic_write_csv

    try:
        atomic_write_csv(clients_table(result), path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError("--clients-out", str(path), f"cannot write the file ({reason})") from None
