"""Figures of the risk report and the scenario comparison, drawn from result tables only.

Why this shape: every function takes tidy tables (DataFrames and plain numbers that ``sim.analysis`` computed
from ``Result``/``Replications``) and returns a ``matplotlib.figure.Figure``; none runs a simulation, so a
figure can be redrawn from a saved table and tested on a hand-made one. Functions that show one scenario
take a mapping ``label -> table`` so that the comparison draws the very same figure with the scenarios
overlaid.

House rules, checked by the tests: every figure has a title, axis labels with units, and uses the
Okabe-Ito palette (distinguishable with the common colour-vision deficiencies); line styles or hatching
carry the meaning too where colours alone would. Figures are created with ``Figure`` directly, not pyplot:
no global state, no GUI backend, safe in worker threads.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.analysis.format import duration_short
from sim.model.causes import CAUSES

# Okabe & Ito (2008), "Color Universal Design": safe for protanopia, deuteranopia and tritanopia.
OKABE_ITO: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#000000",  # black
    "#F0E442",  # yellow (last: weak contrast on white)
)


T = TypeVar("T")


CAUSE_COLOURS: dict[str, str] = dict(zip(CAUSES, OKABE_ITO[: len(CAUSES)], strict=True))


LINESTYLES: tuple[str, ...] = ("-", "--", "-.", ":")


THRESHOLD_COLOUR = "#000000"  # black dashed: never one of the series colours


TOP_CATEGORIES = 15  # bars per panel; the tables have all of them


DPI = 100


FONT_SIZE = 10


SERIES: tuple[str, ...] = OKABE_ITO[:6]  # black is kept for the threshold, yellow is too pale for a line


# The fit figure of ``rotasim fleet import``: one colour per presence family, the data in grey and black.
FAMILY_COLOURS: dict[str, str] = {"lognormal": OKABE_ITO[0], "exponential": OKABE_ITO[1], "pareto": OKABE_ITO[2]}


OBSERVED_COLOUR = "#999999"  # observed counts: grey bars under the fitted lines


HIGHLIGHT_COLOUR = OKABE_ITO[7]  # a pale band marking a range (yellow: weak on white, so only as a fill)


def colour(i: int) -> str:
    """The i-th series colour (cycling through the palette; line styles tell series apart past six)."""
    return SERIES[i % len(SERIES)]


def figure(width: float, height: float) -> Figure:
    """A new figure in the house size unit (inches at ``DPI``), laid out so that labels never overlap."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig


def style(ax: Axes) -> None:
    """The house style of an axes: a light grid behind the data, no top or right spine, small tick labels."""
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=FONT_SIZE - 1)


def plain(text: object) -> str:
    """Text from input files drawn as typed: a '$' would otherwise start matplotlib's math mode (and an
    invalid formula would fail the whole report)."""
    return str(text).replace("$", r"\$")


def _keys(m: Mapping[str, T]) -> dict[str, T]:
    """A mapping keyed by labels safe to draw (see ``_plain``)."""
    return {plain(k): v for k, v in m.items()}


def _short(text: str, n: int = 28) -> str:
    text = str(text)
    return plain(text if len(text) <= n else text[: n - 1] + "\u2026")


def distinct_labels(labels: Sequence[str], n: int = 40) -> list[str]:
    """Labels short enough for an axis that keep what tells them apart: when they are too long, the prefix
    they share is shortened (``three-manager-failover [runbook.retention_days=90]`` and
    ``three-manager-failover`` become ``three-manager-failover`` and ``\u2026[runbook.retention_days=90]``
    only if that is what differs), and a label still too long loses its middle, never its end."""
    labels = [str(x) for x in labels]
    if all(len(x) <= n for x in labels):
        return [plain(x) for x in labels]
    out = []
    for x in labels:
        if len(x) <= n:
            out.append(x)
            continue
        name, sep, rest = x.partition(" [")
        if sep and len(rest) + 3 < n:  # a variant: keep its overrides whole, shorten the scenario name
            keep = n - len(rest) - 3
            out.append(_middle(name, keep) + " [" + rest)
        else:
            out.append(_middle(x, n))
    return [plain(x) for x in out]


def _middle(text: str, n: int) -> str:
    """``text`` cut to ``n`` characters by taking out its middle (its start and its end are what differ)."""
    if len(text) <= n:
        return text
    if n < 4:
        return text[:n]
    head = (n - 1) // 2
    return text[:head] + "\u2026" + text[len(text) - (n - 1 - head) :]


def integer_ticks(ax: Axes, axis: str = "y") -> None:
    """Counts are whole: ticks only at integers (no '2.5 replications')."""
    from matplotlib.ticker import MaxNLocator

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_locator(MaxNLocator(integer=True))


def threshold_line(ax: Axes, value: float, *, vertical: bool, span: float, label: str | None = None) -> None:
    """The threshold, black dashed and labelled with its value; at 0 the axis starts a little below it so
    that the line is not hidden under the axis itself."""
    text = label or f"threshold ({value:g})"
    if vertical:
        ax.axvline(value, color=THRESHOLD_COLOUR, linestyle="--", linewidth=2, label=text, zorder=5)
        if value <= 0:
            ax.set_xlim(left=-0.03 * max(span, 1.0))
    else:
        ax.axhline(value, color=THRESHOLD_COLOUR, linestyle="--", linewidth=1.5, label=text, zorder=5)
        if value <= 0:
            ax.set_ylim(bottom=-0.03 * max(span, 1.0))


def legend_below(fig: Figure, ax: Axes | Sequence[Axes], ncols: int = 3) -> None:
    """One legend under the plot(s), outside them: it never covers data (entries of several axes merged)."""
    seen: dict[str, Any] = {}
    for a in [ax] if isinstance(ax, Axes) else list(ax):
        for h, lb in zip(*a.get_legend_handles_labels(), strict=True):
            seen.setdefault(lb, h)
    if seen:
        fig.legend(
            list(seen.values()),
            list(seen),
            loc="outside lower center",
            ncols=min(ncols, len(seen)),
            fontsize=FONT_SIZE - 1,
            frameon=False,
        )


SUBJECT_WIDTH = 90  # characters of a title's second line that fit the narrowest figure (a gated runbook's is longer)


def titled(text: str, subject: str | None) -> str:
    """A figure title naming what it shows about: ``Orphans per replication \u2014 <scenario, runbook>``; the
    subject wrapped, so that a long runbook description is not cut at the figure's edges."""
    if not subject:
        return text
    return text + "\n" + "\n".join(textwrap.wrap(plain(subject), SUBJECT_WIDTH, break_on_hyphens=False))


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (Agg renderer, the figure's own DPI)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def time_axis(horizon_hours: float) -> tuple[float, str]:
    """(divisor, unit) for a time axis: days once the span is longer than three days, else hours."""
    return (24.0, "days") if horizon_hours > 72 else (1.0, "hours")


def orphans_distribution_figure(
    values: Mapping[str, Sequence[float] | np.ndarray],
    *,
    threshold: float,
    interval: Mapping[str, tuple[float | None, float | None]],
    xlabel: str = "orphaned clients per rotation (count)",
    subject: str | None = None,
    threshold_label: str | None = None,
) -> Figure:
    """Histogram of the per-replication orphans (or orphan rate), the 95% interval of the mean shaded and
    the threshold drawn: the picture behind the verdict."""
    values, interval = _keys(values), _keys(interval)
    fig = figure(9, 4.2)
    ax = fig.add_subplot()
    style(ax)
    allv = np.concatenate([np.asarray(v, float) for v in values.values()]) if values else np.zeros(1)
    lo, hi = float(np.nanmin(allv)), float(np.nanmax(allv))
    span = max(hi - lo, 1e-9)
    integer = bool(np.all(np.mod(allv, 1) == 0))
    if integer and span <= 60:
        bins = [float(b) for b in np.arange(lo - 0.5, hi + 1.5, 1.0)]
    else:
        bins = [float(b) for b in np.linspace(lo - span * 0.02, hi + span * 0.02 + 1e-9, 31)]
    multi = len(values) > 1
    for i, (label, v) in enumerate(values.items()):
        c = colour(i)
        ax.hist(
            np.asarray(v, float),
            bins=bins,
            color=c,
            alpha=0.45 if multi else 0.8,
            edgecolor="white",
            label=f"{label}: replications",
        )
        low, high = interval.get(label, (None, None))
        if low is not None and high is not None:
            ax.axvspan(low, high, color=c, alpha=0.18, hatch="//" if i % 2 else None, label=f"{label}: 95% interval")
        ax.axvline(float(np.mean(v)), color=c, linestyle=LINESTYLES[i % 4], linewidth=2, label=f"{label}: mean")
    threshold_line(ax, threshold, vertical=True, span=max(hi, threshold) - min(lo, threshold), label=threshold_label)
    highs = [float(h) for _lo, h in interval.values() if h is not None]
    ax.set_xlim(right=max([hi, threshold, *highs]) + 0.05 * max(span, 1.0) + (0.5 if integer else 0))
    integer_ticks(ax, "y")
    ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
    ax.set_ylabel("replications (count)", fontsize=FONT_SIZE)
    n = sum(len(v) for v in values.values())
    ax.set_title(
        titled(f"Orphans per replication against the threshold ({n} replications)", subject), fontsize=FONT_SIZE + 1
    )
    legend_below(fig, ax)
    return fig


def breakdown_figure(
    tables: Mapping[str, Mapping[str, pd.DataFrame]], *, unit: str = "orphaned clients per rotation (mean)"
) -> Figure:
    """Orphans by cause, by group and by version: bars of the mean with the 95% interval as error bars.

    ``tables[label][key]`` has columns ``key`` (the category), ``mean``, ``ci95_low``, ``ci95_high``; with
    more than one label the scenarios are drawn side by side in each category.
    """
    tables = _keys(tables)
    keys = ("cause", "group", "version")
    cats: dict[str, list[str]] = {}
    for key in keys:
        totals: dict[str, float] = {}
        for t in tables.values():
            df = t.get(key)
            if df is None:
                continue
            for cat, m in zip(df[key].astype(str), df["mean"].astype(float), strict=True):
                totals[cat] = totals.get(cat, 0.0) + m
        ranked = sorted(totals, key=lambda c: -totals[c])
        cats[key] = [c for c in ranked if totals[c] > 0][:TOP_CATEGORIES]
    rows = max([len(c) for c in cats.values()] + [1])
    series = len(tables)
    fig = figure(13, max(3.4, 1.6 + rows * 0.32 * max(1, series * 0.7)))
    axes = fig.subplots(1, 3)
    for ax, key in zip(axes, keys, strict=True):
        style(ax)
        names = cats[key]
        more = "" if len(names) < TOP_CATEGORIES else f" (top {TOP_CATEGORIES})"
        ax.set_title(f"By {key}{more}", fontsize=FONT_SIZE + 1)
        ax.set_xlabel(unit, fontsize=FONT_SIZE - 1)
        if not names:
            ax.text(0.5, 0.5, "no orphans", ha="center", va="center", transform=ax.transAxes, fontsize=FONT_SIZE)
            ax.set_yticks([])
            continue
        y = np.arange(len(names))
        height = 0.8 / series
        for i, (label, t) in enumerate(tables.items()):
            df = t.get(key)
            df = df.set_index(df[key].astype(str)) if df is not None else pd.DataFrame()
            mean = np.array([float(df["mean"].get(n, 0.0)) if len(df) else 0.0 for n in names])
            lo = np.array([_num(df["ci95_low"].get(n)) if len(df) else 0.0 for n in names])
            hi = np.array([_num(df["ci95_high"].get(n)) if len(df) else 0.0 for n in names])
            lo = np.where(np.isnan(lo), mean, lo)
            hi = np.where(np.isnan(hi), mean, hi)
            if series == 1 and key == "cause":
                colours: list[str] | str = [CAUSE_COLOURS.get(n, OKABE_ITO[0]) for n in names]
            else:
                colours = colour(i)
            ax.barh(
                y - 0.4 + height * (i + 0.5),
                mean,
                height=height * 0.92,
                xerr=np.vstack([np.maximum(mean - lo, 0), np.maximum(hi - mean, 0)]),
                color=colours,
                hatch=None if i % 2 == 0 else "//",
                edgecolor="white",
                error_kw={"ecolor": "#333333", "capsize": 2, "linewidth": 1},
                label=label,
            )
        ax.set_yticks(y, distinct_labels(names, 28), fontsize=FONT_SIZE - 1)
        ax.invert_yaxis()
    fig.suptitle("Orphans by cause, group and version (bars: mean; whiskers: 95% interval)", fontsize=FONT_SIZE + 2)
    if series > 1:
        handles, labels = axes[0].get_legend_handles_labels()
        if not handles:
            handles, labels = next(
                (a.get_legend_handles_labels() for a in axes if a.get_legend_handles_labels()[0]), ([], [])
            )
        fig.legend(
            handles, labels, loc="outside lower center", ncols=min(series, 3), fontsize=FONT_SIZE - 1, frameon=False
        )
    return fig


def _num(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def orphans_compare_figure(
    table: pd.DataFrame, *, threshold: float | None, xlabel: str, threshold_label: str | None = None
) -> Figure:
    """One bar per scenario: expected orphans with the 95% interval, and the threshold (labels keep what
    differs between the scenarios: ``distinct_labels``)."""
    n = len(table)
    fig = figure(9, max(2.8, 1.4 + 0.45 * n))
    ax = fig.add_subplot()
    style(ax)
    y = np.arange(n)
    mean = table["mean"].astype(float).to_numpy()
    lo = table["ci95_low"].astype(float).to_numpy()
    hi = table["ci95_high"].astype(float).to_numpy()
    ax.barh(
        y,
        mean,
        color=[colour(i) for i in range(n)],
        xerr=np.vstack([np.nan_to_num(mean - lo), np.nan_to_num(hi - mean)]),
        error_kw={"ecolor": "#333333", "capsize": 3},
    )
    top = float(np.nanmax(np.r_[hi, mean, [threshold or 0.0]])) if n else 1.0
    if threshold is not None:
        threshold_line(ax, threshold, vertical=True, span=top, label=threshold_label)
        legend_below(fig, ax)
    ax.set_yticks(y, distinct_labels(table["label"].astype(str).tolist(), 60), fontsize=FONT_SIZE - 1)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel, fontsize=FONT_SIZE)
    fig.suptitle("Expected orphans per scenario (bars: mean; whiskers: 95% interval)", fontsize=FONT_SIZE + 2)
    return fig


@dataclass
class CurveSpec:
    """One orphans-versus-retention (or wait) curve: ``curve`` has the parameter column, ``orphaned_mean``,
    ``ci95_low`` and ``ci95_high`` (``Replications.curve()``)."""

    curve: pd.DataFrame
    parameter: str
    unit: str
    current: float | None = None
    recommended: float | None = None


AXIS_LABELS = {
    "retention_days": "retention of the old certificate (days after the first update)",
    "wait_hours": "wait before the certificate update (hours)",
}


def curve_figure(
    curves: Mapping[str, CurveSpec],
    *,
    threshold: float | None,
    subject: str | None = None,
    threshold_label: str | None = None,
) -> Figure:
    """Expected orphans had the retention (kb-multi-server) or the wait (kb-single-server) been x, with the
    95% band, the scenario's own setting (circle) and the smallest setting that meets the threshold
    (diamond, labelled). When the curve spans far more than the threshold, the orphans axis is linear up
    to a few times the threshold and logarithmic above, so that the threshold, the band around it and the
    recommended point stay readable instead of being squashed onto the x axis."""
    labels = dict(zip(curves, distinct_labels(list(curves), 60), strict=True))
    params = sorted({c.parameter for c in curves.values()})
    fig = figure(9 if len(params) < 2 else 13, 4.8)
    axes = fig.subplots(1, max(len(params), 1), squeeze=False)[0]
    for ax, param in zip(axes, params, strict=True):
        style(ax)
        unit = "days" if param == "retention_days" else "hours"
        top = 0.0
        for i, (key, spec) in enumerate(curves.items()):
            if spec.parameter != param:
                continue
            c, label = colour(i), labels[key]
            df = spec.curve
            x = df[param].astype(float).to_numpy()
            y = df["orphaned_mean"].astype(float).to_numpy()
            top = max(top, float(np.nanmax(df["ci95_high"].astype(float))) if len(df) else 0.0)
            ax.plot(x, y, color=c, linestyle=LINESTYLES[i % 4], lw=2, label=label)
            ax.fill_between(
                x, df["ci95_low"].astype(float), df["ci95_high"].astype(float), color=c, alpha=0.2, linewidth=0
            )
            if spec.current is not None and len(x):
                now_y = float(np.interp(spec.current, x, y))
                ax.plot(
                    [spec.current],
                    [now_y],
                    marker="o",
                    color=c,
                    markersize=8,
                    markerfacecolor="white",
                    markeredgewidth=2,
                    linestyle="none",
                    label=f"{label}: now, {spec.current:g} {unit}",
                )
            if spec.recommended is not None and len(x):
                at = float(np.interp(spec.recommended, x, y))
                ax.plot(
                    [spec.recommended],
                    [at],
                    marker="D",
                    color=c,
                    markersize=8,
                    markeredgecolor="black",
                    linestyle="none",
                    label=f"{label}: recommended, {spec.recommended:g} {unit}",
                )
                ax.annotate(
                    f"{spec.recommended:g} {unit}",
                    (spec.recommended, at),
                    xytext=(6, 8),
                    textcoords="offset points",
                    fontsize=FONT_SIZE - 1,
                    color="black",
                )
        if threshold is not None:
            threshold_line(ax, threshold, vertical=False, span=top, label=threshold_label)
        _orphans_scale(ax, top, threshold)
        if param == "wait_hours":
            # waits span minutes to weeks: linear up to 1 hour, logarithmic beyond, ticks in plain hours
            ax.set_xscale("symlog", linthresh=1.0, linscale=0.6)
            right = max([float(s.curve[param].max()) for s in curves.values() if s.parameter == param] + [1.0])
            ticks = [t for t in (0, 0.5, 1, 3, 6, 12, 24, 48, 168, 336, 720, 1440, 2160) if t <= right]
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.set_xlim(0, right * 1.05)
        else:
            ax.set_xlim(left=0)
        ax.set_xlabel(AXIS_LABELS.get(param, param), fontsize=FONT_SIZE)
        ax.set_ylabel("orphaned clients (mean, count)", fontsize=FONT_SIZE)
        what = "retention" if param == "retention_days" else "wait"
        ax.set_title(titled(f"Orphans against the {what} (band: 95% interval)", subject), fontsize=FONT_SIZE + 1)
    if params:
        legend_below(fig, list(axes), ncols=2)
    if not params:
        ax = axes[0]
        ax.set_title(titled("No retention or wait to plan for this runbook", subject), fontsize=FONT_SIZE + 1)
        ax.set_xlabel("retention or wait", fontsize=FONT_SIZE)
        ax.set_ylabel("orphaned clients (count)", fontsize=FONT_SIZE)
    return fig


def _orphans_scale(ax: Axes, top: float, threshold: float | None) -> None:
    """Linear while the curve stays within 20 times the threshold (or 20 orphans); beyond, linear up to
    that and logarithmic above (symlog), with plain-number ticks, so the threshold region keeps its room."""
    from matplotlib.ticker import FuncFormatter

    near = max(4.0 * (threshold or 0.0), 5.0)
    if top <= 20 * max(threshold or 0.0, 1.0):
        if threshold is None or threshold > 0:
            ax.set_ylim(bottom=0)
        return
    ax.set_yscale("symlog", linthresh=near, linscale=1.0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
    ax.set_ylim(bottom=-0.03 * near if not threshold else 0, top=top * 1.3)


KIND_COLOURS = {
    "wait": "#BBBBBB",
    "update-certificate": OKABE_ITO[3],
    "retire": OKABE_ITO[6],
    "secure-comms": OKABE_ITO[0],
    "msl-protocol": OKABE_ITO[5],
    "assign-msl": OKABE_ITO[2],
    "set-heartbeat": OKABE_ITO[4],
}


def timeline_figure(steps: Mapping[str, pd.DataFrame]) -> Figure:
    """The runbook as a timeline: one row per step, its start to its end (waits as grey hatched bars,
    changes as coloured markers), with each wait's length written beside it."""
    steps = _keys(steps)
    n_rows = sum(max(len(df), 1) for df in steps.values())
    fig = figure(11, max(2.8, 1.2 + 0.34 * n_rows + 0.5 * len(steps)))
    heights = [max(len(df), 1) for df in steps.values()]
    axes = fig.subplots(len(steps), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, (label, df) in zip(axes, steps.items(), strict=True):
        # each runbook on its own scale: a 3-hour procedure next to a 90-day retention would be invisible
        end = max(float(df["end_hours"].max()) if len(df) else 1.0, 1e-3)
        div, unit = time_axis(end)
        style(ax)
        ax.grid(True, axis="x", color="#dddddd", linewidth=0.6)
        ax.grid(False, axis="y")
        y = np.arange(len(df))
        starts = df["start_hours"].to_numpy(dtype=float)
        ends = df["end_hours"].to_numpy(dtype=float)
        for yi, kind, start_h, end_h in zip(y, df["kind"].astype(str), starts, ends, strict=True):
            s, e = start_h / div, end_h / div
            c = KIND_COLOURS.get(kind, OKABE_ITO[1])
            if kind == "wait":
                ax.barh(yi, max(e - s, end / div * 0.004), left=s, height=0.6, color=c, hatch="//", edgecolor="#666666")
                text = duration_short(end_h - start_h)
            else:
                if e - s > end / div * 0.004:
                    ax.barh(yi, e - s, left=s, height=0.6, color=c)
                ax.plot([e], [yi], marker="o", color=c, markersize=7, markeredgecolor="black")
                text = f"at {duration_short(end_h)}"
            ax.annotate(text, (e, yi), xytext=(6, 0), textcoords="offset points", va="center", fontsize=FONT_SIZE - 2)
        ax.set_yticks(y, distinct_labels([str(n) for n in df["name"]], 30), fontsize=FONT_SIZE - 1)
        ax.set_ylim(len(df) - 0.5, -0.5)
        ax.set_xlim(-end / div * 0.01, end / div * 1.18)
        ax.set_xlabel(f"time since the first runbook step ({unit})", fontsize=FONT_SIZE)
        ax.set_title(f"Runbook timeline: {label}" if len(steps) > 1 else "Runbook timeline", fontsize=FONT_SIZE + 1)
    fig.suptitle("Steps and waits (hatched: waits; dots: when a change landed)", fontsize=FONT_SIZE + 2)
    return fig


def trust_figure(
    trust: Mapping[str, pd.DataFrame],
    markers: Mapping[str, Sequence[tuple[float, str]]] | None = None,
    *,
    contacted: Mapping[str, pd.DataFrame] | None = None,
    subject: str | None = None,
) -> Figure:
    """Share of returning clients that trust the new certificates over time: the mean across replications
    and the band holding the middle 95% of them, with the runbook's certificate changes (and the end of the
    retention) marked; with ``contacted``, beside it (thin, dashed) the share that has checked in since the
    procedure's window opened, the observed progress (under kb-multi-server nobody trusts *every* new
    certificate before the last manager changes, so trust alone stays at 0 until then).

    ``trust[label]`` and ``contacted[label]`` have columns ``time_hours``, ``mean``, ``low`` and ``high``
    (shares, 0 to 1). Legends sit under the plot, never on the data.
    """
    trust, markers = _keys(trust), _keys(markers or {})
    contacted = _keys(contacted or {})
    multi = len(trust) > 1
    names = dict(zip(trust, distinct_labels(list(trust), 60), strict=True))
    fig = figure(10, 5.0 + (0.3 * len(trust) if multi else 0))
    ax = fig.add_subplot()
    style(ax)
    end = max([float(df["time_hours"].max()) for df in trust.values() if len(df)] + [1.0])
    div, unit = time_axis(end)
    for i, (label, df) in enumerate(trust.items()):
        c = colour(i)
        t = df["time_hours"].astype(float).to_numpy() / div
        ax.plot(
            t,
            100 * df["mean"].astype(float),
            color=c,
            lw=2,
            linestyle=LINESTYLES[i % 4],
            label=names[label] if multi else "trusting the new certificates",
        )
        if not np.array_equal(df["low"].to_numpy(float), df["high"].to_numpy(float)):  # one run has no band
            ax.fill_between(
                t,
                100 * df["low"].astype(float),
                100 * df["high"].astype(float),
                color=c,
                alpha=0.2,
                linewidth=0,
                label=None if multi else "middle 95% of replications",
            )
        cd = contacted.get(label)
        if cd is not None and len(cd):
            tc = cd["time_hours"].astype(float).to_numpy() / div
            ax.plot(
                tc,
                100 * cd["mean"].astype(float),
                color=c,
                lw=1.4,
                linestyle=(0, (4, 2)),
                alpha=0.9,
                label=f"{names[label]}: checked in since the window opened"
                if multi
                else "checked in since the window opened",
            )
    labelled: list[float] = []  # x of the labels drawn: a second label within 2% of the span would overprint
    for i, (_label, marks) in enumerate(markers.items()):
        c = colour(i)
        for x, text in marks:
            ax.axvline(x / div, color=c, linestyle=LINESTYLES[i % 4] if multi else ":", lw=1.2)
            if any(abs(x - o) < 0.02 * end for o in labelled):
                continue
            labelled.append(x)
            ax.annotate(
                _short(text, 40),
                (x / div, 0.04),
                xycoords=("data", "axes fraction"),
                xytext=(3, 0),
                textcoords="offset points",
                rotation=90,
                va="bottom",
                ha="left",
                fontsize=FONT_SIZE - 2,
                color=c if multi else "#333333",
                annotation_clip=True,
                in_layout=False,  # a label never squeezes the plot
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            )
    ax.set_ylim(0, 102)
    ax.set_xlim(0, end / div)
    ax.set_xlabel(f"time since the first runbook step ({unit})", fontsize=FONT_SIZE)
    ax.set_ylabel("clients (% of clients not gone)", fontsize=FONT_SIZE)
    what = "Clients trusting the new certificates" + (", and checked in since the window opened" if contacted else "")
    ax.set_title(titled(f"{what}, over time", subject), fontsize=FONT_SIZE + 1)
    widest = max([len(str(h)) for h in ax.get_legend_handles_labels()[1]] + [0])
    legend_below(fig, ax, ncols=1 if widest > 50 else 2)
    return fig


LOAD_COLUMNS = ("time_hours", "manager", "offered_per_second", "capacity_per_second")


MAX_LOAD_POINTS = 2000


def load_figure(load_df: pd.DataFrame) -> Figure:
    """Manager load against capacity: check-ins offered per second (solid) and what the manager can serve
    (dashed), one colour per manager. ``load_df`` is tidy, with the columns of ``LOAD_COLUMNS``."""
    missing = [c for c in LOAD_COLUMNS if c not in load_df.columns]
    if missing:
        raise ValueError(f"load table lacks columns {missing}")
    fig = figure(10, 4.4)
    ax = fig.add_subplot()
    style(ax)
    end = float(load_df["time_hours"].max()) if len(load_df) else 1.0
    div, unit = time_axis(end)
    for i, (manager, g) in enumerate(load_df.groupby("manager", sort=True)):
        g = g.sort_values("time_hours")
        t = g["time_hours"].astype(float).to_numpy()
        offered = g["offered_per_second"].astype(float).to_numpy()
        cap = g["capacity_per_second"].astype(float).to_numpy()
        if len(t) > MAX_LOAD_POINTS:  # 5-minute bins over months: keep each chunk's peak, which is what matters
            k = int(np.ceil(len(t) / MAX_LOAD_POINTS))
            cut = len(t) // k * k
            t = t[:cut:k]
            offered = offered[:cut].reshape(-1, k).max(axis=1)
            cap = cap[:cut].reshape(-1, k).min(axis=1)
        c = colour(i)
        ax.plot(t / div, offered, color=c, lw=1.8, label=f"{plain(manager)}: offered")
        ax.plot(t / div, cap, color=c, lw=1.2, linestyle="--", label=f"{plain(manager)}: capacity")
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"time since the first runbook step ({unit})", fontsize=FONT_SIZE)
    ax.set_ylabel("check-ins per second", fontsize=FONT_SIZE)
    ax.set_title("Manager load against capacity", fontsize=FONT_SIZE + 2)
    legend_below(fig, ax, ncols=4)
    return fig
