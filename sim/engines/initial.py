"""An observed fleet to start from: what each client holds, where and when it last checked in.

Why: during a rotation the console shows which clients took which certificate; ``rotasim track`` replays the
rest of the runbook from there instead of from the start (docs/model.md, "Tracking a rotation"). Both engines
take the same record and start at ``at`` hours: the world before ``at`` is replayed without the fleet (its
sites' databases, restarts and replication are then exactly as the log says), and each client starts with
the cache given here. Whether and when a client is online from ``at`` on is its presence in the fleet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InitialState:
    """Per client at ``at`` hours: its cache (list variant, secure flag, heartbeat, certificate per manager),
    the manager it last used, its last check-in (the phase of its heartbeat; NaN: unknown) and since when it
    holds a new certificate (NaN: none)."""

    at: float
    msl: np.ndarray  # int: list variant of the topology
    secure: np.ndarray  # bool
    heartbeat: np.ndarray  # minutes, as the client learnt it
    cert: np.ndarray  # (n, managers) int: the certificate generation it holds for each manager
    last_server: np.ndarray  # int manager index
    last_checkin: np.ndarray  # hours
    learnt_at: np.ndarray  # hours: first time it held a new certificate

    @property
    def n(self) -> int:
        return len(self.msl)

    def check(self, n: int, managers: int) -> None:
        """The record fits a fleet of ``n`` clients and ``managers`` managers (a programming error if not)."""
        if self.n != n or self.cert.shape != (n, managers):
            raise ValueError(
                f"initial state for {self.n} clients x {self.cert.shape[1]} managers, fleet {n} x {managers}"
            )
        if not np.all(self.last_checkin[np.isfinite(self.last_checkin)] <= self.at + 1e-9):
            raise ValueError("an initial state's last check-ins must not be after its time")
