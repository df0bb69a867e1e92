"""The planning probe of one replication, and the curve of orphans against the setting it gives.

Why a probe (docs/model.md, "Planning answers"): whether a longer retention or wait would have saved a client
depends on what it could have learnt, and from which site, before the decisive change (the retained manager's
update, the certificate update after the wait). The probe replays the replication with the setting beyond the
horizon, so that change never lands, and the engine records, per client, whether its cache would survive the
change landing at each moment. Until the decisive change the probe *is* the run with any setting (common
random numbers), so the orphans had the setting been x are: the clients the probe orphaned before the change
lands at T(x), plus the live ones that would not survive it at T(x). No heuristic, and the same answer as
re-running at x (tests/analysis/test_planning.py checks that, client by client, on two sites too).

The curve is kept on the axis' resolution (0.01 day, 0.05 hour): small whatever the fleet, exact at every
multiple of the resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.engines.outcome import EngineOutput
from sim.experiments.simulate import Prepared, probe
from sim.runbooks import Landing, template_for
from sim.scenario.runbook import Step


def probe_steps(run: Prepared) -> tuple[list[Step], Step] | None:
    """(steps of the runbook with its setting beyond the horizon, the decisive step), or None: no axis."""
    tpl = template_for(run.sc.runbook)
    if tpl.axis is None:
        return None
    managers = [m.name for m in run.sc.managers]
    steps = template_for(tpl.probe(run.horizon / 24.0)).expand(managers)
    name = tpl.decisive_step(managers)
    decisive = next(s for s in steps if s.name == name)
    return steps, decisive


@dataclass
class OrphanCurve:
    """Orphans of one replication had its setting been x, as a step function on a lattice of the axis.

    ``counts[k]``: the orphans had the setting been ``k * resolution``, for lattice points at or above the
    ``floor`` (settings up to the floor all land the decisive change at the floor's moment: ``at_floor`` is the
    count there); the last point is the horizon. ``never``: live clients the probe never saw survive the change
    by the horizon (orphaned in it, or never safe), which no setting within the horizon saves."""

    resolution: float
    counts: np.ndarray  # int32
    floor: float
    at_floor: int
    never: int

    def _valid(self, k: np.ndarray) -> np.ndarray:
        return k * self.resolution >= self.floor - 1e-12

    def at(self, x: np.ndarray | float) -> np.ndarray:
        """Orphans had the setting been x: at the lattice point at or below x; between the floor and the first
        lattice point above it, the floor's count (the nearest moment at or before x's)."""
        xa = np.asarray(x, float)
        k = np.clip(np.floor(xa / self.resolution + 1e-9).astype(np.int64), 0, len(self.counts) - 1)
        on = self._valid(k) & (xa > self.floor + 1e-12)
        return np.where(on, self.counts[k], self.at_floor).astype(float)

    def smallest_meeting(self, allowed: float) -> float:
        """The smallest setting from which on every longer one has at most ``allowed`` orphans (-inf: any
        setting; inf: none within the horizon)."""
        k = np.arange(len(self.counts))
        over = np.flatnonzero(self._valid(k) & (self.counts > allowed))
        if len(over) and over[-1] == len(self.counts) - 1:
            return np.inf
        if len(over):
            return round(float((over[-1] + 1) * self.resolution), 6)
        if self.at_floor > allowed:  # only the floor itself fails: the first lattice point above it
            first = max(int(np.floor(self.floor / self.resolution + 1e-9)) + 1, 0)
            return round(float(first * self.resolution), 6)
        return -np.inf


def orphan_curve(
    out: EngineOutput, gone: np.ndarray, landing: Landing, resolution: float, horizon: float
) -> OrphanCurve:
    """The step function from the probe's per-client survival log (engine output) and its orphans.

    A client counts as an orphan for a decisive change landing at T when the probe orphaned it by T, or it is
    alive and would not survive a change at T. A change of the world at t (and an orphaning) meets a decisive
    change at the same T = t (changes at one moment count as one); a check-in at t comes after it, so counts
    only for T > t. On the lattice of settings ``k * resolution`` an event counts from the first k whose
    landing ``T(k * resolution)`` is at or after (respectively after) it."""
    assert out.survives_at_start is not None and out.survival_changes is not None
    n_k = int(math.floor(landing.setting(horizon) / resolution + 1e-9)) + 2
    live = ~gone
    orph_t = np.where(live, out.orphaned_at, np.nan)
    cl, ts, vs, at_change = out.survival_changes
    keep = live[cl] & ~(ts >= orph_t[cl])  # a client's survival no longer counts once the probe orphaned it
    cl, ts, vs, at_change = cl[keep], ts[keep], vs[keep], at_change[keep]
    # each live client's indicator: 1 - survives, and 1 from its orphaning on (a jump from its value just before)
    start = int((live & ~out.survives_at_start).sum())
    oc = np.flatnonzero(np.isfinite(orph_t))
    before = out.survives_at_start[oc].astype(bool)
    if len(cl) and len(oc):
        order = np.lexsort((ts, cl))
        c_sorted, v_sorted = cl[order], vs[order]
        pos = np.searchsorted(c_sorted, oc, side="right") - 1
        hit = (pos >= 0) & (c_sorted[np.maximum(pos, 0)] == oc)
        before = np.where(hit, v_sorted[np.maximum(pos, 0)], before)
    t_all = np.concatenate([ts, orph_t[oc]])
    v_all = np.concatenate([np.where(vs, -1, 1), before.astype(np.int64)])
    inclusive = np.concatenate([at_change, np.ones(len(oc), bool)])
    x = landing.setting(t_all) / resolution
    k = np.where(inclusive, np.ceil(x - 1e-9), np.floor(x + 1e-9) + 1).astype(np.int64)
    k = np.clip(k, 0, n_k - 1)
    steps = np.bincount(k, weights=v_all, minlength=n_k).astype(np.int64)
    counts = (start + np.cumsum(steps)).astype(np.int32)
    t_floor = landing.floor + landing.offset
    by_floor = np.where(inclusive, t_all <= t_floor + 1e-9, t_all < t_floor - 1e-9)
    at_floor = start + int(v_all[by_floor].sum())
    floor = float(landing.setting(t_floor))
    if np.isfinite(landing.ceiling):
        # a gate: every setting whose cap ends after the gate opened lands the change when the gate opened; the
        # check-ins of that moment come before it when nothing is between (the gate is read after them)
        t_gate = landing.ceiling + landing.offset
        before = np.where(inclusive | (landing.offset == 0), t_all <= t_gate + 1e-9, t_all < t_gate - 1e-9)
        at_gate = start + int(v_all[before].sum())
        lattice = np.arange(n_k) * resolution
        gated = np.maximum(landing.anchor + landing.scale * lattice, landing.floor) >= landing.ceiling - 1e-9
        counts[gated] = at_gate
        if landing.floor >= landing.ceiling - 1e-9:
            at_floor = at_gate
    return OrphanCurve(resolution, counts, floor, at_floor, int(counts[-1]))


def saving_settings(out: EngineOutput, landing: Landing, resolution: float) -> np.ndarray:
    """Per client, the shortest setting on the axis' lattice from which on it is saved (no orphan): the
    setting whose decisive change lands after its last change to a surviving cache (-inf: any setting; inf:
    none within the horizon, because the probe orphaned it or it never survives the change).

    The same rule as ``orphan_curve``, client by client: a change of the world at t meets a decisive change
    at T = t, a check-in at t counts only for T > t; settings up to the floor act as the floor."""
    assert out.survives_at_start is not None and out.survival_changes is not None
    n = len(out.survives_at_start)
    cl, ts, vs, at_change = out.survival_changes
    last = np.full(n, -1, np.int64)
    if len(cl):
        order = np.lexsort((ts, cl))  # per client in time order: the last one is its final state
        tail = order[np.flatnonzero(np.r_[cl[order][1:] != cl[order][:-1], True])]
        last[cl[tail]] = tail
    has = last >= 0
    if not len(cl):  # no client's survival changed during the run: every one keeps its state at the start
        survives = np.asarray(out.survives_at_start, bool)
        return np.where(survives & ~np.isfinite(out.orphaned_at), -np.inf, np.inf)
    survives = np.where(has, vs[np.maximum(last, 0)], out.survives_at_start).astype(bool)
    x = np.where(has, landing.setting(ts[np.maximum(last, 0)]), -np.inf) / resolution
    k = np.where(at_change[np.maximum(last, 0)], np.ceil(x - 1e-9), np.floor(x + 1e-9) + 1)
    setting = np.round(k * resolution, 6)
    floor = float(landing.setting(landing.floor + landing.offset))
    setting = np.where(~has | (setting <= floor + 1e-12), -np.inf, setting)
    return np.where(survives & ~np.isfinite(out.orphaned_at), setting, np.inf)


def gate_opens(seen_since: np.ndarray, share: float, opens_no_earlier: float) -> float:
    """When a gate on every client opens: the k-th first check-in since its anchor, k = ceil(share x clients)
    (decommissioned clients count in the total: the console cannot tell them from absent ones), and not before
    the gated wait begins; inf if it never opens within the horizon."""
    n = len(seen_since)
    k = max(1, math.ceil(share * n - 1e-9))
    t = float(np.partition(seen_since, k - 1)[k - 1]) if n >= k else math.inf
    return max(t, opens_no_earlier)


__all__ = ["OrphanCurve", "gate_opens", "orphan_curve", "probe", "probe_steps", "saving_settings"]
