"""What the console exports show during a rotation: per client, which new certificates it holds, its last
server, its last check-in and how long it has been away.

Rule (docs/model.md, "Tracking a rotation"): a client whose last check-in is at or after the moment a change
reached its site's database (the site of its last server) has learnt it; one whose last check-in is before
has not. So the cache a client holds is what its site's database said at its last check-in: the world is
replayed from the log alone (``sim.tracking.plan.view_history``) and read at that moment. An orphan's
check-ins fail, so the console's last check-in is its last one that worked: the rule holds for it too.

Exports are read by the inventory reader of ``rotasim fleet import`` (same columns, same formats). The time of
an export is given (``FILE@TIME``) or its newest check-in, as in the import. Refused (exit 2): an export
older than the log's last step, a computer name twice in an export, a client of an earlier export missing
from a later one, a group or server the scenario does not have. Other bad rows are skipped with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.calibration.inventory import Inventory, column_key, read_inventory, read_rows
from sim.errors import InputError, warn
from sim.model.topology import Topology
from sim.scenario.document import Scenario
from sim.tracking.log import RotationLog, parse_zoned
from sim.tracking.plan import ViewHistory

SERVER_COLUMNS = ("Server Name", "Management Server", "Last Server", "Server", "last_server")


@dataclass(frozen=True)
class ExportSpec:
    """An export file and, when given, the moment it was taken (``FILE@TIME``)."""

    path: Path
    taken_at: str | None = None

    @classmethod
    def parse(cls, text: str) -> ExportSpec:
        path, sep, when = text.rpartition("@")
        if sep and when and ("T" in when or ":" in when):
            return cls(Path(path), when)
        return cls(Path(text))


@dataclass
class Export:
    """One export read: its time (hours since the runbook start), clients in file order, last servers."""

    source: str
    at: float
    inventory: Inventory
    server: np.ndarray  # manager index, -1: not in the export


@dataclass
class Observed:
    """The fleet as the newest export shows it, with what each client holds (``cert``: per manager, the
    certificate generation of its cache), and the exports it was read from, oldest first."""

    at: float  # hours: the newest export
    client_id: np.ndarray
    group: np.ndarray  # group index
    version: np.ndarray  # str, as exported
    last_checkin: np.ndarray  # hours
    last_server: np.ndarray  # manager index
    server_known: np.ndarray  # bool: from the export's server column
    msl: np.ndarray
    secure: np.ndarray
    heartbeat: np.ndarray  # minutes
    cert: np.ndarray  # (n, managers)
    learnt_at: np.ndarray  # hours: earliest export check-in at which it held a new certificate, NaN: none
    exports: list[Export]

    @property
    def n(self) -> int:
        return len(self.client_id)

    @property
    def age(self) -> np.ndarray:
        """Hours since each client's last check-in, at the newest export."""
        return self.at - self.last_checkin


def group_lookup(sc: Scenario, topo: Topology) -> dict[str, int]:
    """Export group path (casefolded) -> group index: a group's name, its path from the root, its last part."""
    parent = {g.name: g.parent for g in sc.groups}
    out: dict[str, int] = {}
    for i, name in enumerate(topo.group_names):
        path, p = [name], parent.get(name)
        while p is not None:
            path.insert(0, p)
            p = parent.get(p)
        for key in (name.split("/")[-1], "/".join(path), name):
            out[key.replace("\\", "/").casefold()] = i
    return out


def _servers(path: Path, inv: Inventory, topo: Topology) -> np.ndarray:
    """Last server per row from the optional server column (-1: none); unknown names are refused."""
    header, rows, lines, _, _ = read_rows(path)
    keys = {column_key(h): j for j, h in reversed(list(enumerate(header)))}
    j = next((keys[column_key(a)] for a in SERVER_COLUMNS if column_key(a) in keys), None)
    out = np.full(inv.n, -1, np.int64)
    if j is None:
        return out
    by_line = {ln: r[j].strip() for ln, r in zip(lines, rows, strict=True)}
    names = {m.casefold(): k for k, m in enumerate(topo.manager_names)}
    for i, ln in enumerate(inv.line):
        v = by_line.get(int(ln), "")
        if v == "":
            continue
        k = names.get(v.casefold())
        if k is None:
            raise InputError(
                str(path),
                f"line {ln}, {header[j]}",
                f"a manager of the scenario ({', '.join(topo.manager_names)}); got {v!r}",
            )
        out[i] = k
    return out


def read_export(spec: ExportSpec, log: RotationLog, topo: Topology) -> Export:
    """One export and its time (hours since the runbook's start)."""
    src = str(spec.path)
    snap = None
    if spec.taken_at is not None:
        snap = parse_zoned(spec.taken_at, src, "export time (FILE@TIME)").timestamp()
    inv = read_inventory(spec.path, snapshot=snap)
    dups = [b for b in inv.bad if b.problem.startswith("duplicate computer name")]
    if dups:
        b = dups[0]
        raise InputError(
            src, f"line {b.line}, {b.column}", b.problem + f"; each computer once ({len(dups)} duplicate rows)"
        )
    if inv.bad:
        b = inv.bad[0]
        warn(src, f"line {b.line}", f"{len(inv.bad)} row(s) skipped, the first: {b.problem}")
    if inv.n == 0:
        raise InputError(src, "", "no usable client row")
    cal = log.calendar
    at_secs = snap if snap is not None else float(inv.checkin.max())
    at = (at_secs - cal.start.timestamp()) / 3600.0
    return Export(src, at, inv, _servers(spec.path, inv, topo))


def read_exports(specs: list[ExportSpec], log: RotationLog, topo: Topology, *, after_log: bool = True) -> list[Export]:
    """Read the exports, oldest first by their time; a client of one is in every later one. With ``after_log``
    the newest is refused when older than the log's last step (it cannot show it); earlier exports may be (the
    returns between them are data; a backtest cuts the log at each)."""
    if not specs:
        raise InputError("--export", "", "at least one console export")
    exports = sorted((read_export(s, log, topo) for s in specs), key=lambda e: e.at)
    if after_log:
        _check_after_log(exports[-1], log)
    _check_same_clients(exports)
    return exports


def observe(exports: list[Export], log: RotationLog, sc: Scenario, topo: Topology, history: ViewHistory) -> Observed:
    """Every client's cache at the newest export, from the world replayed to then (``history``)."""
    new = exports[-1]
    inv = new.inventory
    cal = log.calendar
    groups = group_lookup(sc, topo)
    gi = np.empty(inv.n, np.int32)
    for i, g in enumerate(inv.group):
        k = groups.get(str(g).casefold())
        if k is None:
            raise InputError(
                new.source,
                f"line {inv.line[i]}, {inv.columns['group']}",
                f"a group of the scenario ({', '.join(topo.group_names)}); got {g!r}",
            )
        gi[i] = k
    last = (inv.checkin - cal.start.timestamp()) / 3600.0
    server = new.server.copy()
    known = server >= 0
    server[~known] = _default_server(topo, gi[~known])
    site = topo.manager_site[server]
    k = np.clip(history.at(last), 0, len(history.times) - 1)
    msl = history.msl[k, site, gi]
    secure = history.secure[k, site, gi].astype(bool)
    heartbeat = history.heartbeat[k, site, gi].astype(float)
    cert = history.cert[k, site, :]
    learnt = np.where(cert.max(axis=1) > 0, last, np.nan)
    for e in exports[:-1]:  # an earlier export that already showed it holding a new certificate
        learnt = np.fmin(learnt, _learnt_in(e, inv, topo, history, cal.start.timestamp(), gi))
    return Observed(
        new.at, inv.client_id, gi, inv.version, last, server, known, msl, secure, heartbeat, cert, learnt, exports
    )


def _default_server(topo: Topology, groups: np.ndarray) -> np.ndarray:
    """Without a server column: the first manager of the top tier of the group's list at the start (its
    site is the one that matters; with one site any manager is the same)."""
    msl = topo.init_msl[groups]
    return np.array([topo.variants[int(v)].tiers[0][0][0] for v in msl], np.int64)


def _learnt_in(
    e: Export, inv: Inventory, topo: Topology, history: ViewHistory, start: float, gi: np.ndarray
) -> np.ndarray:
    pos = {str(c).casefold(): i for i, c in enumerate(e.inventory.client_id)}
    idx = np.array([pos.get(str(c).casefold(), -1) for c in inv.client_id])
    t = np.full(inv.n, np.nan)
    ok = idx >= 0
    t[ok] = (e.inventory.checkin[idx[ok]] - start) / 3600.0
    server = np.where(ok, e.server[np.maximum(idx, 0)], -1)
    server = np.where(server >= 0, server, _default_server(topo, gi))
    k = np.clip(history.at(np.nan_to_num(t, nan=-1.0)), 0, len(history.times) - 1)
    held = history.cert[k, topo.manager_site[server], :].max(axis=1) > 0
    return np.where(ok & held, t, np.nan)


def _check_after_log(e: Export, log: RotationLog) -> None:
    cal, at, src = log.calendar, e.at, e.source
    if at < log.last_done - 1e-9:
        last = log.done[-1]
        raise InputError(
            src,
            "export time",
            f"an export taken after the log's last step {last.name!r} ({cal.date(last.done_at)}); this one is from "
            f"{cal.date(at)}: it cannot show that step",
        )


def _check_same_clients(exports: list[Export]) -> None:
    """A client seen in an export is in every later one (a console shows a client until it purges it)."""
    for a, b in zip(exports, exports[1:], strict=False):
        later = {str(c).casefold() for c in b.inventory.client_id}
        missing = [str(c) for c in a.inventory.client_id if str(c).casefold() not in later]
        if missing:
            raise InputError(
                b.source,
                "",
                f"every client of the earlier export {a.source} ({len(missing)} missing, e.g. {missing[0]!r}); "
                "export the same client list each time (a purged client is still in the rotation)",
            )
