"""The tracking report (``rotasim track``): track.html and track.md with the adoption curve observed so far
and forecast ahead, the orphans against the date of the retained manager's change, the worklist; and the
output folder, written atomically. Built from the tables of ``sim.tracking`` only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from sim.analysis.verdict import Threshold
from sim.experiments.options import Engine
from sim.io import csv_bytes, dumps, write_outputs
from sim.presentation.document import Bullets, Document, Fig, Para, Section, Table
from sim.presentation.figures import THRESHOLD_COLOUR, colour, figure, style, to_png
from sim.presentation.html import render_html
from sim.presentation.markdown import render_markdown
from sim.scenario.document import Scenario
from sim.tracking.backtest import backtest, describe
from sim.tracking.forecast import Forecast, adoption
from sim.tracking.observed import ExportSpec
from sim.tracking.summary import OUTPUTS, track_files
from sim.tracking.worklist import adoption_curve, orphans_by_date

REPORT_FILES = ("track.html", "track.md", "adoption.png", "orphans-by-date.png")


def adoption_figure(curve: pd.DataFrame, now_day: float, title: str) -> Figure:
    """Share holding the final certificates: observed at each export (points), forecast (line, 5-95% band)."""
    fig = figure(7.5, 3.6)
    ax = fig.add_subplot()
    style(ax)
    fc = curve[curve["kind"] == "forecast"]
    ob = curve[(curve["kind"] == "observed") & (curve["holds"] == "in-force")]
    obf = curve[(curve["kind"] == "observed") & (curve["holds"] == "final")]
    ax.fill_between(
        fc["hours"] / 24, fc["share_p05"], fc["share_p95"], color=colour(0), alpha=0.2, label="forecast 5-95%"
    )
    ax.plot(fc["hours"] / 24, fc["share"], color=colour(0), label="final certificates: forecast (mean)")
    ax.plot(obf["hours"] / 24, obf["share"], "s", color=colour(0), label="final certificates: observed")
    ax.plot(ob["hours"] / 24, ob["share"], "o", color=colour(1), label="new certificates in force: observed")
    ax.axvline(now_day, color=THRESHOLD_COLOUR, linestyle=":", linewidth=1, label="now")
    ax.set_xlabel("days since the runbook's start")
    ax.set_ylabel("share of clients")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def orphans_date_figure(table: pd.DataFrame, threshold: float | None, planned_day: float | None, title: str) -> Figure:
    """Orphans had the retained manager changed on each date: mean and 5-95% of the replications."""
    fig = figure(7.5, 3.6)
    ax = fig.add_subplot()
    style(ax)
    ax.fill_between(
        table["day"], table["orphans_p05"], table["orphans_p95"], color=colour(2), alpha=0.25, label="5-95%"
    )
    ax.plot(table["day"], table["orphans_mean"], color=colour(2), label="mean")
    if threshold is not None:
        ax.axhline(threshold, color=THRESHOLD_COLOUR, linestyle="--", linewidth=1, label="threshold")
    if planned_day is not None:
        ax.axvline(planned_day, color=colour(3), linestyle="-.", linewidth=1, label="planned change")
    ax.set_xlabel("day of the change (days since the runbook's start)")
    ax.set_ylabel("orphans")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper right")
    return fig


def track_document(
    fc: Forecast, rec: dict[str, Any], lines: list[str], risk: pd.DataFrame, figures: dict[str, tuple[bytes, str, str]]
) -> Document:
    """The report's sections: where the rotation stands, adoption, when the retained manager may change,
    the worklist, time away, the steps done."""
    tr = fc.tracked
    cal = tr.log.calendar
    ad = adoption(tr.obs, tr)
    share_cols = [c for c in ad.columns if c.startswith("holds new ")]
    sections = [
        Section(
            "Where the rotation stands",
            "now",
            [Bullets(lines[:2]), Table(ad, "Share holding each new certificate now", {c: "pct" for c in share_cols})],
        ),
        Section(
            "Adoption observed and forecast",
            "adoption",
            [Fig("adoption", "Observed at each export, forecast from now")],
        ),
    ]
    if fc.curves:
        by_date = orphans_by_date(fc)
        daily = by_date.iloc[::4].reset_index(drop=True)
        sections.append(
            Section(
                "When may the retained manager change",
                "when",
                [
                    Para(_line(lines, "Change"), strong=True),
                    Para(_line(lines, "Earliest")),
                    Fig("orphans_by_date", "Orphans had the retained manager changed on each date"),
                    Table(
                        daily[
                            ["date", "day", "orphans_mean", "orphans_p05", "orphans_p95", "chance_exceeding", "verdict"]
                        ],
                        "Daily (every date in orphans-by-date.csv)",
                        {"orphans_mean": "n1", "chance_exceeding": "pct"},
                    ),  # fmt: skip
                ],
            )
        )
    sections.append(
        Section(
            "Worklist",
            "worklist",
            [
                Para(_line(lines, "Worklist")),
                Table(
                    risk.head(25),
                    "The 25 most at risk (all in at-risk-clients.csv)",
                    {"chance_back_before_planned_change": "pct", "chance_orphaned_if_plan_kept": "pct"},
                ),
            ],  # fmt: skip
        )
    )
    if "time_away" in rec:
        sections.append(Section("Time away learnt from the rotation", "time-away", [Para(_line(lines, "Time away"))]))
    steps = pd.DataFrame(rec["steps_done"]) if rec["steps_done"] else pd.DataFrame({"step": [], "date": []})
    sections.append(
        Section(
            "Steps done", "steps", [Table(steps[["step", "date"]] if len(steps) else steps, "From the rotation log")]
        )
    )
    return Document(
        title=f"Tracking {tr.sc.name}",
        subtitle=f"at {cal.date(tr.now)} from {len(tr.obs.exports)} export(s), {fc.replications} replications",
        badge=rec["verdict"],
        headline=_line(lines, "Change") or _line(lines, "The rest"),
        sections=sections,
        figures=figures,
    )


def _line(lines: list[str], start: str) -> str:
    return next((ln for ln in lines if ln.startswith(start)), "")


def write_track(fc: Forecast, out: Path) -> tuple[dict[str, Any], list[str]]:
    """The output folder: the tables and record of ``sim.tracking.summary`` plus track.html, track.md and the
    figures; written atomically, track.json last."""
    files, rec, lines, risk = track_files(fc)
    tr = fc.tracked
    thr = None if fc.threshold.is_rate else fc.threshold.value
    figs: dict[str, tuple[bytes, str, str]] = {
        "adoption": (
            to_png(
                adoption_figure(adoption_curve(fc), tr.now / 24, "Adoption: observed at the exports, forecast from now")
            ),
            "adoption.png",
            "adoption curve",
        ),
    }
    if fc.curves:
        planned = None if fc.planned_change_at is None else fc.planned_change_at / 24
        fig = orphans_date_figure(orphans_by_date(fc), thr, planned, f"Orphans if {tr.decisive} is made on that day")
        figs["orphans_by_date"] = (to_png(fig), "orphans-by-date.png", "orphans against the date of the change")
    doc = track_document(fc, rec, lines, risk, figs)
    files["track.html"] = render_html(doc).encode("utf-8")
    files["track.md"] = render_markdown(doc).encode("utf-8")
    for png, name, _ in figs.values():
        files[name] = png
    write_outputs(out, files, last=("track.json",), owned=OUTPUTS + REPORT_FILES)
    return rec, lines


BACKTEST_FILES = ("backtest.csv", "backtest.json", "backtest.md", "backtest.html", "summary.txt")


def write_backtest(
    sc: Scenario,
    log: Path,
    specs: list[ExportSpec],
    threshold: Threshold,
    out: Path,
    *,
    seed: int | None = None,
    replications: int = 20,
    engine: Engine = "fast",
) -> list[str]:
    """``rotasim track --backtest``: the scores table (CSV, JSON, Markdown, HTML) and the summary lines."""
    table = backtest(sc, log, specs, threshold, seed=seed, replications=replications, engine=engine)
    lines = describe(table, str(table.attrs.get("end_date", "")))
    doc = Document(
        title=f"Backtest of {sc.name}",
        subtitle=f"{len(table)} forecast date(s), {replications} replications each",
        badge=None,
        headline=lines[-1].strip(),
        sections=[
            Section(
                "Scores",
                "scores",
                [Bullets([ln.strip() for ln in lines[1:-1]]), Table(table, "Forecast against what happened")],
            ),
            Section(
                "What is scored",
                "what",
                [
                    Para(
                        "Without the final certificates at the end: clients that at the last export do not hold every "
                        "final certificate (orphans, those still away, the decommissioned). Returns: clients silent "
                        "at the forecast date seen checking in by the last export (an orphan never is)."
                    )
                ],
            ),
        ],
        figures={},
    )
    files = {
        "backtest.csv": csv_bytes(table),
        "backtest.json": (dumps({"scenario": sc.name, "rows": table, "summary": lines}) + "\n").encode("utf-8"),
        "backtest.md": render_markdown(doc).encode("utf-8"),
        "backtest.html": render_html(doc).encode("utf-8"),
        "summary.txt": ("\n".join(lines) + "\n").encode("utf-8"),
    }
    write_outputs(out, files, last=("backtest.json",), owned=BACKTEST_FILES)
    return lines
