"""Why a client was orphaned: one table of causes (meaning, remedy, whether the procedure's setting cures it)
and one rule, shared by both engines, from facts each engine records when it orphans a client.

The order matters: the most specific, most actionable cause wins (docs/model.md, "Causes"), and the cause
names the remedy that would really have saved the client.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Cause:
    """One cause: what happened, what would have saved the client, and whether a longer wait or retention of
    the procedure does (``cured_by_setting``; the others block any setting: handle those clients apart)."""

    name: str
    meaning: str
    remedy: str
    cured_by_setting: bool


CAUSE_TABLE: tuple[Cause, ...] = (
    Cause(
        "unsupported-version",
        "its version cannot use the multi-server method (14.2, 14.2.1; KB 187099): a certificate mismatch at its "
        "manager orphaned it instead of sending it to another manager",
        "upgrade these clients first, or rotate them with the single-server procedure "
        "(KB 187099: 14.2 and 14.2.1 cannot use the multi-server method)",
        False,
    ),
    Cause(
        "missed-group",
        "its group has inheritance turned off and an all-groups console step did not reach it",
        "change these groups on their own (inheritance off), or have every all-groups step include groups that do "
        "not inherit",
        False,
    ),
    Cause(
        "no-failover-target",
        "the runbook left it no manager to trust: even a client that had learnt everything its site knew would "
        "have been orphaned",
        "give these clients a management server list with a manager to fail over to before the rotation",
        False,
    ),
    Cause(
        "wait-too-short",
        "it was online during the wait but had not checked in when the certificate changed (heartbeat too slow or "
        "managers down)",
        "a longer wait before the certificate update",
        True,
    ),
    Cause(
        "retired-before-return",
        "it had not learnt the new certificates from a manager when the last manager on the old certificate was "
        "updated or retired (away, or its heartbeat did not come round)",
        "a longer retention of the old certificate",
        True,
    ),
    Cause(
        "offline-through-window",
        "it was offline from the first change it had not learnt until it was orphaned",
        "a wait or retention covering its absence, or a repair after it returns",
        True,
    ),
    # last, so the colours of the others stay as they were (its precedence is in ``classify``)
    Cause(
        "restored-certificate",
        "it had learnt a manager's new certificate, and restoring that manager's previous certificate left it a "
        "closed gate there and nowhere else to go",
        "restore only while the HTTP list and secure communications off are in place (both gates open), or before "
        "clients learn the new certificate; else repair them",
        False,
    ),
)
CAUSES: tuple[str, ...] = tuple(c.name for c in CAUSE_TABLE)
CAUSE_MEANINGS: dict[str, str] = {c.name: c.meaning for c in CAUSE_TABLE}
REMEDIES: dict[str, str] = {c.name: c.remedy for c in CAUSE_TABLE}
BLOCKING: tuple[str, ...] = tuple(c.name for c in CAUSE_TABLE if not c.cured_by_setting)


def classify(
    unsupported_hit: np.ndarray,
    missed_group: np.ndarray,
    rescue_ok: np.ndarray,
    online_in_window: np.ndarray,
    other_available: np.ndarray,
    at_decisive: np.ndarray | None = None,
    decisive_cause: str | None = None,
    at_restore: np.ndarray | None = None,
) -> np.ndarray:
    """Cause per orphan.

    - unsupported_hit: an unsupported version (it cannot use the multi-server method) met a certificate mismatch.
    - missed_group: its group has inheritance off and an all-groups step did not reach it.
    - rescue_ok: had it learnt what its site knew just before the change that orphaned it, it would have survived;
      if not, the procedure itself left it nothing to fail over to.
    - online_in_window: it was online at some moment between the first change it had not learnt and its
      orphaning, yet did not learn it (its heartbeat did not come round in time, or its managers were down).
    - other_available: a manager on its list already presented a certificate other than the one it held (a
      newer one, or after a restore an older one), which it could have learnt by failing over, and it came
      back after the last manager whose certificate it held had changed or was gone.
    - at_decisive, decisive_cause: orphaned by the change the runbook's setting delays (the retained manager's
      update): unless one of the first three applies, a longer setting would have saved it, so it gets the
      setting's cause (``retired-before-return``: a longer retention), whether it was away or online.
    - at_restore: orphaned by the change a ``restore-certificate`` step made (what it had learnt is now refused).
    """
    out = np.full(len(unsupported_hit), "offline-through-window", dtype=object)
    out[other_available] = "retired-before-return"
    out[online_in_window] = "wait-too-short"
    if at_decisive is not None and decisive_cause is not None:
        out[at_decisive] = decisive_cause
    out[~rescue_ok] = "no-failover-target"
    if at_restore is not None:
        out[at_restore] = "restored-certificate"
    out[missed_group] = "missed-group"
    out[unsupported_hit] = "unsupported-version"
    return out


@dataclass
class OrphanFacts:
    """Facts recorded when each client was orphaned, from which ``sim.causes.classify`` names the cause."""

    unsupported_hit: np.ndarray
    rescue_ok: np.ndarray
    online_in_window: np.ndarray
    other_available: np.ndarray

    @classmethod
    def empty(cls, n: int) -> OrphanFacts:
        return cls(np.zeros(n, bool), np.ones(n, bool), np.zeros(n, bool), np.zeros(n, bool))
