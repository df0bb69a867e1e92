"""What an engine hands back: per-client arrays, the same shape from the fast and the reference engine."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.causes import OrphanFacts
from sim.model.load import Assignments


@dataclass
class EngineOutput:
    orphaned_at: np.ndarray  # hours, NaN if not orphaned
    detected_at: np.ndarray  # first check-in attempt after the orphaning, NaN if none within the horizon
    new_cert_at: np.ndarray  # since when it holds the final certificates, NaN if not at the horizon
    last_server: np.ndarray  # manager index it last used
    checkins: int  # check-ins the engine evaluated (a cost measure)
    facts: OrphanFacts
    assignments: Assignments | None = None
    timeouts: int = 0  # check-ins the engine played that timed out on an overloaded manager
    learnt_at: np.ndarray | None = None  # first time each client held any new certificate
    # reference engine: check-ins it played (or an orphan tried) per (manager, load bin), counted one by one
    counted_load: np.ndarray | None = None
    timeout_events: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # played time-outs: client, time, manager
    # planning probe (the decisive step never lands): per client, whether its cache would survive that step at
    # the start, and every change of that since (client, time, survives, made by a change of the world rather
    # than a check-in: a change of the world at t meets a decisive change at the same t, a check-in at t comes
    # after it); None when not probing
    survives_at_start: np.ndarray | None = None
    survival_changes: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    # the world's watched step (``World.watch``): each client's first successful check-in since it ended (inf:
    # none within the horizon); None when nothing is watched
    seen_since: np.ndarray | None = None
    repaired_at: np.ndarray | None = None  # the last repair (a runbook ``repair`` step), NaN if never
