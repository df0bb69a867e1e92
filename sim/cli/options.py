"""The run options every command takes, declared once: ``@run_options`` adds them to a command.

Why a decorator: the seven run options (``--seed``, ``--clients``, ``--horizon-days``, ``--engine``,
``--workers``, ``--dask``, ``--quiet``) used to be copied into each command's signature, and the copies
drifted. ``run_options`` appends them to the command's own parameters (typer reads the combined signature)
and hands the command one ``sim.RunOptions``, which checks every value in one place (exit 2 on a bad one).

This module, like every command module, imports only typer and the standard library at the top: typer needs
the commands' signatures to start, and ``rotasim --help`` should not wait for numpy, pandas or matplotlib.
The library is imported inside the commands, when one runs.
"""

from __future__ import annotations

import functools
import inspect
import os
import typing
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sim.errors import InputError

if TYPE_CHECKING:
    from sim.experiments.options import RunOptions

PANEL = "Run options"


class EngineName(StrEnum):
    """The engines ``--engine`` offers (the same as ``sim.experiments.options.ENGINES``, which a test checks)."""

    fast = "fast"
    reference = "reference"


Seed = Annotated[
    int | None,
    typer.Option(help="Root seed (default: the scenario's seed; compare: the first one's).", rich_help_panel=PANEL),
]


Clients = Annotated[int | None, typer.Option(help="Resize every generated fleet to N clients.", rich_help_panel=PANEL)]


HorizonDays = Annotated[float | None, typer.Option(help="Simulate D days after the first step.", rich_help_panel=PANEL)]


EngineOption = Annotated[
    EngineName, typer.Option("--engine", help="fast, or the per-client reference engine.", rich_help_panel=PANEL)
]


Workers = Annotated[
    int | None, typer.Option(help="Processes for replications (default: all cores).", rich_help_panel=PANEL)
]


Dask = Annotated[
    str | None,
    typer.Option(help="Run replications on Dask: a scheduler address, or 'local'.", rich_help_panel=PANEL),
]


Quiet = Annotated[bool, typer.Option("--quiet", "-q", metavar="", help="No progress on stderr.", rich_help_panel=PANEL)]


# name, annotation, default: the parameters ``run_options`` adds, in the order --help lists them
_RUN_PARAMETERS: list[tuple[str, Any, Any]] = [
    ("seed", Seed, None),
    ("clients", Clients, None),
    ("horizon_days", HorizonDays, None),
    ("engine", EngineOption, EngineName.fast),
    ("workers", Workers, None),
    ("dask", Dask, None),
    ("quiet", Quiet, False),
]


# flags show no ``<bool>`` in --help (typer >= 0.2x prints one for every flag, which reads as "--json true")
JsonOut = Annotated[bool, typer.Option("--json", metavar="", help="A flag: print one JSON object and nothing else.")]


ScenarioPath = Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)]


def build_options(
    seed: int | None = None,
    clients: int | None = None,
    horizon_days: float | None = None,
    engine: str = "fast",
    workers: int | None = None,
    dask: str | None = None,
    quiet: bool = False,
) -> RunOptions:
    """The ``RunOptions`` of the command-line values (``--quiet``: no progress bar; else one on a terminal)."""
    from sim.experiments.options import RunOptions

    return RunOptions(
        seed=seed,
        clients=clients,
        horizon_days=horizon_days,
        engine=str(engine),  # type: ignore[arg-type]  # RunOptions refuses anything but fast and reference
        workers=workers,
        dask=dask,
        progress=False if quiet else None,
    )


def run_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command`` (which takes a keyword ``options``) the shared run options as typer parameters."""
    # the command module's annotations are strings (``from __future__ import annotations``): evaluate them,
    # with RunOptions (imported there for type checkers only) standing for itself
    hints = typing.get_type_hints(command, localns={"RunOptions": object}, include_extras=True)
    own = [
        p.replace(annotation=hints[p.name])
        for p in inspect.signature(command).parameters.values()
        if p.name != "options"
    ]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
        for name, annotation, default in _RUN_PARAMETERS
    ]
    names = [name for name, _, _ in _RUN_PARAMETERS]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        opts = build_options(**{n: kwargs.pop(n) for n in names})
        return command(**kwargs, options=opts)

    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + added
    wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params}
    del wrapper.__wrapped__  # typer must read the combined signature, not the command's own
    return wrapper


def check_output(path: Path | None, option: str) -> None:
    """Refuse an unusable output file before running, not after minutes of simulation (``sim.io``)."""
    from sim.io import check_out_file

    check_out_file(path, option)


def out_folder(value: str | None, default: Path, option: str = "--out") -> Path:
    """An output folder option, read as text: typer would turn an empty ``--out ''`` into ``.``, the
    current folder, and a report would land among the user's files."""
    if value is None:
        return default
    if not value.strip():
        raise InputError(option, "", "expected a folder name (got an empty one)")
    return Path(value)


def to_stdout(*paths: Path | None) -> bool:
    """Whether one of these output files is ``-`` (standard output): the command's own text then goes to
    stderr, so that stdout carries the file alone. Two of them cannot both be stdout."""
    given = [p for p in paths if p is not None and str(p) == "-"]
    if len(given) > 1:
        raise InputError("-", "", "only one output can go to standard output")
    return bool(given)


def colour() -> bool | None:
    """None lets echo decide (colour on a terminal only); NO_COLOR (no-color.org) turns it off."""
    return False if os.environ.get("NO_COLOR") else None


def progress_log(options: RunOptions) -> Callable[[str], None]:
    """Where a long command says what it is doing: stderr, one line a step, unless ``--quiet``."""

    def say(msg: str) -> None:
        if options.progress is not False:
            typer.echo(msg, err=True)

    return say
