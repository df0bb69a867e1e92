"""``rotasim compare``: several scenarios on the same replications, side by side (figures overlaid, one table).

Exits 0 when it wrote its files (it compares; it does not judge), 2 on bad input; with ``--gate`` it judges
too: the exit follows the worst verdict (0 all GO, 3 some INCONCLUSIVE, 4 some NO-GO), for a pipeline that
must stop when any candidate is not safe. Progress goes to stderr unless ``--quiet``; one verdict line per
scenario to stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sim.cli.options import out_folder, progress_log, run_options
from sim.cli.report import DEFAULT_REPLICATIONS
from sim.errors import InputError

if TYPE_CHECKING:
    from sim.experiments.options import RunOptions


@run_options
def compare_command(
    scenarios: Annotated[
        list[str],
        typer.Argument(
            help="Two or more scenario files, each optionally with field overrides: "
            "FILE.yaml:runbook.wait_hours=168 or FILE.yaml:runbook.retention_days=90,fleet.jitter=0.2.",
            show_default=False,
        ),
    ],
    out_given: Annotated[
        str, typer.Option("--out", "-o", metavar="DIR", help="Folder for the comparison.")
    ] = "compare",
    replications: Annotated[int, typer.Option(help="Replications per scenario (at least 2).")] = DEFAULT_REPLICATIONS,
    max_orphans: Annotated[
        float | None, typer.Option(metavar="K", help="Threshold drawn and judged: at most K orphans (default 0).")
    ] = None,
    max_orphan_rate: Annotated[
        float | None, typer.Option(metavar="R", help="Threshold as a share (0-1) of clients orphaned.")
    ] = None,
    gate: Annotated[
        bool,
        typer.Option(
            "--gate",
            metavar="",
            help="Exit with the worst verdict's code: 0 all GO, 3 some INCONCLUSIVE, 4 some NO-GO. "
            "Without it, compare exits 0 once its files are written, whatever the verdicts.",
        ),
    ] = False,
    *,
    options: RunOptions,
) -> None:
    """Compare scenarios side by side on the same replications: one verdict line per scenario, the report's
    figures overlaid and one table (HTML, Markdown, JSON, CSV). Exits 0 whatever the verdicts, unless --gate."""
    from sim.analysis.comparison import compare_command_line, run_compare
    from sim.analysis.verdict import EXIT_CODES, Threshold, worst_verdict
    from sim.io import check_out_dir
    from sim.presentation.compare import write_comparison
    from sim.presentation.text import comparison_lines

    out = out_folder(out_given, Path("compare"))
    threshold = Threshold.given(max_orphans, max_orphan_rate)
    if replications < 2:
        raise InputError("--replications", "", f"need at least 2 for an interval (got {replications})")
    check_out_dir(out)
    comp = run_compare(
        scenarios,
        threshold=threshold,
        replications=replications,
        log=progress_log(options),
        command="pending",  # the command line with --out, below
        options=options,
    )
    comp.command = compare_command_line(
        scenarios,
        threshold,
        replications,
        comp.seed,
        options.clients,
        options.horizon_days,
        out=str(out),
        engine=options.engine,
    )
    write_comparison(comp, out)
    typer.echo(comparison_lines(comp))
    typer.echo(f"comparison: {out / 'compare.html'}")
    if gate:
        worst = worst_verdict([r.verdict for r in comp.reports])
        typer.echo(f"gate: {worst} (the worst of {len(comp.reports)} verdicts), exit {EXIT_CODES[worst]}")
        raise typer.Exit(EXIT_CODES[worst])
