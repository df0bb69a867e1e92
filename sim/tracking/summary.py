"""The short text a planner reads first (``summary.txt`` and the command's output), and the output folder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from sim.analysis.format import pct
from sim.analysis.verdict import EXIT_CODES as VERDICT_EXIT_CODES
from sim.io import csv_bytes, dumps
from sim.tracking.forecast import Forecast, adoption
from sim.tracking.survival import absences, away_threshold_hours, compare_fits, describe
from sim.tracking.worklist import adoption_curve, at_risk, needs_repair, orphans_by_date, record

EXIT_CODES = VERDICT_EXIT_CODES  # rotasim track exits as report does: 0 GO, 3 INCONCLUSIVE, 4 NO-GO (2: bad input)

OUTPUTS = (
    "track.json",
    "at-risk-clients.csv",
    "needs-repair.csv",
    "orphans-by-date.csv",
    "adoption.csv",
    "summary.txt",
)


def summary_lines(fc: Forecast, rec: dict[str, Any]) -> list[str]:
    tr = fc.tracked
    cal = tr.log.calendar
    n_done = len(tr.log.done)
    last = tr.log.done[-1] if tr.log.done else None
    lines = [
        f"{tr.sc.name}: tracked at {cal.date(tr.now)} (hour {tr.now:.1f}, day {tr.now / 24:.1f}) from "
        f"{len(tr.obs.exports)} export(s) of {tr.obs.n} clients; {n_done} step(s) done"
        + (f", the last {last.name} at {cal.date(last.done_at)}" if last else ""),
    ]
    ad = adoption(tr.obs, tr)
    overall = ad[ad["by"] == "all"].iloc[0]
    held = [
        f"{c.removeprefix('holds new ')} {pct(float(overall[c]))}" for c in ad.columns if c.startswith("holds new ")
    ]
    lines.append(
        "Adoption now (share holding each new certificate): "
        + (", ".join(held) if held else "no certificate changed yet")
    )
    t = fc.threshold.describe()
    plan = rec["plan_kept"]
    spread = f"5-95% of {fc.replications} replications: {plan['orphans_p05']:.0f}-{plan['orphans_p95']:.0f}"
    if fc.planned_change_at is not None:
        when = cal.date(fc.planned_change_at)
        lines.append(f"Plan kept ({tr.decisive} at {when}): orphans expected {plan['orphans_mean']:.1f} ({spread})")
    else:
        lines.append(f"The rest of the plan: orphans expected {plan['orphans_mean']:.1f} ({spread})")
    now = rec["change_retained_now"]
    lo, hi = now["interval"]
    question = now["question"][0].upper() + now["question"][1:]
    lines.append(
        f"{question}: {now['verdict']}: orphans expected {now['orphans_mean']:.1f}; "
        f"chance of exceeding {t}: {pct(now['chance'])} [{pct(lo)}, {pct(hi)}] over {now['replications']} replications "
        f"(GO below {pct(now['limit'])})"
    )
    if tr.decisive is not None:
        e = rec["earliest_go"]
        lines.append(
            f"Earliest date meeting {t}: "
            + (
                f"{cal.date(e['hours'])} (day {e['hours'] / 24:.1f})"
                if e
                else f"none by {cal.date(tr.horizon)} (the horizon)"
            )
        )
    lines.append(
        f"Worklist: {rec['at_risk_clients']} client(s) at risk (at-risk-clients.csv); "
        f"{rec['needs_repair_if_plan_kept']} will need a Communication Update Package or a new sylink.xml "
        "if the plan is kept (needs-repair.csv)"
    )
    return lines


@dataclass
class Tracking:
    """``sim.track``'s answer: the forecast and the tables ``rotasim track`` writes, and its summary lines."""

    forecast: Forecast
    record: dict[str, Any]  # what track.json holds
    lines: list[str]
    at_risk: pd.DataFrame
    needs_repair: pd.DataFrame

    @property
    def verdict(self) -> str:
        return str(self.record["verdict"])

    @property
    def adoption(self) -> pd.DataFrame:
        return adoption(self.forecast.tracked.obs, self.forecast.tracked)

    @property
    def adoption_curve(self) -> pd.DataFrame:
        return adoption_curve(self.forecast)

    @property
    def orphans_by_date(self) -> pd.DataFrame:
        return orphans_by_date(self.forecast) if self.forecast.curves else pd.DataFrame()

    def __str__(self) -> str:
        return "\n".join(self.lines)


def tracking(fc: Forecast) -> Tracking:
    files, rec, lines, risk = track_files(fc)
    return Tracking(fc, rec, lines, risk, needs_repair(risk))


def track_files(fc: Forecast) -> tuple[dict[str, bytes], dict[str, Any], list[str], pd.DataFrame]:
    """(the output folder's tables and record, the record, the summary lines, the clients at risk)."""
    risk = at_risk(fc)
    repair = needs_repair(risk)
    rec = record(fc, risk, repair)
    lines = summary_lines(fc, rec)
    tr = fc.tracked
    away = None
    if len(tr.obs.exports) >= 2:  # returns between exports: survival data for time away
        spec = tr.sc.fleet.presence
        threshold = away_threshold_hours(spec, float(tr.obs.heartbeat.max()))
        away = compare_fits(absences(tr.obs.exports, tr.log.calendar.start.timestamp(), threshold), spec)
        lines.append(describe(away))
        rec["time_away"] = {k: v for k, v in away.items() if k != "kaplan_meier"}
    rec["summary"] = lines
    files = {
        "at-risk-clients.csv": csv_bytes(risk),
        "needs-repair.csv": csv_bytes(repair),
        "orphans-by-date.csv": csv_bytes(orphans_by_date(fc) if fc.curves else pd.DataFrame()),
        "adoption.csv": csv_bytes(adoption_curve(fc)),
        "summary.txt": ("\n".join(lines) + "\n").encode("utf-8"),
        **({"time-away.csv": csv_bytes(away["kaplan_meier"])} if away is not None else {}),
        "track.json": (dumps(rec) + "\n").encode("utf-8"),
    }
    return files, rec, lines, risk
