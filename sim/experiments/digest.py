"""What one replication sends back to whoever runs many: its summary and, for a runbook with a planning axis,
its curve of orphans against the setting (from the planning probe, ``sim.experiments.probe``), never its whole
per-client tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.experiments.options import Engine, RunOptions
from sim.experiments.probe import GatePoint, OrphanCurve, gate_opens, orphan_curve, probe, probe_steps, saving_settings
from sim.experiments.result import Result
from sim.experiments.simulate import Executed, Prepared, execute, prepare
from sim.model.causes import BLOCKING
from sim.runbooks import template_for
from sim.scenario.document import Scenario


@dataclass
class Digest:
    """What one replication sends back: its summary, and the curve the timing question needs."""

    replication: int
    summary: dict[str, Any]
    live: int  # clients not gone
    setting: float | None = None  # the run's own retention (days) or wait (hours)
    curve: OrphanCurve | None = None  # orphans had the setting been x (kb-multi-server, kb-single-server)
    gates: tuple[GatePoint, ...] | None = None  # where each planned share's gate lands on ``curve``
    # live clients no setting within the horizon saves, by the cause the run gave them: the blocking causes,
    # and "beyond-horizon" for those still away at the horizon (a longer horizon may find their setting)
    never_saved: dict[str, int] | None = None
    result: Result | None = None


def _digest(
    sc: Scenario,
    seed: int,
    k: int,
    engine: Engine,
    clients: int | None,
    horizon_days: float | None,
    keep: bool,
    gate_shares: tuple[float, ...] = (),
) -> Digest:
    """One replication's digest; ``gate_shares``: shares of a gate to plan from the same probe (the
    runbook's own gate, if it has one, is always among them): a few numbers per share (``GatePoint``)."""
    opts = RunOptions(seed=seed, engine=engine, clients=clients, horizon_days=horizon_days)
    run = prepare(sc, opts, k, shared=True)
    ex = execute(run)
    r = ex.result
    live = (r.clients["outcome"] != "gone").to_numpy()
    d = Digest(replication=k, summary=r.summary(), live=int(live.sum()), result=r if keep else None)
    tpl = template_for(run.sc.runbook)
    managers = [m.name for m in run.sc.managers]
    landing = tpl.landing(r.steps, managers)
    ps = probe_steps(run)
    if tpl.axis is None or ps is None or landing is None:
        return d
    gate = tpl.gate(managers)
    shares = sorted({*gate_shares, *(() if gate is None else (gate.share,))})
    watched = gate if gate is not None else (tpl.gate_at(managers, shares[0]) if shares else None)
    _, out = probe(run, ps[0], ps[1], ex.fail, None if watched is None else watched.since)
    gone = run.fleet.presence.decommissioned
    opens: dict[float, float] = {}
    if watched is not None:
        assert out.seen_since is not None
        opens = {s: gate_opens(out.seen_since, s, landing.floor) for s in shares}
    d.setting = tpl.setting(r.steps)
    base, points = orphan_curve(out, gone, landing, tpl.axis.step, run.horizon, opens)
    d.curve = base if gate is None else base.gated(next(p for p in points if p.share == gate.share))
    d.gates = tuple(points) or None
    d.never_saved = _never_saved(r, out, gone)
    return d


@dataclass(frozen=True)
class CauseSaving:
    """What the runbook's setting would have done for one cause's orphans in one replication."""

    cause: str
    orphans: int
    saved: int  # of them, how many some setting within the horizon saves
    setting: float | None  # the shortest setting that saves all those ``saved`` (None: none is saved)
    half: float | None = None  # the shortest that saves at least half of the cause's orphans (None: none does)


@dataclass(frozen=True)
class Savings:
    """The retention or wait that would have saved each cause's orphans of one run (``rotasim run``)."""

    parameter: str  # retention_days, wait_hours
    noun: str  # retention, wait
    unit: str  # days, hours
    used: float | None  # the run's own setting
    causes: list[CauseSaving]

    def to_json(self) -> dict[str, Any]:
        """``rotasim run --json``'s ``would_have_saved``: per cause, orphans, how many a setting saves, which."""
        return {
            "parameter": self.parameter,
            "unit": self.unit,
            "used": self.used,
            "causes": [
                {
                    "cause": c.cause,
                    "orphans": c.orphans,
                    "saved": c.saved,
                    self.parameter: c.setting,
                    f"half_saved_{self.parameter}": c.half,
                }
                for c in self.causes
            ],
            "note": f"one replication; the {self.noun} from which on each cause's saved clients are all saved",
        }


def run_with_savings(sc: Scenario, options: RunOptions, probe: bool = True) -> tuple[Result, Savings | None]:
    """One replication, and for a runbook with a planning axis the setting that would have saved each cause's
    orphans (from the planning probe: the same fleet and streams, no re-run per setting; ``probe=False``
    skips it, None then)."""
    run = prepare(sc, options)
    ex = execute(run)
    return ex.result, savings(run, ex) if probe else None


def savings(run: Prepared, ex: Executed) -> Savings | None:
    """Per cause of the run's orphans: how many a longer setting saves, and the shortest one that saves them
    all (None when the runbook has no planning axis)."""
    r = ex.result
    tpl = template_for(run.sc.runbook)
    managers = [m.name for m in run.sc.managers]
    landing = tpl.landing(r.steps, managers)
    ps = probe_steps(run)
    if tpl.axis is None or ps is None or landing is None:
        return None
    _, out = probe(run, ps[0], ps[1], ex.fail)
    need = saving_settings(out, landing, tpl.axis.step)
    orphaned = (r.clients["outcome"] == "orphaned").to_numpy()
    causes = r.clients["cause"].to_numpy()
    rows = []
    for cause in dict.fromkeys(causes[orphaned]):
        mine = need[orphaned & (causes == cause)]
        saved = mine[mine < np.inf]
        # -inf (saved by any setting) cannot be an orphan of the run's own setting; the max is finite then
        setting = float(saved.max()) if len(saved) and np.isfinite(saved.max()) else None
        mid = float(np.sort(mine)[(len(mine) - 1) // 2])
        half = mid if np.isfinite(mid) else None
        rows.append(CauseSaving(str(cause), int(len(mine)), int(len(saved)), setting, half))
    rows.sort(key=lambda c: -c.orphans)
    return Savings(tpl.axis.parameter, tpl.axis.noun, tpl.axis.unit, tpl.setting(r.steps), rows)


def _never_saved(r: Result, out: Any, gone: np.ndarray) -> dict[str, int]:
    """Causes (from the run itself) of the live clients the probe never saw survive the decisive change."""
    survives = out.survives_at_start.copy()
    cl, _, vs, _ = out.survival_changes
    if len(cl):
        order = np.argsort(cl, kind="stable")  # changes are logged in time order: the last per client wins
        c_sorted, v_sorted = cl[order], vs[order]
        tail = np.flatnonzero(np.r_[c_sorted[1:] != c_sorted[:-1], True])
        survives[c_sorted[tail]] = v_sorted[tail]
    never = ~gone & (~survives | np.isfinite(out.orphaned_at))
    causes = r.clients["cause"].to_numpy()[never]
    names = np.where(np.isin(causes, BLOCKING), causes, "beyond-horizon")
    values, counts = np.unique(names, return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts, strict=True)}
