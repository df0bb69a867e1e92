"""``rotasim plan``: the smallest retention (kb-multi-server) or wait (kb-single-server) that meets a target,
and with a gate its share together with its cap."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.cli.options import JsonOut, check_output, run_options, to_stdout

if TYPE_CHECKING:
    from sim.experiments.options import RunOptions


@run_options
def plan_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file (kb-multi-server or kb-single-server).")],
    max_orphans: Annotated[float | None, typer.Option(help="Target: at most K orphans.")] = None,
    max_orphan_rate: Annotated[float | None, typer.Option(help="Target: at most this share of clients.")] = None,
    confidence: Annotated[
        float, typer.Option(help="Confidence: the chance of exceeding the target must be shown below 1 - this.")
    ] = 0.95,
    replications: Annotated[int, typer.Option(help="Replications to start with (at least 2).")] = 30,
    max_replications: Annotated[
        int, typer.Option(help="Cap of the sequential sampling while too few replications can show the chance.")
    ] = 320,
    extend_horizon: Annotated[
        bool,
        typer.Option(
            "--extend-horizon/--keep-horizon",
            metavar="",
            help="While clients are still away at the horizon, double it (up to 3 years) and say so.",
        ),
    ] = True,
    gate_shares: Annotated[
        str | None,
        typer.Option(
            "--gate-shares",
            metavar="S1,S2,...",
            help="Gate shares to plan with their caps (e.g. 0.95,0.96,0.97): per share the smallest GO cap, and "
            "the pair whose old certificate stays in service the fewest days. Default with a gated runbook: its "
            "share and 1 and 2 points either side.",
        ),
    ] = None,
    json_out: JsonOut = False,
    curve_out: Annotated[
        Path | None,
        typer.Option("--curve-out", metavar="FILE.csv", help="Write the whole curve (CSV or Parquet; '-': stdout)."),
    ] = None,
    *,
    options: RunOptions,
) -> None:
    """The smallest retention (kb-multi-server) or wait (kb-single-server) that meets an orphan target in a
    --confidence share of rotations: runs replications (more while too few can show it), prints the
    recommendation, the orphans no setting saves, and orphans against the setting with 95% intervals. With a
    gate (retention_until_share, wait_until_share) or --gate-shares: per share the smallest cap that is GO, and
    the pair with the shortest retention or wait on average."""
    from sim.api import plan
    from sim.io import atomic_write_table, dumps
    from sim.presentation.text import format_plan

    check_output(curve_out, "--curve-out")
    err = to_stdout(curve_out)
    p = plan(
        scenario,
        max_orphans=max_orphans,
        max_orphan_rate=max_orphan_rate,
        confidence=confidence,
        replications=replications,
        max_replications=max_replications,
        extend_horizon=extend_horizon,
        options=options,
        gate_shares=None if gate_shares is None else gate_shares.split(","),
    )
    if curve_out is not None:
        atomic_write_table(p.curve, curve_out)
        if str(curve_out) != "-":
            typer.echo(f"wrote {curve_out} ({len(p.curve):,} settings)", err=True)
    typer.echo(dumps(p.to_json()) if json_out else format_plan(p), err=err)
