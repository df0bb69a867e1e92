"""The ``rotasim`` command line: ``run`` one replication of a scenario, ``validate`` a scenario and its files.

Error policy (README, "Exit codes"), applied in one place (``_RotasimGroup.main``) so every command obeys it:

- 0: done.
- 2: bad input: the scenario, a file it names, or a command-line value. One line on stderr,
  ``error: <file>: <field>: <what is wrong>``, no traceback: the user can fix it and needs nothing more.
- 1: internal error, i.e. a bug in rotasim. It is never swallowed: one line
  ``internal error: <type>: <message>`` on stderr says so and how to get the traceback (``ROTASIM_DEBUG=1``,
  which also shows the traceback of input errors): users are not shown a wall of frames, developers can be.
- 130: interrupted (Ctrl-C). Outputs are written atomically (``sim.io``), so nothing is left half-written.

Output files are only written after the run has succeeded, so a failing run creates none.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, cast

import numpy as np
import pandas as pd
import typer
from typer.core import TyperGroup

from sim._version import __version__
from sim.cli.fleet import fleet_app
from sim.cli.planning import plan_command, run_replications, sweep_command
from sim.cli.report import compare_command, report_command
from sim.errors import InputError
from sim.experiments.result import CLIENT_COLUMNS, Result
from sim.experiments.simulate import Engine, simulate
from sim.io import atomic_write_csv, dumps
from sim.model.causes import CAUSE_MEANINGS
from sim.model.fleet import generate_fleet
from sim.model.topology import compile_topology
from sim.runbooks import expand_runbook, template_for
from sim.scenario.document import Scenario, load_scenario

DEBUG_ENV = "ROTASIM_DEBUG"


FIRST_CLIENT_COLUMNS = CLIENT_COLUMNS[:7]  # the documented columns of --clients-out, in this order


class EngineName(StrEnum):
    fast = "fast"
    reference = "reference"


class _RotasimGroup(TyperGroup):
    """Runs every command under the error policy of the module docstring."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        code = _guarded(
            lambda: TyperGroup.main(self, args, prog_name, complete_var, False, windows_expand_args, **extra)
        )
        if standalone_mode:
            sys.exit(code)
        return code


def _guarded(call: Callable[[], Any]) -> int:
    """Run ``call`` (click's main in non-standalone mode) and turn its outcome into an exit code."""
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        rv = call()
    except InputError as exc:
        if debug:
            traceback.print_exc()
        return _fail(f"error: {exc}", 2)
    except _CLICK_ERROR as exc:  # usage errors: unknown option, bad option value, missing argument
        return _fail(_usage_line(exc), int(getattr(exc, "exit_code", 2)))
    except (KeyboardInterrupt, typer.Abort):
        rv = 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        hint = "" if debug else f"; set {DEBUG_ENV}=1 for the traceback"
        what = f"{type(exc).__name__}: {exc}"
        return _fail(f"internal error: {what} (a bug in rotasim, please report it{hint})", 1)
    code = rv if isinstance(rv, int) else 0
    if code == 130:
        return _fail("interrupted", 130)
    return code


def _click_error() -> type[Exception]:
    """click's base exception: typer >= 0.20 ships its own copy of click, older typer uses click itself."""
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            return cast(type[Exception], importlib.import_module(module).ClickException)
        except (ImportError, AttributeError):
            continue
    raise ImportError("typer without click's ClickException")  # pragma: no cover


_CLICK_ERROR = _click_error()


def _fail(line: str, code: int) -> int:
    typer.echo(" ".join(line.split("\n")), err=True)
    return code


def _usage_line(exc: Exception) -> str:
    """click's message and a pointer to the help, on one line instead of click's usage block."""
    message = getattr(exc, "format_message", exc.__str__)()
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    return f"error: {message}{hint}"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rotasim {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="rotasim",
    cls=_RotasimGroup,
    help="Replay a server-certificate rotation runbook (KB 187099) against a model of an endpoint fleet: "
    "which clients get orphaned, why, and what wait or retention avoids it.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """rotasim: which clients a certificate rotation orphans, why, and what wait or retention avoids it."""


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    seed: Annotated[int | None, typer.Option(min=0, help="Root seed (default: the scenario's seed).")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object and nothing else.")
    ] = False,
    clients_out: Annotated[
        Path | None, typer.Option("--clients-out", metavar="FILE.csv", help="Write one row per client.")
    ] = None,
    engine: Annotated[EngineName, typer.Option(help="fast, or the per-client reference engine.")] = EngineName.fast,
    clients: Annotated[int | None, typer.Option(help="Resize the generated fleet to N clients.")] = None,
    horizon_days: Annotated[float | None, typer.Option(help="Simulate D days after the first step.")] = None,
    replications: Annotated[
        int | None, typer.Option(min=1, help="Run N replications and report means, intervals and quantiles.")
    ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Processes for replications (default: all cores).")] = None,
    dask: Annotated[str | None, typer.Option(help="Run replications on Dask: an address, or 'local'.")] = None,
) -> None:
    """Run one replication of SCENARIO and print who was orphaned, why, and when each step happened."""
    _check_output_path(clients_out)
    if replications is not None:
        if clients_out is not None:
            raise InputError("--clients-out", str(clients_out), "writes one replication; leave out --replications")
        typer.echo(
            run_replications(scenario, replications, seed, engine.value, clients, horizon_days, workers, dask, json_out)
        )
        return
    started = time.perf_counter()
    sc = load_scenario(scenario)
    result = simulate(sc, seed=seed, engine=cast(Engine, engine.value), clients=clients, horizon_days=horizon_days)
    wall = time.perf_counter() - started
    if clients_out is not None:
        write_clients_csv(result, clients_out)
    if json_out:
        typer.echo(summary_json(result))
    else:
        typer.echo(format_summary(result, str(scenario), wall), color=_colour())


@app.command()
def validate(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
) -> None:
    """Check SCENARIO and the files it names (clients.csv, absences.csv) without running it."""
    typer.echo(validate_scenario(load_scenario(scenario)))


app.command("plan")(plan_command)


app.command("sweep")(sweep_command)


app.command("report")(report_command)


app.command("compare")(compare_command)


app.add_typer(fleet_app, name="fleet")


def validate_scenario(sc: Scenario) -> str:
    """The OK line for a scenario whose every part, fleet files included, could be built."""
    topo = compile_topology(sc)
    steps = expand_runbook(sc)
    files = sc.fleet.files
    if files is not None:
        n = generate_fleet(sc, topo, np.random.default_rng(0)).n
        fleet = f"{n} clients from {files.clients}" + (f" and {files.absences}" if files.absences else "")
    else:
        fleet = f"{sc.fleet.clients} generated clients"
    runbook = template_for(sc.runbook).tag
    return (
        f"OK: {sc.name}: {_n(topo.n_groups, 'group')}, {_n(topo.n_managers, 'manager')} in "
        f"{_n(len(topo.site_names), 'site')}, runbook {runbook} ({_n(len(steps), 'step')}), {fleet}, "
        f"horizon {sc.horizon_days:g} days"
    )


def _check_output_path(path: Path | None) -> None:
    """Refuse an unusable output path before running, not after minutes of simulation."""
    if path is None:
        return
    if path.is_dir():
        raise InputError("--clients-out", str(path), "is a folder; expected a file name such as clients.csv")
    if not path.parent.is_dir():
        raise InputError("--clients-out", str(path), f"the folder {path.parent} does not exist")


def clients_table(result: Result) -> pd.DataFrame:
    """``Result.clients`` with the documented columns first (README, "Output columns")."""
    df = result.clients
    return df[FIRST_CLIENT_COLUMNS + [c for c in df.columns if c not in FIRST_CLIENT_COLUMNS]]


def write_clients_csv(result: Result, path: Path) -> None:
    try:
        atomic_write_csv(clients_table(result), path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError("--clients-out", str(path), f"cannot write the file ({reason})") from None


def summary_json(result: Result) -> str:
    """``Result.summary()`` as JSON; NaN becomes null so that any JSON reader accepts it."""
    return dumps(result.summary())


def format_summary(result: Result, source: str, wall_seconds: float) -> str:
    """The human-readable report of one run; every number comes from ``Result.summary()``."""
    s = result.summary()
    lines = [
        _bold(f"rotasim {__version__}: scenario {s['scenario']} ({source})"),
        f"seed {s['seed']}, engine {s['engine']}, {s['clients']} clients, "
        f"horizon {_hd(s['horizon_hours'])}; all times since the runbook's first step",
        "",
        *_orphan_lines(s),
        "",
        _bold("Runbook steps"),
        *_steps_table(s["steps"]),
        "",
        _bold("New certificates"),
        _trust_line(s),
        "",
        *_load_lines(s),
        f"Repair: {s['repair_hours']:.1f} hours of hands-on work "
        f"({s['orphaned']} orphans x {result.scenario.repair_minutes:g} min)",
        f"Wall time: {wall_seconds:.2f} s",
    ]
    return "\n".join(lines)


def _load_lines(s: dict[str, Any]) -> list[str]:
    """Manager load against capacity, when the scenario models it (``load.enabled``)."""
    load = s.get("load")
    if not load:
        return []
    rows = [["manager", "capacity/s", "peak/s", "peak at", "hours over", "failed check-ins"]]
    for m in load["managers"]:
        rows.append(
            [
                m["manager"],
                f"{m['capacity_per_second']:g}",
                f"{m['peak_offered_per_second']:.2f}",
                _hd(m["peak_at_hours"]),
                f"{m['hours_over_capacity']:.1f}",
                f"{m['failed_checkins']:,.0f}",
            ]
        )
    d = load["learning_delay_hours"]
    sampled = " (estimated from a sample of clients)" if load.get("sampled") else ""
    return [
        _bold("Manager load" + sampled),
        *_table(rows, ["<", ">", ">", ">", ">", "<"]),
        f"Overload delayed {d['clients_delayed']} clients' first new certificate: mean {d['mean']:.2f} h, "
        f"95th percentile {d['p95']:.2f} h, longest {d['max']:.1f} h",
        "",
    ]


def _orphan_lines(s: dict[str, Any]) -> list[str]:
    n, orphans = s["clients"], s["orphaned"]
    lines = [
        _bold(f"Orphaned: {orphans} of {n} clients ({_pct(orphans, n)})"),
        f"Gone: {s['gone']} (never came back; not counted as orphans)",
    ]
    if not orphans:
        return lines
    lines.append("By cause:")
    lines += _table(
        [[c, str(k), CAUSE_MEANINGS.get(c, "")] for c, k in s["orphaned_by_cause"].items()], ["<", ">", "<"]
    )
    lines.append("By group:")
    lines += _table([[g, str(k)] for g, k in s["orphaned_by_group"].items()], ["<", ">"])
    lines.append("By version:")
    lines += _table([[v, str(k)] for v, k in s["orphaned_by_version"].items()], ["<", ">"])
    return lines


def _steps_table(steps: list[dict[str, Any]]) -> list[str]:
    rows = [["name", "kind", "start h", "end h", "start d", "end d", "detail"]]
    for st in steps:
        a, b = st["start_hours"], st["end_hours"]
        times = [f"{a:.2f}", f"{b:.2f}", f"{a / 24:.2f}", f"{b / 24:.2f}"]
        rows.append([st["name"], st["kind"], *times, st["detail"]])
    return _table(rows, ["<", "<", ">", ">", ">", ">", "<"])


def _trust_line(s: dict[str, Any]) -> str:
    missing = s["not_trusting_at_horizon"]
    if missing:
        return (
            f"{missing} returning client{'s' if missing != 1 else ''} did not trust the new certificates "
            f"by the horizon ({_hd(s['horizon_hours'])})"
        )
    at = s["full_trust_at_hours"]
    if at is None:
        return "No client came back to trust the new certificates"
    return f"Every returning client trusted the new certificates by {_hd(at)}"


def _table(rows: list[list[str]], align: list[str], indent: str = "  ") -> list[str]:
    """Plain aligned columns (the last one is left ragged); readable in a terminal and in a log file."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(align))]
    out = []
    for r in rows:
        cells = [f"{c:{a}{w}}" for c, a, w in zip(r[:-1], align[:-1], widths[:-1], strict=True)]
        out.append((indent + "  ".join([*cells, r[-1]])).rstrip())
    return out


def _hd(hours: float) -> str:
    return f"{hours:.1f} h ({hours / 24:.1f} days)"


def _pct(k: int, n: int) -> str:
    return f"{100.0 * k / n:.2f}%" if n else "n/a"


def _n(k: int, what: str) -> str:
    return f"{k} {what}{'' if k == 1 else 's'}"


def _bold(text: str) -> str:
    """Bold in a terminal; ``typer.echo`` strips the codes when stdout is a pipe or a file."""
    return typer.style(text, bold=True)


def _colour() -> bool | None:
    """None lets echo decide (colour on a terminal only); NO_COLOR (no-color.org) turns it off."""
    return False if os.environ.get("NO_COLOR") else None


if __name__ == "__main__":
    app()
