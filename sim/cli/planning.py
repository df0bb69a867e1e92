"""CLI commands for planning answers: ``run --replications`` output, ``plan`` and ``sweep``.

Registered on the ``rotasim`` app in ``sim.cli``; every number printed comes from ``sim.planning`` tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, cast

import pandas as pd
import typer

from sim.analysis.planning import plan_scenario
from sim.analysis.replications import Replications, replicate
from sim.analysis.sweeps import sweep
from sim.errors import InputError
from sim.experiments.simulate import Engine
from sim.io import atomic_write_table, dumps
from sim.scenario.document import load_scenario
from sim.scenario.overrides import parse_set

Workers = Annotated[int | None, typer.Option(min=1, help="Processes to use (default: all cores).")]


Dask = Annotated[
    str | None, typer.Option(help="Run on a Dask cluster: a scheduler address, or 'local' for a LocalCluster.")
]


Seed = Annotated[int | None, typer.Option(min=0, help="Root seed (default: the scenario's seed).")]


Clients = Annotated[int | None, typer.Option(help="Resize the generated fleet to N clients.")]


Horizon = Annotated[float | None, typer.Option(help="Simulate D days after the first step.")]


JsonOut = Annotated[bool, typer.Option("--json", help="Print one JSON object and nothing else.")]


def check_output(path: Path | None, option: str) -> None:
    if path is None:
        return
    if path.is_dir():
        raise InputError(option, str(path), "is a folder; expected a file name")
    if not path.parent.is_dir():
        raise InputError(option, str(path), f"the folder {path.parent} does not exist")


def _stat(d: dict[str, Any]) -> str:
    if d["mean"] is None:
        return "never reached in some replications"
    lo, hi = d["ci95"]
    q = d["quantiles"]
    return f"{d['mean']:.2f} (95% CI {lo:.2f}-{hi:.2f}; median {q['0.5']:g}, 95th percentile {q['0.95']:g})"


def replications_json(reps: Replications) -> dict[str, Any]:
    s = reps.summary()
    return {k: s[k] for k in ("scenario", "seed", "engine", "replications", "clients")} | {
        "orphaned": _public(s["orphaned"]),
        "orphaned_by_cause": {c: _public(v) for c, v in s["orphaned_by_cause"].items()},
        "orphaned_by_group": {c: _public(v) for c, v in s["orphaned_by_group"].items()},
        "orphaned_by_version": {c: _public(v) for c, v in s["orphaned_by_version"].items()},
        "gone": _public(s["gone"]),
        "repair_hours": _public(s["repair_hours"]),
        "full_trust_at_hours": _public(s["full_trust_at_hours"]),
        "steps": reps.digests[0].summary["steps"] if reps.digests else [],
    }


def _public(d: dict[str, Any]) -> dict[str, Any]:
    return {"mean": d["mean"], "stderr": d["stderr"], "ci95": d["ci95"], "quantiles": d["quantiles"], "n": d["n"]}


def format_replications(reps: Replications) -> str:
    s = reps.summary()
    lines = [
        f"scenario {s['scenario']}: {s['replications']} replications, root seed {s['seed']}, {s['clients']} clients",
        f"Orphaned: {_stat(s['orphaned'])}",
        f"Gone: {_stat(s['gone'])}",
        f"Repair hours: {_stat(s['repair_hours'])}",
        f"Every returning client trusted the new certificates by (hours): {_stat(s['full_trust_at_hours'])}",
    ]
    for key, title in (("cause", "By cause"), ("group", "By group"), ("version", "By version")):
        part = s[f"orphaned_by_{key}"]
        if part:
            lines.append(f"{title}:")
            lines += [f"  {k}: {_stat(v)}" for k, v in part.items()]
    return "\n".join(lines)


def run_replications(
    scenario: Path,
    n: int,
    seed: int | None,
    engine: str,
    clients: int | None,
    horizon_days: float | None,
    workers: int | None,
    dask: str | None,
    json_out: bool,
) -> str:
    reps = replicate(
        load_scenario(scenario),
        n=n,
        seed=seed,
        engine=cast(Engine, engine),
        clients=clients,
        horizon_days=horizon_days,
        workers=workers,
        dask=dask,
    )
    return dumps(replications_json(reps)) if json_out else format_replications(reps)


def plan_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file (kb-multi-server or kb-single-server).")],
    max_orphans: Annotated[float | None, typer.Option(help="Target: at most K orphans.")] = None,
    max_orphan_rate: Annotated[float | None, typer.Option(help="Target: at most this share of clients.")] = None,
    confidence: Annotated[
        float, typer.Option(help="Confidence: the chance of exceeding the target must be shown below 1 - this.")
    ] = 0.95,
    replications: Annotated[int, typer.Option(min=2, help="Replications to start with.")] = 30,
    max_replications: Annotated[
        int, typer.Option(help="Cap of the sequential sampling while too few replications can show the chance.")
    ] = 320,
    seed: Seed = None,
    clients: Clients = None,
    horizon_days: Horizon = None,
    workers: Workers = None,
    dask: Dask = None,
    json_out: JsonOut = False,
    curve_out: Annotated[
        Path | None, typer.Option("--curve-out", metavar="FILE.csv", help="Write the whole curve (CSV or Parquet).")
    ] = None,
) -> None:
    """The smallest retention (kb-multi-server) or wait (kb-single-server) that meets an orphan target."""
    check_output(curve_out, "--curve-out")
    sc = load_scenario(scenario)
    p, reps = plan_scenario(
        sc,
        max_orphans=max_orphans,
        max_orphan_rate=max_orphan_rate,
        confidence=confidence,
        replications=replications,
        max_replications=max_replications,
        seed=seed,
        clients=clients,
        horizon_days=horizon_days,
        workers=workers,
        dask=dask,
    )
    if curve_out is not None:
        atomic_write_table(p.curve, curve_out)
    if json_out:
        typer.echo(dumps(p.to_json()))
        return
    unit = p.unit
    lines = [p.statement(), ""]
    if p.blocking_causes:
        lines.append(f"Orphans no {p.noun} prevents (per rotation):")
        lines += [f"  {c}: {_stat(v)}" for c, v in p.blocking_causes.items()]
        lines.append("")
    lines.append(
        f"Orphans by {p.noun} ({p.replications} replications: mean and 95% interval; how many replications exceed "
        "the target; verdict):"
    )
    for _, r in p.curve.iterrows():
        x = r[p.parameter]
        if unit == "days" and x % 10 and x != p.recommended:
            continue  # every tenth day, and the recommendation
        mark = "  <- recommended" if x == p.recommended else ""
        lines.append(
            f"  {x:>8g} {unit}: {r['orphaned_mean']:9.2f}  [{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]  "
            f"{int(r['exceeding']):>4d}  {r['verdict']}{mark}"
        )
    typer.echo("\n".join(lines))


def sweep_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    set_: Annotated[
        list[str], typer.Option("--set", help="FIELD=VALUES: a range 0:120:10 (ends included) or a list 1,2,4.")
    ],
    replications: Annotated[int, typer.Option(min=1, help="Replications per grid point.")] = 10,
    out: Annotated[
        Path | None, typer.Option(help="Write the per-point table (CSV, or Parquet by the .parquet suffix).")
    ] = None,
    runs_out: Annotated[Path | None, typer.Option(help="Write one row per point and replication.")] = None,
    seed: Seed = None,
    clients: Clients = None,
    horizon_days: Horizon = None,
    workers: Workers = None,
    dask: Dask = None,
    json_out: JsonOut = False,
) -> None:
    """Run replications at every combination of scenario field values (common random numbers)."""
    check_output(out, "--out")
    check_output(runs_out, "--runs-out")
    sw = sweep(
        load_scenario(scenario),
        parse_set(set_),
        replications=replications,
        seed=seed,
        clients=clients,
        horizon_days=horizon_days,
        workers=workers,
        dask=dask,
    )
    table = sw.table()
    if out is not None:
        atomic_write_table(table, out)
    if runs_out is not None:
        atomic_write_table(sw.runs, runs_out)
    if json_out:
        typer.echo(dumps(table))
        return
    cols = [*sw.fields, "orphaned_mean", "orphaned_ci95_low", "orphaned_ci95_high", "full_trust_at_hours_mean"]
    with pd.option_context("display.max_rows", 500, "display.width", 160):
        typer.echo(table[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))
