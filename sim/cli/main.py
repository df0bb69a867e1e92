"""The ``rotasim`` console script: the exit codes, the signal handlers, and then the app.

Why a module of its own, importing only the standard library: the handlers must stand before the package
imports (typer, numpy, pandas take most of a second, and a Ctrl-C then used to print 20-40 lines of the import
machinery's traceback). ``main`` installs them first and imports the app afterwards.

The signals (README, "Exit codes"; the error policy is ``sim.cli.app``):

- SIGINT (Ctrl-C) raises ``KeyboardInterrupt``; the command stops, prints ``interrupted`` and exits 130.
- SIGTERM (and SIGHUP: the terminal went away) raises ``Terminated``, a ``BaseException`` as
  ``KeyboardInterrupt`` is, so that no ``except Exception`` swallows it and every ``finally`` runs: temporary
  files are removed, the process pool is killed; the command prints ``terminated`` and exits 143 (129).
- A second signal while the first is being handled exits at once (the user insists); what is left behind
  then is only temporary files, which the next run removes (``sim.io``).
- A signal is remembered: a command whose code swallowed the exception still exits with the signal's code.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

EXIT_OK = 0
EXIT_INPUT = 2  # bad input: one line naming the file or option, the field and what is expected
EXIT_INTERNAL = 70  # a bug in rotasim (EX_SOFTWARE of sysexits.h)
EXIT_SIGHUP = 129
EXIT_SIGINT = 130
EXIT_SIGTERM = 143

# the report's verdicts (0 GO, 3 INCONCLUSIVE, 4 NO-GO) are sim.analysis.verdict.EXIT_CODES

_MESSAGES = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated", signal.SIGHUP: "hung up"}
_CODES = {signal.SIGINT: EXIT_SIGINT, signal.SIGTERM: EXIT_SIGTERM, signal.SIGHUP: EXIT_SIGHUP}

_received: list[int] = []


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: stop as Ctrl-C stops, ``finally`` blocks included."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(stop_line(signum))


def received() -> int | None:
    """The first stop signal this process received, if any."""
    return _received[0] if _received else None


def stop_line(signum: int) -> str:
    return _MESSAGES.get(signal.Signals(signum), "terminated")


def stop_code(signum: int) -> int:
    return _CODES.get(signal.Signals(signum), 128 + signum)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _received:  # already stopping: the user insists, stop now
        _exit_now(_received[0])
    _received.append(signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _exit_now(signum: int) -> None:
    try:
        os.write(2, (stop_line(signum) + "\n").encode())
    finally:
        os._exit(stop_code(signum))


def install_handlers() -> None:
    """SIGINT, SIGTERM and SIGHUP as the module docstring says (main thread only, as Python requires)."""
    for s in _MESSAGES:
        signal.signal(s, _on_signal)


def main() -> None:
    """The console script: handlers first, then the app under its error policy."""
    install_handlers()
    try:
        from sim.cli.app import app

        code = app(standalone_mode=False)
    except (KeyboardInterrupt, Terminated):  # during the import, before the error policy stands
        signum = received() or signal.SIGINT
        sys.stderr.write(stop_line(signum) + "\n")
        code = stop_code(signum)
    # the command is done (its output written or refused): a signal from here on, during the interpreter's
    # shutdown (which restores the kernel's default for Python's own handlers, and any thread may take the
    # signal), would only kill it and hide the exit code; ignore it (Python leaves SIG_IGN in place)
    for s in _MESSAGES:
        signal.signal(s, signal.SIG_IGN)
    code = code if isinstance(code, int) else EXIT_OK
    if received() is not None:  # stopped: everything was cleaned up on the way out; do not wait for the
        sys.stdout.flush()  # interpreter's exit handlers (a pool's manager thread a signal interrupted)
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
