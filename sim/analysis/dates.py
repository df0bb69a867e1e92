"""Calendar dates beside the hours: one home for turning "hours since the runbook's first step" into a date.

Why: every table and figure counts time in hours since the first step (t = 0), which is what the model needs;
an operator plans in dates. When the scenario says when t = 0 is (``fleet.files.start_time``, an ISO time with
its UTC offset; ``rotasim fleet import`` writes it), every output shows the date beside the hours, in the
scenario's own time zone (the offset of ``start_time``; UTC when it has none): ISO 8601 in machine outputs
(JSON, CSV: ``2025-03-03T09:00:00+01:00``), a short readable form in text (``Mon 3 Mar 2025 09:00``). Without
``start_time`` there is no date to give and outputs stay in hours alone.

Here, below the presentation layer, because the report's JSON and the CSV tables carry the ISO dates too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from sim.scenario.document import Scenario


@dataclass(frozen=True)
class Clock:
    """When t = 0 is (None: unknown, so no dates), and the formats of a moment ``hours`` after it."""

    start: datetime | None = None

    @classmethod
    def of(cls, sc: Scenario) -> Clock:
        """The scenario's clock: ``start_time`` (rotasim track), else ``fleet.files.start_time`` (validated when
        the fleet is read), else none."""
        files = getattr(sc.fleet, "files", None)
        text = getattr(sc, "start_time", None) or (getattr(files, "start_time", None) if files is not None else None)
        if not text:
            return cls(None)
        try:
            start = datetime.fromisoformat(str(text))
        except ValueError:
            return cls(None)  # the fleet reader refuses it with a proper error; no dates meanwhile
        return cls(start if start.tzinfo is not None else start.replace(tzinfo=UTC))

    @property
    def known(self) -> bool:
        return self.start is not None

    def at(self, hours: float | None) -> datetime | None:
        if self.start is None or hours is None or not math.isfinite(float(hours)):
            return None
        return self.start + timedelta(seconds=round(float(hours) * 3600.0))  # to the second, rounded

    def iso(self, hours: float | None) -> str | None:
        """ISO 8601 to the second, in the scenario's time zone (``2025-03-03T09:00:00+01:00``); None if unknown."""
        t = self.at(hours)
        return None if t is None else t.isoformat()

    def text(self, hours: float | None) -> str:
        """A readable date and time (``Mon 3 Mar 2025 09:00``); empty when unknown."""
        t = self.at(hours)
        return "" if t is None else f"{t:%a} {t.day} {t:%b %Y %H:%M}"

    def zone(self) -> str:
        """The time zone the dates are in, as ``UTC+01:00`` (``UTC`` for offset 0)."""
        if self.start is None:
            return ""
        off = self.start.utcoffset() or timedelta(0)
        if not off:
            return "UTC"
        sign = "+" if off >= timedelta(0) else "-"
        minutes = abs(int(off.total_seconds())) // 60
        return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"

    def origin(self) -> str:
        """What t = 0 is, for a heading: ``t = 0 is Mon 3 Mar 2025 09:00 UTC+01:00``; empty when unknown."""
        return f"t = 0 is {self.text(0.0)} {self.zone()}" if self.known else ""

    def with_dates(self, df: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
        """``df`` with an ISO column beside each ``*_hours`` column named (``start_hours`` -> ``start_at``);
        unchanged when the clock is unknown."""
        if not self.known:
            return df
        out = df.copy()
        for col in columns:
            if col not in out.columns:
                continue
            iso = [self.iso(v) for v in out[col].to_numpy(float)]
            at = out.columns.get_loc(col)
            assert isinstance(at, int)
            out.insert(at + 1, dated_name(col), [v if v is not None else "" for v in iso])
        return out

    def dated_summary(self, summary: dict[str, Any]) -> dict[str, Any]:
        """A run's summary with ``start_time`` and the ISO dates of its steps and of full trust (JSON)."""
        if not self.known:
            return summary
        out = dict(summary)
        out["start_time"] = self.iso(0.0)
        out["steps"] = [
            st | {"start_at": self.iso(st["start_hours"]), "end_at": self.iso(st["end_hours"])}
            for st in summary.get("steps", [])
        ]
        if "full_trust_at_hours" in summary:
            out["full_trust_at"] = self.iso(summary["full_trust_at_hours"])
        return out


def dated_name(column: str) -> str:
    """The ISO column beside an hours column: ``start_hours`` -> ``start_at``, ``orphaned_at_hours`` ->
    ``orphaned_at``, ``time_hours`` -> ``time_at``, ``first_contact_hours_median`` -> ``first_contact_median_at``."""
    base = column.replace("_hours", "")
    return base if base.endswith("_at") else f"{base}_at"
