"""The graded verdict a pipeline gates on: GO, NO-GO or INCONCLUSIVE against the board's threshold.

The verdict is by the chance that this one rotation exceeds the threshold (``sim.analysis.risk``): GO when its
interval lies below ``1 - confidence``, NO-GO when above, INCONCLUSIVE otherwise. The mean of the
per-replication orphans, with its Student-t interval, is reported beside it. ``rotasim report`` exits with
``EXIT_CODES[verdict]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.analysis.format import pct
from sim.analysis.risk import assess
from sim.analysis.stats import describe
from sim.errors import InputError

# the verdict's exit codes, distinct from every other outcome of a command (2 bad input, 70 internal error,
# 130/143 interrupted), so that a pipeline can tell "don't rotate" from a failure
EXIT_CODES: dict[str, int] = {"GO": 0, "INCONCLUSIVE": 3, "NO-GO": 4}

# the order of severity: ``rotasim compare --gate`` exits with the code of its worst verdict
SEVERITY: dict[str, int] = {"GO": 0, "INCONCLUSIVE": 1, "NO-GO": 2}


def worst_verdict(verdicts: Sequence[str]) -> str:
    """The most severe of several verdicts (NO-GO over INCONCLUSIVE over GO): what a gate must honour."""
    return max(verdicts, key=SEVERITY.__getitem__, default="GO")


CONFIDENCE = 0.95


@dataclass(frozen=True)
class Threshold:
    """The board's limit: at most ``max_orphans`` orphans, or an orphan rate of at most ``max_orphan_rate``
    (orphans over clients not gone) per rotation."""

    max_orphans: float | None = None
    max_orphan_rate: float | None = None

    def __post_init__(self) -> None:
        if self.max_orphans is not None and self.max_orphan_rate is not None:
            raise InputError("--max-orphans", "", "give either --max-orphans or --max-orphan-rate, not both")
        if self.max_orphans is not None and not (math.isfinite(self.max_orphans) and self.max_orphans >= 0):
            raise InputError("--max-orphans", "", f"must be 0 or more (got {self.max_orphans:g})")
        if self.max_orphan_rate is not None and not 0 <= self.max_orphan_rate <= 1:
            raise InputError("--max-orphan-rate", "", f"must be between 0 and 1 (got {self.max_orphan_rate:g})")

    @classmethod
    def given(cls, max_orphans: float | None, max_orphan_rate: float | None) -> Threshold:
        """The threshold a command or call asked for; none given means no orphan at all (``--max-orphans 0``)."""
        if max_orphans is None and max_orphan_rate is None:
            return cls(max_orphans=0.0)
        return cls(max_orphans=max_orphans, max_orphan_rate=max_orphan_rate)

    @property
    def is_rate(self) -> bool:
        return self.max_orphan_rate is not None

    @property
    def value(self) -> float:
        if self.max_orphan_rate is not None:
            return float(self.max_orphan_rate)
        return float(self.max_orphans or 0.0)

    def describe(self) -> str:
        if self.is_rate:
            return f"an orphan rate of at most {pct(self.value)}"
        k = self.value
        return f"at most {k:g} orphan{'' if k == 1 else 's'}"

    def option(self) -> str:
        return f"--max-orphan-rate {self.value:g}" if self.is_rate else f"--max-orphans {self.value:g}"

    def to_json(self) -> dict[str, float]:
        return {"max_orphan_rate": self.value} if self.is_rate else {"max_orphans": self.value}


def judge(
    values: np.ndarray | Sequence[float],
    threshold: float,
    confidence: float = CONFIDENCE,
    exceeding: int | None = None,
) -> dict[str, Any]:
    """The graded verdict on per-replication values (orphans, or orphan rates): by the chance that one
    rotation exceeds ``threshold`` (``exceeding``: how many replications do, when the caller knows it better,
    e.g. from the planning probes; default: those whose value is over the threshold), with the mean and its
    interval beside it."""
    v = np.asarray(values, float)
    d = describe(v, confidence)
    eps = 1e-9 * max(1.0, abs(threshold))
    k = int((v > threshold + eps).sum()) if exceeding is None else int(exceeding)
    risk = assess(k, len(v), confidence)
    return {
        "verdict": risk.verdict,
        "exceeding": k,
        "n": d["n"],
        "chance": risk.chance,
        "chance_ci": list(risk.interval),
        "limit": risk.limit,
        "mean": d["mean"],
        "ci95": d["ci95"],
        "stderr": d["stderr"],
    }
