"""Plot helpers for notebooks: each takes a result object's tables and returns a matplotlib Figure.

They draw only from the tables (``Result.trust``, ``Result.clients``, ``Replications.curve()`` ...), with the
report's style (titles, units, colour-blind-safe palette), and never show or save anything themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from sim.analysis.tables import trust_markers
from sim.presentation import figures
from sim.runbooks import template_for

if TYPE_CHECKING:
    from sim.analysis.planning import Plan
    from sim.analysis.replications import Replications
    from sim.analysis.sweeps import Sweep
    from sim.experiments.result import Result


def trust(result: Result) -> Figure:
    """Share of returning clients holding the new certificates over time, and beside it the share that has
    checked in since the procedure's window opened; the title names the scenario and the runbook (with its
    setting), so that runs of one scenario under different procedures are told apart."""
    t = result.trust
    cols = ["time_hours", "mean", "low", "high"]
    df = t.assign(mean=t["share_trusting_new"], low=t["share_trusting_new"], high=t["share_trusting_new"])
    cd = t.assign(mean=t["share_contacted"], low=t["share_contacted"], high=t["share_contacted"])
    tpl = template_for(result.scenario.runbook)
    subject = f"{result.scenario.name}: {tpl.describe(tpl.setting(result.steps))} (one run, seed {result.seed})"
    name = result.scenario.name
    return figures.trust_figure(
        {name: df[cols]},
        {name: trust_markers(result.scenario, result.steps, result.horizon_hours)},
        contacted={name: cd[cols]},
        subject=subject,
    )


def orphans(result: Result, by: str = "cause") -> Figure:
    """Orphans of one run by ``cause``, ``group`` or ``version`` (bars)."""
    if by not in ("cause", "group", "version"):
        raise ValueError("by is cause, group or version")
    counts = result.clients.loc[result.clients["outcome"] == "orphaned", by].value_counts().sort_values()
    fig = figures.figure(8, 0.8 + 0.4 * max(len(counts), 1))
    ax = fig.add_subplot()
    figures.style(ax)
    ax.barh([figures.plain(k) for k in counts.index], counts.to_numpy(), color=figures.colour(0))
    ax.set_xlabel("orphaned clients (count)")
    ax.set_title(f"{figures.plain(result.scenario.name)}: orphans by {by} (seed {result.seed})")
    if len(counts) == 0:
        ax.text(0.5, 0.5, "no orphans", transform=ax.transAxes, ha="center", va="center")
    return fig


def timeline(result: Result) -> Figure:
    """The runbook's steps as a timeline."""
    return figures.timeline_figure({result.scenario.name: result.steps})


def load(result: Result) -> Figure:
    """Offered check-ins per manager against capacity (needs ``load.enabled``)."""
    if result.load is None:
        raise ValueError("this run did not model manager load: set load.enabled in the scenario")
    return figures.load_figure(result.load)


def curve(reps: Replications, plan: Plan | None = None) -> Figure:
    """Expected orphans against the retention (days) or wait (hours), with the 95% band."""
    ax = reps.axis()
    name, unit = ax.parameter, ax.unit
    c = plan.curve if plan is not None else reps.curve()
    current = reps.digests[0].setting if reps.digests else None  # the run's own (a wait in heartbeats too)
    spec = figures.CurveSpec(c, name, unit, current=current, recommended=None if plan is None else plan.recommended)
    threshold = None
    if plan is not None:
        threshold = plan.target.get("max_orphans")
    tpl = template_for(reps.scenario.runbook)
    subject = f"{reps.scenario.name}: {tpl.describe(current)} ({len(reps.digests)} replications)"
    return figures.curve_figure({reps.scenario.name: spec}, threshold=threshold, subject=subject)


def sweep(sw: Sweep, x: str | None = None) -> Figure:
    """Mean orphans (95% interval as error bars) against one swept field, one line per other combination."""
    table = sw.table()
    x = x or sw.fields[0]
    if x not in sw.fields:
        raise ValueError(f"{x!r} was not swept; swept: {', '.join(sw.fields)}")
    others = [f for f in sw.fields if f != x]
    fig = figures.figure(9, 4.6)
    ax = fig.add_subplot()
    figures.style(ax)
    groups = table.groupby(others, sort=False) if others else [((), table)]
    for i, (key, g) in enumerate(groups):
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{f}={v}" for f, v in zip(others, key, strict=True)) or "orphans"
        mean = g["orphaned_mean"].to_numpy(float)
        lo = mean - g["orphaned_ci95_low"].to_numpy(float)
        hi = g["orphaned_ci95_high"].to_numpy(float) - mean
        ax.errorbar(
            g[x].to_numpy(), mean, yerr=np.vstack([lo, hi]), marker="o", capsize=3, color=figures.colour(i), label=label
        )
    ax.set_xlabel(x)
    ax.set_ylabel("orphaned clients (mean per rotation)")
    reps = int(table["replications"].iloc[0]) if len(table) else 0
    ax.set_title(
        f"Orphans across the sweep of {x}\n({reps} replications per point; whiskers: 95% interval of the mean)"
    )
    ax.set_ylim(bottom=0)
    figures.legend_below(fig, ax, ncols=2)
    return fig
