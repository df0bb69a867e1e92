"""``rotasim fleet import``: a real inventory export in, a fleet and a fitted presence model out.

Registered on the ``rotasim`` app by ``app.add_typer(fleet_app, name="fleet")``; the app's error policy
(``sim.cli``) turns an ``InputError`` into one line and exit code 2.

Why the outputs are staged: the import writes several files that only make sense together (a scenario that
names the clients, the fitted model and the group tree). They are written into a temporary folder beside
``DIR`` (``sim.io``'s atomic writes), the scenario there is loaded and its fleet built as a check, and only
then are the files moved into ``DIR``, each by an atomic rename. A failing import writes nothing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from sim.calibration.fit import FitSettings, PresenceFit, WorkPattern, fit_presence
from sim.calibration.inventory import (
    Absences,
    GroupNode,
    Inventory,
    check_time_format,
    group_tree,
    iso_utc,
    parse_map,
    parse_time,
    read_absences,
)
from sim.calibration.inventory import read_inventory as _read_inventory
from sim.errors import InputError
from sim.io import CSV_FLOAT_FORMAT, check_out_dir, csv_bytes, dumps, write_outputs
from sim.scenario.document import load_scenario
from sim.scenario.fields import WEEKDAYS, PresenceSpec

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
    purge_days: float = 30.0
    absence_days: float = 3.0
    heartbeat_minutes: float = 5.0
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


def _settings(o: ImportOptions) -> FitSettings:
    _check(0 < o.purge_days <= 3 * 365, "--purge-days", o.purge_days, "expected 1 to 1095 days")
    _check(0 < o.absence_days < o.purge_days, "--absence-days", o.absence_days, "expected above 0, below --purge-days")
    _check(-12 <= o.tz_hours <= 14, "--tz", o.tz_hours, "expected a UTC offset from -12 to 14 hours")
    offset = o.tz_hours if o.client_utc_offset is None else o.client_utc_offset
    _check(-12 <= offset <= 14, "--client-utc-offset", offset, "expected a UTC offset from -12 to 14 hours")
    _check(0 < o.heartbeat_minutes <= 1440, "--heartbeat-minutes", o.heartbeat_minutes, "expected 0 to 1440")
    if o.always_on_share is not None:
        _check(0 <= o.always_on_share <= 1, "--always-on-share", o.always_on_share, "expected 0 to 1")
    st = FitSettings(
        purge_days=o.purge_days,
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


def run_import(
    inventory: Path, out: Path, o: ImportOptions | None = None, *, render: Callable[[PresenceFit, str], bytes]
) -> ImportResult:
    """Read, fit, write. Raises ``InputError`` on bad input (nothing is written then). ``render`` draws
    ``fit.png`` (``sim.presentation.fit_figure.plot_fit``: calibration computes, presentation draws)."""
    o = o or ImportOptions()
    clock = {"start": time.perf_counter()}
    settings = _settings(o)
    managers = _managers(o)
    mapping = parse_map(o.mapping)
    check_time_format(o.time_format)
    check_out_dir(out)
    snap_given = parse_time(o.snapshot, o.tz_hours, "--snapshot", o.time_format) if o.snapshot else None
    inv = _read_inventory(
        inventory, mapping, tz_hours=o.tz_hours, time_format=o.time_format, strict=o.strict, snapshot=snap_given
    )
    if inv.n == 0:
        first = f"; first: {inv.bad[0]}" if inv.bad else ""
        raise InputError(str(inventory), "", f"no usable rows ({len(inv.bad)} bad{first})")
    clock["read"] = time.perf_counter()
    snapshot = snap_given if snap_given is not None else float(inv.checkin.max())
    age_h = (snapshot - inv.checkin) / 3600.0
    within = max(2 * o.heartbeat_minutes, 15.0) / 60.0
    online = np.where(inv.online < 0, age_h <= within, inv.online == 1)
    snap_ts = pd.Timestamp(snapshot, unit="s", tz="UTC")
    weekhour = snap_ts.day_of_week * 24.0 + snap_ts.hour + snap_ts.minute / 60.0 + snap_ts.second / 3600.0
    try:
        fit = fit_presence(age_h, online, weekhour, settings)
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
    start_ts = pd.Timestamp(start, unit="s", tz="UTC")
    spec = fit.presence_spec(WEEKDAYS[start_ts.day_of_week], round(start_ts.hour + start_ts.minute / 60.0, 6))
    texts = _texts(inventory, inv, fit, spec, snapshot, snap_given is not None, start, absences, managers, o)
    png = render(fit, f"Last check-ins of {inventory.name} at {_iso_short(snapshot)}")
    clock["render"] = time.perf_counter()
    written = _commit(out, inv, age_h, online, fit, texts, png, absences)
    clock["write"] = time.perf_counter()
    seconds = {
        "read": clock["read"] - clock["start"],
        "fit": clock["fit"] - clock["read"],
        "render": clock["render"] - clock["fit"],
        "write_and_check": clock["write"] - clock["render"],
        "total": clock["write"] - clock["start"],
    }
    return ImportResult(out, inv, fit, snapshot, snap_given is not None, start, absences, written, seconds)


def _iso_short(secs: float) -> str:
    return pd.Timestamp(secs, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def _q(s: str) -> str:
    """A YAML scalar that stays a string (JSON strings are YAML)."""
    return json.dumps(s, ensure_ascii=False)


def _group_lines(nodes: list[GroupNode], root_msl: str, heartbeat: float | None, indent: str = "  ") -> list[str]:
    lines = []
    for g in nodes:
        if g.parent is None:
            hb = f", heartbeat_minutes: {heartbeat:g}" if heartbeat is not None else ""
            lines.append(f"{indent}- {{name: {_q(g.name)}, msl: {_q(root_msl)}, secure_comms: true{hb}}}")
        else:
            lines.append(f"{indent}- {{name: {_q(g.name)}, parent: {_q(g.parent)}, inherit: true}}")
    return lines


def _groups_yaml(source: str, nodes: list[GroupNode], msl: str | None) -> str:
    head = [
        f"# The group tree of {source} as a scenario `groups:` list: paste it into a scenario.",
        "# Every group inherits from its parent (an export does not say which groups have inheritance turned off:",
        "# set `inherit: false` and the group's own msl / secure_comms / heartbeat_minutes where yours do).",
    ]
    if msl is None:
        head.append(f"# {PLACEHOLDER_MSL}: the root group needs a management server list; name one of your msls.")
    return "\n".join([*head, "groups:", *_group_lines(nodes, msl or PLACEHOLDER_MSL, None)]) + "\n"


def _is_14_2(version: str) -> bool:
    return version == "14.2" or version.startswith("14.2.")


def _scenario_yaml(
    source: str,
    n: int,
    snapshot: float,
    nodes: list[GroupNode],
    versions: list[str],
    managers: list[str],
    o: ImportOptions,
    absences: bool,
    start: float,
) -> str:
    msl = o.msl or "site1-list"
    old = [v for v in versions if _is_14_2(v)]
    lines = [
        f"# Written by `rotasim fleet import` from {source}: {n} clients, snapshot {iso_utc(snapshot)}.",
        "# From the export: the clients (clients.csv), the group tree and the fitted presence model (presence.yaml).",
        "# PLACEHOLDER marks what an export does not tell: the site, its managers, the management server list,",
        "# the heartbeat, which groups have inheritance turned off. Replace them before trusting the numbers.",
        f"name: {_q(Path(source).stem + '-import')}",
        "description: >",
        f"  Fleet imported from {source} ({n} clients) with its fitted presence model; KB 187099's",
        "  "
        + (
            "multi-server procedure keeping the last manager on the old certificate for 30 days."
            if len(managers) > 1
            else "single-server procedure."
        ),
        "horizon_days: 120",
        "seed: 0",
        "sites:",
        "  - name: site1  # PLACEHOLDER: your site",
        "    managers:  # PLACEHOLDER: your managers (--managers)",
        *[f"      - {{name: {_q(m)}, restart_minutes: 10}}" for m in managers],
        "msls:",
        f"  - name: {_q(msl)}",
        "    protocol: https",
        "    port: 443",
        f"    tiers: [[{', '.join(_q(m) for m in managers)}]]  # PLACEHOLDER: your list's priority tiers",
        "groups:  # heartbeat_minutes: PLACEHOLDER (--heartbeat-minutes; SEPM's default is 5)",
        *_group_lines(nodes, msl, o.heartbeat_minutes),
        "versions:",
        '  "14.2": {fails_over_on_cert_mismatch: false}',
        '  "14.2.1": {fails_over_on_cert_mismatch: false}',
    ]
    if old:
        lines.append("  # 14.2 builds found in the export: KB 187099 says 14.2 / 14.2.1 clients cannot use the")
        lines.append("  # multi-server method; every 14.2.x build is treated so here (check yours)")
        lines += [f"  {_q(v)}: {{fails_over_on_cert_mismatch: false}}" for v in old if v not in ("14.2", "14.2.1")]
    lines += [
        "fleet:",
        "  presence_file: presence.yaml  # fitted; see fit.json and fit.png",
        "  files:",
        "    clients: clients.csv",
        "    background_presence: true  # the fitted model applies to the listed clients",
    ]
    if absences:
        lines += [
            "    absences: absences.csv  # known absences (HR calendar), on top of the fitted background",
            f"    start_time: {_q(iso_utc(start))}  # the runbook's start (--start)",
        ]
    if len(managers) > 1:
        lines += [
            "runbook:",
            "  template: kb-multi-server",
            f"  order: [{', '.join(_q(m) for m in managers)}]",
            "  wait_heartbeats: 3",
            "  retention_days: 30",
            "  retention_end: update",
        ]
    else:
        lines += ["runbook:", "  template: kb-single-server", "  wait_heartbeats: 3", "  reenable_wait_heartbeats: 3"]
    return "\n".join(lines) + "\n"


def _presence_yaml(source: str, spec: PresenceSpec, fit: PresenceFit) -> str:
    dist = spec.leave.duration_days.model_dump()
    data: dict[str, Any] = {
        "patterns": [p.model_dump() for p in spec.patterns],
        "timezones": {float(k): float(v) for k, v in spec.timezones.items()},
        "leave": {
            "rate_per_year": round(_sig(spec.leave.rate_per_year), 6),
            "duration_days": {k: _sig(v) if isinstance(v, float) else v for k, v in dist.items()},
            "max_days": spec.leave.max_days,
        },
        "gone_share": round(spec.gone_share, 6),
        "start_weekday": spec.start_weekday,
        "start_hour_utc": spec.start_hour_utc,
    }
    for p in data["patterns"]:
        if p["schedule"] == "always":
            for k in ("days", "start_hour", "end_hour", "start_spread_hours"):
                p.pop(k)
    head = (
        f"# Presence model fitted by `rotasim fleet import` to {source} ({fit.counts.n} clients).\n"
        f"# Absence lengths: {fit.best} (smallest AIC); standard errors and the other families in fit.json.\n"
        f"# Leave spells are cut at the purge age ({spec.leave.max_days:g} days): older check-ins count as gone.\n"
        "# start_weekday / start_hour_utc: when the runbook starts (--start; default the snapshot). Point a\n"
        "# scenario at this file with `fleet.presence_file: presence.yaml`.\n"
    )
    text = head + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=110)
    PresenceSpec.model_validate(yaml.safe_load(text))  # what we write must load
    return text


def _sig(v: float, digits: int = 5) -> float:
    return float(f"{v:.{digits}g}") if math.isfinite(v) and v != 0 else float(v)


def _fit_json(
    source: str,
    inv: Inventory,
    fit: PresenceFit,
    snapshot: float,
    given: bool,
    absences: Absences | None,
    o: ImportOptions,
) -> str:
    c = fit.counts
    doc: dict[str, Any] = {
        "source": source,
        "columns": inv.columns,
        "snapshot_utc": iso_utc(snapshot),
        "snapshot_from": "--snapshot" if given else "newest check-in",
        "rows": {
            "read": inv.rows_read,
            "skipped": len(inv.bad),
            "clients": inv.n,
            "online": c.online,
            "offline_recent": int(c.bins[: fit.model.n_short].sum()),
            "absent": c.absent,
            "gone": c.gone,
        },
        "bad_rows": [str(b) for b in inv.bad[:MAX_BAD_ROWS_LISTED]],
        **fit.as_dict(),
    }
    if absences is not None:
        doc["absences"] = {
            "source": str(o.absences),
            "read": absences.rows_read,
            "skipped": len(absences.bad),
            "written": len(absences.table),
            "bad_rows": [str(b) for b in absences.bad[:MAX_BAD_ROWS_LISTED]],
        }
    return dumps(doc) + "\n"


def _texts(
    inventory: Path,
    inv: Inventory,
    fit: PresenceFit,
    spec: PresenceSpec,
    snapshot: float,
    given: bool,
    start: float,
    absences: Absences | None,
    managers: list[str],
    o: ImportOptions,
) -> dict[str, str]:
    source = inventory.name
    nodes = group_tree(inv.group)
    versions = sorted(set(str(v) for v in inv.version))
    return {
        "presence.yaml": _presence_yaml(source, spec, fit),
        "groups.yaml": _groups_yaml(source, nodes, o.msl),
        "scenario.yaml": _scenario_yaml(
            source, inv.n, snapshot, nodes, versions, managers, o, absences is not None, start
        ),
        "fit.json": _fit_json(str(inventory), inv, fit, snapshot, given, absences, o),
    }


def _ages_table(inv: Inventory, age_h: np.ndarray, online: np.ndarray, fit: PresenceFit) -> pd.DataFrame:
    st = fit.settings
    cls = np.where(
        online,
        "online",
        np.where(age_h > st.purge_days * 24, "gone", np.where(age_h > st.absence_days * 24, "absent", "offline")),
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


def _commit(
    out: Path,
    inv: Inventory,
    age_h: np.ndarray,
    online: np.ndarray,
    fit: PresenceFit,
    texts: dict[str, str],
    png: bytes,
    absences: Absences | None,
) -> list[Path]:
    """Stage everything (``sim.io.write_outputs``), check the scenario loads with its fleet, then move it in."""
    clients = pd.DataFrame({"client_id": inv.client_id, "group": inv.group, "version": inv.version})
    files = {
        "clients.csv": csv_bytes(clients, CSV_FLOAT_FORMAT),
        "ages.csv": csv_bytes(_ages_table(inv, age_h, online, fit), CSV_FLOAT_FORMAT),
        **{name: text.encode("utf-8") for name, text in texts.items()},
        "fit.png": png,
    }
    files = {name: files[name] for name in OUTPUTS}
    if absences is not None:
        files["absences.csv"] = csv_bytes(absences.table, CSV_FLOAT_FORMAT)
    write_outputs(out, files, check=lambda staged: _check_scenario(staged / "scenario.yaml"))
    return [out / name for name in files]


def _check_scenario(path: Path) -> None:
    """The written scenario must load and its fleet files must read: a failure here is a bug of ours."""
    from sim.model.fleet import generate_fleet
    from sim.model.topology import compile_topology

    try:
        sc = load_scenario(path)
        generate_fleet(sc, compile_topology(sc), np.random.default_rng(0))
    except InputError as exc:
        raise RuntimeError(f"the scenario written by the import does not load: {exc}") from exc
