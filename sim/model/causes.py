"""Why a client was orphaned: one rule, shared by both engines, from facts each engine records when it orphans a client.

The order matters: the most specific, most actionable cause wins (docs/model.md, "Causes").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CAUSES = (
    "unsupported-version",
    "missed-group",
    "no-failover-target",
    "wait-too-short",
    "retired-before-return",
    "offline-through-window",
)


# One line per cause, for people: what happened and what would have saved the client.
CAUSE_MEANINGS: dict[str, str] = {
    "unsupported-version": "its client version does not fail over on a certificate mismatch (14.2, 14.2.1) "
    "and met a manager it did not trust; KB 187099: use the single-server procedure for these",
    "missed-group": "its group has inheritance turned off and an all-groups console step did not reach it",
    "no-failover-target": "the runbook left it no manager to trust: even a client that had learnt everything "
    "its site knew would have been orphaned",
    "wait-too-short": "it was online during the wait but had not checked in when the certificate changed "
    "(heartbeat too slow or managers down): a longer wait would have saved it",
    "retired-before-return": "it was away while a manager still had the old certificate and came back after "
    "the last one was updated or retired: a longer retention would have saved it",
    "offline-through-window": "it was offline from the first change it had not learnt until it was orphaned",
}


def classify(
    unsupported_hit: np.ndarray,
    missed_group: np.ndarray,
    rescue_ok: np.ndarray,
    online_in_window: np.ndarray,
    newer_available: np.ndarray,
) -> np.ndarray:
    """Cause per orphan.

    - unsupported_hit: an unsupported version (it cannot use the multi-server method) met a certificate mismatch.
    - missed_group: its group has inheritance off and an all-groups step did not reach it.
    - rescue_ok: had it learnt what its site knew just before the change that orphaned it, it would have survived;
      if not, the procedure itself left it nothing to fail over to.
    - online_in_window: it was online at some moment between the first change it had not learnt and its
      orphaning, yet did not learn it (its heartbeat did not come round in time, or its managers were down).
    - newer_available: a manager on its list already had a new certificate it could have learnt by failing
      over, and it came back after the last old-certificate manager was gone.
    """
    out = np.full(len(unsupported_hit), "offline-through-window", dtype=object)
    out[newer_available] = "retired-before-return"
    out[online_in_window] = "wait-too-short"
    out[~rescue_ok] = "no-failover-target"
    out[missed_group] = "missed-group"
    out[unsupported_hit] = "unsupported-version"
    return out


@dataclass
class OrphanFacts:
    """Facts recorded when each client was orphaned, from which ``sim.causes.classify`` names the cause."""

    unsupported_hit: np.ndarray
    rescue_ok: np.ndarray
    online_in_window: np.ndarray
    newer_available: np.ndarray

    @classmethod
    def empty(cls, n: int) -> OrphanFacts:
        return cls(np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool), np.zeros(n, bool))
