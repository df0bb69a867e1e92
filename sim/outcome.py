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
class EngineOutput:
    orphaned_at: np.ndarray  # hours, NaN if not orphaned
    detected_at: np.ndarray  # first check-in attempt after the orphaning, NaN if none within the horizon
    new_cert_at: np.ndarray  # since when it holds the final certificates, NaN if not at the horizon
    last_server: np.ndarray  # manager index it last used
    checkins: int  # check-ins the engine evaluated (a cost measure)
    facts: DeathFacts
