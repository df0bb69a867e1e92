"""Dask scheduler addresses: parsed before any work starts, and the scheduler reached within a few seconds.

Its own module because both the run options (which check ``--dask`` when they are made) and the executor
(which connects) need it, and the executor itself depends on the run options.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from sim.errors import InputError

DASK_TIMEOUT_SECONDS = 5  # a scheduler that does not answer within this is not there

DASK_SCHEMES = ("tcp", "tls")


def parse_dask_address(address: str) -> tuple[str, str, int] | None:
    """``'local'`` (None) or a scheduler address ``[tcp://|tls://]host:port`` as (scheme, host, port).

    Why parse it here: Dask reads a malformed address in surprising ways (one asked for 3 EiB of memory);
    refusing it with one line before any work starts is kinder."""
    if address == "local":
        return None
    text = address.strip()
    if "://" not in text:
        text = "tcp://" + text
    expected = "expected 'local' or a scheduler address tcp://HOST:PORT (or tls://)"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InputError("--dask", address, expected) from None
    if (
        parts.scheme not in DASK_SCHEMES
        or not parts.hostname
        or port is None
        or not 1 <= port <= 65535
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
        or any(c.isspace() or ord(c) < 32 for c in text)
    ):
        raise InputError("--dask", address, expected)
    return parts.scheme, parts.hostname, port


def reach_scheduler(address: str) -> None:
    """Refuse a scheduler that cannot be reached within a few seconds (Dask alone retries for 30 s or more)."""
    parsed = parse_dask_address(address)
    if parsed is None:
        return
    _, host, port = parsed
    try:
        with socket.create_connection((host, port), timeout=DASK_TIMEOUT_SECONDS):
            pass
    except OSError as exc:
        raise InputError("--dask", address, f"cannot reach the Dask scheduler ({unreachable_reason(exc)})") from None


def unreachable_reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {DASK_TIMEOUT_SECONDS} s"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
