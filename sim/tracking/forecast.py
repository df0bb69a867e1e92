"""The forecast from now on: the rest of the runbook replayed from the observed state, with replications.

Each replication draws the conditioned presence (``sim.tracking.start``) and runs the engine from the newest
export's moment; a second run, the planning probe (``sim.experiments.simulate.probe``), keeps the decisive change (the
retained manager's update or retirement) from landing and records when each client's cache would survive it,
so the orphans had that change been made on any date D follow without re-running (``orphans_if``). Risk is
the one definition of ``report`` (``sim.analysis.risk``): the chance that this rotation exceeds the threshold,
estimated from the replications with an exact interval; GO, NO-GO or INCONCLUSIVE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.risk import Risk, assess
from sim.analysis.verdict import CONFIDENCE, Threshold
from sim.engines.outcome import EngineOutput
from sim.errors import warn
from sim.experiments.options import Engine
from sim.experiments.simulate import Prepared, execute, probe, seed_sequences
from sim.model.topology import Topology, compile_topology
from sim.runbooks import expand_runbook, template_for
from sim.scenario.document import Scenario
from sim.scenario.runbook import Step
from sim.tracking.log import RotationLog, read_log
from sim.tracking.observed import Export, ExportSpec, Observed, observe, read_exports
from sim.tracking.plan import ViewHistory, replay_steps, view_history, without
from sim.tracking.start import draw_start

MIN_FORECAST_DAYS = 30.0  # the forecast runs at least this long after now, whatever the scenario's horizon


@dataclass
class ChangeCurve:
    """One replication's orphans had the decisive change landed at any moment T, exactly (no lattice), from
    the planning probe's log: a live client counts when the probe orphaned it by T, or when its cache would
    not survive a change at T. As in ``sim.experiments.probe``: a change of the world at t meets a decisive
    change at the same T = t; a check-in at t comes after it, so it counts only for T > t."""

    live: np.ndarray  # bool per client
    orphaned_at: np.ndarray  # hours, NaN: the probe did not orphan it
    survives_at_start: np.ndarray
    client: np.ndarray  # survival changes, sorted by (client, time)
    time: np.ndarray
    value: np.ndarray
    at_change: np.ndarray

    @classmethod
    def build(cls, out: EngineOutput, gone: np.ndarray) -> ChangeCurve:
        assert out.survives_at_start is not None and out.survival_changes is not None
        c, t, v, w = out.survival_changes
        order = np.lexsort((t, c))
        return cls(~gone, out.orphaned_at, out.survives_at_start, c[order], t[order], v[order], w[order])

    def at(self, T: float) -> int:
        ok = np.where(self.at_change, self.time <= T + 1e-9, self.time < T - 1e-9)
        surv = self.survives_at_start.copy()
        c = self.client[ok]
        if len(c):
            last = np.r_[c[1:] != c[:-1], True]  # the last qualifying change of each client
            surv[c[last]] = self.value[ok][last]
        orphaned = self.orphaned_at <= T + 1e-9
        return int((self.live & (orphaned | ~surv)).sum())


@dataclass
class Tracked:
    """The scenario, the log and the exports put together: what the rest of the forecast starts from."""

    sc: Scenario
    topo: Topology
    log: RotationLog
    obs: Observed
    steps: list[Step]  # the world's steps: done at their times, the rest from now
    history: ViewHistory
    horizon: float  # hours
    decisive: str | None  # the retained manager's final step, when not yet done

    @property
    def now(self) -> float:
        return self.obs.at


def track_inputs(sc: Scenario, log_path: Path, specs: list[ExportSpec]) -> Tracked:
    """Read the log and the exports against the scenario (each refusal one ``InputError``)."""
    topo = compile_topology(sc)
    planned = expand_runbook(sc)
    log = read_log(log_path, sc, planned)
    if sc.load.enabled:
        warn(sc.source, "load.enabled", "rotasim track does not model manager load from an observed start: ignored")
    return tracked_from(sc, topo, planned, log, read_exports(specs, log, topo))


def tracked_from(sc: Scenario, topo: Topology, planned: list[Step], log: RotationLog, exports: list[Export]) -> Tracked:
    """The tracked rotation from a log and exports already read (the backtest cuts both at each export)."""
    now = exports[-1].at
    steps = replay_steps(planned, log, now, topo)
    history = view_history(topo, steps, sc.replication_interval_hours, now)
    obs = observe(exports, log, sc, topo, history)
    horizon = max(sc.horizon_days * 24.0, now + MIN_FORECAST_DAYS * 24.0)
    name = template_for(sc.runbook).decisive_step([m.name for m in sc.managers])
    done = {d.name for d in log.done}
    decisive = name if name is not None and name not in done and any(s.name == name for s in steps) else None
    return Tracked(sc, topo, log, obs, steps, history, horizon, decisive)


@dataclass
class Forecast:
    """Per replication: orphans with the plan kept, and (with a decisive change still to come) the orphans
    had it been made at each date. Per client: how often it ended orphaned, when it returned."""

    tracked: Tracked
    threshold: Threshold
    confidence: float
    planned_change_at: float | None  # hours: when the plan makes the decisive change
    orphans: np.ndarray  # (R,) with the plan kept
    live: np.ndarray  # (R,) clients not gone
    curves: list[ChangeCurve]
    orphaned: np.ndarray  # (R, n) bool
    returns_at: np.ndarray  # (R, n) hours: NaN present now, inf never
    trust: np.ndarray  # (R, len(trust_times)) share holding the final certificates
    trust_times: np.ndarray
    new_cert_at: (
        np.ndarray
    )  # (R, n) hours: since when each client holds the final certificates, NaN: not by the horizon
    causes: list[dict[str, int]] = field(default_factory=list)

    @property
    def replications(self) -> int:
        return len(self.orphans)

    def _limit(self, live: np.ndarray) -> np.ndarray:
        t = self.threshold
        return live * t.value if t.is_rate else np.full(len(live), t.value)

    def orphans_if(self, at_hours: float) -> np.ndarray:
        """(R,) orphans had the decisive change been made at ``at_hours`` (not before now)."""
        if not self.curves:
            return self.orphans.astype(float)
        return np.array([c.at(max(at_hours, self.tracked.now)) for c in self.curves], float)

    def risk_if(self, at_hours: float) -> Risk:
        o = self.orphans_if(at_hours)
        eps = 1e-9 * max(1.0, self.threshold.value)
        return assess(int((o > self._limit(self.live) + eps).sum()), len(o), self.confidence)

    def risk_plan(self) -> Risk:
        eps = 1e-9 * max(1.0, self.threshold.value)
        return assess(int((self.orphans > self._limit(self.live) + eps).sum()), len(self.orphans), self.confidence)

    def dates(self) -> np.ndarray:
        """The curve's dates (hours), from now to the horizon, every 6 hours."""
        tr = self.tracked
        return np.arange(tr.now, tr.horizon + 1e-9, 6.0)

    def earliest_go(self) -> float | None:
        """The earliest date (hours) from which on every later one is GO for the decisive change; None: none
        within the horizon, or no decisive change left."""
        if not self.curves:
            return None
        dates = self.dates()
        go = np.array([self.risk_if(d).verdict == "GO" for d in dates])
        if not go[-1]:
            return None
        bad = np.flatnonzero(~go)
        return float(dates[0] if len(bad) == 0 else dates[bad[-1] + 1])


def forecast(
    tr: Tracked,
    threshold: Threshold,
    *,
    seed: int | None = None,
    replications: int = 20,
    max_replications: int = 160,
    engine: Engine = "fast",
    confidence: float = CONFIDENCE,
) -> Forecast:
    """Replicate from the observed state; doubles the replications while "change the retained manager now" is
    INCONCLUSIVE, up to ``max_replications`` (as ``report``'s sequential sampling)."""
    root = tr.sc.seed if seed is None else int(seed)
    parts: list[_Replication] = []
    n_target = max(1, min(replications, max_replications))
    while True:
        while len(parts) < n_target:
            parts.append(_replicate(tr, root, len(parts), engine))
        fc = _assemble(tr, threshold, confidence, parts)
        if fc.risk_if(tr.now).verdict != "INCONCLUSIVE" or n_target >= max_replications:
            return fc
        n_target = min(2 * n_target, max_replications)


@dataclass
class _Replication:
    """What one replication of the forecast keeps."""

    orphans: int
    live: int
    orphaned: np.ndarray
    returns: np.ndarray
    curve: ChangeCurve | None
    planned: float | None
    trust: np.ndarray
    times: np.ndarray
    new_cert_at: np.ndarray
    causes: dict[str, int]


def _replicate(tr: Tracked, root: int, k: int, engine: Engine) -> _Replication:
    """Replication k: its conditioned fleet, a run from the observed state, and the planning probe."""
    fleet_ss, engine_ss = seed_sequences(root, k)
    start = draw_start(tr.sc, tr.topo, tr.obs, tr.horizon, np.random.default_rng(fleet_ss))
    run = Prepared(tr.sc, tr.topo, tr.steps, start.fleet, engine_ss, tr.horizon, root, k, engine, initial=start.initial)
    res = execute(run).result
    cl = res.clients
    orphaned = (cl["outcome"] == "orphaned").to_numpy()
    gone = start.fleet.presence.gone
    planned = curve = None
    if tr.decisive is not None:
        row = res.steps[res.steps["name"] == tr.decisive]
        planned = float(row["end_hours"].iloc[0]) if len(row) else None
        decisive = next(s for s in tr.steps if s.name == tr.decisive)
        _, out = probe(run, without(tr.steps, tr.decisive), decisive, None)
        curve = ChangeCurve.build(out, gone)
    times = np.linspace(tr.now, tr.horizon, 61)
    nca = cl["new_cert_at_hours"].to_numpy(float)
    live = ~gone
    trust = np.array([(nca[live] <= t).sum() / max(live.sum(), 1) for t in times])
    causes = cl.loc[orphaned, "cause"].value_counts().to_dict()
    return _Replication(
        int(orphaned.sum()),
        int(live.sum()),
        orphaned,
        start.returns_at,
        curve,
        planned,
        trust,
        times,
        nca,
        {str(c): int(v) for c, v in causes.items()},
    )


def _assemble(tr: Tracked, threshold: Threshold, confidence: float, parts: list[_Replication]) -> Forecast:
    return Forecast(
        tracked=tr,
        threshold=threshold,
        confidence=confidence,
        planned_change_at=next((p.planned for p in parts if p.planned is not None), None),
        orphans=np.array([p.orphans for p in parts], np.int64),
        live=np.array([p.live for p in parts], np.int64),
        curves=[p.curve for p in parts if p.curve is not None],
        orphaned=np.stack([p.orphaned for p in parts]),
        returns_at=np.stack([p.returns for p in parts]),
        trust=np.stack([p.trust for p in parts]),
        trust_times=parts[0].times,
        new_cert_at=np.stack([p.new_cert_at for p in parts]),
        causes=[p.causes for p in parts],
    )


def adoption(obs: Observed, tr: Tracked) -> pd.DataFrame:
    """Share of clients holding each new certificate now, overall and by group, site and version."""
    now_cert = tr.history.cert[-1]  # (sites, managers): the newest views
    real = np.array([now_cert[tr.topo.manager_site[m], m] for m in range(tr.topo.n_managers)])
    changed = [m for m in range(tr.topo.n_managers) if real[m] > 0]
    site = np.array(tr.topo.site_names, dtype=object)[tr.topo.manager_site[obs.last_server]]
    dims = {
        "all": np.full(obs.n, "all", dtype=object),
        "group": np.array(tr.topo.group_names, dtype=object)[obs.group],
        "site": site,
        "version": np.asarray(obs.version, dtype=object),
    }
    rows = []
    for dim, values in dims.items():
        for v in sorted({str(x) for x in values}):
            sel = values == v
            row: dict[str, object] = {"by": dim, "value": v, "clients": int(sel.sum())}
            for m in changed:
                row[f"holds new {tr.topo.manager_names[m]}"] = float((obs.cert[sel, m] >= real[m]).mean())
            rows.append(row)
    return pd.DataFrame(rows)
