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
from dataclasses import dataclass, replace

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


@dataclass(frozen=True)
class GatePoint:
    """Where a gate at ``share`` opens on one replication's axis: a few numbers per share, so that one probe
    plans many shares (the first check-in since the anchor does not depend on the share).

    ``opens``: the setting (days or hours since the anchor) whose cap ends when the gate opens (inf: it never
    opens within the horizon); ``first``: the first lattice point whose cap ends at or after that (the
    curve's length: none); ``orphans``: the orphans of the change landing when the gate opens; ``at_floor``:
    the gate opens by the floor, so the floor's count is the gate's."""

    share: float
    opens: float
    first: int
    orphans: int
    at_floor: bool


@dataclass
class OrphanCurve:
    """Orphans of one replication had its setting been x, as a step function on a lattice of the axis.

    ``counts[k]``: the orphans had the setting been ``k * resolution``, for lattice points at or above the
    ``floor`` (settings up to the floor all land the decisive change at the floor's moment: ``at_floor`` is the
    count there); the last point is the horizon. ``base`` holds the counts without a gate; with ``gate``, every
    cap from ``gate.first`` on gives the gate's orphans (``gated`` puts another share's gate on the same base,
    sharing its array). ``never``: live clients the probe never saw survive the change by the horizon
    (orphaned in it, or never safe), which no setting within the horizon saves."""

    resolution: float
    base: np.ndarray  # int32
    floor: float
    base_at_floor: int
    gate: GatePoint | None = None

    @property
    def counts(self) -> np.ndarray:
        if self.gate is None or self.gate.first >= len(self.base):
            return self.base
        out = self.base.copy()
        out[self.gate.first :] = self.gate.orphans
        return out

    @property
    def at_floor(self) -> int:
        return self.gate.orphans if self.gate is not None and self.gate.at_floor else self.base_at_floor

    @property
    def never(self) -> int:
        return int(self.counts[-1])

    def gated(self, gate: GatePoint | None) -> OrphanCurve:
        """The same replication's curve under another gate (None: a fixed setting)."""
        return replace(self, gate=gate)

    def in_service(self, x: np.ndarray | float) -> np.ndarray:
        """The setting in effect at cap x: the gate's moment when it opens first, never below the floor (days
        the old certificate stays in service, hours the single-server wait lasts)."""
        opens = np.inf if self.gate is None else self.gate.opens
        return np.maximum(np.minimum(np.asarray(x, float), opens), self.floor)

    def _valid(self, k: np.ndarray) -> np.ndarray:
        return k * self.resolution >= self.floor - 1e-12

    def at(self, x: np.ndarray | float) -> np.ndarray:
        """Orphans had the setting been x: at the lattice point at or below x; between the floor and the first
        lattice point above it, the floor's count (the nearest moment at or before x's)."""
        counts = self.counts
        xa = np.asarray(x, float)
        k = np.clip(np.floor(xa / self.resolution + 1e-9).astype(np.int64), 0, len(counts) - 1)
        on = self._valid(k) & (xa > self.floor + 1e-12)
        return np.where(on, counts[k], self.at_floor).astype(float)

    def smallest_meeting(self, allowed: float) -> float:
        """The smallest setting from which on every longer one has at most ``allowed`` orphans (-inf: any
        setting; inf: none within the horizon)."""
        counts = self.counts
        k = np.arange(len(counts))
        over = np.flatnonzero(self._valid(k) & (counts > allowed))
        if len(over) and over[-1] == len(counts) - 1:
            return np.inf
        if len(over):
            return round(float((over[-1] + 1) * self.resolution), 6)
        if self.at_floor > allowed:  # only the floor itself fails: the first lattice point above it
            first = max(int(np.floor(self.floor / self.resolution + 1e-9)) + 1, 0)
            return round(float(first * self.resolution), 6)
        return -np.inf


@dataclass
class _Events:
    """The probe's per-client survival log as signed steps of the orphan count: ``value`` at time ``t``,
    ``inclusive`` when it meets a decisive change at the same moment (a change of the world, an orphaning)
    rather than only a later one (a check-in); ``start``: the count before any of them."""

    start: int
    t: np.ndarray
    value: np.ndarray
    inclusive: np.ndarray

    def by(self, t: float, check_ins_first: bool) -> int:
        """The count of a decisive change landing at ``t``; ``check_ins_first``: that moment's check-ins come
        before it (a gate read after them, with no hands-on time between)."""
        before = np.where(self.inclusive | check_ins_first, self.t <= t + 1e-9, self.t < t - 1e-9)
        return self.start + int(self.value[before].sum())


def _events(out: EngineOutput, gone: np.ndarray) -> _Events:
    """Each live client's indicator as steps: 1 - survives, and 1 from its orphaning on (a jump from its value
    just before); a client's survival no longer counts once the probe orphaned it."""
    assert out.survives_at_start is not None and out.survival_changes is not None
    live = ~gone
    orph_t = np.where(live, out.orphaned_at, np.nan)
    cl, ts, vs, at_change = out.survival_changes
    keep = live[cl] & ~(ts >= orph_t[cl])
    cl, ts, vs, at_change = cl[keep], ts[keep], vs[keep], at_change[keep]
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
    return _Events(start, t_all, v_all, inclusive)


def orphan_curve(
    out: EngineOutput,
    gone: np.ndarray,
    landing: Landing,
    resolution: float,
    horizon: float,
    gates: dict[float, float] | None = None,
) -> tuple[OrphanCurve, list[GatePoint]]:
    """The step function from the probe's per-client survival log (engine output) and its orphans, with the
    gate of ``landing.ceiling`` (if finite) on it; and for each share of ``gates`` (share -> the moment its gate
    opens) where that gate lands on the same curve.

    A client counts as an orphan for a decisive change landing at T when the probe orphaned it by T, or it is
    alive and would not survive a change at T. A change of the world at t (and an orphaning) meets a decisive
    change at the same T = t (changes at one moment count as one); a check-in at t comes after it, so counts
    only for T > t. On the lattice of settings ``k * resolution`` an event counts from the first k whose
    landing ``T(k * resolution)`` is at or after (respectively after) it."""
    ev = _events(out, gone)
    n_k = int(math.floor(landing.setting(horizon) / resolution + 1e-9)) + 2
    x = landing.setting(ev.t) / resolution
    k = np.where(ev.inclusive, np.ceil(x - 1e-9), np.floor(x + 1e-9) + 1).astype(np.int64)
    k = np.clip(k, 0, n_k - 1)
    steps = np.bincount(k, weights=ev.value, minlength=n_k).astype(np.int64)
    counts = (ev.start + np.cumsum(steps)).astype(np.int32)
    t_floor = landing.floor + landing.offset
    at_floor = ev.start + int(ev.value[np.where(ev.inclusive, ev.t <= t_floor + 1e-9, ev.t < t_floor - 1e-9)].sum())
    base = OrphanCurve(resolution, counts, float(landing.setting(t_floor)), at_floor)
    points = [gate_point(ev, landing, share, t, n_k, resolution) for share, t in (gates or {}).items()]
    if not np.isfinite(landing.ceiling):
        return base, points
    return base.gated(gate_point(ev, landing, math.nan, landing.ceiling, n_k, resolution)), points


def gate_point(ev: _Events, landing: Landing, share: float, t_gate: float, n_k: int, resolution: float) -> GatePoint:
    """Where a gate opening at ``t_gate`` (hours) lands on the curve: every setting whose cap ends after the
    gate opened lands the change when the gate opened; the check-ins of that moment come before it when nothing
    is between (the gate is read after them)."""
    if not np.isfinite(t_gate):
        return GatePoint(share, math.inf, n_k, 0, False)
    lattice = np.arange(n_k) * resolution
    gated = np.maximum(landing.anchor + landing.scale * lattice, landing.floor) >= t_gate - 1e-9
    first = int(np.argmax(gated)) if gated.any() else n_k
    opens = float((max(t_gate, landing.floor) - landing.anchor) / landing.scale)
    at_gate = ev.by(t_gate + landing.offset, bool(landing.offset == 0))
    return GatePoint(share, opens, first, at_gate, bool(landing.floor >= t_gate - 1e-9))


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


__all__ = [
    "GatePoint",
    "OrphanCurve",
    "gate_opens",
    "gate_point",
    "orphan_curve",
    "probe",
    "probe_steps",
    "saving_settings",
]
