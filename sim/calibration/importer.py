"""``rotasim fleet import``: a real inventory export in, a fleet and a fitted presence model out.

Registered on the ``rotasim`` app by ``app.add_typer(fleet_app, name="fleet")``; the app's error policy
(``sim.cli``) turns an ``InputError`` into one line and exit code 2.

Why the outputs are staged: the import writes several files that only make sense together (a scenario that
names the clients, the fitted model and the group tree). They are written into a temporary folder beside
``DIR`` (``sim.io``'s atomic writes), the scenario there is loaded and its fleet built as a check, and only
then are the files moved into ``DIR``, each by an atomic rename. A failing import writes nothing.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.calibration.ages import FitSettings, WorkPattern
from sim.calibration.fit import PresenceFit, fit_presence
from sim.calibration.groups import always_on_groups
from sim.calibration.inventory import (
    Absences,
    GroupNode,
    Inventory,
    group_tree,
    iso_utc,
    parse_map,
    parse_time,
    read_absences,
)
from sim.calibration.inventory import read_inventory as _read_inventory
from sim.calibration.invisible import invisible_count, remaining_quantiles
from sim.calibration.purge import PurgeAge, purge_age
from sim.errors import InputError, warn
from sim.io import CSV_FLOAT_FORMAT, check_out_dir, csv_bytes, dumps, write_outputs
from sim.model.versions import VersionTable
from sim.scenario.document import build_scenario, load_scenario
from sim.scenario.fields import (
    DEFAULT_VERSIONS,
    WEEKDAYS,
    FleetFiles,
    GroupSpec,
    ManagerSpec,
    MslSpec,
    PresenceSpec,
    SiteSpec,
)

MAX_BAD_ROWS_LISTED = 1000  # in fit.json


MAX_BAD_ROWS_SHOWN = 10  # on stderr


OUTPUTS = ("clients.csv", "ages.csv", "presence.yaml", "groups.yaml", "scenario.yaml", "fit.json", "fit.png")


PLACEHOLDER_MSL = "CHANGE-ME"


@dataclass
class ImportOptions:
    """Everything ``rotasim fleet import`` takes besides the two paths (defaults: docs/fleet-import.md)."""

    mapping: list[str] = field(default_factory=list)
    snapshot: str | None = None
    tz_hours: float = 0.0
    time_format: str | None = None
    strict: bool = False
    purge_days: float | None = None  # None: inferred from the export (the oldest offline row)
    max_leave_days: float | None = None  # None: max(365, 2 x purge), at most 1095
    absence_days: float = 3.0
    heartbeat_minutes: float | None = None  # None: SEPM's default 5, marked PLACEHOLDER
    client_utc_offset: float | None = None
    work_days: str = "mon,tue,wed,thu,fri"
    work_hours: str = "8-18"
    work_spread_hours: float = 1.0
    always_on_share: float | None = None
    absences: Path | None = None
    start: str | None = None
    msl: str | None = None
    managers: str = "sepm1,sepm2,sepm3"


def _check(ok: bool, option: str, value: object, message: str) -> None:
    if not ok:
        raise InputError(option, str(value), message)


def _work_pattern(o: ImportOptions) -> WorkPattern:
    days = [d.strip().lower()[:3] for d in o.work_days.split(",") if d.strip()]
    bad = [d for d in days if d not in WEEKDAYS]
    _check(bool(days) and not bad, "--work-days", o.work_days, "expected weekdays such as mon,tue,wed,thu,fri")
    try:
        a, b = (float(x) for x in o.work_hours.split("-"))
    except ValueError:
        raise InputError("--work-hours", o.work_hours, "expected START-END in hours, e.g. 8-18") from None
    _check(0 <= a < b <= 24, "--work-hours", o.work_hours, "expected 0 <= START < END <= 24")
    _check(0 <= o.work_spread_hours <= 12, "--work-spread-hours", o.work_spread_hours, "expected 0 to 12 hours")
    ordered = tuple(d for d in WEEKDAYS if d in days)
    return WorkPattern(days=ordered, start_hour=a, end_hour=b, spread_hours=o.work_spread_hours)


def _check_options(o: ImportOptions) -> None:
    """The options that do not depend on the export (bad ones: exit 2 before anything is read)."""
    if o.purge_days is not None:
        _check(0 < o.purge_days <= 3 * 365, "--purge-days", o.purge_days, "expected 1 to 1095 days")
        _check(o.absence_days < o.purge_days, "--absence-days", o.absence_days, "expected below --purge-days")
    if o.max_leave_days is not None:
        _check(0 < o.max_leave_days <= 3 * 365, "--max-leave-days", o.max_leave_days, "expected 1 to 1095 days")
    _check(o.absence_days > 0, "--absence-days", o.absence_days, "expected above 0")
    _check(-12 <= o.tz_hours <= 14, "--tz", o.tz_hours, "expected a UTC offset from -12 to 14 hours")
    offset = o.tz_hours if o.client_utc_offset is None else o.client_utc_offset
    _check(-12 <= offset <= 14, "--client-utc-offset", offset, "expected a UTC offset from -12 to 14 hours")
    if o.heartbeat_minutes is not None:
        _check(0 < o.heartbeat_minutes <= 1440, "--heartbeat-minutes", o.heartbeat_minutes, "expected 0 to 1440")
    if o.always_on_share is not None:
        _check(0 <= o.always_on_share <= 1, "--always-on-share", o.always_on_share, "expected 0 to 1")
    gap = _work_pattern(o).longest_gap_hours()
    _check(
        o.absence_days * 24.0 > gap,
        "--absence-days",
        o.absence_days,
        f"must exceed the longest regular off time of the work pattern ({gap:g} hours), or every weekend looks "
        "like an absence",
    )


def _settings(o: ImportOptions, purge_days: float) -> FitSettings:
    offset = o.tz_hours if o.client_utc_offset is None else o.client_utc_offset
    max_days = o.max_leave_days if o.max_leave_days is not None else max(365.0, min(1095.0, 2.0 * purge_days))
    _check(
        max_days > purge_days,
        "--max-leave-days",
        max_days,
        f"expected more than the purge age ({purge_days:g} days): leave is not cut at the purge age",
    )
    st = FitSettings(
        purge_days=purge_days,
        max_days=max_days,
        absence_days=o.absence_days,
        pattern=_work_pattern(o),
        timezones={float(offset): 1.0},
        always_on_share=o.always_on_share,
    )
    problems = st.check()
    _check(not problems, "--absence-days", o.absence_days, "; ".join(problems))
    return st


def _managers(o: ImportOptions) -> list[str]:
    names = [m.strip() for m in o.managers.split(",") if m.strip()]
    _check(bool(names) and len(set(names)) == len(names), "--managers", o.managers, "expected distinct names")
    return names


@dataclass
class Invisible:
    """The clients the console no longer lists but who are alive, as written: rows of clients.csv with a
    known absence up to their return (``sim.calibration.invisible``)."""

    expected: float
    stderr: float | None
    table: pd.DataFrame  # client_id, group, version, return_days (after the snapshot)

    @property
    def n(self) -> int:
        return len(self.table)

    def as_dict(self) -> dict[str, Any]:
        r = self.table["return_days"]
        return {
            "expected": self.expected,
            "stderr": self.stderr,
            "written": self.n,
            "client_ids": f"{self.table['client_id'].iloc[0]} .. {self.table['client_id'].iloc[-1]}" if self.n else "",
            "return_days_quantiles": {
                q: float(r.quantile(float(q))) if self.n else None for q in ("0.1", "0.5", "0.9")
            },
            "back_after_days": {f"{d:g}": int((r > d).sum()) for d in (7.0, 30.0, 90.0, 180.0, 365.0)},
            "how": "the fitted model's clients older than the purge age (fitted clients x q / (1 - q)); written "
            "as clients.csv rows with a known absence (absences.csv) to evenly spaced quantiles of the remaining "
            "length of an absence older than the purge age; group and version like the absent listed rows",
        }


@dataclass
class ImportResult:
    """What an import read and fitted, and the files it wrote into ``out``."""

    out: Path
    inventory: Inventory = field(repr=False)
    fit: PresenceFit = field(repr=False)
    snapshot: float  # seconds since 1970 UTC
    snapshot_given: bool
    start: float
    absences: Absences | None = field(repr=False)
    written: list[Path]
    seconds: dict[str, float]
    purge: PurgeAge | None = None
    invisible: Invisible | None = field(default=None, repr=False)
    always_on_groups: list[str] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)


def run_import(
    inventory: Path, out: Path, o: ImportOptions | None = None, *, render: Callable[[PresenceFit, str], bytes]
) -> ImportResult:
    """Read, fit, write. Raises ``InputError`` on bad input (nothing is written then). ``render`` draws
    ``fit.png`` (``sim.presentation.fit_figure.plot_fit``: calibration computes, presentation draws)."""
    o = o or ImportOptions()
    clock = {"start": time.perf_counter()}
    _check_options(o)
    managers = _managers(o)
    mapping = parse_map(o.mapping)
    check_out_dir(out)
    snap_given = parse_time(o.snapshot, o.tz_hours, "--snapshot", o.time_format) if o.snapshot else None
    inv = _read_inventory(
        inventory,
        mapping,
        tz_hours=o.tz_hours,
        time_format=o.time_format,
        strict=o.strict,
        snapshot=snap_given,
        now=time.time() + 3600.0,
    )
    if inv.n == 0:
        first = f"; first: {inv.bad[0]}" if inv.bad else ""
        raise InputError(str(inventory), "", f"no usable rows ({len(inv.bad)} bad{first})")
    clock["read"] = time.perf_counter()
    snapshot = snap_given if snap_given is not None else float(inv.checkin.max())
    age_h = (snapshot - inv.checkin) / 3600.0
    within = max(2 * (o.heartbeat_minutes or 5.0), 15.0) / 60.0
    online = np.where(inv.online < 0, age_h <= within, inv.online == 1)
    purge = purge_age(age_h, online, o.purge_days, o.absence_days + 1.0, str(inventory))
    settings = _settings(o, purge.days)
    versions = _versions(inv, str(inventory))
    steady = always_on_groups(inv.group, age_h, online, o.absence_days)
    fitted = ~np.isin(inv.group, steady) if steady else np.ones(inv.n, bool)
    if not fitted.any():  # every group looks always on: fit them all rather than nothing
        steady, fitted = [], np.ones(inv.n, bool)
    snap_ts = pd.Timestamp(snapshot, unit="s", tz="UTC")
    weekhour = snap_ts.day_of_week * 24.0 + snap_ts.hour + snap_ts.minute / 60.0 + snap_ts.second / 3600.0
    try:
        fit = fit_presence(age_h[fitted], online[fitted], weekhour, settings)
    except ValueError as exc:
        raise InputError(str(inventory), "", f"cannot fit the presence model: {exc}") from None
    clock["fit"] = time.perf_counter()
    start = parse_time(o.start, o.tz_hours, "--start", o.time_format) if o.start else snapshot
    absences = None
    if o.absences is not None:
        ids = {str(c).casefold(): str(c) for c in inv.client_id}
        absences = read_absences(
            o.absences, ids, start, tz_hours=o.tz_hours, time_format=o.time_format, strict=o.strict
        )
    invisible = _invisible(fit, inv, fitted & ~online & (age_h > o.absence_days * 24.0), fitted)
    start_ts = pd.Timestamp(start, unit="s", tz="UTC")
    spec = fit.presence_spec(WEEKDAYS[start_ts.day_of_week], round(start_ts.hour + start_ts.minute / 60.0, 6))
    ctx = _Context(inventory, inv, fit, spec, snapshot, snap_given is not None, start, absences, managers, o)
    ctx.purge, ctx.invisible, ctx.always_on, ctx.versions, ctx.online = purge, invisible, steady, versions, online
    texts = _texts(ctx)
    png = render(fit, f"Last check-ins of {inventory.name} at {_iso_short(snapshot)}")
    clock["render"] = time.perf_counter()
    written = _commit(out, ctx, age_h, online, fitted, texts, png)
    clock["write"] = time.perf_counter()
    seconds = {
        "read": clock["read"] - clock["start"],
        "fit": clock["fit"] - clock["read"],
        "render": clock["render"] - clock["fit"],
        "write_and_check": clock["write"] - clock["render"],
        "total": clock["write"] - clock["start"],
    }
    return ImportResult(
        out,
        inv,
        fit,
        snapshot,
        snap_given is not None,
        start,
        absences,
        written,
        seconds,
        purge,
        invisible,
        steady,
        versions,
    )


def _versions(inv: Inventory, source: str) -> list[dict[str, Any]]:
    """Each version of the export through the simulator's version table (``sim.model.versions``, the
    scenario's default rules): its release and whether it fails over; one warning naming the unmatched ones."""
    table = VersionTable(DEFAULT_VERSIONS)
    names, counts = np.unique(inv.version.astype(str), return_counts=True)
    out = []
    for v, k in zip(names, counts, strict=True):
        m = table.match(str(v))
        out.append(
            {
                "version": str(v),
                "clients": int(k),
                "rule": m.rule,
                "release": m.release if m.rule is not None else None,
                "fails_over_on_cert_mismatch": not m.unsupported,
            }
        )
    missing = [r for r in out if r["rule"] is None]
    if missing:
        listed = ", ".join(f"{r['version']!r} ({r['clients']} clients)" for r in missing[:8])
        more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
        warn(
            source,
            inv.columns.get("version", "version"),
            f"no version rule matches {listed}{more}: treated as failing over on a certificate mismatch; add "
            "them to the scenario's `versions` (docs/model.md, Client versions)",
        )
    return out


INVISIBLE_SEED = 0  # which listed rows lend the invisible clients their group and version (reproducible)


def _invisible(fit: PresenceFit, inv: Inventory, absent: np.ndarray, fitted: np.ndarray) -> Invisible:
    k = invisible_count(fit)
    back = remaining_quantiles(fit, k)
    pool = np.flatnonzero(absent) if absent.any() else np.flatnonzero(fitted)
    rng = np.random.default_rng(INVISIBLE_SEED)
    pick = rng.choice(pool, size=k, replace=True) if k else np.zeros(0, np.int64)
    taken = {str(c).casefold() for c in inv.client_id}
    prefix = "INVISIBLE-"
    while any(c.startswith(prefix.casefold()) for c in taken):
        prefix = "_" + prefix
    width = max(4, len(str(k)))
    table = pd.DataFrame(
        {
            "client_id": [f"{prefix}{i + 1:0{width}d}" for i in range(k)],
            "group": inv.group[pick].astype(str),
            "version": inv.version[pick].astype(str),
            "return_days": np.round(back, 6),
        }
    )
    return Invisible(fit.invisible_clients, fit.invisible_clients_se, table)


def _iso_short(secs: float) -> str:
    return pd.Timestamp(secs, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


@dataclass
class _Context:
    """Everything the written files are made of."""

    inventory: Path
    inv: Inventory
    fit: PresenceFit
    spec: PresenceSpec
    snapshot: float
    given: bool
    start: float
    absences: Absences | None
    managers: list[str]
    o: ImportOptions
    purge: PurgeAge | None = None
    invisible: Invisible | None = None
    always_on: list[str] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)
    online: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per listed row

    @property
    def source(self) -> str:
        return self.inventory.name


def _group_specs(nodes: list[GroupNode], root_msl: str, heartbeat: float | None) -> list[GroupSpec]:
    out = []
    for g in nodes:
        if g.parent is None:
            out.append(GroupSpec(name=g.name, msl=root_msl, secure_comms=True, heartbeat_minutes=heartbeat))
        else:
            out.append(GroupSpec(name=g.name, parent=g.parent, inherit=True))
    return out


def _dump_groups(groups: list[GroupSpec]) -> list[dict[str, Any]]:
    return [g.model_dump(exclude_none=True) for g in groups]


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110, allow_unicode=True)


def _groups_yaml(source: str, nodes: list[GroupNode], msl: str | None) -> str:
    head = [
        f"# The group tree of {source} as a scenario `groups:` list: paste it into a scenario.",
        "# Every group inherits from its parent (an export does not say which groups have inheritance turned off:",
        "# set `inherit: false` and the group's own msl / secure_comms / heartbeat_minutes where yours do).",
    ]
    if msl is None:
        head.append(f"# {PLACEHOLDER_MSL}: the root group needs a management server list; name one of your msls.")
    body = _yaml({"groups": _dump_groups(_group_specs(nodes, msl or PLACEHOLDER_MSL, None))})
    return "\n".join(head) + "\n" + body


PLACEHOLDER = "PLACEHOLDER"


def _placeholders(ctx: _Context) -> list[str]:
    """What the export cannot tell, one mark each (``sim.scenario.document`` warns while any is left)."""
    o = ctx.o
    out = []
    if o.managers == ImportOptions.managers:
        out.append("sites: your site and its managers (--managers; these are made-up names)")
    if o.msl is None:
        out.append("msls: your management server list, its name (--msl) and priority tiers")
    if o.heartbeat_minutes is None:
        out.append("groups[0].heartbeat_minutes: your heartbeat (--heartbeat-minutes; SEPM's default is 5)")
    out.append("groups: which groups have inheritance turned off (an export does not say)")
    return [f"# {PLACEHOLDER} {p}" for p in out]


def _scenario_data(ctx: _Context, nodes: list[GroupNode]) -> dict[str, Any]:
    """The scenario as data, every section built as its pydantic model (dumped without defaults)."""
    o, managers = ctx.o, ctx.managers
    msl = o.msl or "site1-list"
    files = FleetFiles(
        clients="clients.csv",
        absences="absences.csv" if _has_absences(ctx) else None,
        start_time=iso_utc(ctx.start) if ctx.absences is not None else None,
        background_presence=True,
        seen_within_days=_seen_within(ctx),
        always_on_groups=list(ctx.always_on),
    )
    runbook: dict[str, Any]
    if len(managers) > 1:
        runbook = {
            "template": "kb-multi-server",
            "order": list(managers),
            "wait_heartbeats": 3,
            "retention_days": 30,
            "retention_end": "update",
        }
        what = "multi-server procedure keeping the last manager on the old certificate for 30 days."
    else:
        runbook = {"template": "kb-single-server", "wait_heartbeats": 3, "reenable_wait_heartbeats": 3}
        what = "single-server procedure."
    n_inv = ctx.invisible.n if ctx.invisible is not None else 0
    return {
        "name": Path(ctx.source).stem + "-import",
        "description": f"Fleet imported from {ctx.source} ({ctx.inv.n} clients listed, {n_inv} invisible) with its "
        f"fitted presence model; KB 187099's {what}",
        "horizon_days": 120,
        "seed": 0,
        "sites": [
            SiteSpec(name="site1", managers=[ManagerSpec(name=m) for m in managers]).model_dump(exclude_none=True)
        ],
        "msls": [MslSpec(name=msl, protocol="https", port=443, tiers=[list(managers)]).model_dump(exclude_none=True)],
        "groups": _dump_groups(_group_specs(nodes, msl, o.heartbeat_minutes or 5.0)),
        "fleet": {
            "presence_file": "presence.yaml",
            "files": files.model_dump(exclude_defaults=True) | {"background_presence": True},
        },
        "runbook": runbook,
    }


def _seen_within(ctx: _Context) -> float | None:
    """The purge age as seen from the runbook start (``fleet.files.seen_within_days``)."""
    if ctx.purge is None:
        return None
    days = ctx.purge.days + (ctx.start - ctx.snapshot) / 86400.0
    return round(days, 6) if days > 0 else None


def _has_absences(ctx: _Context) -> bool:
    return ctx.absences is not None or (ctx.invisible is not None and ctx.invisible.n > 0)


def _scenario_yaml(ctx: _Context, nodes: list[GroupNode]) -> str:
    data = _scenario_data(ctx, nodes)
    build_scenario({**data, "fleet": {**data["fleet"], "presence_file": None}}, "scenario.yaml")  # schema check
    n_inv = ctx.invisible.n if ctx.invisible is not None else 0
    head = [
        f"# Written by `rotasim fleet import` from {ctx.source}: {ctx.inv.n} clients listed at the snapshot "
        f"{iso_utc(ctx.snapshot)},",
        f"# and {n_inv} invisible clients (purged from the console but alive, estimated from the fitted tail:",
        "# fit.json, invisible). From the export: the clients (clients.csv), the group tree and the fitted presence",
        "# model (presence.yaml). Client versions map to capabilities by the default version rules (fit.json,",
        "# versions). The marks below name what an export does not tell: replace the value and delete the",
        "# mark; `rotasim validate`, `run` and `report` warn while any is left.",
        *_placeholders(ctx),
    ]
    return "\n".join(head) + "\n" + _yaml(data)


def _presence_yaml(source: str, spec: PresenceSpec, fit: PresenceFit) -> str:
    data = spec.model_dump(mode="json", exclude={"away_at_start", "online_checkin_delay_seconds"})
    data["timezones"] = {float(k): float(v) for k, v in spec.timezones.items()}
    for p in data["patterns"]:
        if p["schedule"] == "always":
            for k in ("days", "start_hour", "end_hour", "start_spread_hours"):
                p.pop(k)
    head = (
        f"# Presence model fitted by `rotasim fleet import` to {source} ({fit.counts.fitted} clients fitted).\n"
        f"# Absence lengths: {fit.best} (smallest AIC), fitted within the schema's limits; these are exactly the\n"
        "# values fit.json describes (standard errors and the other families there).\n"
        f"# Leave spells run to {spec.leave.max_days:g} days, not cut at the purge age "
        f"({fit.settings.purge_days:g} days).\n"
        "# start_weekday / start_hour_utc: when the runbook starts (--start; default the snapshot). Point a\n"
        "# scenario at this file with `fleet.presence_file: presence.yaml`.\n"
    )
    text = head + _yaml(data)
    if PresenceSpec.model_validate(yaml.safe_load(text)) != spec:  # what we write is what was fitted
        raise RuntimeError("presence.yaml does not read back as the fitted model")
    return text


def _fit_json(ctx: _Context) -> str:
    inv, fit = ctx.inv, ctx.fit
    c = fit.counts
    doc: dict[str, Any] = {
        "source": str(ctx.inventory),
        "columns": inv.columns,
        "snapshot_utc": iso_utc(ctx.snapshot),
        "snapshot_from": "--snapshot" if ctx.given else "newest check-in",
        "rows": {
            "read": inv.rows_read,
            "skipped": len(inv.bad),
            "clients": inv.n,
            "always_on_groups": int(np.isin(inv.group, ctx.always_on).sum()) if ctx.always_on else 0,
            "online": int(ctx.online.sum()),
            "fitted": c.n,
            "fitted_online": c.online,
            "offline_recent": int(c.bins[: fit.model.n_short].sum()),
            "absent": c.absent,
        },
        "purge": ctx.purge.as_dict() if ctx.purge is not None else None,
        "always_on_groups": list(ctx.always_on),
        "invisible": ctx.invisible.as_dict() if ctx.invisible is not None else None,
        "versions": ctx.versions,
        "bad_rows": [str(b) for b in inv.bad[:MAX_BAD_ROWS_LISTED]],
        **fit.as_dict(),
        "presence_written": ctx.spec.model_dump(mode="json"),
    }
    if ctx.absences is not None:
        a = ctx.absences
        doc["absences"] = {
            "source": str(ctx.o.absences),
            "read": a.rows_read,
            "skipped": len(a.bad),
            "written": len(a.table),
            "bad_rows": [str(b) for b in a.bad[:MAX_BAD_ROWS_LISTED]],
        }
    return dumps(doc) + "\n"


def _texts(ctx: _Context) -> dict[str, str]:
    nodes = group_tree(
        np.concatenate([ctx.inv.group, ctx.invisible.table["group"].to_numpy()])
        if ctx.invisible is not None
        else ctx.inv.group
    )
    return {
        "presence.yaml": _presence_yaml(ctx.source, ctx.spec, ctx.fit),
        "groups.yaml": _groups_yaml(ctx.source, nodes, ctx.o.msl),
        "scenario.yaml": _scenario_yaml(ctx, nodes),
        "fit.json": _fit_json(ctx),
    }


def _ages_table(ctx: _Context, age_h: np.ndarray, online: np.ndarray, fitted: np.ndarray) -> pd.DataFrame:
    st = ctx.fit.settings
    inv = ctx.inv
    cls = np.where(
        ~fitted,
        "always-on group",
        np.where(online, "online", np.where(age_h > st.absence_days * 24, "absent", "offline")),
    )
    stamps = np.datetime_as_string(np.round(inv.checkin).astype("int64").astype("datetime64[s]"), unit="s")
    return pd.DataFrame(
        {
            "client_id": inv.client_id,
            "group": inv.group,
            "os": inv.os,
            "online": np.where(online, "yes", "no"),
            "last_checkin_utc": np.char.add(stamps.astype(str), "Z"),
            "age_days": np.round(age_h / 24.0, 6),
            "class": cls,
        }
    )


def _clients_and_absences(ctx: _Context) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """clients.csv (listed rows, then the invisible ones) and absences.csv (known absences, then the invisible
    clients' absences up to their return, in hours from the runbook start)."""
    inv = ctx.inv
    clients = pd.DataFrame({"client_id": inv.client_id, "group": inv.group, "version": inv.version})
    tables = [] if ctx.absences is None else [ctx.absences.table]
    if ctx.invisible is not None and ctx.invisible.n:
        t = ctx.invisible.table
        clients = pd.concat([clients, t[["client_id", "group", "version"]]], ignore_index=True)
        until = t["return_days"] * 24.0 - (ctx.start - ctx.snapshot) / 3600.0
        tables.append(
            pd.DataFrame(
                {"client_id": t["client_id"], "offline_from": "", "offline_until": until.map(lambda h: f"{h:.6g}")}
            )
        )
    return clients, (pd.concat(tables, ignore_index=True) if tables else None)


def _commit(
    out: Path,
    ctx: _Context,
    age_h: np.ndarray,
    online: np.ndarray,
    fitted: np.ndarray,
    texts: dict[str, str],
    png: bytes,
) -> list[Path]:
    """Stage everything (``sim.io.write_outputs``), check the scenario loads with its fleet, then move it in."""
    clients, absences = _clients_and_absences(ctx)
    files = {
        "clients.csv": csv_bytes(clients, CSV_FLOAT_FORMAT),
        "ages.csv": csv_bytes(_ages_table(ctx, age_h, online, fitted), CSV_FLOAT_FORMAT),
        **{name: text.encode("utf-8") for name, text in texts.items()},
        "fit.png": png,
    }
    files = {name: files[name] for name in OUTPUTS}
    if absences is not None:
        files["absences.csv"] = csv_bytes(absences, CSV_FLOAT_FORMAT)
    write_outputs(out, files, check=lambda staged: _check_scenario(staged / "scenario.yaml"))
    return [out / name for name in files]


def _check_scenario(path: Path) -> None:
    """The written scenario must load and its fleet files must read: a failure here is a bug of ours. Its
    warnings (placeholders, versions) are the import's own, already given naming the export, not the staging
    folder."""
    from sim.model.fleet import generate_fleet
    from sim.model.topology import compile_topology

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sc = load_scenario(path)
            generate_fleet(sc, compile_topology(sc), np.random.default_rng(0))
    except InputError as exc:
        raise RuntimeError(f"the scenario written by the import does not load: {exc}") from exc
