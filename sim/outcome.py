"""What an engine hands back: per-client arrays, the same shape from the fast and the reference engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DeathFacts:
    """Facts recorded at each client's death, from which ``sim.causes.classify`` names the cause."""

    fatal_hit: np.ndarray
    rescue_ok: np.ndarray
    online_in_window: np.ndarray
    newer_available: np.ndarray

    @classmethod
    def empty(cls, n: int) -> DeathFacts:
        return cls(np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool), np.zeros(n, bool))


@dataclass
class Assignments:
    """Which manager each client uses, and at what heartbeat, from when: one row per change (t=0 rows first)."""

    client: np.ndarray
    time: np.ndarray
    manager: np.ndarray
    heartbeat_hours: np.ndarray

    @classmethod
    def build(cls, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> Assignments:
        c, t, m, h = (np.concatenate([p[i] for p in parts]) for i in range(4))
        order = np.lexsort((t, c))
        return cls(c[order], t[order], m[order], h[order])


@dataclass
class EngineOutput:
    orphaned_at: np.ndarray  # hours, NaN if not orphaned
    detected_at: np.ndarray  # first check-in attempt after the orphaning, NaN if none within the horizon
    new_cert_at: np.ndarray  # since when it holds the final certificates, NaN if not at the horizon
    last_server: np.ndarray  # manager index it last used
    checkins: int  # check-ins the engine evaluated (a cost measure)
    facts: DeathFacts
    assignments: Assignments | None = None
    timeouts: int = 0  # check-ins the engine played that timed out on an overloaded manager
    learnt_at: np.ndarray | None = None  # first time each client held any new certificate
    # reference engine: check-ins it played (or an orphan tried) per (manager, load bin), counted one by one
    counted_load: np.ndarray | None = None
    timeout_events: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # played time-outs: client, time, manager
