"""A run's answer as tidy tables; every summary, JSON object and report is computed from these."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.engines.outcome import EngineOutput
from sim.model.causes import CAUSES, classify
from sim.model.exposure import exposure
from sim.model.fleet import Fleet
from sim.model.load import LoadOutcome, load_summary
from sim.model.topology import Topology
from sim.model.world import World
from sim.runbooks import template_for
from sim.scenario.document import Scenario

CLIENT_COLUMNS = [
    "client_id",
    "group",
    "version",
    "outcome",
    "cause",
    "orphaned_at_hours",
    "new_cert_at_hours",
    "detected_at_hours",
    "first_contact_hours",
    "last_manager",
    "presence",
    "mode",
    "repaired_at_hours",
]


@dataclass
class Result:
    """One replication. ``clients`` has one row per client, ``steps`` one per runbook step, ``events`` one per
    change of the world, ``trust`` one per hour: the share of returning clients holding the new certificates
    and the orphans so far."""

    scenario: Scenario
    seed: int
    replication: int
    engine: str
    horizon_hours: float
    clients: pd.DataFrame
    steps: pd.DataFrame
    events: pd.DataFrame
    trust: pd.DataFrame
    checkins: int
    window_start_hours: float | None = None
    first_update_hours: float | None = None
    load: pd.DataFrame | None = None
    load_info: dict[str, Any] | None = None
    exposure: dict[str, Any] | None = None
    repair_attempts: int = 0  # repairs the runbook's repair steps tried during the run

    # ---- headline numbers

    @property
    def orphaned(self) -> int:
        return int((self.clients["outcome"] == "orphaned").sum())

    @property
    def repaired(self) -> int:
        return int((self.clients["outcome"] == "repaired").sum())

    @property
    def gone(self) -> int:
        return int((self.clients["outcome"] == "gone").sum())

    @property
    def orphaned_by_cause(self) -> dict[str, int]:
        counts = self.clients.loc[self.clients["outcome"] == "orphaned", "cause"].value_counts()
        return {c: int(counts.get(c, 0)) for c in CAUSES if counts.get(c, 0)}

    @property
    def full_trust_at_hours(self) -> float | None:
        """When the last returning client trusted the new certificates; None if some never did in time."""
        # select the column before the rows: a row filter of the whole table copies every column (1 GB at 10^6)
        ok = self.clients.loc[self.clients["outcome"].isin(["ok", "repaired"]).to_numpy(), "new_cert_at_hours"]
        if len(ok) == 0 or ok.isna().any():
            return None
        return float(ok.max())

    def summary(self) -> dict[str, Any]:
        ok = self.clients.loc[self.clients["outcome"].isin(["ok", "repaired"]).to_numpy(), ["new_cert_at_hours"]]
        return {
            "scenario": self.scenario.name,
            "seed": self.seed,
            "replication": self.replication,
            "engine": self.engine,
            "horizon_hours": self.horizon_hours,
            "clients": int(len(self.clients)),
            "orphaned": self.orphaned,
            "orphaned_by_cause": self.orphaned_by_cause,
            "orphaned_by_group": _counts(self.clients, "group"),
            "orphaned_by_version": _counts(self.clients, "version"),
            "gone": self.gone,
            "not_trusting_at_horizon": int(ok["new_cert_at_hours"].isna().sum()),
            "full_trust_at_hours": self.full_trust_at_hours,
            "repaired": self.repaired,
            # hands-on hours: the repairs tried during the run, and those the orphans left still need
            "repair_hours": (self.orphaned + self.repair_attempts) * self.scenario.repair_minutes / 60.0,
            "exposure": self.exposure,
            "window_start_hours": self.window_start_hours,
            "first_update_hours": self.first_update_hours,
            "load": self.load_info,
            "steps": [{k: _clean(v) for k, v in row.items()} for row in self.steps.to_dict(orient="records")],
        }

    def to_json(self) -> dict[str, Any]:
        return self.summary()

    # ---- figures (matplotlib Figures built from the tables above; see sim.plots)

    def plot_trust(self) -> Any:
        from sim.presentation import plots

        return plots.trust(self)

    def plot_orphans(self, by: str = "cause") -> Any:
        from sim.presentation import plots

        return plots.orphans(self, by)

    def plot_timeline(self) -> Any:
        from sim.presentation import plots

        return plots.timeline(self)

    def plot_load(self) -> Any:
        from sim.presentation import plots

        return plots.load(self)


def _counts(df: pd.DataFrame, col: str) -> dict[str, int]:
    c = df.loc[df["outcome"] == "orphaned", col].value_counts().sort_index()
    return {str(k): int(v) for k, v in c.items()}


def _clean(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return None if math.isnan(float(v)) else round(float(v), 6)
    if isinstance(v, np.integer):
        return int(v)
    return v


def build_result(
    sc: Scenario,
    topo: Topology,
    fleet: Fleet,
    world: World,
    out: EngineOutput,
    *,
    seed: int,
    replication: int,
    engine: str,
    horizon: float,
    first_contact: np.ndarray,
    window: tuple[float | None, float | None],
    load: LoadOutcome | None = None,
) -> Result:
    gone = fleet.presence.decommissioned
    repaired_at = out.repaired_at if out.repaired_at is not None else np.full(fleet.n, np.nan)
    repaired = (repaired_at >= out.orphaned_at) & ~gone  # repaired since its (last) orphaning
    orphaned = ~np.isnan(out.orphaned_at) & ~gone & ~repaired
    f = out.facts
    missed = np.zeros(fleet.n, bool)  # orphaned while its group was missed by an all-groups step
    for g, spans in world.missed_intervals().items():
        in_group = fleet.group == g
        for t0, t1 in spans:
            missed |= in_group & (out.orphaned_at >= t0) & (out.orphaned_at < t1)
    at_decisive, decisive_cause = _decisive(sc, world, out.orphaned_at)
    restores = [r.end_hours for r in world.step_records if r.kind == "restore-certificate"]
    at_restore = np.isin(out.orphaned_at, restores) if restores else None
    cause = classify(
        f.unsupported_hit,
        missed,
        f.rescue_ok,
        f.online_in_window,
        f.other_available,
        at_decisive,
        decisive_cause,
        at_restore,
    )
    outcome_code = np.where(gone, 2, np.where(orphaned, 1, np.where(repaired, 3, 0)))
    outcome = np.array(["ok", "orphaned", "gone", "repaired"], dtype=object)[outcome_code]
    named = orphaned | repaired  # a repaired client keeps the cause it was orphaned by
    cause_names = ["", *sorted(set(cause[named]))]
    cause_code = np.zeros(fleet.n, np.int64)
    cause_code[named] = np.searchsorted(np.array(cause_names[1:], dtype=object), cause[named]) + 1
    clients = pd.DataFrame(
        {
            "client_id": _text(fleet.client_id),
            "group": _labels(topo.group_names, fleet.group),
            "version": _labels(fleet.version_names, fleet.version),
            "outcome": _labels(["ok", "orphaned", "gone", "repaired"], outcome_code),
            "cause": _labels(cause_names, cause_code),
            "orphaned_at_hours": np.where(named, out.orphaned_at, np.nan),
            "new_cert_at_hours": np.where((outcome == "ok") | repaired, out.new_cert_at, np.nan),
            "detected_at_hours": np.where(orphaned & (out.detected_at <= horizon), out.detected_at, np.nan),
            "first_contact_hours": np.where(~gone & (first_contact <= horizon), first_contact, np.nan),
            "last_manager": _labels(topo.manager_names, out.last_server),
            "presence": _labels(fleet.presence.pattern_names, fleet.presence.pattern),
            "mode": _labels(["pull", "push"], fleet.push.astype(np.int64)),
            "repaired_at_hours": np.where(repaired, repaired_at, np.nan),
        },
        columns=CLIENT_COLUMNS,
    )
    steps = pd.DataFrame(
        [
            {"name": r.name, "kind": r.kind, "start_hours": r.start_hours, "end_hours": r.end_hours, "detail": r.detail}
            for r in world.step_records
        ],
        columns=["name", "kind", "start_hours", "end_hours", "detail"],
    )
    events = pd.DataFrame(world.events, columns=["time_hours", "event", "site", "target", "detail"])
    return Result(
        scenario=sc,
        seed=seed,
        replication=replication,
        engine=engine,
        horizon_hours=horizon,
        clients=clients,
        steps=steps,
        events=events,
        trust=trust_over_time(clients, horizon),
        checkins=out.checkins,
        window_start_hours=window[0],
        first_update_hours=window[1],
        load=None if load is None else load.table,
        load_info=None if load is None else load_info(load, clients),
        exposure=exposure(world, first_contact, gone, horizon),
        repair_attempts=world.repair_attempts,
    )


_STR = pd.Series(np.array(["x"], dtype=object)).dtype  # the string dtype pandas gives text columns here


def _labels(names: list[str], codes: np.ndarray) -> Any:
    """A text column ``names[codes]``, the very column pandas would make from the strings, built without a
    Python string per row where pandas stores text in Arrow (decoding a dictionary array instead)."""
    if getattr(_STR, "storage", None) != "pyarrow" or len(codes) == 0:
        return np.array(list(names), dtype=object)[codes]
    import pyarrow as pa  # present: pandas stores its strings with it

    codes32 = np.asarray(codes, dtype=np.int32)
    return pd.array(
        pa.DictionaryArray.from_arrays(codes32, pa.array(list(names), pa.string())).dictionary_decode(), dtype=_STR
    )


def _text(values: np.ndarray) -> Any:
    """A text column from a fixed-width unicode array (client ids), as pandas would store it."""
    if getattr(_STR, "storage", None) != "pyarrow" or values.dtype.kind != "U":
        return values
    import pyarrow as pa

    return pd.array(pa.array(values, pa.string()), dtype=_STR)


def _decisive(sc: Scenario, world: World, orphaned_at: np.ndarray) -> tuple[np.ndarray | None, str | None]:
    """Orphans of the change the runbook's setting delays, and the cause a longer setting names for them."""
    tpl = template_for(sc.runbook)
    if tpl.axis is None or tpl.axis.decisive_cause is None:
        return None, None
    name = tpl.decisive_step([m.name for m in sc.managers])
    rec = next((r for r in world.step_records if r.name == name), None)
    if rec is None:
        return None, None
    return np.isclose(orphaned_at, rec.end_hours, rtol=0, atol=1e-9), tpl.axis.decisive_cause


def load_info(load: LoadOutcome, clients: pd.DataFrame) -> dict[str, Any]:
    """Peak load, hours over capacity and failed check-ins per manager, and the delay overload added to
    clients first learning a new certificate (this run against the same run, same random streams, without
    overload)."""
    with_, without = load.learnt_with_overload, load.learnt_without_overload
    both = ~np.isnan(with_) & ~np.isnan(without)
    delay = with_[both] - without[both]
    return {
        "managers": load_summary(load.table, load.bin_hours),
        "sampled": load.sampled,
        "learning_delay_hours": {
            "clients_delayed": int((delay > 1e-9).sum()),
            "mean": float(delay.mean()) if len(delay) else 0.0,
            "p95": float(np.quantile(delay, 0.95)) if len(delay) else 0.0,
            "max": float(delay.max()) if len(delay) else 0.0,
        },
    }


def trust_over_time(clients: pd.DataFrame, horizon: float, step_hours: float = 1.0) -> pd.DataFrame:
    """Per hour, among clients not gone: how many hold the final certificates, how many are orphaned, and how
    many have checked in since the procedure's window opened (``first_contact_hours``): under kb-multi-server
    that is the share the old certificate's retention could end now without orphaning (before the last
    manager changes, nobody holds *every* final certificate, so ``share_trusting_new`` stays at 0 until then)."""
    t = np.arange(0.0, horizon + step_hours / 2, step_hours)
    cols = [
        c
        for c in ("new_cert_at_hours", "orphaned_at_hours", "first_contact_hours", "repaired_at_hours")
        if c in clients
    ]
    live = clients.loc[(clients["outcome"] != "gone").to_numpy(), cols]  # the columns it needs, not the table
    n = max(len(live), 1)
    nc = np.sort(live["new_cert_at_hours"].dropna().to_numpy())
    orph = np.sort(live["orphaned_at_hours"].dropna().to_numpy())
    contact = np.sort(live["first_contact_hours"].dropna().to_numpy())
    trusting = np.searchsorted(nc, t, side="right")
    orphaned = np.searchsorted(orph, t, side="right")
    if "repaired_at_hours" in live:  # a repaired client is an orphan only until its repair
        fixed = np.sort(live["repaired_at_hours"].dropna().to_numpy())
        orphaned = orphaned - np.searchsorted(fixed, t, side="right")
    contacted = np.searchsorted(contact, t, side="right")
    return pd.DataFrame(
        {
            "time_hours": t,
            "trusting_new": trusting,
            "share_trusting_new": trusting / n,
            "orphaned": orphaned,
            "share_orphaned": orphaned / n,
            "contacted": contacted,
            "share_contacted": contacted / n,
        }
    )
