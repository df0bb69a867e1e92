"""What a team works from during a rotation: the clients at risk, those that will need a repair if the plan is
kept, and the orphans against the date of the retained manager's change, as tables; and the record
``track.json`` is made of.

Spreadsheet safety: the tables are written with ``sim.io.csv_bytes``, which gives a text cell starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return a leading apostrophe (computer names and group paths
come from the console, not from us).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.tracking.forecast import Forecast, adoption


def _median_return(r: np.ndarray) -> float:
    """The median of the drawn returns over the replications (inf: more than half never return; NaN:
    present now in every replication)."""
    v = r[~np.isnan(r)]
    return float(np.median(v)) if len(v) else np.nan


def at_risk(fc: Forecast) -> pd.DataFrame:
    """Clients that do not hold every new certificate live now, or that some replication orphans: who they
    are, when last seen, when expected back, the chance they return before the planned change and the
    chance they end orphaned if the plan is kept."""
    tr = fc.tracked
    obs, topo, cal = tr.obs, tr.topo, tr.log.calendar
    real = _real(fc)
    lists = [set(topo.variants[int(v)].managers) for v in obs.msl]
    behind = np.array([any(obs.cert[i, m] < real[m] for m in lists[i]) for i in range(obs.n)])
    p_orphan = fc.orphaned.mean(axis=0)
    sel = np.flatnonzero(behind | (p_orphan > 0))
    planned = fc.planned_change_at
    rows = []
    for i in sel:
        r = fc.returns_at[:, i]
        silent = not np.all(np.isnan(r))
        med = _median_return(r) if silent else np.nan
        before = float(np.mean(np.where(np.isnan(r), True, r < planned))) if planned is not None else np.nan
        rows.append(
            {
                "computer_name": str(obs.client_id[i]),
                "group": topo.group_names[obs.group[i]],
                "site": topo.site_names[topo.manager_site[obs.last_server[i]]],
                "version": str(obs.version[i]),
                "last_seen": cal.iso(obs.last_checkin[i]),
                "last_seen_hours": round(float(obs.last_checkin[i]), 3),
                "holds_new": ", ".join(
                    topo.manager_names[m] for m in sorted(lists[i]) if real[m] > 0 and obs.cert[i, m] >= real[m]
                ),
                "missing_new": ", ".join(topo.manager_names[m] for m in sorted(lists[i]) if obs.cert[i, m] < real[m]),
                "expected_return": "checks in soon"
                if not silent
                else ("not expected" if med == np.inf else cal.iso(med)),
                "expected_return_hours": med if silent and np.isfinite(med) else np.nan,
                "chance_back_before_planned_change": before,
                "chance_orphaned_if_plan_kept": float(p_orphan[i]),
            }
        )
    cols = [
        "computer_name", "group", "site", "version", "last_seen", "last_seen_hours", "holds_new", "missing_new",
        "expected_return", "expected_return_hours", "chance_back_before_planned_change", "chance_orphaned_if_plan_kept",
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values(["chance_orphaned_if_plan_kept", "computer_name"], ascending=[False, True], kind="stable")


def needs_repair(risk: pd.DataFrame) -> pd.DataFrame:
    """Clients orphaned in most replications if the plan is kept: each will need a Communication Update
    Package or a new sylink.xml (KB 187099) unless it returns before the change."""
    df = risk[risk["chance_orphaned_if_plan_kept"] >= 0.5].copy()
    df["remedy"] = "Communication Update Package or a new sylink.xml"
    return df


def _real(fc: Forecast) -> np.ndarray:
    tr = fc.tracked
    now = tr.history.cert[-1]
    return np.array([now[tr.topo.manager_site[m], m] for m in range(tr.topo.n_managers)])


def orphans_by_date(fc: Forecast) -> pd.DataFrame:
    """Orphans expected had the decisive change been made at each date from now on (mean and the middle 90%
    of the replications) and the verdict at that date, by the report's risk definition."""
    tr = fc.tracked
    rows = []
    for d in fc.dates():
        o = fc.orphans_if(d)
        risk = fc.risk_if(d)
        lo, hi = risk.interval
        rows.append(
            {
                "date": tr.log.calendar.iso(d),
                "hours": round(float(d), 3),
                "day": round(float(d) / 24.0, 3),
                "orphans_mean": float(o.mean()),
                "orphans_p05": float(np.quantile(o, 0.05)),
                "orphans_p95": float(np.quantile(o, 0.95)),
                "chance_exceeding": risk.chance,
                "chance_low": lo,
                "chance_high": hi,
                "verdict": risk.verdict,
            }
        )
    return pd.DataFrame(rows)


def adoption_curve(fc: Forecast) -> pd.DataFrame:
    """Observed at each export: the share holding every new certificate in force then (``in-force``) and the
    final ones (``final``); forecast from now: the share holding the final certificates (mean, 5-95%)."""
    tr = fc.tracked
    cal = tr.log.calendar
    rows: list[dict[str, Any]] = []
    for e in tr.obs.exports:
        in_force, final = _shares(fc, e)
        rows.append({"date": cal.iso(e.at), "hours": e.at, "kind": "observed", "holds": "in-force", "share": in_force})
        rows.append({"date": cal.iso(e.at), "hours": e.at, "kind": "observed", "holds": "final", "share": final})
    for j, t in enumerate(fc.trust_times):
        col = fc.trust[:, j]
        rows.append(
            {
                "date": cal.iso(t),
                "hours": float(t),
                "kind": "forecast",
                "holds": "final",
                "share": float(col.mean()),
                "share_p05": float(np.quantile(col, 0.05)),
                "share_p95": float(np.quantile(col, 0.95)),
            }
        )
    return pd.DataFrame(rows)


def _shares(fc: Forecast, e: Any) -> tuple[float, float]:
    """Shares of an export's clients holding, at their last check-in, every certificate in force at the export
    and every final one (retired managers aside)."""
    tr = fc.tracked
    h, topo = tr.history, tr.topo
    t = (e.inventory.checkin - tr.log.calendar.start.timestamp()) / 3600.0
    k = np.clip(h.at(t), 0, len(h.times) - 1)
    server = np.where(e.server >= 0, e.server, tr.obs.last_server[0])
    cert = h.cert[k, topo.manager_site[server], :]
    at = int(np.clip(h.at(np.array([e.at]))[0], 0, len(h.times) - 1))
    in_force = np.array([h.cert[at, topo.manager_site[m], m] for m in range(topo.n_managers)])
    keep = [m for m in range(topo.n_managers) if not h.world.final_retired[m]]
    final = h.world.final_cert
    holds_in_force = np.all(cert[:, keep] >= in_force[keep], axis=1)
    return float(np.mean(holds_in_force)), float(np.mean(np.all(cert[:, keep] >= final[keep], axis=1)))


def record(fc: Forecast, risk_table: pd.DataFrame, repair: pd.DataFrame) -> dict[str, Any]:
    """Everything ``track.json`` holds."""
    tr = fc.tracked
    cal = tr.log.calendar
    now_risk = fc.risk_if(tr.now) if tr.decisive else fc.risk_plan()
    earliest = fc.earliest_go()
    o = fc.orphans
    return {
        "scenario": tr.sc.name,
        "now": {"date": cal.iso(tr.now), "hours": tr.now, "day": tr.now / 24.0},
        "start_time": cal.start.isoformat(),
        "steps_done": [{"step": d.name, "date": cal.iso(d.done_at), "hours": d.done_at} for d in tr.log.done],
        "decisive_step": tr.decisive,
        "planned_change": None
        if fc.planned_change_at is None
        else {"date": cal.iso(fc.planned_change_at), "hours": fc.planned_change_at},
        "threshold": fc.threshold.to_json(),
        "replications": fc.replications,
        "clients": tr.obs.n,
        "exports": [
            {"file": e.source, "date": cal.iso(e.at), "hours": e.at, "clients": e.inventory.n} for e in tr.obs.exports
        ],
        "adoption_now": adoption(tr.obs, tr),
        "plan_kept": {
            "orphans_mean": float(o.mean()),
            "orphans_p05": float(np.quantile(o, 0.05)),
            "orphans_p95": float(np.quantile(o, 0.95)),
            "risk": fc.risk_plan().to_json(),
        },
        "change_retained_now": {
            "question": f"change the retained manager now ({tr.decisive})" if tr.decisive else "the plan as done",
            "orphans_mean": float(fc.orphans_if(tr.now).mean()),
            **now_risk.to_json(),
        },
        "earliest_go": None if earliest is None else {"date": cal.iso(earliest), "hours": earliest},
        "at_risk_clients": int(len(risk_table)),
        "needs_repair_if_plan_kept": int(len(repair)),
        "verdict": now_risk.verdict,
    }
