"""One definition of risk for report, plan, compare, sweep and the API: the chance that *this one rotation*
exceeds the board's threshold (docs/model.md, "Risk and the verdict").

Why not the mean: a board reads GO as "this rotation stays under the threshold", and a mean under the threshold
says nothing about one rotation (half of them can exceed it). Each replication is one possible rotation; the
share of replications whose orphans exceed the threshold estimates the chance, with an exact (Clopper-Pearson)
interval at the report's confidence:

- **GO** when the interval's upper end lies below ``1 - confidence`` (5% by default): the chance of exceeding is
  small, and the replications show it;
- **NO-GO** when its lower end lies above ``1 - confidence``;
- **INCONCLUSIVE** otherwise: the replications cannot tell yet (sequential sampling adds more, up to a cap).

With no replication exceeding, GO needs at least ``replications_for_go(confidence)`` replications (72 at 95%):
fewer cannot show a chance below 5%. A plan's recommendation is the smallest setting at which the same rule
says GO, so a GO report and its "what would reach GO" cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["GO", "NO-GO", "INCONCLUSIVE"]


@dataclass(frozen=True)
class Risk:
    """How many of ``replications`` exceeded the threshold, the estimated chance and its interval, the verdict."""

    exceeding: int
    replications: int
    limit: float  # 1 - confidence: the chance a board accepts
    confidence: float

    @property
    def chance(self) -> float:
        return self.exceeding / self.replications if self.replications else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return clopper_pearson(self.exceeding, self.replications, self.confidence)

    @property
    def verdict(self) -> Verdict:
        if self.replications == 0:
            return "INCONCLUSIVE"
        lo, hi = self.interval
        if hi < self.limit:
            return "GO"
        if lo > self.limit:
            return "NO-GO"
        return "INCONCLUSIVE"

    def to_json(self) -> dict[str, object]:
        lo, hi = self.interval
        return {
            "verdict": self.verdict,
            "exceeding": self.exceeding,
            "replications": self.replications,
            "chance": self.chance,
            "interval": [lo, hi],
            "limit": self.limit,
            "confidence": self.confidence,
        }


def assess(exceeding: int, replications: int, confidence: float = 0.95) -> Risk:
    return Risk(int(exceeding), int(replications), 1.0 - confidence, confidence)


def clopper_pearson(k: int, n: int, confidence: float) -> tuple[float, float]:
    """Exact two-sided interval of a binomial proportion (k successes in n trials) at ``confidence``."""
    if n <= 0:
        return 0.0, 1.0
    from scipy.stats import beta  # only here: ``import sim`` stays free of scipy

    a = (1.0 - confidence) / 2.0
    lo = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1.0 - a, k + 1, n - k))
    return lo, hi


def max_exceeding_for_go(replications: int, confidence: float = 0.95) -> int:
    """The most replications that may exceed the threshold for GO among ``replications`` (-1: none may; more
    replications are needed before GO is possible at all)."""
    k = -1
    while k + 1 <= replications and assess(k + 1, replications, confidence).verdict == "GO":
        k += 1
    return k


def replications_for_go(confidence: float = 0.95) -> int:
    """The fewest replications with which GO is possible (none of them exceeding)."""
    a = (1.0 - confidence) / 2.0
    return int(math.floor(math.log(a) / math.log(confidence))) + 1
