"""``rotasim track``: during a rotation, re-forecast from what the console exports show now.

Exit codes (a pipeline gates on them) for "change the retained manager now": 0 GO, 4 NO-GO, 3 INCONCLUSIVE;
2 bad input (the scenario, the log, an export). With the decisive change already done, the verdict is on the
plan as done. ``--backtest`` (a finished rotation) exits 0 once its scores are written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sim.cli.options import EngineName


def track_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file: the plan (with start_time, hour 0).")],
    log: Annotated[Path, typer.Option(help="Rotation log (YAML or CSV): step, done_at (ISO time with zone).")],
    export: Annotated[
        list[str],
        typer.Option(
            metavar="FILE[@TIME]",
            help="Console export (as `fleet import` reads), FILE or FILE@TIME; repeat for later ones.",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output folder: track.json, at-risk-clients.csv, summary.txt, ...")],
    max_orphans: Annotated[float | None, typer.Option(help="Target: at most K orphans.")] = None,
    max_orphan_rate: Annotated[float | None, typer.Option(help="Target: at most this share of clients.")] = None,
    confidence: Annotated[float, typer.Option(help="GO when the chance of exceeding is shown below 1 - this.")] = 0.95,
    replications: Annotated[int, typer.Option(help="Replications to start with.")] = 20,
    max_replications: Annotated[int, typer.Option(help="Cap while the verdict is inconclusive.")] = 160,
    seed: Annotated[int | None, typer.Option(help="Root seed (default: the scenario's).")] = None,
    engine: Annotated[EngineName, typer.Option(help="fast or reference.")] = EngineName.fast,
    backtest: Annotated[
        bool,
        typer.Option(help="A finished rotation: what the forecast said at each export, scored against the last."),
    ] = False,
) -> None:
    """Re-forecast a rotation under way from the log of steps done and the console's exports. With
    --backtest, score what the forecast would have said at each export against the last one."""
    from sim.analysis.verdict import Threshold
    from sim.errors import InputError
    from sim.io import check_out_dir
    from sim.presentation.track import write_track
    from sim.scenario.document import load_scenario
    from sim.tracking.forecast import forecast, track_inputs
    from sim.tracking.observed import ExportSpec
    from sim.tracking.summary import EXIT_CODES

    check_out_dir(out)
    if not 0 < confidence < 1:
        raise InputError("--confidence", "", f"between 0 and 1 (got {confidence:g})")
    if replications < 1 or max_replications < replications:
        raise InputError("--replications", "", "at least 1 and at most --max-replications")
    threshold = Threshold.given(max_orphans, max_orphan_rate)
    sc = load_scenario(scenario)
    if backtest:
        from sim.presentation.track import write_backtest

        specs = [ExportSpec.parse(e) for e in export]
        lines = write_backtest(
            sc, log, specs, threshold, out, seed=seed, replications=replications, engine=engine.value
        )
        typer.echo("\n".join(lines))
        return
    tracked = track_inputs(sc, log, [ExportSpec.parse(e) for e in export])
    fc = forecast(
        tracked,
        threshold,
        seed=seed,
        replications=replications,
        max_replications=max_replications,
        engine=engine.value,
        confidence=confidence,
    )
    rec, lines = write_track(fc, out)
    typer.echo("\n".join(lines))
    raise typer.Exit(EXIT_CODES[rec["verdict"]])
