"""``rotasim sweep``: replications at every combination of scenario field values (common random numbers)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.cli.options import JsonOut, ScenarioPath, check_output, run_options, to_stdout

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
        Path | None,
        typer.Option(help="Write the per-point table (CSV, or Parquet by the .parquet suffix; '-': stdout)."),
    ] = None,
    runs_out: Annotated[Path | None, typer.Option(help="Write one row per point and replication.")] = None,
    max_orphans: Annotated[
        float | None, typer.Option(help="Judge each point against at most K orphans (verdict as in report).")
    ] = None,
    max_orphan_rate: Annotated[
        float | None, typer.Option(help="Judge each point against an orphan rate of at most this share.")
    ] = None,
    confidence: Annotated[float, typer.Option(help="Confidence of the verdicts (with a target).")] = 0.95,
    json_out: JsonOut = False,
    *,
    options: RunOptions,
) -> None:
    """Run replications at every combination of scenario field values (common random numbers: the same
    fleets at every point) and print one row per point: the mean orphans and its 95% interval, and when
    every returning client trusted the new certificates."""
    from sim.analysis.sweeps import sweep
    from sim.errors import InputError
    from sim.io import atomic_write_table, dumps
    from sim.presentation.text import format_sweep
    from sim.scenario.document import load_scenario
    from sim.scenario.overrides import parse_set

    check_output(out, "--out")
    check_output(runs_out, "--runs-out")
    err = to_stdout(out, runs_out)
    if not 0.5 <= confidence < 1:
        raise InputError("--confidence", "", f"must be at least 0.5 and below 1 (got {confidence:g})")
    sw = sweep(
        load_scenario(scenario),
        parse_set(set_),
        replications=replications,
        options=options,
        max_orphans=max_orphans,
        max_orphan_rate=max_orphan_rate,
    )
    table = sw.table(confidence)
    if out is not None:
        atomic_write_table(table, out)
        if str(out) != "-":
            typer.echo(f"wrote {out} ({len(table):,} points)", err=True)
    if runs_out is not None:
        atomic_write_table(sw.runs, runs_out)
        if str(runs_out) != "-":
            typer.echo(f"wrote {runs_out} ({len(sw.runs):,} runs)", err=True)
    typer.echo(dumps(table) if json_out else format_sweep(sw, table), err=err)
