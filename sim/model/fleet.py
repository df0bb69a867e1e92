"""The fleet: one row per client, held as numpy columns. Generated from the scenario's shares or read from
``clients.csv`` and ``absences.csv``. Both engines replay the very same fleet for a given seed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import InputError, check_input_file, printable
from sim.model.presence import Presence, generate_presence, generate_presence_by_id
from sim.model.streams import keys_from_ids, keys_from_index, splitmix64, to_unit
from sim.model.topology import Topology
from sim.model.versions import warn_unmatched
from sim.scenario.document import Scenario, absolute
from sim.scenario.fields import AwayAtStartSpec, FleetFiles, LeaveSpec, PresenceSpec


@dataclass
class Fleet:
    client_id: np.ndarray  # str
    group: np.ndarray  # int32 group index
    version: np.ndarray  # int index into version_names
    version_names: list[str]
    unsupported: np.ndarray  # bool: its version cannot use the multi-server method (no failover on a mismatch)
    heartbeat_override: np.ndarray  # hours, NaN: the group's policy
    push: np.ndarray  # bool
    jitter: float
    presence: Presence
    phase_u: np.ndarray  # U(0,1): where in its heartbeat cycle a client online at the start is
    choice_u: np.ndarray  # U(0,1): which top-tier server it used last before the start
    delay_u: np.ndarray  # U(0,1): seeds the 0-60 s check-in delay on coming online
    delay_mean_hours: float
    use_last_server: bool
    failback_hours: float  # inf: never
    keys: np.ndarray  # uint64 per client: keys its random streams (from its id for fleets read from files)

    @property
    def n(self) -> int:
        return len(self.group)

    def online_delay(self, idx: np.ndarray, spell_start: np.ndarray) -> np.ndarray:
        """Delay of the check-in on coming online (fact 9), fixed per client and spell so that asking twice
        gives the same answer: U(0, 2*mean) from a low-discrepancy walk seeded by the client."""
        if self.delay_mean_hours <= 0:
            return np.zeros(len(idx))
        frac = np.mod(self.delay_u[idx] + spell_start * 0.6180339887498949, 1.0)
        return 2.0 * self.delay_mean_hours * frac


def _leaf_groups(topo: Topology) -> list[int]:
    parents = set(int(p) for p in topo.group_parent if p >= 0)
    leaves = [g for g in range(topo.n_groups) if g not in parents]
    return leaves or [topo.root]


def generated_ids(n: int) -> np.ndarray:
    """``c0000000``, ``c0000001``, ...: the ids of a generated fleet, as fixed-width unicode built from digit
    arithmetic (the same strings as ``f"c{i:07d}"``, without a Python string per client)."""
    width = max(7, len(str(max(n - 1, 0))))
    chars = np.empty((n, width + 1), np.uint32)
    chars[:, 0] = ord("c")
    i = np.arange(n, dtype=np.int64)
    for d in range(width):
        chars[:, width - d] = (i // 10**d) % 10 + ord("0")
    return chars.view(f"<U{width + 1}").reshape(n)


@dataclass
class FleetBase:
    """What a scenario's fleet is before any draw: the same in every replication, so it is built once per
    scenario and shared (``fleet_base``). For a generated fleet, the client ids and stream keys; for a fleet
    read from files, everything read from them (the draws, its background presence and per-client uniforms,
    stay per replication)."""

    n: int
    ids: np.ndarray
    keys: np.ndarray
    files: ParsedFiles | None = None


@dataclass
class ParsedFiles:
    """clients.csv (and absences.csv) as read and checked, in row order."""

    path: Path
    groups: np.ndarray
    version: np.ndarray
    vnames: list[str]
    heartbeat: np.ndarray
    push: np.ndarray
    tz: np.ndarray | None
    absences: tuple[np.ndarray, np.ndarray, np.ndarray] | None


def fleet_base(sc: Scenario, topo: Topology, n: int | None = None) -> FleetBase:
    """The replication-independent part of the scenario's fleet (``n`` resizes a generated one)."""
    fs = sc.fleet
    if fs.files is not None:
        parsed, ids = _parse_fleet_files(sc, topo, fs.files)
        return FleetBase(len(ids), ids, keys_from_ids(ids), parsed)
    n = fs.clients if n is None else n
    return FleetBase(n, generated_ids(n), keys_from_index(n))


def generate_fleet(
    sc: Scenario, topo: Topology, rng: np.random.Generator, n: int | None = None, base: FleetBase | None = None
) -> Fleet:
    """Draw a fleet from the scenario's shares. ``n`` overrides the number of clients (for sizing runs).
    ``base``: the scenario's ``fleet_base``, when the caller shares it between replications (the draws are
    the same either way: the base holds nothing drawn)."""
    fs = sc.fleet
    horizon = sc.horizon_days * 24.0
    base = fleet_base(sc, topo, n) if base is None else base
    if base.files is not None:
        return read_fleet_files(sc, topo, base, rng)
    n = base.n
    if fs.groups is not None:
        gnames = list(fs.groups)
        gp = np.array(list(fs.groups.values()))
        groups = np.array([topo.group_index(g) for g in gnames], np.int32)[rng.choice(len(gnames), n, p=gp / gp.sum())]
    else:
        leaves = np.array(_leaf_groups(topo), np.int32)
        groups = leaves[rng.integers(0, len(leaves), n)]
    vnames = list(fs.versions)
    vp = np.array(list(fs.versions.values()))
    version = rng.choice(len(vnames), n, p=vp / vp.sum()).astype(np.int16)
    push = rng.random(n) < fs.push_share
    presence = generate_presence(fs.presence, n, horizon, rng)
    return _assemble(
        sc,
        topo,
        base.ids,
        groups,
        version,
        vnames,
        np.full(n, np.nan),
        push,
        presence,
        rng,
        keys=base.keys,
        version_source=(sc.source, "fleet.versions"),
    )


def _assemble(
    sc: Scenario,
    topo: Topology,
    ids: np.ndarray,
    groups: np.ndarray,
    version: np.ndarray,
    vnames: list[str],
    hb_override: np.ndarray,
    push: np.ndarray,
    presence: Presence,
    rng: np.random.Generator,
    keys: np.ndarray | None = None,
    version_source: tuple[str, str] = ("scenario", "fleet.versions"),
) -> Fleet:
    """Per-client uniforms come from the client's key, so a fleet read from files gives every client the
    same draws whatever its row."""
    n = len(ids)
    fs = sc.fleet
    keys = keys_from_index(n) if keys is None else keys
    salt = rng.integers(0, 2**63, size=3, dtype=np.uint64)
    phase_u, choice_u, delay_u = (to_unit(splitmix64(keys ^ s)) for s in salt)
    unsupported_v = topo.versions.unsupported(vnames)
    counts = np.bincount(version, minlength=len(vnames)) if n else np.zeros(len(vnames), np.int64)
    warn_unmatched(topo.versions, {v: int(k) for v, k in zip(vnames, counts, strict=True)}, *version_source)
    return Fleet(
        client_id=ids,
        group=groups.astype(np.int32),
        version=version.astype(np.int16),
        version_names=vnames,
        unsupported=unsupported_v[version] if n else np.zeros(0, bool),
        heartbeat_override=hb_override,
        push=push,
        jitter=fs.jitter,
        presence=presence,
        phase_u=phase_u,
        choice_u=choice_u,
        delay_u=delay_u,
        delay_mean_hours=fs.presence.online_checkin_delay_seconds / 3600.0,
        use_last_server=fs.use_last_server,
        failback_hours=np.inf if fs.failback_hours is None else fs.failback_hours,
        keys=keys,
    )


CLIENT_COLUMNS = ("client_id", "group", "version")


OPTIONAL_CLIENT_COLUMNS = ("heartbeat_minutes", "mode", "timezone")


ABSENCE_COLUMNS = ("client_id", "offline_from", "offline_until")


def _read_csv(path: Path, required: tuple[str, ...], optional: tuple[str, ...]) -> pd.DataFrame:
    check_input_file(path)
    _check_field_counts(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, index_col=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(str(path), "", f"not a readable CSV file ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(str(path), "header", f"missing column(s) {', '.join(missing)}; expected {', '.join(required)}")
    unknown = [c for c in df.columns if c not in required + optional]
    if unknown:
        raise InputError(
            str(path), "header", f"unknown column(s) {', '.join(unknown)}; allowed: {', '.join(required + optional)}"
        )
    return df


def _check_field_counts(path: Path) -> None:
    """Every row has as many fields as the header: pandas would otherwise shift a long row's columns."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = csv.reader(f)
            header = next(rows, None)
            if header is None:
                return
            for line, row in enumerate(rows, start=2):
                if row and len(row) != len(header):
                    raise InputError(
                        str(path), f"line {line}", f"expected {len(header)} fields like the header (got {len(row)})"
                    )
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(str(path), "", f"not a readable CSV file ({exc})") from None


def _parse_time(value: str, start: datetime | None, path: Path, line: int, col: str) -> float:
    """Hours since the runbook start: a number of hours, an ISO time (with a start time), or empty (never)."""
    v = value.strip()
    if v == "":
        return np.inf
    try:
        x = float(v)
    except ValueError:
        pass
    else:
        if not np.isfinite(x):
            raise InputError(str(path), f"line {line}, {col}", f"expected a finite number of hours (got {v!r})")
        return x
    try:
        ts = datetime.fromisoformat(v)
    except ValueError:
        raise InputError(str(path), f"line {line}, {col}", f"expected hours or an ISO time (got {v!r})") from None
    if start is None:
        raise InputError(str(path), f"line {line}, {col}", "ISO times need fleet.files.start_time in the scenario")
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return (ts - start).total_seconds() / 3600.0


def _parse_fleet_files(sc: Scenario, topo: Topology, files: FleetFiles) -> tuple[ParsedFiles, np.ndarray]:
    """Read and check clients.csv (and absences.csv) as named by the scenario, paths relative to its folder:
    (what they say, the client ids)."""
    cpath = absolute(sc.base_dir / files.clients)
    df = _read_csv(cpath, CLIENT_COLUMNS, OPTIONAL_CLIENT_COLUMNS)
    if len(df) == 0:
        raise InputError(str(cpath), "", "no clients listed")
    gidx = {g: i for i, g in enumerate(topo.group_names)}
    # group names are compared as the scenario holds them: control characters made visible (sim.errors.printable)
    df["group"] = df["group"].map(printable)
    bad_group = ~df["group"].isin(list(gidx))
    if bad_group.any():
        i = int(np.flatnonzero(bad_group.to_numpy())[0])
        raise InputError(
            str(cpath),
            f"line {i + 2}, group",
            f"unknown group {df['group'].iloc[i]!r}; the scenario has {', '.join(topo.group_names)}",
        )
    dup = df["client_id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(str(cpath), f"line {i + 2}, client_id", f"duplicate client {df['client_id'].iloc[i]!r}")
    empty = df["client_id"].str.strip() == ""
    if empty.any():
        raise InputError(str(cpath), f"line {int(np.flatnonzero(empty.to_numpy())[0]) + 2}, client_id", "empty")
    n = len(df)
    groups = df["group"].map(gidx).to_numpy(np.int32)
    vnames = sorted(set(df["version"]))
    version = df["version"].map({v: i for i, v in enumerate(vnames)}).to_numpy(np.int16)
    hb = np.full(n, np.nan)
    if "heartbeat_minutes" in df.columns:
        for i, v in enumerate(df["heartbeat_minutes"]):
            if v.strip() == "":
                continue
            try:
                x = float(v)
            except ValueError:
                x = -1.0
            if not 0 < x <= 24 * 60:
                raise InputError(
                    str(cpath), f"line {i + 2}, heartbeat_minutes", f"expected minutes between 0 and 1440 (got {v!r})"
                )
            hb[i] = x / 60.0
    push = np.zeros(n, bool)
    if "mode" in df.columns:
        modes = df["mode"].str.strip().str.lower()
        bad = ~modes.isin(["", "pull", "push"])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(str(cpath), f"line {i + 2}, mode", f"expected pull or push (got {df['mode'].iloc[i]!r})")
        push = (modes == "push").to_numpy()
    if "timezone" in df.columns:
        tz_vals = df["timezone"].str.strip()
        tz = np.zeros(n)
        for i, v in enumerate(tz_vals):
            if v == "":
                continue
            try:
                tz[i] = float(v)
            except ValueError:
                raise InputError(
                    str(cpath), f"line {i + 2}, timezone", f"expected a UTC offset in hours (got {v!r})"
                ) from None
            if not -12 <= tz[i] <= 14:
                raise InputError(str(cpath), f"line {i + 2}, timezone", f"UTC offset must be in -12..14 (got {v!r})")
    else:
        tz = None
    extra = None
    if files.absences is not None:
        extra = _read_absences(sc, files, {c: i for i, c in enumerate(df["client_id"])}, sc.horizon_days * 24.0)
    ids = df["client_id"].to_numpy()
    return ParsedFiles(cpath, groups, version, vnames, hb, push, tz, extra), ids


def read_fleet_files(sc: Scenario, topo: Topology, base: FleetBase, rng: np.random.Generator) -> Fleet:
    """A fleet read from files (``fleet_base`` read them): its background presence and uniforms drawn."""
    p = base.files
    assert p is not None
    files = sc.fleet.files
    assert files is not None
    spec = sc.fleet.presence
    tz, extra = p.tz, p.absences
    names = pd.Series(np.array(topo.group_names, dtype=object)[p.groups])
    always, leave_from = _background_limits(files, names, topo.group_names, sc.source)
    presence = generate_presence_by_id(  # drawn by client id: the order of the rows changes nothing
        spec if files.background_presence else _no_background(spec),
        base.ids,
        sc.horizon_days * 24.0,
        rng,
        extra=extra,
        always_on=always,
        leave_from=leave_from,
    )
    if tz is not None:  # the listed time zone replaces the drawn one
        assert presence.tz is not None
        presence.offset = presence.offset - presence.tz + tz
        presence.tz = tz
    return _assemble(
        sc,
        topo,
        base.ids,
        p.groups,
        p.version,
        p.vnames,
        p.heartbeat,
        p.push,
        presence,
        rng,
        keys=base.keys,
        version_source=(str(p.path), "version"),
    )


def _background_limits(
    files: FleetFiles, groups: pd.Series, known: list[str], source: str
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(always on, earliest leave start) per listed client: everyone online throughout without background
    presence; with it, clients of ``always_on_groups`` online throughout and without leave, and no leave spell
    starting before ``seen_within_days`` (docs/model.md, "Listed clients seen recently", "Always-on groups")."""
    n = len(groups)
    if not files.background_presence:
        return np.ones(n, bool), None
    unknown = [g for g in files.always_on_groups if g not in known]
    if unknown:
        raise InputError(source, "fleet.files.always_on_groups", f"unknown group {unknown[0]!r}")
    always = groups.isin(files.always_on_groups).to_numpy() if files.always_on_groups else None
    if always is None and files.seen_within_days is None:
        return None, None
    leave_from = np.full(n, -np.inf if files.seen_within_days is None else -24.0 * files.seen_within_days)
    if always is not None:
        leave_from[always] = np.inf
    return always, leave_from


def _no_background(spec: PresenceSpec) -> PresenceSpec:
    """The presence model without leave, away-at-start or decommissioning: only the listed absences."""
    return spec.model_copy(update={"leave": LeaveSpec(), "away_at_start": AwayAtStartSpec(), "gone_share": 0.0})


def _read_absences(
    sc: Scenario, files: FleetFiles, ids: dict[str, int], horizon: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    assert files.absences is not None
    apath = absolute(sc.base_dir / files.absences)
    df = _read_csv(apath, ABSENCE_COLUMNS, ())
    start = None
    if files.start_time is not None:
        try:
            start = datetime.fromisoformat(files.start_time)
        except ValueError:
            raise InputError(
                sc.source, "fleet.files.start_time", f"expected an ISO time (got {files.start_time!r})"
            ) from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
    c = np.zeros(len(df), np.int64)
    s = np.zeros(len(df))
    e = np.zeros(len(df))
    for i, row in enumerate(df.itertuples(index=False)):
        line = i + 2
        cid = str(row.client_id).strip()
        if cid not in ids:
            raise InputError(str(apath), f"line {line}, client_id", f"client {cid!r} is not in clients.csv")
        c[i] = ids[cid]
        s[i] = _parse_time(str(row.offline_from), start, apath, line, "offline_from")
        if not np.isfinite(s[i]):
            s[i] = -1e12  # empty start: away since before the runbook
        e[i] = _parse_time(str(row.offline_until), start, apath, line, "offline_until")
        if e[i] <= s[i]:
            raise InputError(str(apath), f"line {line}, offline_until", "must be after offline_from")
    return c, s, e
