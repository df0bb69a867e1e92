"""How rotasim writes numbers in text: counts, shares and durations, the same in every output.

Why here and not in ``sim.presentation``: the verdict's own words (``Threshold.describe``, the progress line
of the sequential sampling) are written in ``sim.analysis`` and must read as the report's tables do; the
presentation layer imports these too, so each format has one home below both.
"""

from __future__ import annotations

import math


def n1(v: float | None) -> str:
    """One decimal, thousands separated; ``n/a`` for a missing or infinite value."""
    return "n/a" if v is None or not math.isfinite(v) else f"{v:,.1f}"


def n2(v: float | None) -> str:
    """Two decimals, thousands separated; ``n/a`` for a missing or infinite value."""
    return "n/a" if v is None or not math.isfinite(v) else f"{v:,.2f}"


def n2_signed(v: float | None) -> str:
    """Two decimals with the sign always shown (a difference: ``+1.13``, ``-0.25``); ``n/a`` as ``n2``."""
    return "n/a" if v is None or not math.isfinite(v) else f"{v:+,.2f}"


def pct(v: float | None) -> str:
    """A share (0 to 1) as a percentage: two decimals under 10%, where small shares matter, else one."""
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{100 * v:.2f}%" if v < 0.1 else f"{100 * v:.1f}%"


def setting(value: float, unit: str) -> str:
    """A retention (days) or wait (hours) as an operator would set it: rounded *up* (a longer setting never
    orphans more, so the rounded value keeps every promise the exact one makes), to a whole day from 2 days,
    a tenth of a day below; to a whole hour from 10 hours, a tenth below. ``102 days``, ``3.1 hours``."""
    if not math.isfinite(value):
        return "none within the horizon" if value > 0 else "any"
    coarse = value >= (2 if unit == "days" else 10)
    step = 1.0 if coarse else 0.1
    v = math.ceil(round(value / step, 6)) * step
    text = f"{v:.0f}" if coarse else f"{v:.1f}"
    one = text in ("1", "1.0")
    return f"{text} {unit[:-1] if one else unit}"


def duration(hours: float) -> str:
    """A length of time in the unit that reads best: days from two days up, hours from one, else minutes."""
    if hours <= 0:
        return "0"
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    if hours >= 1:
        return f"{hours:.2f} h"
    return f"{hours * 60:.0f} min"


def duration_short(hours: float) -> str:
    """A length of time for a figure label, one decimal: ``3.5 d``, ``2.0 h``, ``45 min``."""
    if hours >= 48:
        return f"{hours / 24:.1f} d"
    if hours >= 1:
        return f"{hours:.1f} h"
    return f"{hours * 60:.0f} min"
