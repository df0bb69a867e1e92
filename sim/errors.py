"""Errors and warnings a user can act on: each names the file, the field (or line) and what was expected.

The CLI turns an ``InputError`` into one readable line and exit code 2, and an ``InputWarning`` into one line
``warning: <file>: <field>: <message>`` on stderr; nothing else should reach a user as a traceback.

Why warnings go through Python's ``warnings`` module: library users (notebooks) see them as ordinary
warnings and can filter or record them; the CLI formats them as one line each, without internal paths.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import warnings
from pathlib import Path

# C0 controls but tab and newline, DEL, C1 controls (ESC starts a terminal's escape sequences)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str, keep_newlines: bool = True) -> str:
    """``text`` with control characters shown as ``\\xNN`` instead of acting on the terminal (newlines
    kept, or made spaces: an error or a warning is one line).

    Why: scenario names, client ids and file names come from files anyone may have written; an escape
    sequence printed raw can rewrite the terminal's title, hide text or fake a verdict line."""
    out = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return out if keep_newlines else " ".join(out.split("\n"))


def _where(source: str, location: str) -> str:
    return f"{source}: {location}" if location else source


class InputError(Exception):
    """Bad user input: a scenario, fleet file or command-line value that cannot be used as given."""

    def __init__(self, source: str, location: str, message: str) -> None:
        self.source = source
        self.location = location
        self.message = message
        super().__init__(printable(f"{_where(source, location)}: {message}", keep_newlines=False))

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str, str]]:
        """Picklable with its three parts: raised in a pool or Dask worker, it reaches the CLI as itself."""
        return (type(self), (self.source, self.location, self.message))


class InputWarning(UserWarning):
    """Input that can be used but deserves a look: a placeholder left in a scenario, a version no rule
    knows, an implausible date in an export. Same parts as ``InputError``."""

    def __init__(self, source: str, location: str, message: str) -> None:
        self.source = source
        self.location = location
        self.message = message
        super().__init__(printable(f"{_where(source, location)}: {message}", keep_newlines=False))

    def __reduce__(self) -> tuple[type[InputWarning], tuple[str, str, str]]:
        return (type(self), (self.source, self.location, self.message))


def warn(source: str, location: str, message: str) -> None:
    """Issue an ``InputWarning`` (shown once per distinct text, as Python shows warnings)."""
    warnings.warn(InputWarning(source, location, message), stacklevel=2)


def check_input_file(path: Path, missing: str = "no such file") -> None:
    """Refuse an input that is not a readable regular file, saying what it is (here, below every layer that
    reads a file, with the standard library only: ``rotasim validate`` must not pay for pandas): a folder, a device
    (``/dev/zero`` would be read for ever), a FIFO (would wait for a writer), a symlink loop, a name with a
    NUL byte; ``missing`` when there is nothing there."""
    text = os.fspath(path)
    if "\0" in text:
        raise InputError(text.replace("\0", "\\0"), "", "a file name cannot contain a NUL byte")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(text, "", missing) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError(text, "", "is a symlink loop, not a file") from None
        raise InputError(text, "", f"cannot read it ({exc.strerror or exc})") from None
    mode = st.st_mode
    if stat.S_ISREG(mode):
        if not os.access(path, os.R_OK):
            raise InputError(text, "", "cannot read the file (permission denied)")
        return
    what = (
        "a folder"
        if stat.S_ISDIR(mode)
        else "a FIFO (named pipe)"
        if stat.S_ISFIFO(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "a socket"
    )
    raise InputError(text, "", f"is {what}, not a file")
