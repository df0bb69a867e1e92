"""Planning a gate's share together with its cap: "which gate should I set, what share, with what cap?"

Why from the same replications: a gate at share X opens at the k-th first check-in since its anchor, k =
ceil(X x clients), and that first check-in per client does not depend on X; so one planning probe per
replication gives every share's curve (``sim.experiments.probe.GatePoint``: a few numbers per share on one
curve), and the shares are compared on the same rotations (common random numbers).

For each share, the cap is planned exactly as ``plan`` plans a cap (the smallest GO under the report's risk rule,
``sim.analysis.risk``); of the shares that reach GO, the recommended pair is the one whose old certificate
stays in service the fewest days on average (mean over replications of min(gate's moment, cap) since the
anchor, never below the floor), ties going to fewer mean orphans (docs/model.md, "Planning answers").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.format import setting as fmt_setting
from sim.analysis.replications import Replications
from sim.analysis.risk import assess, max_exceeding_for_go
from sim.runbooks import template_for

DEFAULT_STEPS = (-0.02, -0.01, 0.0, 0.01, 0.02)  # the runbook's own share and these either side


def default_shares(own: float) -> tuple[float, ...]:
    """The shares a plan compares when only the runbook's own gate is given: it, and 1 and 2 points either
    side (those above 0 and at most 1)."""
    around = {round(own + d, 4) for d in DEFAULT_STEPS if d and 0 < round(own + d, 4) <= 1}
    return tuple(sorted(around | {own}))


def smallest_go(needed: np.ndarray, confidence: float) -> float | None:
    """The smallest setting at which at most ``max_exceeding_for_go(n)`` replications need more (GO by the
    report's rule); None when none within the horizon is, or too few replications can show it."""
    k_max = max_exceeding_for_go(len(needed), confidence)
    if k_max < 0 or mostly_never(needed):
        return None
    v = float(np.sort(needed)[::-1][k_max])
    if v == np.inf:
        return None
    return 0.0 if v == -np.inf else round(v, 4)


def mostly_never(needed: np.ndarray) -> bool:
    """Half the replications or more need a setting beyond the horizon: more replications would not change
    that (the median need is inf; counted, so that needs of -inf and inf do not make a NaN median)."""
    return 2 * int(np.count_nonzero(needed == np.inf)) >= len(needed) > 0


@dataclass
class GateChoice:
    """The recommended (share, cap) pair and the instruction that says it."""

    share: float
    setting: float
    phrase: str
    row: dict[str, Any]


def gate_table(
    reps: Replications,
    max_orphans: float | None,
    max_orphan_rate: float | None,
    confidence: float,
    shares: list[float] | None = None,
) -> pd.DataFrame:
    """One row per share: the smallest GO cap (NaN: none within the horizon), and at it the mean setting in
    effect (days the old certificate stays in service, hours of the wait), the mean orphans, the replications
    exceeding the target and the verdict; a share with no GO cap is shown at the longest cap of the grid."""
    ax = reps.axis()
    longest = float(reps.default_grid()[-1])
    rows = []
    for share in reps.shares() if shares is None else shares:
        needed = reps.needed(max_orphans, max_orphan_rate, share=share)
        cap = smallest_go(needed, confidence)
        at = longest if cap is None else cap
        exceeding = int((needed > at + 1e-9).sum())
        rows.append(
            {
                "share": share,
                ax.parameter: np.nan if cap is None else cap,
                f"{ax.unit}_mean": float(reps.in_service(at, share).mean()),
                "orphaned_mean": float(reps.orphans_at([at], share).mean()),
                "exceeding": exceeding,
                "verdict": assess(exceeding, reps.n, confidence).verdict,
            }
        )
    return pd.DataFrame(
        rows, columns=["share", ax.parameter, f"{ax.unit}_mean", "orphaned_mean", "exceeding", "verdict"]
    )


def best_gate(reps: Replications, table: pd.DataFrame) -> GateChoice | None:
    """Of the shares with a GO cap, the one with the fewest mean days (hours) in service, then the fewest mean
    orphans, then the lower share; None when no share reaches GO."""
    ax = reps.axis()
    go = table[table["verdict"].eq("GO") & table[ax.parameter].notna()]
    if go.empty:
        return None
    key = go.assign(_d=go[f"{ax.unit}_mean"].round(6), _o=go["orphaned_mean"].round(6))
    row = key.sort_values(["_d", "_o", "share"], kind="stable").iloc[0]
    share, setting = float(row["share"]), float(row[ax.parameter])
    managers = [m.name for m in reps.scenario.managers]
    phrase = template_for(reps.scenario.runbook).gate_phrase(managers, share, fmt_setting(setting, ax.unit))
    return GateChoice(share, setting, phrase, {k: row[k] for k in table.columns})
