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


def pct(v: float | None) -> str:
    """A share (0 to 1) as a percentage: two decimals under 10%, where small shares matter, else one."""
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{100 * v:.2f}%" if v < 0.1 else f"{100 * v:.1f}%"


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
