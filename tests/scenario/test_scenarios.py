"""The shipped scenarios and what the model refuses.

1. Every ``scenarios/*.yaml`` loads, validates, documents itself (a header saying what it shows and what a
   planner should look at) and, run once, shows what its header says it shows.
2. Malformed scenarios and fleet files raise ``sim.errors.InputError`` naming the file, the field (or the
   line and column of a CSV file) and what is expected, never a raw pydantic, pandas or Python error.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import sim
from sim.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
SHIPPED = sorted(SCENARIOS.glob("*.yaml"))
EXPECTED = {
    "single-site-small",
    "three-manager-failover",
    "fleet-14-2",
    "long-leave",
    "two-site-replication",
    "naive-single-manager",
    "fleet-from-files",
    "custom-runbook",
}
OLD_VERSIONS = ("14.2", "14.2.1")


# ============================================================================ shipped scenarios: shape


def test_every_planned_scenario_is_shipped() -> None:
    assert {p.stem for p in SHIPPED} >= EXPECTED


def _header(path: Path) -> str:
    """The comment block at the top of a scenario file."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# "))
    return " ".join(lines)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_loads_and_validates(path: Path) -> None:
    sc = sim.load_scenario(path)
    assert sc.name == path.stem
    # the validated scenario survives a round trip through its own dump (what sweeps and with_() rely on)
    assert sc.with_() == sc


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_planned_scenario_documents_itself_at_a_realistic_size(name: str) -> None:
    """The header says what the scenario shows and what to look at; a generated fleet has 2,000 to 20,000
    clients and the horizon is 60 to 180 days."""
    path = SCENARIOS / f"{name}.yaml"
    sc = sim.load_scenario(path)
    assert sc.description.strip()
    header = _header(path)
    assert header.startswith(f"{name}: ")
    assert "What it shows" in header, "the header must say what the scenario shows"
    assert "What a planner should look at" in header, "the header must say what to look at"
    assert 60 <= sc.horizon_days <= 180
    if sc.fleet.files is None:
        assert 2_000 <= sc.fleet.clients <= 20_000


@pytest.mark.parametrize("name", sorted({"fleet-from-files", "custom-runbook"}), ids=lambda n: n)
def test_fleet_files_of_shipped_scenarios_are_read(name: str) -> None:
    """The CSV files the file-based scenarios name exist and pass the fleet reader's checks."""
    from sim.model.fleet import generate_fleet
    from sim.model.topology import compile_topology

    sc = sim.load_scenario(SCENARIOS / f"{name}.yaml")
    assert sc.fleet.files is not None
    fleet = generate_fleet(sc, compile_topology(sc), np.random.default_rng(0))
    listed = pd.read_csv(sc.base_dir / sc.fleet.files.clients, dtype=str)
    assert fleet.n == len(listed)
    assert list(fleet.client_id) == list(listed["client_id"])


# ============================================================================ shipped scenarios: behaviour


@cache
def _run(name: str) -> sim.Result:
    """One run of a shipped scenario at its own seed (cached: several tests read the same run)."""
    return sim.simulate(sim.load_scenario(SCENARIOS / f"{name}.yaml"))


def _orphans(r: sim.Result) -> pd.DataFrame:
    return r.clients[r.clients["outcome"] == "orphaned"]


def _step_end(r: sim.Result, name: str) -> float:
    ends = dict(zip(r.steps["name"], r.steps["end_hours"].astype(float), strict=True))
    return ends[name]


def test_single_site_small_orphans_only_clients_away_through_the_wait() -> None:
    """The single-server procedure with the KB's minimum wait, reaching the non-inheriting group: a client
    is lost only if it made no check-in between the relaxation and the update (on leave, away)."""
    r = _run("single-site-small")
    orph = _orphans(r)
    assert set(orph["cause"]) == {"offline-through-window"}
    assert 0 < len(orph) < 0.12 * len(r.clients)
    assert r.first_update_hours is not None
    late = orph["first_contact_hours"].isna() | (orph["first_contact_hours"] > r.first_update_hours)
    assert late.mean() >= 0.95
    assert "Servers" in set(r.clients["group"])  # the non-inheriting group exists and is not missed
    assert "missed-group" not in r.orphaned_by_cause


def test_single_site_small_without_non_inheriting_groups_misses_servers() -> None:
    sc = sim.load_scenario(SCENARIOS / "single-site-small.yaml")
    r = sim.simulate(sc.with_(**{"runbook.include_non_inheriting": False}))
    orph = _orphans(r)
    missed = orph[orph["cause"] == "missed-group"]
    servers = r.clients[(r.clients["group"] == "Servers") & (r.clients["outcome"] != "gone")]
    assert set(missed["group"]) == {"Servers"}
    assert len(missed) == len(servers)


def test_fleet_14_2_orphans_the_old_versions() -> None:
    r = _run("fleet-14-2")
    c = r.clients
    live = c[c["outcome"] != "gone"]
    old = live["version"].isin(OLD_VERSIONS)
    orph = live["outcome"] == "orphaned"
    assert set(live.loc[orph & (live["cause"] == "unsupported-version"), "version"]) <= set(OLD_VERSIONS)
    assert (orph & old).sum() == old.sum()  # the KB's reading: every one that is not gone is lost
    assert (orph & ~old).sum() / (~old).sum() <= 0.02
    assert "unsupported-version" not in set(live.loc[orph & ~old, "cause"])


def test_fleet_14_2_restart_timing_reading_saves_some_old_versions_by_luck() -> None:
    """The option the KB does not give: a restarting manager is silence, so a 14.2 client checking in during the
    10-minute restart fails over. With a 60-minute heartbeat about a sixth of the online ones are that lucky."""
    sc = sim.load_scenario(SCENARIOS / "fleet-14-2.yaml")
    kb = sim.simulate(sc, seed=3)
    hopeful = sim.simulate(sc.with_(**{"fleet.restart_saves_unsupported": True}), seed=3)
    lost_kb = kb.orphaned_by_cause["unsupported-version"]
    lost_hopeful = hopeful.orphaned_by_cause["unsupported-version"]
    assert 0.6 * lost_kb < lost_hopeful < 0.95 * lost_kb


def test_fleet_14_2_with_failover_capable_old_versions_orphans_only_long_absences() -> None:
    sc = sim.load_scenario(SCENARIOS / "fleet-14-2.yaml")
    capable = {v: {"fails_over_on_cert_mismatch": True} for v in OLD_VERSIONS}
    r = sim.simulate(sc.with_(versions=capable))
    assert set(r.orphaned_by_cause) <= {"retired-before-return"}
    assert r.orphaned <= 0.02 * len(r.clients)


def test_long_leave_orphans_absentees_at_the_retirement_and_longer_retention_saves_some() -> None:
    r = _run("long-leave")
    orph = _orphans(r)
    assert set(orph["cause"]) == {"retired-before-return"}
    assert np.allclose(orph["orphaned_at_hours"], _step_end(r, "retire-sepm3"))
    assert 0.01 * len(r.clients) < len(orph) < 0.10 * len(r.clients)
    sc = sim.load_scenario(SCENARIOS / "long-leave.yaml")
    r90 = sim.simulate(sc.with_(**{"runbook.retention_days": 90}))
    assert 0 < r90.orphaned < r.orphaned


def test_two_site_replication_reaches_the_other_site_at_the_next_tick() -> None:
    """Each certificate change reaches the other site at the first 2-hour tick strictly after it."""
    r = _run("two-site-replication")
    ev = r.events
    interval = 2.0
    certs = ev[ev["event"] == "cert"]
    reps = ev[ev["event"] == "replicate"]
    assert len(certs) == 4
    for _, ch in certs.iterrows():
        tick = (np.floor(ch["time_hours"] / interval) + 1) * interval
        other = reps[(reps["time_hours"] == tick) & (reps["detail"] == f"from {ch['site']}")]
        assert len(other) >= 1, f"no replication of the change at {ch['time_hours']} h"
        assert (other["site"] != ch["site"]).all()
    assert np.allclose(np.mod(reps["time_hours"], interval), 0.0)


def test_two_site_replication_orphans_only_clients_away_for_the_whole_retention() -> None:
    r = _run("two-site-replication")
    orph = _orphans(r)
    assert set(orph["cause"]) == {"retired-before-return"}
    assert np.allclose(orph["orphaned_at_hours"], _step_end(r, "update-west2"))
    assert {"East", "West"} <= set(orph["group"])
    assert len(orph) < 0.02 * len(r.clients)


def test_naive_single_manager_orphans_every_client_not_gone() -> None:
    r = _run("naive-single-manager")
    assert r.orphaned == len(r.clients) - r.gone
    assert r.orphaned_by_cause == {"no-failover-target": r.orphaned}
    assert np.allclose(_orphans(r)["orphaned_at_hours"], 0.0)
    assert r.summary()["repair_hours"] == pytest.approx(r.orphaned * 20 / 60)


def test_fleet_from_files_orphans_only_listed_absences_spanning_the_wait() -> None:
    r = _run("fleet-from-files")
    c = r.clients.set_index("client_id")
    absences = pd.read_csv(SCENARIOS / "fleets" / "example" / "absences.csv", dtype=str, keep_default_na=False)
    listed = set(absences["client_id"])
    open_ended = set(absences.loc[absences["offline_until"] == "", "client_id"])
    assert len(c) == 200
    assert set(c.index[c["outcome"] == "gone"]) == open_ended == {"LT-0123", "WS-0036", "LT-0044"}
    orph = set(c.index[c["outcome"] == "orphaned"])
    # away from before the relaxation until after the 72-hour wait ended
    assert {"LT-0010", "WS-0018", "LT-0100", "LT-0134", "LT-0151"} <= orph <= listed
    assert set(c.loc[list(orph), "cause"]) == {"offline-through-window"}
    assert not (c.loc[list(orph), "version"].isin(OLD_VERSIONS)).any()  # single-server: 14.2 is safe
    assert _step_end(r, "wait-before-update") - _step_end(r, "disable-secure-comms") == pytest.approx(72.0)
    # back just before the update (0-72 h absence): learnt the relaxed policy in time
    assert c.loc["LT-0117", "outcome"] == "ok"


def test_custom_runbook_protects_the_legacy_group() -> None:
    r = _run("custom-runbook")
    orph = _orphans(r)
    assert set(orph["cause"]) <= {"unsupported-version", "retired-before-return"}
    assert set(orph.loc[orph["cause"] == "unsupported-version", "group"]) <= {"Legacy 14.2"}
    assert len(orph) < 0.03 * len(r.clients)
    assert list(r.steps["name"]) == [
        "legacy-http-list", "legacy-secure-off", "legacy-relax-week", "update-sepm1", "wait-after-sepm1",
        "update-sepm2", "retain-sepm3", "retire-sepm3", "legacy-reenable-wait", "legacy-secure-on",
        "legacy-restore-list",
    ]  # fmt: skip
    # hours + after_step: 720 h counted from the end of update-sepm1; the retire's 30 hands-on minutes follow
    assert _step_end(r, "retain-sepm3") == pytest.approx(_step_end(r, "update-sepm1") + 720.0)
    assert _step_end(r, "retire-sepm3") == pytest.approx(_step_end(r, "retain-sepm3") + 0.5)
    # heartbeats: 3 x the Legacy group's 60 minutes
    assert _step_end(r, "legacy-reenable-wait") - _step_end(r, "retire-sepm3") == pytest.approx(3.0)
    # the plain multi-server procedure loses most of the Legacy group
    sc = sim.load_scenario(SCENARIOS / "custom-runbook.yaml")
    plain = sim.simulate(sc.with_(runbook={"template": "kb-multi-server", "retention_end": "retire"}))
    legacy_plain = int((_orphans(plain)["group"] == "Legacy 14.2").sum())
    legacy_custom = int((orph["group"] == "Legacy 14.2").sum())
    assert legacy_plain > 5 * max(legacy_custom, 1)


def test_three_manager_failover_orphans_only_long_absences() -> None:
    r = _run("three-manager-failover")
    assert set(r.orphaned_by_cause) <= {"retired-before-return"}
    assert r.orphaned < 0.02 * len(r.clients)


# ============================================================================ malformed scenarios

BASE: dict[str, Any] = {
    "name": "bad",
    "horizon_days": 30,
    "sites": [{"name": "hq", "managers": [{"name": "sepm1"}, {"name": "sepm2"}, {"name": "sepm3"}]}],
    "msls": [{"name": "hq-list", "tiers": [["sepm1", "sepm2", "sepm3"]]}],
    "groups": [
        {"name": "My Company", "msl": "hq-list", "secure_comms": True, "heartbeat_minutes": 60},
        {"name": "Laptops", "parent": "My Company"},
        {"name": "Desktops", "parent": "My Company"},
    ],
    "fleet": {
        "clients": 100,
        "groups": {"Laptops": 0.5, "Desktops": 0.5},
        "presence": {"leave": {"rate_per_year": 2}},
    },
    "runbook": {"template": "kb-multi-server", "retention_days": 10},
}


def _normalise(path: str) -> str:
    """'runbook.steps[0].name' and 'runbook.steps.0.name' are the same field path."""
    return re.sub(r"\[(\d+)\]", r".\1", path)


def _where(err: InputError) -> str:
    """The field path an error names: its location, or the path its message starts with ("msls: ...")."""
    if err.location:
        return _normalise(err.location)
    head = err.message.split(": ", 1)[0]
    return _normalise(head) if " " not in head else ""


def _custom(*steps: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        d["runbook"] = {"steps": list(steps)}

    return mutate


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(d: dict[str, Any]) -> None:
        cur: Any = d
        parts = path.split(".")
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur.setdefault(p, {})
        last = parts[-1]
        if isinstance(cur, list):
            cur[int(last)] = value
        else:
            cur[last] = value

    return mutate


def _two_roots(d: dict[str, Any]) -> None:
    del d["groups"][1]["parent"]


def _cycle(d: dict[str, Any]) -> None:
    d["groups"] += [{"name": "A", "parent": "B"}, {"name": "B", "parent": "A"}]


MALFORMED = [
    pytest.param(_set("horizon_day", 30), "horizon_day", "unknown field", id="unknown-key-top"),
    pytest.param(
        _set("fleet.presence.leave.rate_per_yer", 3),
        "fleet.presence.leave.rate_per_yer",
        "unknown field",
        id="unknown-key-nested",
    ),
    pytest.param(
        _set("runbook.retention_dayz", 3),
        "runbook.retention_dayz",
        "unknown field",
        id="unknown-key-in-template",
    ),
    pytest.param(
        _custom({"kind": "update-certificate", "managers": ["sepm1"], "foo": 1}),
        "runbook.steps.0.foo",
        "unknown field",
        id="unknown-key-in-step",
    ),
    pytest.param(_set("fleet.clients", "many"), "fleet.clients", "valid integer", id="wrong-type"),
    pytest.param(
        _set("sites.0.managers.0.restart_minutes", "ten"),
        "sites.0.managers.0.restart_minutes",
        "valid number",
        id="wrong-type-in-list",
    ),
    pytest.param(_set("sites", "hq"), "sites", "valid list", id="wrong-type-scalar-for-list"),
    pytest.param(_set("horizon_days", -5), "horizon_days", "greater than 0", id="negative-horizon"),
    pytest.param(
        _set("sites.0.managers.0.restart_minutes", -1),
        "sites.0.managers.0.restart_minutes",
        "greater than or equal to 0",
        id="negative-restart",
    ),
    pytest.param(
        _set("fleet.presence.leave.max_days", -5),
        "fleet.presence.leave.max_days",
        "greater than 0",
        id="negative-leave-cap",
    ),
    pytest.param(
        _set("runbook.retention_days", -3),
        "runbook.retention_days",
        "greater than or equal to 0",
        id="negative-retention",
    ),
    pytest.param(
        _custom({"kind": "update-certificate", "managers": ["sepm1"]}, {"kind": "wait", "hours": -3}),
        "runbook.steps.1.hours",
        "greater than or equal to 0",
        id="negative-wait",
    ),
    pytest.param(
        _set("fleet.groups", {"Laptops": 0.5, "Desktops": 0.3}),
        "fleet.groups",
        "shares must add up to 1 (they add up to 0.8)",
        id="group-shares",
    ),
    pytest.param(
        _set("fleet.presence.patterns", [{"name": "a", "share": 0.5}, {"name": "b", "share": 0.4}]),
        "fleet.presence.patterns",
        "shares must add up to 1",
        id="pattern-shares",
    ),
    pytest.param(
        _set("fleet.versions", {"14.3": 0.7, "14.2": 0.2}),
        "fleet.versions",
        "shares must add up to 1",
        id="version-shares",
    ),
    pytest.param(
        _set("fleet.presence.timezones", {1: 0.5}),
        "fleet.presence.timezones",
        "shares must add up to 1",
        id="timezone-shares",
    ),
    pytest.param(
        _set("msls.0.tiers", [["sepm1", "sepm9"]]), "msls", "names unknown manager 'sepm9'", id="msl-unknown-manager"
    ),
    pytest.param(
        _set("groups.1.parent", "Nobody"), "groups", "'Laptops' has unknown parent 'Nobody'", id="unknown-parent"
    ),
    pytest.param(_two_roots, "groups", "exactly one group must have no parent (found 2)", id="two-roots"),
    pytest.param(_cycle, "groups", "parent chain of 'A' loops", id="cycle"),
    pytest.param(
        _set("groups.1.heartbeat_minutes", 30),
        "groups",
        "set inherit: false to give it its own",
        id="inheriting-group-with-own-setting",
    ),
    pytest.param(
        _custom({"kind": "reboot", "managers": ["sepm1"]}),
        "runbook.steps.0",
        "'reboot'",
        id="unknown-step-kind",
    ),
    pytest.param(
        _set("runbook", {"template": "kb-magic"}),
        "runbook.template",
        "'kb-magic'",
        id="unknown-template",
    ),
    pytest.param(
        _custom({"kind": "wait", "hours": 3, "heartbeats": 3}),
        "runbook.steps.0",
        "exactly one of 'hours' or 'heartbeats'",
        id="wait-hours-and-heartbeats",
    ),
    pytest.param(
        _custom({"kind": "wait", "hours": 3, "after_step": "nope"}),
        "runbook.steps.0.after_step",
        "no earlier step named 'nope'",
        id="wait-after-unknown-step",
    ),
    pytest.param(
        _custom({"kind": "wait", "name": "w", "hours": 3, "after_step": "w"}),
        "runbook.steps.0.after_step",
        "no earlier step named 'w'",
        id="wait-after-itself",
    ),
    pytest.param(
        _custom({"kind": "update-certificate", "managers": ["sepm7"]}),
        "runbook.steps.0.managers",
        "unknown manager 'sepm7'",
        id="step-unknown-manager",
    ),
    pytest.param(
        _custom({"kind": "secure-comms", "enabled": False, "groups": ["Kitchen"]}),
        "runbook.steps.0.groups",
        "unknown group 'Kitchen'",
        id="step-unknown-group",
    ),
    pytest.param(
        _set("runbook", {"template": "kb-multi-server", "order": ["sepm1", "sepm2"], "retain": "sepm3"}),
        "runbook.retain",
        "must be in 'order'",
        id="retain-not-in-order",
    ),
    pytest.param(
        _set("fleet.presence.leave.duration_days", {"distribution": "weibull", "shape": 1}),
        "fleet.presence.leave.duration_days",
        "'weibull'",
        id="unknown-distribution",
    ),
    pytest.param(
        _set("fleet.presence.timezones", {30: 1.0}),
        "fleet.presence.timezones",
        "outside -12..14",
        id="timezone-out-of-range",
    ),
]


@pytest.mark.parametrize(("mutate", "path", "phrase"), MALFORMED)
def test_malformed_scenario_is_refused_with_field_and_expectation(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], path: str, phrase: str
) -> None:
    data = copy.deepcopy(BASE)
    mutate(data)
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(InputError) as info:
        sim.load_scenario(f)
    err = info.value
    assert err.source == str(f)
    assert str(err).startswith(f"{f}: ")
    where = _where(err)
    assert where == path or where.startswith(path + "."), f"names {where!r}, expected {path!r}"
    assert phrase in err.message
    assert "union" not in str(err) and "Extra inputs" not in str(err)


def test_the_base_of_the_malformed_cases_is_valid(tmp_path: Path) -> None:
    f = tmp_path / "good.yaml"
    f.write_text(yaml.safe_dump(BASE), encoding="utf-8")
    assert sim.load_scenario(f).name == "bad"


@pytest.mark.parametrize(
    ("text", "location", "phrase"),
    [
        ("sites: [\n  {name: hq\n", "line ", "not valid YAML"),
        ("- just\n- a list\n", "", "expected a mapping"),
    ],
    ids=["not-yaml", "not-a-mapping"],
)
def test_unreadable_scenario_file(tmp_path: Path, text: str, location: str, phrase: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        sim.load_scenario(f)
    assert info.value.source == str(f)
    assert info.value.location.startswith(location)
    assert phrase in info.value.message


# ============================================================================ malformed fleet files

FILES_BASE: dict[str, Any] = {
    "name": "files",
    "horizon_days": 10,
    "sites": [{"name": "hq", "managers": [{"name": "sepm1"}]}],
    "msls": [{"name": "hq-list", "tiers": [["sepm1"]]}],
    "groups": [
        {"name": "My Company", "msl": "hq-list", "secure_comms": True, "heartbeat_minutes": 60},
        {"name": "Laptops", "parent": "My Company"},
        {"name": "Servers", "parent": "My Company"},
    ],
    "fleet": {"files": {"clients": "clients.csv"}},
    "runbook": {"template": "naive"},
}
CLIENTS_OK = "client_id,group,version\na,Laptops,14.3\nb,Servers,14.3\n"
ABSENCE_HEADER = "client_id,offline_from,offline_until\n"

# (clients.csv, absences.csv or None, start_time or None, file that is wrong, location, phrase, xfail reason)
FILE_CASES = [
    pytest.param(
        "client_id,group,version\na,Laptops,14.3\nb,Kitchen,14.3\n",
        None,
        None,
        "clients.csv",
        "line 3, group",
        "unknown group 'Kitchen'; the scenario has My Company, Laptops, Servers",
        id="clients-unknown-group",
    ),
    pytest.param(
        "client_id,group,version\na,Laptops,14.3\na,Servers,14.3\n",
        None,
        None,
        "clients.csv",
        "line 3, client_id",
        "duplicate client 'a'",
        id="clients-duplicate-id",
    ),
    pytest.param(
        "client_id,group,version,heartbeat_minutes\na,Laptops,14.3,5\nb,Servers,14.3,fast\n",
        None,
        None,
        "clients.csv",
        "line 3, heartbeat_minutes",
        "expected minutes between 0 and 1440 (got 'fast')",
        id="clients-bad-heartbeat",
    ),
    pytest.param(
        "client_id,group,version,heartbeat_minutes\na,Laptops,14.3,0\n",
        None,
        None,
        "clients.csv",
        "line 2, heartbeat_minutes",
        "expected minutes between 0 and 1440",
        id="clients-zero-heartbeat",
    ),
    pytest.param(
        "client_id,group,version,mode\na,Laptops,14.3,poll\n",
        None,
        None,
        "clients.csv",
        "line 2, mode",
        "expected pull or push (got 'poll')",
        id="clients-bad-mode",
    ),
    pytest.param(
        "client_id,group,version,timezone\na,Laptops,14.3,CET\n",
        None,
        None,
        "clients.csv",
        "line 2, timezone",
        "expected a UTC offset in hours",
        id="clients-bad-timezone",
    ),
    pytest.param(
        "client_id,group\na,Laptops\n",
        None,
        None,
        "clients.csv",
        "header",
        "missing column(s) version; expected client_id, group, version",
        id="clients-missing-column",
    ),
    pytest.param(
        "client_id,group,version,owner\na,Laptops,14.3,bob\n",
        None,
        None,
        "clients.csv",
        "header",
        "unknown column(s) owner",
        id="clients-unknown-column",
    ),
    pytest.param("client_id,group,version\n", None, None, "clients.csv", "", "no clients listed", id="clients-empty"),
    pytest.param(
        "client_id,group,version\na,Laptops,14.3,extra,more\n",
        None,
        None,
        "clients.csv",
        "line 2",
        "expected 3",
        id="clients-row-with-extra-fields",
    ),
    pytest.param(
        CLIENTS_OK,
        ABSENCE_HEADER + "z,0,10\n",
        None,
        "absences.csv",
        "line 2, client_id",
        "client 'z' is not in clients.csv",
        id="absences-unknown-client",
    ),
    pytest.param(
        CLIENTS_OK,
        ABSENCE_HEADER + "a,0,10\nb,10,5\n",
        None,
        "absences.csv",
        "line 3, offline_until",
        "must be after offline_from",
        id="absences-until-before-from",
    ),
    pytest.param(
        CLIENTS_OK,
        ABSENCE_HEADER + "a,2025-03-01T00:00:00,10\n",
        None,
        "absences.csv",
        "line 2, offline_from",
        "ISO times need fleet.files.start_time",
        id="absences-iso-without-start-time",
    ),
    pytest.param(
        CLIENTS_OK,
        ABSENCE_HEADER + "a,yesterday,10\n",
        None,
        "absences.csv",
        "line 2, offline_from",
        "expected hours or an ISO time (got 'yesterday')",
        id="absences-unparseable-time",
    ),
    pytest.param(
        CLIENTS_OK,
        ABSENCE_HEADER + "a,0,10\n",
        "next monday",
        "bad.yaml",
        "fleet.files.start_time",
        "expected an ISO time",
        id="absences-bad-start-time",
    ),
    pytest.param(
        CLIENTS_OK,
        ABSENCE_HEADER + "a,nan,10\n",
        None,
        "absences.csv",
        "line 2, offline_from",
        "expected a finite number of hours",
        id="absences-nan-time",
    ),
]


@pytest.mark.parametrize(("clients", "absences", "start", "wrong", "location", "phrase"), FILE_CASES)
def test_malformed_fleet_file_is_refused_with_line_and_expectation(
    tmp_path: Path,
    clients: str,
    absences: str | None,
    start: str | None,
    wrong: str,
    location: str,
    phrase: str,
) -> None:
    data = copy.deepcopy(FILES_BASE)
    (tmp_path / "clients.csv").write_text(clients, encoding="utf-8")
    if absences is not None:
        (tmp_path / "absences.csv").write_text(absences, encoding="utf-8")
        data["fleet"]["files"]["absences"] = "absences.csv"
    if start is not None:
        data["fleet"]["files"]["start_time"] = start
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(data), encoding="utf-8")
    sc = sim.load_scenario(f)
    with pytest.raises(InputError) as info:
        sim.simulate(sc)
    err = info.value
    assert Path(err.source).name == wrong
    assert Path(err.source).parent.resolve() == tmp_path.resolve()
    assert err.location == location or (location and err.location.startswith(location + ","))
    assert phrase in err.message


def test_valid_fleet_files_with_mixed_times_are_read(tmp_path: Path) -> None:
    """The control for the cases above: hours, ISO times with and without offset, empty 'from', open end."""
    data = copy.deepcopy(FILES_BASE)
    (tmp_path / "clients.csv").write_text(CLIENTS_OK + "c,Laptops,14.2\n", encoding="utf-8")
    (tmp_path / "absences.csv").write_text(
        ABSENCE_HEADER + "a,-5,2025-03-03T12:00:00+01:00\nb,,20\nc,2025-03-01,\n", encoding="utf-8"
    )
    data["fleet"]["files"].update({"absences": "absences.csv", "start_time": "2025-03-03T08:00:00Z"})
    f = tmp_path / "good.yaml"
    f.write_text(yaml.safe_dump(data), encoding="utf-8")
    r = sim.simulate(sim.load_scenario(f))
    out = r.clients.set_index("client_id")["outcome"]
    # naive on one manager: everyone not gone is orphaned; c never returns (open end) and is gone
    assert out.to_dict() == {"a": "orphaned", "b": "orphaned", "c": "gone"}
    det = r.clients.set_index("client_id")["detected_at_hours"]
    assert det["a"] == pytest.approx(3.0, abs=0.02)  # back at 11:00Z = 3 h after the start (+ <= 60 s)
    assert det["b"] == pytest.approx(20.0, abs=0.02)
