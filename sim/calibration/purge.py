"""The console's purge age, from the export and the ``--purge-days`` flag.

Why: a console deletes the clients it has not heard from for its purge age (domain fact 25), so no offline
row of an export is older than it: the oldest offline row is a lower bound of the purge age. Taking it from
the data (rounded up to whole days) rather than from a default keeps long leave visible when the console keeps
clients for months, and the lower bound is the cautious choice: a shorter purge age puts more of the fitted
tail beyond it, i.e. more invisible clients. An online row is never evidence: SEPM's *Last Time Status
Changed* of a server online for weeks is old.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.errors import warn


@dataclass(frozen=True)
class PurgeAge:
    days: float  # the purge age the fit uses
    source: str  # "--purge-days" or "the export"
    oldest_days: float  # the oldest offline row, days (0: none)
    given_days: float | None  # the flag
    older_than_given: int  # offline rows older than the flag (a contradiction)

    def as_dict(self) -> dict[str, object]:
        return {
            "purge_days": self.days,
            "from": self.source,
            "oldest_offline_row_days": self.oldest_days,
            "given_days": self.given_days,
            "rows_older_than_given": self.older_than_given,
        }


def purge_age(
    age_hours: np.ndarray, online: np.ndarray, given_days: float | None, minimum_days: float, source: str
) -> PurgeAge:
    """The purge age for the fit: ``given_days`` unless offline rows are older (then a one-line warning naming
    ``source`` and how many, and the data's bound is used), else the oldest offline row rounded up to whole
    days; never below ``minimum_days`` (the fit needs the absence threshold inside it)."""
    off = np.asarray(age_hours, float)[~np.asarray(online, bool)]
    oldest = float(off.max()) / 24.0 if len(off) else 0.0
    bound = max(float(math.ceil(oldest - 1e-9)), float(math.ceil(minimum_days)))
    if given_days is None:
        return PurgeAge(bound, "the export", oldest, None, 0)
    older = int((off > given_days * 24.0).sum())
    if older:
        warn(
            source,
            "--purge-days",
            f"{older} offline row{'s' if older != 1 else ''} last checked in more than {given_days:g} days ago "
            f"(the oldest {oldest:.1f} days): a console purging at {given_days:g} days could not list them; "
            f"using {bound:g} days, the export's bound",
        )
        return PurgeAge(bound, "the export (contradicts --purge-days)", oldest, given_days, older)
    return PurgeAge(float(given_days), "--purge-days", oldest, given_days, 0)
