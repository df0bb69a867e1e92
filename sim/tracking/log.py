"""The rotation log: which steps of the runbook were done, and when (calendar times with a zone).

Why a file of its own beside the scenario: the scenario is the plan, the log is what happened; ``rotasim track``
replays the steps done at the logged times and the rest as planned. Hours are counted from the scenario's
``start_time`` (hour 0 of the runbook), so every output can show calendar dates beside hours.

Forms: YAML ``{steps: [{step: NAME, done_at: TIME}, ...]}`` (or a bare list of such entries), or CSV with the
columns ``step,done_at``. Refused with one line (exit 2): a step the runbook does not have, a wait (a wait is
no action: its end is the next step's time), a step twice, steps out of the runbook's order or skipped, a time
without a zone, times out of order, a time before the start.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from sim.analysis.dates import Clock
from sim.errors import InputError
from sim.scenario.document import Scenario
from sim.scenario.runbook import Step, Wait, step_name


@dataclass(frozen=True)
class Calendar:
    """Hour 0 of the runbook as a calendar time: calendar times read from the log and the exports become hours;
    hours are written as dates by the scenario's clock (``sim.analysis.dates.Clock``, one home for the formats:
    ISO 8601 in tables and JSON, a readable form in text, in the zone of ``start_time``)."""

    start: datetime

    @property
    def clock(self) -> Clock:
        return Clock(self.start)

    def hours(self, when: datetime) -> float:
        return (when - self.start).total_seconds() / 3600.0

    def at(self, hours: float) -> datetime:
        return self.start + timedelta(hours=float(hours))

    def date(self, hours: float) -> str:
        """For text: ``Tue 10 Nov 2026 08:59 UTC`` (empty for no time)."""
        text = self.clock.text(hours)
        return f"{text} {self.clock.zone()}" if text else ""

    def iso(self, hours: float) -> str:
        """For tables and JSON: ``2026-11-10T08:59:48+00:00`` (empty for no time)."""
        return self.clock.iso(hours) or ""

    def seconds(self, hours: float) -> float:
        """Seconds since 1970 UTC (the unit of the inventory reader)."""
        return self.start.timestamp() + hours * 3600.0


@dataclass(frozen=True)
class LoggedStep:
    name: str
    index: int  # position in the expanded runbook
    done_at: float  # hours since the runbook's start


@dataclass(frozen=True)
class RotationLog:
    source: str
    calendar: Calendar
    done: list[LoggedStep]

    @property
    def last_done(self) -> float:
        return self.done[-1].done_at if self.done else 0.0

    def done_at(self, name: str) -> float | None:
        return next((s.done_at for s in self.done if s.name == name), None)


def parse_zoned(value: Any, file: str, field: str) -> datetime:
    """An ISO 8601 time with its zone (``2026-11-02T09:05:00+01:00``, ``...Z``); a time without zone is refused:
    the console, the log and the scenario may be in different zones."""
    if isinstance(value, datetime):
        ts = value
    else:
        text = str(value).strip()
        try:
            ts = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InputError(
                file, field, f"expected an ISO time with zone, e.g. 2026-11-02T09:05:00+00:00 (got {text!r})"
            ) from None
    if ts.tzinfo is None:
        raise InputError(file, field, f"expected a time with its zone, e.g. {ts.isoformat()}+00:00 (got {value!s})")
    return ts


def scenario_calendar(sc: Scenario, needed_by: str) -> Calendar:
    """Hour 0 from the scenario's ``start_time`` (or ``fleet.files.start_time``, which means the same)."""
    files = sc.fleet.files
    text = sc.start_time or (files.start_time if files is not None else None)
    field = "start_time" if sc.start_time else "fleet.files.start_time"
    if text is None:
        raise InputError(
            sc.source, "start_time", f"the runbook's start as an ISO time with zone ({needed_by} needs it)"
        )
    ts = parse_zoned(text, sc.source, field) if sc.start_time else _utc_default(text, sc.source, field)
    return Calendar(ts)


def _utc_default(text: str, file: str, field: str) -> datetime:
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(file, field, f"expected an ISO time (got {text!r})") from None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _entries(path: Path) -> list[tuple[str, Any, str]]:
    """(step, done_at, where) from a YAML or CSV log."""
    src = str(path)
    if not path.is_file():
        raise InputError(src, "", "no such file")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        rows = list(csv.reader(text.splitlines()))
        if not rows:
            raise InputError(src, "header", "expected the columns step,done_at")
        header = [h.strip().casefold() for h in rows[0]]
        if "step" not in header or "done_at" not in header:
            raise InputError(src, "header", f"expected the columns step,done_at (got {','.join(rows[0])})")
        i, j = header.index("step"), header.index("done_at")
        out = []
        for line, row in enumerate(rows[1:], start=2):
            if not any(c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise InputError(src, f"line {line}", f"expected {len(header)} fields like the header (got {len(row)})")
            out.append((row[i].strip(), row[j].strip(), f"line {line}"))
        return out
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(src, "", f"not readable YAML ({str(exc).splitlines()[0]})") from None
    items = data.get("steps") if isinstance(data, dict) else data
    if data is None or items is None:
        items = []
    if not isinstance(items, list):
        raise InputError(src, "steps", "expected a list of {step: NAME, done_at: TIME}")
    out = []
    for k, it in enumerate(items):
        where = f"steps[{k}]"
        if not isinstance(it, dict) or set(it) != {"step", "done_at"}:
            raise InputError(src, where, "expected {step: NAME, done_at: TIME} (exactly these two keys)")
        out.append((str(it["step"]).strip(), it["done_at"], where))
    return out


def read_log(path: Path, sc: Scenario, steps: list[Step]) -> RotationLog:
    """Read and check a rotation log against the expanded runbook ``steps``."""
    src = str(path)
    cal = scenario_calendar(sc, "rotasim track")
    names = [step_name(s, i) for i, s in enumerate(steps)]
    actions = [i for i, s in enumerate(steps) if not isinstance(s, Wait)]
    done: list[LoggedStep] = []
    for name, value, where in _entries(path):
        if name not in names:
            raise InputError(
                src, f"{where}, step", f"a step of the runbook ({', '.join(names[i] for i in actions)}); got {name!r}"
            )
        i = names.index(name)
        if isinstance(steps[i], Wait):
            raise InputError(src, f"{where}, step", f"{name!r} is a wait, not an action: log the steps around it")
        if any(d.name == name for d in done):
            raise InputError(src, f"{where}, step", f"{name!r} is logged twice")
        expected = actions[len(done)]
        if i != expected:
            raise InputError(src, f"{where}, step", f"the runbook's next step is {names[expected]!r} (got {name!r})")
        t = cal.hours(parse_zoned(value, src, f"{where}, done_at"))
        if t < 0:
            raise InputError(
                src, f"{where}, done_at", f"a time after the runbook's start {cal.date(0)} (got {value!s})"
            )
        if done and t < done[-1].done_at:
            raise InputError(
                src,
                f"{where}, done_at",
                f"a time after the previous step {done[-1].name!r} at {cal.date(done[-1].done_at)} (got {value!s})",
            )
        done.append(LoggedStep(name, i, t))
    return RotationLog(src, cal, done)
