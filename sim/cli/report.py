"""``rotasim report`` and ``rotasim compare``: plain functions that ``sim.cli`` registers as commands.

Registered in ``sim.cli.app`` with ``app.command("report")(report_command)`` and
``app.command("compare")(compare_command)``, so that the app's error policy (bad input: exit 2 with one line
on stderr) applies to them as to every command. The library is imported when a command runs.

Exit codes of ``report`` (a pipeline gates on them): 0 GO, 1 NO-GO, 3 INCONCLUSIVE, 2 bad input.
``compare`` exits 0 when it wrote its files (it compares; it does not judge), 2 on bad input.
Progress (the replications' bar, one line per batch) goes to stderr; the verdict line to stdout.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sim.errors import InputError

if TYPE_CHECKING:
    from sim.analysis.verdict import Threshold

# the library's defaults (sim.analysis.sampling, checked equal by tests/test_cli.py), written here so that
# the command's signature, which typer reads at start-up, needs no import of the analysis layer
DEFAULT_REPLICATIONS = 20


DEFAULT_MAX_REPLICATIONS = 320


def _log(quiet: bool) -> Callable[[str], None]:
    def say(msg: str) -> None:
        if not quiet:
            typer.echo(msg, err=True)

    return say


def report_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Folder for the report (default: report-<scenario file name>)."
        ),
    ] = None,
    replications: Annotated[int, typer.Option(help="Replications to start with (at least 2).")] = DEFAULT_REPLICATIONS,
    max_replications: Annotated[
        int, typer.Option(help="Cap of the sequential sampling while the verdict is inconclusive.")
    ] = DEFAULT_MAX_REPLICATIONS,
    max_orphans: Annotated[
        float | None, typer.Option(metavar="K", help="Threshold: at most K orphans per rotation (default 0).")
    ] = None,
    max_orphan_rate: Annotated[
        float | None, typer.Option(metavar="R", help="Threshold: at most this share (0-1) of clients orphaned.")
    ] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Root seed (default: the scenario's seed).")] = None,
    clients: Annotated[int | None, typer.Option(help="Resize the generated fleet to N clients.")] = None,
    horizon_days: Annotated[float | None, typer.Option(help="Simulate D days after the first step.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes for the replications (default: one per core).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Forecast the rotation's orphans and write a report for a change-advisory board (HTML, Markdown, JSON,
    figures, at-risk-clients.csv). Exit code: 0 GO, 1 NO-GO, 3 INCONCLUSIVE, 2 bad input."""
    from sim.analysis.report import canonical_command
    from sim.analysis.sampling import check_counts
    from sim.analysis.verdict import EXIT_CODES, Threshold
    from sim.io import check_out_dir
    from sim.presentation.report import generate_report
    from sim.scenario.document import load_scenario

    threshold = Threshold.given(max_orphans, max_orphan_rate)
    check_counts(replications, max_replications)
    out_dir = out if out is not None else Path(f"report-{scenario.stem}")
    check_out_dir(out_dir)
    sc = load_scenario(scenario)
    root = sc.seed if seed is None else seed
    command = canonical_command(
        str(scenario),
        out=str(out_dir),
        threshold=threshold,
        replications=replications,
        max_replications=max_replications,
        seed=root,
        clients=clients,
        horizon_days=horizon_days,
    )
    rep = generate_report(
        sc,
        out_dir,
        source=str(scenario),
        threshold=threshold,
        replications=replications,
        max_replications=max_replications,
        seed=root,
        clients=clients,
        horizon_days=horizon_days,
        workers=workers,
        progress=None if not quiet else False,
        log=_log(quiet),
        command=command,
    )
    j = rep.judgement
    typer.echo(
        f"{rep.verdict}: {_estimate(j, threshold)}; threshold: {threshold.describe()}; {rep.sampling.n} replications"
    )
    typer.echo(f"report: {out_dir / 'report.html'}")
    raise typer.Exit(EXIT_CODES[rep.verdict])


def _estimate(j: dict[str, Any], threshold: Threshold) -> str:
    def f(v: object) -> str:
        if not isinstance(v, int | float):
            return "n/a"
        return f"{100 * v:.2f}%" if threshold.is_rate else f"{v:.1f}"

    lo, hi = j["ci95"]
    what = "orphan rate" if threshold.is_rate else "orphans"
    return f"expected {what} {f(j['mean'])} (95% interval {f(lo)} to {f(hi)})"


def compare_command(
    scenarios: Annotated[
        list[str],
        typer.Argument(
            help="Two or more scenario files, each optionally with field overrides: "
            "FILE.yaml:runbook.wait_hours=168 or FILE.yaml:runbook.retention_days=90,fleet.jitter=0.2.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", help="Folder for the comparison.")] = Path(
        "compare"
    ),
    replications: Annotated[int, typer.Option(help="Replications per scenario (at least 2).")] = DEFAULT_REPLICATIONS,
    max_orphans: Annotated[
        float | None, typer.Option(metavar="K", help="Threshold drawn and judged: at most K orphans (default 0).")
    ] = None,
    max_orphan_rate: Annotated[
        float | None, typer.Option(metavar="R", help="Threshold as a share (0-1) of clients orphaned.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Root seed for every scenario (default: the first one's seed).")
    ] = None,
    clients: Annotated[int | None, typer.Option(help="Resize every generated fleet to N clients.")] = None,
    horizon_days: Annotated[float | None, typer.Option(help="Simulate D days after the first step.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes for the replications (default: one per core).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Compare scenarios side by side: the report's figures overlaid and one table (HTML, Markdown, JSON, CSV)."""
    from sim.analysis.comparison import compare_command_line, run_compare
    from sim.analysis.verdict import Threshold
    from sim.io import check_out_dir
    from sim.presentation.compare import write_comparison

    threshold = Threshold.given(max_orphans, max_orphan_rate)
    if replications < 2:
        raise InputError("--replications", "", f"need at least 2 for an interval (got {replications})")
    check_out_dir(out)
    comp = run_compare(
        scenarios,
        threshold=threshold,
        replications=replications,
        seed=seed,
        clients=clients,
        horizon_days=horizon_days,
        workers=workers,
        progress=None if not quiet else False,
        log=_log(quiet),
        command="pending",
    )
    comp.command = compare_command_line(
        scenarios, threshold, replications, comp.seed, clients, horizon_days, out=str(out)
    )
    write_comparison(comp, out)
    for v, r in zip(comp.variants, comp.reports, strict=True):
        typer.echo(f"{r.verdict:<12} {_estimate(r.judgement, threshold)}  {v.label}")
    typer.echo(f"comparison: {out / 'compare.html'}")


__all__ = ["compare_command", "report_command"]
