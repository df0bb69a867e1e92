"""Errors a user can fix: each names the file, the field (or line) and what was expected.

The CLI turns these into one readable line and exit code 2; nothing else should reach a user as a traceback.
"""

from __future__ import annotations


class InputError(Exception):
    """Bad user input: a scenario, fleet file or command-line value that cannot be used as given."""

    def __init__(self, source: str, location: str, message: str) -> None:
        self.source = source
        self.location = location
        self.message = message
        where = f"{source}: {location}" if location else source
        super().__init__(f"{where}: {message}")
