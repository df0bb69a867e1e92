"""Reading a client inventory export (one row per client) such as SEPM's computer-status export.

Why a reader of its own: a planner's export comes with the console's column names, Windows encodings, ``;``
or tab separators, group paths with backslashes and times with or without a time zone, and a few rows that
are broken. Each row is checked; a bad row gets a message with its line number and what is wrong and is
skipped and counted (or, with ``strict``, stops the import at the first one). Columns are found by their
usual spellings (``FIELDS``, documented in docs/fleet-import.md) or mapped by the user (``column=field``).

Reading is vectorised (pandas string and time parsing over whole columns) so that 100,000 rows take a
fraction of a second; only the CSV tokenising is a Python loop, for the line numbers.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import InputError, check_input_file

# field -> accepted column names (compared case-, space-, hyphen- and underscore-insensitively), first wins
FIELDS: dict[str, tuple[str, ...]] = {
    "client_id": ("Computer Name", "Computer", "Name", "Host Name", "client_id"),
    "group": ("Group", "Group Name", "Group Path", "Client Group"),
    "version": ("Version", "Client Version", "Product Version"),
    "last_checkin": ("Last Check-in", "Last Time Status Changed", "Last Checkin Time", "Last Check in", "last_checkin"),
    "online": ("Online Status", "Status", "Online"),
    "os": ("Operating System", "OS", "OS Name"),
}


REQUIRED: tuple[str, ...] = ("client_id", "group", "version", "last_checkin")


FIELD_TITLES = {
    "client_id": "computer name",
    "group": "group",
    "version": "client version",
    "last_checkin": "last check-in time",
    "online": "online status",
    "os": "operating system",
}


ONLINE_WORDS = frozenset({"online", "yes", "true", "1", "connected", "on", "y"})


OFFLINE_WORDS = frozenset({"offline", "no", "false", "0", "disconnected", "off", "n"})


# Tried in order after ISO 8601 for values that are not ISO (SEPM consoles in US English write the first).
FALLBACK_TIME_FORMATS: tuple[str, ...] = (
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
)


_ZONE_WORD = re.compile(r"\s*(?:UTC|GMT)$", re.IGNORECASE)


_HAS_OFFSET = r"\d:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"


EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


TIME_HELP = "expected ISO 8601 (2025-03-05 09:15:00, 2025-03-05T09:15:00+01:00) or M/D/YYYY h:mm:ss AM"


def column_key(name: str) -> str:
    """How column names are compared: case, spaces, hyphens and underscores do not matter."""
    return re.sub(r"[\s\-_]+", "", name.strip().lstrip("\ufeff")).casefold()


@dataclass(frozen=True)
class BadRow:
    line: int
    column: str  # the header name, or "" for the row as a whole
    problem: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.problem}"


@dataclass
class Inventory:
    """The usable rows of an export, one entry per client, and what was wrong with the others."""

    source: str
    columns: dict[str, str]  # field -> header name used
    client_id: np.ndarray  # str
    group: np.ndarray  # normalised path "My Company/Laptops"
    version: np.ndarray
    os: np.ndarray
    checkin: np.ndarray  # seconds since 1970-01-01 UTC
    online: np.ndarray  # int8: 1 online, 0 offline, -1 not given
    line: np.ndarray  # line number in the file
    rows_read: int
    bad: list[BadRow] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.client_id)


def parse_map(items: list[str] | None, option: str = "--map") -> dict[str, str]:
    """``["Hostname=client_id", ...]`` -> {field: column}; refuses unknown fields and malformed items."""
    out: dict[str, str] = {}
    for item in items or []:
        column, sep, fld = item.rpartition("=")
        fld = fld.strip()
        if not sep or not column.strip() or not fld:
            raise InputError(option, item, "expected COLUMN=FIELD, e.g. 'Hostname=client_id'")
        if fld not in FIELDS:
            raise InputError(option, item, f"unknown field {fld!r}; fields: {', '.join(FIELDS)}")
        if fld in out:
            raise InputError(option, item, f"field {fld!r} is mapped twice")
        out[fld] = column.strip()
    return out


def resolve_columns(header: list[str], mapping: dict[str, str], source: str) -> dict[str, int]:
    """Field -> column index: the user's mapping first, then the accepted spellings in order."""
    keys = [column_key(h) for h in header]
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    out: dict[str, int] = {}
    for fld, col in mapping.items():
        k = column_key(col)
        if k not in first:
            raise InputError(
                "--map", f"{col}={fld}", f"no column {col!r} in {source}; its columns: {', '.join(header)}"
            )
        out[fld] = first[k]
    taken = set(out.values())
    for fld, aliases in FIELDS.items():
        if fld in out:
            continue
        for alias in aliases:
            j = first.get(column_key(alias))
            if j is not None and j not in taken:
                out[fld] = j
                taken.add(j)
                break
    missing = [f for f in REQUIRED if f not in out]
    if missing:
        wanted = "; ".join(f"{FIELD_TITLES[f]}: {' / '.join(FIELDS[f])}" for f in missing)
        raise InputError(
            source,
            "header",
            f"no column for {', '.join(FIELD_TITLES[f] for f in missing)} (accepted names: {wanted}; or map one "
            f"with --map COLUMN=FIELD); the file's columns: {', '.join(header)}",
        )
    return out


def read_text(path: Path) -> str:
    """The file's text: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252 (consoles' exports)."""
    check_input_file(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), "", f"cannot read the file ({exc.strerror or exc})") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def read_rows(path: Path) -> tuple[list[str], list[list[str]], list[int], list[BadRow], int]:
    """(header, rows, line numbers, malformed rows, data rows read); blank lines are ignored."""
    text = read_text(path)
    first = next((ln for ln in text.splitlines() if ln.strip()), None)
    if first is None:
        raise InputError(str(path), "", "the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first))
    header: list[str] | None = None
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: list[BadRow] = []
    read = 0
    try:
        for row in reader:
            if not row or not any(c.strip() for c in row):
                continue
            if header is None:
                header = [c.strip().lstrip("\ufeff") for c in row]
                ncol = len(header)
                continue
            read += 1
            if len(row) != ncol:
                if len(row) > ncol and not any(c.strip() for c in row[ncol:]):
                    row = row[:ncol]
                else:
                    bad.append(BadRow(reader.line_num, "", f"expected {ncol} fields like the header, found {len(row)}"))
                    continue
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:
        raise InputError(str(path), f"line {reader.line_num}", f"not readable as CSV ({exc})") from None
    if header is None:  # only empty fields, e.g. a line of quotes
        raise InputError(str(path), "", "the file has no header row (no non-empty field)")
    return header, rows, lines, bad, read


def check_time_format(time_format: str | None) -> None:
    """Refuse a ``--time-format`` that is not a strftime format (``%Q``, a stray ``%``) before reading."""
    if time_format is None:
        return
    sample = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    try:
        datetime.strptime(sample.strftime(time_format), time_format)
    except ValueError as exc:
        raise InputError("--time-format", time_format, f"not a strftime format ({exc})") from None
    if not any(d in time_format for d in ("%Y", "%y", "%s")):
        raise InputError("--time-format", time_format, "needs a year (%Y or %y)")


EARLIEST_SECONDS = 631_152_000.0  # 1990-01-01 UTC: before any endpoint-protection console (a typo below it)
LATEST_SECONDS = 253_370_764_800.0  # 9999-01-01 UTC: later ones are "in the future", but must still be printable


def parse_times(values: pd.Series, tz_hours: float, time_format: str | None = None) -> np.ndarray:
    """Seconds since 1970 UTC of each value (NaN where empty or unreadable). A time without an offset is
    taken to be at UTC offset ``tz_hours``; one with an offset (or ``Z``, ``UTC``, ``GMT``) is converted."""
    s = values.astype(str).str.strip()
    s = s.str.replace(_ZONE_WORD, "+00:00", regex=True)
    if time_format is not None:
        t = pd.to_datetime(s, format=time_format, utc=True, errors="coerce")
        aware = pd.Series("%z" in time_format or "%Z" in time_format, index=s.index)
    else:
        aware = s.str.contains(_HAS_OFFSET, regex=True)
        t = pd.to_datetime(s, format="ISO8601", utc=True, errors="coerce")
        todo = t.isna() & (s != "")
        for fmt in FALLBACK_TIME_FORMATS:
            if not todo.any():
                break
            t2 = pd.to_datetime(s[todo], format=fmt, utc=True, errors="coerce")
            t.loc[todo] = t2
            todo = t.isna() & (s != "")
    secs = (t - EPOCH).dt.total_seconds().to_numpy(dtype=float)
    secs = secs - np.where(aware.to_numpy(dtype=bool), 0.0, tz_hours * 3600.0)
    # a fallback format can read a fragment as a date of year 0 ('/1'): no console's check-in is that old
    return np.where((secs >= EARLIEST_SECONDS) & (secs < LATEST_SECONDS), secs, np.nan)


def parse_time(value: str, tz_hours: float, what: str, time_format: str | None = None) -> float:
    """One time from the command line (``--snapshot``, ``--start``), seconds since 1970 UTC."""
    secs = parse_times(pd.Series([value]), tz_hours, time_format)[0]
    if not np.isfinite(secs):
        raise InputError(what, value, f"cannot read the time ({TIME_HELP})")
    return float(secs)


def iso_utc(secs: float) -> str:
    return pd.Timestamp(secs, unit="s", tz="UTC").isoformat()


def normalise_groups(values: pd.Series) -> pd.Series:
    r"""``My Company\Laptops\ Sales`` -> ``My Company/Laptops/Sales`` (either slash, white space around trimmed:
    all of Python's white space, as the clients-file reader strips it, so that a group the import writes reads
    back as the same group; a name of only ``\x1f`` was written and then read as empty)."""
    return (
        values.astype(str).str.replace(r"\s*[\\/]+\s*", "/", regex=True).str.replace(r"^[\s/]+|[\s/]+$", "", regex=True)
    )


def parse_online(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(int8 1/0/-1 for online/offline/empty, bool: unreadable)."""
    v = values.astype(str).str.strip().str.casefold()
    on = v.isin(ONLINE_WORDS).to_numpy()
    off = v.isin(OFFLINE_WORDS).to_numpy()
    empty = (v == "").to_numpy()
    out = np.where(on, 1, np.where(off, 0, -1)).astype(np.int8)
    return out, ~(on | off | empty)


LATE_GAP_DAYS = 30.0  # a check-in this far after all the others is a typo or a broken clock, not the snapshot


def implausibly_late(checkin: np.ndarray, now: float | None = None) -> np.ndarray:
    """Check-ins that must not become the snapshot: after now (plus a day of clock skew), or a few (at most
    1% of the rows) that are ``LATE_GAP_DAYS`` or more after every other one (one check-in dated 2075 made
    61% of a fleet look gone)."""
    now = time.time() if now is None else now
    late = np.isfinite(checkin) & (checkin > now + 86400.0)
    t = np.sort(checkin[np.isfinite(checkin) & ~late])
    if len(t) >= 2:
        gaps = np.flatnonzero(np.diff(t) >= LATE_GAP_DAYS * 86400.0)
        if len(gaps):
            cut = int(gaps[-1]) + 1  # rows from here on sit apart, after the last big gap
            if len(t) - cut <= max(1, len(t) // 100):
                late |= np.isfinite(checkin) & (checkin >= t[cut])
    return late


def read_inventory(
    path: Path,
    mapping: dict[str, str] | None = None,
    *,
    tz_hours: float = 0.0,
    time_format: str | None = None,
    strict: bool = False,
    snapshot: float | None = None,
    now: float | None = None,
) -> Inventory:
    """Read and check an inventory export. Bad rows are skipped and listed, or with ``strict`` the first one
    raises ``InputError`` (line and column in its location). ``snapshot`` (seconds since 1970 UTC), when
    given, makes a check-in after it a bad row; without it, a check-in after ``now`` (the time of the import)
    is a bad row: dated in the future, it must not become the snapshot (the newest check-in)."""
    source = str(path)
    header, rows, lines, bad, read = read_rows(path)
    cols = resolve_columns(header, mapping or {}, source)
    n = len(rows)
    line = np.array(lines, dtype=np.int64)

    def column(fld: str) -> pd.Series:
        j = cols.get(fld)
        if j is None:
            return pd.Series([""] * n, dtype=object)
        return pd.Series([r[j] for r in rows], dtype=object)

    ids = column("client_id").astype(str).str.strip()
    groups = normalise_groups(column("group"))
    versions = column("version").astype(str).str.strip()
    raw_times = column("last_checkin").astype(str).str.strip()
    checkin = parse_times(raw_times, tz_hours, time_format)
    online, bad_online = parse_online(column("online"))
    os_names = column("os").astype(str).str.strip()

    problem, where = _row_problems(
        header, cols, ids, groups, versions, raw_times, checkin, bad_online, column("online"), line, snapshot, now
    )
    bad += [BadRow(int(line[i]), str(where[i]), str(problem[i])) for i in np.flatnonzero(problem != "")]
    bad.sort(key=lambda b: b.line)
    if strict and bad:
        b = bad[0]
        raise InputError(source, f"line {b.line}" + (f", {b.column}" if b.column else ""), b.problem)
    ok = problem == ""
    return Inventory(
        source=source,
        columns={f: header[j] for f, j in cols.items()},
        client_id=ids.to_numpy(dtype=object)[ok],
        group=groups.to_numpy(dtype=object)[ok],
        version=versions.to_numpy(dtype=object)[ok],
        os=os_names.to_numpy(dtype=object)[ok],
        checkin=checkin[ok],
        online=online[ok],
        line=line[ok],
        rows_read=read,
        bad=bad,
    )


def _row_problems(
    header: list[str],
    cols: dict[str, int],
    ids: pd.Series,
    groups: pd.Series,
    versions: pd.Series,
    raw_times: pd.Series,
    checkin: np.ndarray,
    bad_online: np.ndarray,
    online_raw: pd.Series,
    line: np.ndarray,
    snapshot: float | None,
    now: float | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, its first problem and the column it is in ("" for a good row): empty fields, unreadable
    times and statuses, check-ins after the snapshot (or implausibly late without one), duplicate names."""
    n = len(ids)
    problem = np.full(n, "", dtype=object)
    where = np.full(n, "", dtype=object)

    def flag(mask: np.ndarray, fld: str, message: Callable[[int], str]) -> None:
        """Give rows in ``mask`` that have no problem yet this one (the first problem of a row is reported)."""
        for i in np.flatnonzero(mask & (problem == "")):
            problem[i] = message(int(i))
            where[i] = header[cols[fld]]

    flag((ids == "").to_numpy(), "client_id", lambda i: "empty computer name")
    flag((groups == "").to_numpy(), "group", lambda i: "empty group")
    flag((versions == "").to_numpy(), "version", lambda i: "empty client version")
    flag((raw_times == "").to_numpy(), "last_checkin", lambda i: "no last check-in time")
    flag(~np.isfinite(checkin), "last_checkin", lambda i: f"cannot read the time {raw_times.iloc[i]!r} ({TIME_HELP})")
    if "online" in cols:
        status = online_raw.astype(str).str.strip()
        flag(
            bad_online,
            "online",
            lambda i: f"unknown online status {status.iloc[i]!r} (expected online/offline, yes/no, true/false or 1/0)",
        )
    if snapshot is not None:
        snap = iso_utc(snapshot)
        flag(
            np.isfinite(checkin) & (checkin > snapshot),
            "last_checkin",
            lambda i: f"last check-in {raw_times.iloc[i]!r} is after the snapshot time {snap}",
        )
    else:
        flag(
            implausibly_late(checkin, now),
            "last_checkin",
            lambda i: (
                f"last check-in {raw_times.iloc[i]!r} is implausible (in the future, or {LATE_GAP_DAYS:g} "
                "days or more after every other one): not used as the snapshot"
            ),
        )
    # duplicates among the otherwise good rows: the first one is kept (computer names ignore case)
    folded = ids.str.casefold()
    sel = np.flatnonzero(problem == "")
    d = folded.iloc[sel].duplicated().to_numpy()
    if d.any():
        keep = sel[~d]
        first_line = dict(zip(folded.iloc[keep], line[keep], strict=True))
        dup = np.zeros(n, bool)
        dup[sel[d]] = True
        flag(
            dup,
            "client_id",
            lambda i: f"duplicate computer name {ids.iloc[i]!r} (first on line {first_line[folded.iloc[i]]})",
        )

    return problem, where


@dataclass(frozen=True)
class GroupNode:
    name: str  # full path, the scenario's group name
    parent: str | None


def group_tree(paths: list[str] | np.ndarray, root_name: str = "My Company") -> list[GroupNode]:
    """The groups a scenario needs for these paths: every prefix, parents first. Paths with different first
    parts get a common root ``root_name`` (a scenario has exactly one root)."""
    names: set[str] = set()
    for p in set(str(x) for x in paths):
        parts = p.split("/")
        for i in range(1, len(parts) + 1):
            names.add("/".join(parts[:i]))
    tops = sorted(n for n in names if "/" not in n)
    extra_root = None
    if len(tops) != 1:
        extra_root = root_name
        while extra_root in names:
            extra_root += " (root)"
    nodes: list[GroupNode] = []
    if extra_root is not None:
        nodes.append(GroupNode(extra_root, None))

    def visit(name: str, parent: str | None) -> None:
        nodes.append(GroupNode(name, parent))
        prefix = name + "/"
        for child in sorted(n for n in names if n.startswith(prefix) and "/" not in n[len(prefix) :]):
            visit(child, name)

    for top in tops:
        visit(top, extra_root)
    return nodes


ABSENCE_FIELDS: dict[str, tuple[str, ...]] = {
    "client_id": FIELDS["client_id"],
    "offline_from": ("offline_from", "Offline From", "From", "Start", "Leave Start", "Start Date"),
    "offline_until": ("offline_until", "Offline Until", "Until", "End", "Leave End", "End Date", "Return"),
}


@dataclass
class Absences:
    table: pd.DataFrame  # client_id, offline_from, offline_until (ISO UTC, hours, or empty)
    rows_read: int
    bad: list[BadRow]


def read_absences(
    path: Path,
    clients: dict[str, str],
    start: float,
    *,
    tz_hours: float = 0.0,
    time_format: str | None = None,
    strict: bool = False,
) -> Absences:
    """Known absences (an HR leave calendar) in the core ``absences.csv`` form: client, from, until; each a
    time, hours relative to the runbook start, or empty (from: away since before; until: never back).

    ``clients``: casefolded computer name -> the name as in clients.csv. Times are written back as ISO UTC.
    """
    source = str(path)
    header, rows, lines, bad, read = read_rows(path)
    keys = {column_key(h): i for i, h in reversed(list(enumerate(header)))}
    cols: dict[str, int] = {}
    for fld, aliases in ABSENCE_FIELDS.items():
        i = next((keys[column_key(a)] for a in aliases if column_key(a) in keys), None)
        if i is None:
            raise InputError(
                source, "header", f"no column for {fld} (accepted: {' / '.join(aliases)}); columns: {', '.join(header)}"
            )
        cols[fld] = i
    out: list[tuple[str, str, str]] = []
    for row, ln in zip(rows, lines, strict=True):
        cid = row[cols["client_id"]].strip()
        canon = clients.get(cid.casefold())
        values: list[str] = []
        hours: list[float] = []
        problem: BadRow | None = None
        if canon is None:
            problem = BadRow(ln, header[cols["client_id"]], f"computer {cid!r} is not among the imported clients")
        for fld, empty_hours in (("offline_from", -np.inf), ("offline_until", np.inf)):
            if problem is not None:
                break
            v = row[cols[fld]].strip()
            if v == "":
                values.append("")
                hours.append(empty_hours)
                continue
            try:
                h = float(v)
                values.append(f"{h:g}")
                hours.append(h)
                continue
            except ValueError:
                pass
            secs = parse_times(pd.Series([v]), tz_hours, time_format)[0]
            if not np.isfinite(secs):
                problem = BadRow(ln, header[cols[fld]], f"cannot read {v!r}: expected hours from the start or a time")
                break
            values.append(iso_utc(secs))
            hours.append((secs - start) / 3600.0)
        if problem is None and not hours[1] > hours[0]:
            problem = BadRow(ln, header[cols["offline_until"]], "must be after offline_from")
        if problem is not None:
            if strict:
                raise InputError(source, f"line {problem.line}, {problem.column}", problem.problem)
            bad.append(problem)
            continue
        assert canon is not None
        out.append((canon, values[0], values[1]))
    bad.sort(key=lambda b: b.line)
    if strict and bad:
        b = bad[0]
        raise InputError(source, f"line {b.line}" + (f", {b.column}" if b.column else ""), b.problem)
    table = pd.DataFrame(out, columns=["client_id", "offline_from", "offline_until"])
    return Absences(table, read, bad)
