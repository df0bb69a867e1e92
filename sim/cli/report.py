"""``rotasim report``: forecast a rotation's orphans and write the report for a change-advisory board.

Exit codes (a pipeline gates on them): 0 GO, 3 INCONCLUSIVE, 4 NO-GO; 2 bad input. Progress (the
replications' bar, one line per batch) goes to stderr, unless ``--quiet``; the verdict line to stdout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.cli.options import ScenarioPath, out_folder, progress_log, run_options

if TYPE_CHECKING:
    from sim.experiments.options import RunOptions

# the library's defaults (sim.analysis.sampling, checked equal by tests/cli/test_cli.py), written here so that
# the signature, which typer reads at start-up, needs no import of the analysis layer
DEFAULT_REPLICATIONS = 20


DEFAULT_MAX_REPLICATIONS = 320


MaxOrphans = Annotated[
    float | None, typer.Option(metavar="K", help="Threshold: at most K orphans per rotation (default 0).")
]


MaxOrphanRate = Annotated[
    float | None, typer.Option(metavar="R", help="Threshold: at most this share (0-1) of clients orphaned.")
]


@run_options
def report_command(
    scenario: ScenarioPath,
    out: Annotated[
        str | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Folder for the report (default: report-<scenario file name>)."
        ),
    ] = None,
    replications: Annotated[int, typer.Option(help="Replications to start with (at least 2).")] = DEFAULT_REPLICATIONS,
    max_replications: Annotated[
        int, typer.Option(help="Cap of the sequential sampling while the verdict is inconclusive.")
    ] = DEFAULT_MAX_REPLICATIONS,
    max_orphans: MaxOrphans = None,
    max_orphan_rate: MaxOrphanRate = None,
    full_paths: Annotated[
        bool,
        typer.Option("--full-paths", help="Show paths in the report as given, not relative to the scenario's folder."),
    ] = False,
    *,
    options: RunOptions,
) -> None:
    """Forecast the rotation's orphans and write a report for a change-advisory board (HTML, Markdown, JSON,
    figures, at-risk-clients.csv). Exit code: 0 GO, 3 INCONCLUSIVE, 4 NO-GO (2 bad input)."""
    from sim.analysis.report import canonical_command
    from sim.analysis.sampling import check_counts
    from sim.analysis.verdict import EXIT_CODES, Threshold
    from sim.io import check_out_dir
    from sim.presentation.report import generate_report
    from sim.presentation.text import verdict_line
    from sim.scenario.document import load_scenario

    threshold = Threshold.given(max_orphans, max_orphan_rate)
    check_counts(replications, max_replications)
    out_dir = out_folder(out, Path(f"report-{scenario.stem}"))
    check_out_dir(out_dir)
    sc = load_scenario(scenario)
    # the report travels (to a change board, into a ticket): by default its paths are relative to the
    # scenario's folder, so that it names no user's home or mount and its command runs from that folder
    shown, out_shown = (str(scenario), str(out_dir)) if full_paths else relative_to(sc.base_dir, scenario, out_dir)
    rep = generate_report(
        sc,
        out_dir,
        source=shown,
        command=canonical_command(
            shown,
            out=out_shown,
            threshold=threshold,
            replications=replications,
            max_replications=max_replications,
            seed=options.root_seed(sc),
            clients=options.clients,
            horizon_days=options.horizon_days,
            engine=options.engine,
        ),
        threshold=threshold,
        replications=replications,
        max_replications=max_replications,
        log=progress_log(options),
        options=options,
    )
    typer.echo(verdict_line(rep))
    typer.echo(f"report: {out_dir / 'report.html'}")
    raise typer.Exit(EXIT_CODES[rep.verdict])


def relative_to(folder: Path, *paths: Path) -> tuple[str, ...]:
    """``paths`` as seen from ``folder`` (``..`` where needed)."""
    return tuple(os.path.relpath(os.path.abspath(p), folder) for p in paths)
