"""``rotasim sweep``: replications at every combination of scenario field values (common random numbers)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.cli.options import JsonOut, ScenarioPath, check_output, run_options

if TYPE_CHECKING:
    from sim.experiments.options import RunOptions


@run_options
def sweep_command(
    scenario: ScenarioPath,
    set_: Annotated[
        list[str], typer.Option("--set", help="FIELD=VALUES: a range 0:120:10 (ends included) or a list 1,2,4.")
    ],
    replications: Annotated[int, typer.Option(help="Replications per grid point.")] = 10,
    out: Annotated[
        Path | None, typer.Option(help="Write the per-point table (CSV, or Parquet by the .parquet suffix).")
    ] = None,
    runs_out: Annotated[Path | None, typer.Option(help="Write one row per point and replication.")] = None,
    json_out: JsonOut = False,
    max_orphans: Annotated[
        float | None, typer.Option(help="Grade every point by the chance one rotation exceeds this many orphans.")
    ] = None,
    *,
    options: RunOptions,
) -> None:
    """Run replications at every combination of scenario field values (common random numbers)."""
    from sim.analysis.sweeps import sweep
    from sim.io import atomic_write_table, dumps
    from sim.presentation.text import format_sweep
    from sim.scenario.document import load_scenario
    from sim.scenario.overrides import parse_set

    check_output(out, "--out")
    check_output(runs_out, "--runs-out")
    sw = sweep(
        load_scenario(scenario), parse_set(set_), replications=replications, options=options, max_orphans=max_orphans
    )
    table = sw.table()
    if out is not None:
        atomic_write_table(table, out)
    if runs_out is not None:
        atomic_write_table(sw.runs, runs_out)
    typer.echo(dumps(table) if json_out else format_sweep(sw, table))
