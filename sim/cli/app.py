"""The ``rotasim`` command line: the app, its commands (one module each in ``sim.cli``) and its error policy.

Error policy (README, "Exit codes"), applied in one place (``_RotasimGroup.main``) so every command obeys it;
the codes are named in ``sim.cli.main``, the console script, which installs the signal handlers first:

- 0: done (``rotasim report``: GO; its other verdicts are ``sim.analysis.verdict.EXIT_CODES``: 3 INCONCLUSIVE,
  4 NO-GO).
- 2: bad input: the scenario, a file it names, or a command-line value. One line on stderr,
  ``error: <file>: <field>: <what is wrong>``, no traceback: the user can fix it and needs nothing more.
- 70: internal error, i.e. a bug in rotasim. It is never swallowed: one line
  ``internal error: <type>: <message>`` on stderr says so, where to report it and how to get the traceback
  (``ROTASIM_DEBUG=1``, which also shows the traceback of input errors): users are not shown a wall of
  frames, developers can be.
- 130: interrupted (SIGINT, Ctrl-C): ``interrupted``. 143: terminated (SIGTERM): ``terminated`` (129 for
  SIGHUP). Outputs are written atomically (``sim.io``) and temporary files removed on the way out, so
  nothing is left half-written.

Warnings: an ``InputWarning`` (input that can be used but deserves a look) is one line
``warning: <file>: <field>: <message>`` on stderr; any other Python warning is one line
``warning: <Category>: <message>``, never Python's two-line form with an internal path. An ``InputWarning``
is shown once per file and field (many replications would repeat it).

Output files are only written after the run has succeeded, so a failing run creates none. Each command is
parse, one library call, print; the library is imported when a command runs, so that ``--version`` and
``--help`` start in a fraction of a second (benchmarks/bench_cli_start.py).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TextIO, cast

import typer
from typer.core import TyperGroup

from sim._version import __version__
from sim.cli.compare import compare_command
from sim.cli.fleet import fleet_app
from sim.cli.main import EXIT_INPUT, EXIT_INTERNAL, EXIT_SIGINT, Terminated, received, stop_code, stop_line
from sim.cli.plan import plan_command
from sim.cli.report import report_command
from sim.cli.run import run_command
from sim.cli.sweep import sweep_command
from sim.cli.track import track_command
from sim.cli.validate import validate_command
from sim.errors import InputError, InputWarning

DEBUG_ENV = "ROTASIM_DEBUG"


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
        with warnings.catch_warnings():  # restores Python's own showwarning afterwards
            warnings.showwarning = _one_line_warnings()
            rv = call()
    except InputError as exc:
        if debug:
            traceback.print_exc()
        return _fail(f"error: {exc}", EXIT_INPUT)
    except _CLICK_ERROR as exc:  # usage errors: unknown option, bad option value, missing argument
        return _fail(_usage_line(exc), int(getattr(exc, "exit_code", EXIT_INPUT)))
    except (KeyboardInterrupt, typer.Abort):
        rv = EXIT_SIGINT
    except Terminated as exc:
        return _fail(stop_line(exc.signum), stop_code(exc.signum))
    except Exception as exc:
        if received() is not None:  # the stop signal broke something on its way: still a stop, not a bug
            return _stopped()
        if debug:
            traceback.print_exc()
        return _fail(internal_error_line(exc, debug), EXIT_INTERNAL)
    if received() is not None:  # a stop signal that something swallowed
        return _stopped()
    code = rv if isinstance(rv, int) else 0
    if code == EXIT_SIGINT:
        return _fail(stop_line(signal.SIGINT), EXIT_SIGINT)
    return code


def internal_error_line(exc: BaseException, debug: bool = False) -> str:
    """One line for a bug: what broke, that it is rotasim's fault, where to report it, how to see more."""
    hint = "" if debug else f"; set {DEBUG_ENV}=1 for the traceback"
    what = f"{type(exc).__name__}: {exc}"
    return f"internal error: {what} (a bug in rotasim: please report it to its maintainers with the command{hint})"


def _stopped() -> int:
    signum = received() or signal.SIGINT
    return _fail(stop_line(signum), stop_code(signum))


def warning_line(message: Warning | str, category: type[Warning]) -> str:
    """One line for a warning: an ``InputWarning`` names file, field and message; others their category."""
    text = str(message)
    line = text if isinstance(message, InputWarning) else f"{category.__name__}: {text}"
    return "warning: " + " ".join(line.split())


def _one_line_warnings() -> Callable[..., None]:
    """A ``warnings.showwarning`` for one command: one line each on stderr, without the internal path.

    An ``InputWarning`` is shown once per file and field: the replications of one scenario each draw a fleet
    and would otherwise repeat the same warning (with their own counts) once per replication."""
    seen: set[tuple[str, str]] = set()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if isinstance(message, InputWarning):
            where = (message.source, message.location)
            if where in seen:
                return
            seen.add(where)
        typer.echo(warning_line(message, category), err=True)

    return show


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


app.command("run")(run_command)
app.command("validate")(validate_command)
app.command("plan")(plan_command)
app.command("sweep")(sweep_command)
app.command("report")(report_command)
app.command("compare")(compare_command)
app.command("track")(track_command)
app.add_typer(fleet_app, name="fleet")


if __name__ == "__main__":
    from sim.cli.main import main

    main()
