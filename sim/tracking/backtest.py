"""Backtest: what the forecast would have said at each export of a finished rotation, scored against what
the last export shows happened (docs/model.md, "Tracking a rotation").

At each export but the last, the log is cut to the steps done by then and the forecast is run from that
export alone (as ``rotasim track`` would have run that day). Two things are scored, each per client of that
export, against the last export:

- **without the final certificates at the end**: the clients that at the last export's moment do not hold
  every final certificate (orphans, those still away, the decommissioned; what a console shows as not yet
  updated); forecast: per replication, those whose final certificates came later or never;
- **returns**: of the clients silent at that export, those whose last check-in at the last export is after
  it; forecast: per replication, those whose drawn return falls before the last export and that are not
  orphaned (an orphan's check-ins fail: the console never sees it back).

Each is reported with the forecast's mean and 5-95% range over the replications and whether the observed
count lies in it: how far to trust the next forecast.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.verdict import Threshold
from sim.experiments.options import Engine
from sim.model.topology import compile_topology
from sim.runbooks import expand_runbook
from sim.scenario.document import Scenario
from sim.tracking.forecast import forecast, tracked_from
from sim.tracking.log import read_log
from sim.tracking.observed import ExportSpec, read_exports
from sim.tracking.start import silent_clients


def backtest(
    sc: Scenario,
    log_path: Path,
    specs: list[ExportSpec],
    threshold: Threshold,
    *,
    seed: int | None = None,
    replications: int = 20,
    engine: Engine = "fast",
) -> pd.DataFrame:
    """One row per export but the last: forecast against what the last export shows."""
    from sim.errors import InputError

    topo = compile_topology(sc)
    planned = expand_runbook(sc)
    log = read_log(log_path, sc, planned)
    exports = read_exports(specs, log, topo, after_log=False)
    if len(exports) < 2:
        raise InputError("--export", "", "--backtest needs two exports or more (the last one is the outcome)")
    final = tracked_from(sc, topo, planned, log, exports)
    t_end = final.now
    final_ids = {str(c).casefold(): i for i, c in enumerate(final.obs.client_id)}
    keep = [m for m in range(topo.n_managers) if not final.history.world.final_retired[m]]
    goal = final.history.world.final_cert
    has_final = np.all(final.obs.cert[:, keep] >= goal[keep], axis=1)
    cal = log.calendar
    rows = []
    for i, e in enumerate(exports[:-1]):
        cut = replace(log, done=[d for d in log.done if d.done_at <= e.at + 1e-9])
        tr = tracked_from(sc, topo, planned, cut, exports[: i + 1])
        fc = forecast(tr, threshold, seed=seed, replications=replications, max_replications=replications, engine=engine)
        idx = np.array([final_ids[str(c).casefold()] for c in tr.obs.client_id])
        observed_missing = int((~has_final[idx]).sum())
        predicted_missing = (~(fc.new_cert_at <= t_end)).sum(axis=1)
        silent = silent_clients(sc, tr.obs)
        came_back = final.obs.last_checkin[idx] > e.at + 1e-9
        observed_returns = int((silent & came_back).sum())
        # seen back in the console: returned by the end and not orphaned (an orphan's check-ins fail); one
        # drawn in a gap of its weekly pattern (no drawn return) is back within days
        back = (np.isnan(fc.returns_at) | (fc.returns_at <= t_end)) & ~fc.orphaned
        predicted_returns = (back & silent[None, :]).sum(axis=1)
        rows.append(
            {
                "date": cal.iso(e.at),
                "day": round(e.at / 24.0, 3),
                "steps_done": len(cut.done),
                "clients": tr.obs.n,
                **_score("without_final", predicted_missing, observed_missing),
                "silent": int(silent.sum()),
                **_score("returns", predicted_returns, observed_returns),
                "replications": fc.replications,
            }
        )
    table = pd.DataFrame(rows)
    table.attrs["end_date"] = cal.date(t_end)
    return table


def _score(name: str, predicted: np.ndarray, observed: int) -> dict[str, float | int | bool]:
    lo, hi = np.quantile(predicted, [0.05, 0.95])
    return {
        f"{name}_forecast_mean": float(predicted.mean()),
        f"{name}_forecast_p05": float(lo),
        f"{name}_forecast_p95": float(hi),
        f"{name}_observed": observed,
        f"{name}_within": bool(lo <= observed <= hi),
    }


def describe(table: pd.DataFrame, end_date: str) -> list[str]:
    """Lines for the summary: per export date, forecast against what happened."""
    out = [f"Backtest against the last export ({end_date}): forecast at each earlier export, scored"]
    for r in table.to_dict(orient="records"):
        out.append(
            f"  {r['date']}: without the final certificates at the end forecast {r['without_final_forecast_mean']:.1f} "
            f"({r['without_final_forecast_p05']:.0f}-{r['without_final_forecast_p95']:.0f}), observed "
            f"{r['without_final_observed']}{'' if r['without_final_within'] else ' (outside)'}; returns of "
            f"{r['silent']} silent forecast {r['returns_forecast_mean']:.1f} "
            f"({r['returns_forecast_p05']:.0f}-{r['returns_forecast_p95']:.0f}), observed {r['returns_observed']}"
            f"{'' if r['returns_within'] else ' (outside)'}"
        )
    n = len(table)
    hits = int(table["without_final_within"].sum() + table["returns_within"].sum()) if n else 0
    out.append(f"  {hits} of {2 * n} scores within the forecast's 5-95% range")
    return out
