"""Planning answers: the retention (kb-multi-server) or wait (kb-single-server) that meets an orphan target,
with the same definition of risk as the report (``sim.analysis.risk``).

Each replication's planning probe (``sim.experiments.probe``) gives its whole curve, orphans had the setting
been x; per replication, ``needed`` is the smallest setting from which on every longer one meets the target.
The recommendation is the smallest setting at which the chance that one rotation exceeds the target is shown
to be below ``1 - confidence`` (GO by ``sim.analysis.risk``): with n replications, at most
``max_exceeding_for_go(n)`` of them may still need more. When none can be recommended the plan says why: too
few replications to show so small a chance, clients that no setting saves (blocking causes, named with their
numbers), or clients still away at the horizon (then ``plan_scenario`` extends the horizon and says so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from sim.analysis.format import setting as fmt_setting
from sim.analysis.gates import GateChoice, best_gate, default_shares, gate_table, mostly_never, smallest_go
from sim.analysis.replications import Replications, check_shares, replicate, run_more
from sim.analysis.risk import Risk, assess, max_exceeding_for_go, replications_for_go
from sim.analysis.stats import describe
from sim.errors import InputError
from sim.experiments.digest import Digest
from sim.experiments.options import RunOptions, check_replications
from sim.experiments.probe import GatePoint
from sim.model.causes import BLOCKING
from sim.runbooks import template_for
from sim.scenario.document import Scenario
from sim.scenario.fields import MAX_HORIZON_DAYS

Reason = Literal["recommended", "replications", "blocked", "gate", "beyond-horizon"]


@dataclass
class Plan:
    """The recommended retention or wait for a target, with the curve and what stands in the way."""

    parameter: str
    unit: str
    target: dict[str, float]
    confidence: float
    recommended: float | None
    needed_by_replication: np.ndarray
    blocking_causes: dict[str, Any]
    curve: pd.DataFrame
    replications: int
    reason: Reason = "recommended"
    risk: Risk | None = None  # at the recommended setting
    beyond_horizon: dict[str, Any] | None = None  # clients still away at the horizon, per rotation
    horizon_days: float = 0.0
    notes: list[str] = field(default_factory=list)  # what the planning did on its own (horizon extended ...)
    gates: pd.DataFrame | None = None  # per gate share: its smallest GO cap and what it costs (sim.analysis.gates)
    gate: GateChoice | None = None  # the recommended (share, cap) pair
    at_gate: float | None = None  # the runbook's own gate: mean orphans when it opens (rotations where it does)

    @property
    def noun(self) -> str:
        return "retention" if self.parameter == "retention_days" else "wait"

    def to_json(self) -> dict[str, Any]:
        x = "days" if self.unit == "days" else "hours"
        points = [
            {
                x: float(r[self.parameter]),
                "orphaned_mean": _r(r["orphaned_mean"]),
                "ci95": [_r(r["ci95_low"]), _r(r["ci95_high"])],
                "q95": _r(r["q95"]),
                "exceeding": int(r["exceeding"]),
                "verdict": r["verdict"],
            }
            for _, r in self.curve.iterrows()
        ]
        key = "recommended_retention_days" if self.parameter == "retention_days" else "recommended_wait_hours"
        return {
            key: self.recommended,
            "parameter": self.parameter,
            "target": self.target,
            "confidence": self.confidence,
            "replications": self.replications,
            "reason": self.reason,
            "risk": self.risk.to_json() if self.risk is not None else None,
            "blocking_causes": self.blocking_causes,
            "beyond_horizon": self.beyond_horizon,
            "horizon_days": self.horizon_days,
            "notes": self.notes,
            "statement": self.statement(),
            "curve": points,
            **self._gates_json(),
        }

    def _gates_json(self) -> dict[str, Any]:
        """The per-share table and the recommended pair (only when shares were planned)."""
        if self.gates is None:
            return {}
        rows = [
            {k: (_r(v) if isinstance(v, float) else v) for k, v in r.items()} for r in self.gates.to_dict("records")
        ]
        g = self.gate
        pair = None if g is None else {"share": g.share, self.parameter: g.setting, "statement": g.phrase}
        return {"gates": rows, "recommended_gate": pair}

    def plot(self, reps: Replications) -> Any:
        """Figure: the curve with the recommendation and the target marked."""
        from sim.presentation import plots

        return plots.curve(reps, self)

    def statement(self) -> str:
        """The answer in one or two sentences, for people."""
        limit = self.target.get("max_orphans", self.target.get("max_orphan_rate", 0.0))
        what = (
            f"at most {limit:g} orphan{'' if limit == 1 else 's'}"
            if "max_orphans" in self.target
            else f"an orphan rate of at most {limit:.4g}"
        )
        chance = f"{1 - self.confidence:.0%}"
        notes = "".join(f" {n}" for n in self.notes) + self._gate_sentence()
        if self.recommended is not None and self.risk is not None:
            lo, hi = self.risk.interval
            exact = fmt_setting(self.recommended, self.unit)
            grid = (
                "" if exact.split()[0] == f"{self.recommended:g}" else f" ({self.recommended:g} on the planning grid)"
            )
            return (
                f"{self.noun.capitalize()} of {exact}{grid}: {what} in a rotation, with a chance "
                f"of exceeding that below {chance} ({self.risk.exceeding} of {self.replications} replications "
                f"exceeded it; 95% interval {100 * lo:.1f}% to {100 * hi:.1f}%).{notes}"
            )
        head = f"No {self.noun} within the {self.horizon_days:g}-day horizon meets {what} with a chance below {chance}"
        if self.reason == "replications":
            return (
                f"{head}: {self.replications} replications cannot show a chance that small; at least "
                f"{replications_for_go(self.confidence)} are needed (with none exceeding).{notes}"
            )
        if self.reason == "blocked":
            causes = "; ".join(f"{c}: {v['mean']:.1f} per rotation on average" for c, v in self.blocking_causes.items())
            return f"{head}: clients no {self.noun} saves exceed it ({causes}); handle them apart.{notes}"
        if self.reason == "gate":
            return (
                f"{head}: the gate ends the {self.noun} while too many clients have not checked in "
                f"({self.at_gate or 0:.1f} orphans per rotation on average when it opens), whatever its cap; a "
                f"higher share waits for more (--gate-shares plans several).{notes}"
            )
        away = self.beyond_horizon or {}
        return (
            f"{head}: clients still away at the horizon ({(away.get('mean') or 0):.1f} per rotation on average) "
            f"may return after it; a longer horizon (--horizon-days) shows when.{notes}"
        )

    def _gate_sentence(self) -> str:
        """The recommended pair in one sentence, or that no share planned reaches GO (only with two shares or
        more: with the runbook's own alone, the statement already gives its cap)."""
        if self.gates is None or len(self.gates) < 2:
            return ""
        shares = ", ".join(f"{s * 100:g}%" for s in self.gates["share"])
        if self.gate is None:
            return f" No gate among the shares planned ({shares}) reaches GO within the horizon."
        r, unit = self.gate.row, self.unit
        return (
            f" Of the gates planned ({shares}), the one with the shortest {self.noun} on average: {self.gate.phrase} "
            f"({r[f'{unit}_mean']:.1f} {unit} on average, {r['orphaned_mean']:.1f} orphans on average, "
            f"{int(r['exceeding'])} of {self.replications} replications exceeding: {r['verdict']})."
        )


def _r(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else round(float(v), 4)


def check_target(max_orphans: float | None, max_orphan_rate: float | None, confidence: float) -> None:
    if max_orphans is not None and max_orphan_rate is not None:
        raise InputError("plan", "target", "give one of --max-orphans or --max-orphan-rate, not both")
    if max_orphans is not None and not (math.isfinite(max_orphans) and max_orphans >= 0):
        raise InputError("plan", "--max-orphans", "must be a number, 0 or more")
    if max_orphan_rate is not None and not (math.isfinite(max_orphan_rate) and 0 <= max_orphan_rate <= 1):
        raise InputError("plan", "--max-orphan-rate", "must be between 0 and 1")
    if not (math.isfinite(confidence) and 0.5 <= confidence < 1):
        raise InputError("plan", "--confidence", "must be at least 0.5 and below 1")


def plan(
    reps: Replications,
    *,
    max_orphans: float | None = None,
    max_orphan_rate: float | None = None,
    confidence: float = 0.95,
    grid: np.ndarray | list[float] | None = None,
    gate_shares: Sequence[float | str] | None = None,
) -> Plan:
    """The smallest retention (kb-multi-server) or wait (kb-single-server) at which the chance that one
    rotation exceeds the target is shown to be below ``1 - confidence``. No target given means no orphan.
    ``gate_shares``: the gate shares to tabulate (``Plan.gates``), among those the replications planned
    (default: all of them)."""
    check_target(max_orphans, max_orphan_rate, confidence)
    if max_orphans is None and max_orphan_rate is None:
        max_orphans = 0
    ax = reps.axis()
    needed = reps.needed(max_orphans, max_orphan_rate)
    n = reps.n
    recommended = smallest_go(needed, confidence)  # at most max_exceeding_for_go(n) replications need more
    reason: Reason = "recommended"
    if recommended is None:
        # no setting within the horizon (more replications would not change that), or too few replications
        few = not mostly_never(needed) and max_exceeding_for_go(n, confidence) < 0
        reason = "replications" if few else _why_not(reps, needed, max_orphans, max_orphan_rate)
    target = (
        {"max_orphans": float(max_orphans)}
        if max_orphans is not None
        else {"max_orphan_rate": float(max_orphan_rate or 0.0)}
    )
    x = reps.default_grid() if grid is None else np.asarray(grid, float)
    if recommended is not None and recommended not in x:
        x = np.unique(np.append(x, recommended))
    curve = reps.curve(x, confidence)
    exceed = [int((needed > xv + 1e-9).sum()) for xv in x]
    curve["exceeding"] = exceed
    curve["verdict"] = [assess(k, n, confidence).verdict for k in exceed]
    risk = None if recommended is None else assess(int((needed > recommended + 1e-9).sum()), n, confidence)
    shares = reps.shares() if gate_shares is None else list(check_shares(gate_shares))
    gates = gate_table(reps, max_orphans, max_orphan_rate, confidence, shares) if shares else None
    return Plan(
        ax.parameter,
        ax.unit,
        target,
        confidence,
        recommended,
        needed,
        _per_rotation(reps, BLOCKING, confidence),
        curve,
        n,
        reason=reason,
        risk=risk,
        beyond_horizon=_per_rotation(reps, ("beyond-horizon",), confidence).get("beyond-horizon"),
        horizon_days=reps.horizon_days,
        gates=gates,
        gate=None if gates is None else best_gate(reps, gates),
        at_gate=_at_gate(reps),
    )


def _own_gate(d: Digest) -> GatePoint | None:
    """The runbook's own gate in a replication, if it opened within the horizon."""
    g = None if d.curve is None else d.curve.gate
    return g if g is not None and d.curve is not None and g.first < len(d.curve.base) else None


def _at_gate(reps: Replications) -> float | None:
    opened = [g.orphans for g in map(_own_gate, reps.digests) if g is not None]
    return float(np.mean(opened)) if opened else None


def _why_not(reps: Replications, needed: np.ndarray, max_orphans: float | None, rate: float | None) -> Reason:
    """Among the replications no setting within the horizon satisfies: do the clients no setting saves exceed
    the target by themselves (blocked), does the runbook's gate open with more orphans than it allows whatever
    the cap (gate: a longer horizon would not help), or only with those still away at the horizon (beyond the
    horizon)?"""
    allowed = reps.allowed(max_orphans, rate)
    blocked = gated = beyond = 0
    for i, d in enumerate(reps.digests):
        if needed[i] != np.inf:
            continue
        never = d.never_saved or {}
        gate = _own_gate(d)
        if sum(v for c, v in never.items() if c in BLOCKING) > allowed[i]:
            blocked += 1
        elif gate is not None and gate.orphans > allowed[i]:
            gated += 1
        else:
            beyond += 1
    if gated and gated >= max(blocked, beyond):
        return "gate"
    return "beyond-horizon" if beyond >= blocked else "blocked"


def _per_rotation(reps: Replications, causes: tuple[str, ...], confidence: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c in causes:
        vals = np.array([(d.never_saved or {}).get(c, 0) for d in reps.digests], float)
        if vals.any():
            out[c] = describe(vals, confidence)
    return out


def plan_scenario(
    scenario: Scenario,
    options: RunOptions,
    *,
    max_orphans: float | None = None,
    max_orphan_rate: float | None = None,
    confidence: float = 0.95,
    replications: int = 30,
    max_replications: int = 320,
    extend_horizon: bool = True,
    gate_shares: Sequence[float | str] | None = None,
) -> tuple[Plan, Replications]:
    """Plan from a scenario, sampling as the report does: start with ``replications`` and double while too
    few replications can show the chance (up to ``max_replications``); while replications have clients still
    away at the horizon, double the horizon (up to 3 years) and say so in the plan's notes. ``gate_shares``:
    the gate shares to plan with their caps (``Plan.gates``); by default, with a gated runbook, its own share
    and 1 and 2 points either side (``sim.analysis.gates.default_shares``)."""
    check_target(max_orphans, max_orphan_rate, confidence)
    shares = _shares(scenario, gate_shares)
    check_replications(replications, minimum=2)
    check_replications(max_replications, minimum=2, option="--max-replications")
    if max_replications < replications:
        raise InputError(
            "--max-replications", "", f"must be at least --replications ({max_replications} < {replications})"
        )
    o = options
    reps = replicate(scenario, n=replications, options=o, gate_shares=shares)
    notes: list[str] = []
    while True:
        p = plan(
            reps, max_orphans=max_orphans, max_orphan_rate=max_orphan_rate, confidence=confidence, gate_shares=shares
        )
        if p.reason == "replications" and reps.n < max_replications:
            reps = run_more(reps, min(2 * reps.n, max_replications), o)
            continue
        if p.reason == "beyond-horizon" and extend_horizon and reps.horizon_days < MAX_HORIZON_DAYS:
            longer = min(2.0 * reps.horizon_days, float(MAX_HORIZON_DAYS))
            notes.append(
                f"The horizon was extended from {reps.horizon_days:g} to {longer:g} days: replications had clients "
                "still away at the end of the shorter one."
            )
            o = o.replace(horizon_days=longer)
            reps = replicate(scenario, n=reps.n, options=o, gate_shares=shares)
            continue
        break
    p.notes = notes
    return p, reps


def _shares(scenario: Scenario, given: Sequence[float | str] | None) -> tuple[float, ...]:
    """The shares to plan: those given (checked), else around the runbook's own gate (none without one)."""
    managers = [m.name for m in scenario.managers]
    if given is not None:
        shares = check_shares(given)
        if shares and template_for(scenario.runbook).gate_at(managers, shares[0]) is None:
            raise InputError(scenario.source, "runbook", "--gate-shares needs kb-multi-server or kb-single-server")
        return shares
    gate = template_for(scenario.runbook).gate(managers)
    return () if gate is None else default_shares(gate.share)
