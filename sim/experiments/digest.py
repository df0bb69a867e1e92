"""What one replication sends back to whoever runs many: its summary and, for a runbook with a planning axis,
its curve of orphans against the setting (from the planning probe, ``sim.experiments.probe``), never its whole
per-client tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.experiments.options import Engine, RunOptions
from sim.experiments.probe import OrphanCurve, orphan_curve, probe, probe_steps
from sim.experiments.result import Result
from sim.experiments.simulate import execute, prepare
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
    # live clients no setting within the horizon saves, by the cause the run gave them: the blocking causes,
    # and "beyond-horizon" for those still away at the horizon (a longer horizon may find their setting)
    never_saved: dict[str, int] | None = None
    result: Result | None = None


def _digest(
    sc: Scenario, seed: int, k: int, engine: Engine, clients: int | None, horizon_days: float | None, keep: bool
) -> Digest:
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
    _, out = probe(run, ps[0], ps[1], ex.fail)
    gone = run.fleet.presence.decommissioned
    d.setting = tpl.setting(r.steps)
    d.curve = orphan_curve(out, gone, landing, tpl.axis.step, run.horizon)
    d.never_saved = _never_saved(r, out, gone)
    return d


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
