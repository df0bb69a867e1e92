"""Tiny deterministic worlds whose orphans are worked out by hand (fast engine).

Every world: one site, heartbeat 60 min, jitter 0, no check-in delay, operator time 0, restart 0, so the
runbook's changes land at whole hours and each expected time below follows from the steps alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sim
from sim.experiments.simulate import streams
from sim.model.fleet import generate_fleet
from sim.model.topology import compile_topology
from tests.tiny import tiny_world

SINGLE = {"template": "kb-single-server", "wait_heartbeats": 3, "reenable_wait_heartbeats": 3, "operator_minutes": 0}
MULTI = {"template": "kb-multi-server", "wait_heartbeats": 3, "retention_days": 10, "operator_minutes": 0}
THREE = ("sepm1", "sepm2", "sepm3")


def outcome(result: sim.Result, client: str) -> dict[str, object]:
    row = result.clients.set_index("client_id").loc[client]
    return row.to_dict()


def test_single_server_orphans_client_away_through_the_window(tmp_path: Path) -> None:
    """HTTP list and secure comms off land at 0 h, the certificate at 3 h (3 heartbeats of 60 min).
    'away' is offline from before the start until 5 h: at 3 h it still holds https + secure on and the old
    certificate, so it is orphaned at 3 h, seen at its return at 5 h; 'home' learnt the relaxed policy in
    its first heartbeat (before 1 h) and trusts the new certificate within an hour of 3 h."""
    sc = tiny_world(tmp_path, [("home", "g", "14.3"), ("away", "g", "14.3")], [("away", "", 5.0)], runbook=SINGLE)
    r = sim.simulate(sc, seed=1)
    away = outcome(r, "away")
    assert away["outcome"] == "orphaned"
    assert away["cause"] == "offline-through-window"
    assert away["orphaned_at_hours"] == pytest.approx(3.0)
    assert away["detected_at_hours"] == pytest.approx(5.0)
    home = outcome(r, "home")
    assert home["outcome"] == "ok"
    assert 3.0 <= home["new_cert_at_hours"] < 4.0
    assert list(r.steps["name"]) == [
        "assign-http-msl",
        "disable-secure-comms",
        "wait-before-update",
        "update-certificate",
        "wait-before-reenable",
        "enable-secure-comms",
        "restore-msl",
    ]
    assert list(r.steps["start_hours"]) == pytest.approx([0, 0, 0, 3, 3, 6, 6])


def test_single_server_wait_that_covers_the_return_saves_the_client(tmp_path: Path) -> None:
    """With the update at 6 h instead, 'away' is back at 5.5 h, learns HTTP + secure off, and its heartbeat
    at 6.5 h (5.5 + 1) brings the new certificate."""
    sc = tiny_world(tmp_path, [("away", "g", "14.3")], [("away", "", 5.5)], runbook={**SINGLE, "wait_hours": 6})
    r = sim.simulate(sc, seed=1)
    away = outcome(r, "away")
    assert away["outcome"] == "ok"
    assert away["new_cert_at_hours"] == pytest.approx(6.5)
    assert r.orphaned == 0


def test_missed_non_inheriting_group_is_orphaned(tmp_path: Path) -> None:
    """'servers' has inheritance off and the runbook does not cover such groups: it keeps https and secure
    comms on, so the update at 3 h orphans its client; the inheriting group is fine."""
    groups = [
        {"name": "root", "msl": "list", "secure_comms": True, "heartbeat_minutes": 60},
        {"name": "g", "parent": "root"},
        {
            "name": "servers",
            "parent": "root",
            "inherit": False,
            "msl": "list",
            "secure_comms": True,
            "heartbeat_minutes": 60,
        },
    ]
    sc = tiny_world(
        tmp_path,
        [("srv", "servers", "14.3"), ("pc", "g", "14.3")],
        groups=groups,
        runbook={**SINGLE, "include_non_inheriting": False},
    )
    r = sim.simulate(sc, seed=2)
    assert outcome(r, "srv")["outcome"] == "orphaned"
    assert outcome(r, "srv")["cause"] == "missed-group"
    assert outcome(r, "srv")["orphaned_at_hours"] == pytest.approx(3.0)
    assert outcome(r, "pc")["outcome"] == "ok"
    assert "not reached: servers" in r.steps.loc[0, "detail"]
    # covering non-inheriting groups (the KB's note) saves it
    r2 = sim.simulate(sc.with_(**{"runbook.include_non_inheriting": True}), seed=2)
    assert r2.orphaned == 0


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_14_2_clients_orphaned_by_multi_server_not_by_single_server(tmp_path: Path, seed: int) -> None:
    """A 14.2 client goes back to its last server; whichever it is, that server is rotated before the client
    can learn its new certificate from another, and 14.2 does not fail over on a mismatch (KB warning)."""
    clients = [(f"old{i}", "g", "14.2") for i in range(5)] + [(f"new{i}", "g", "14.3") for i in range(5)]
    sc = tiny_world(tmp_path, clients, managers=THREE, runbook=MULTI)
    r = sim.simulate(sc, seed=seed)
    old = r.clients[r.clients["version"] == "14.2"]
    assert (old["outcome"] == "orphaned").all()
    assert (old["cause"] == "unsupported-version").all()
    assert (r.clients[r.clients["version"] == "14.3"]["outcome"] == "ok").all()
    r2 = sim.simulate(sc.with_(runbook=SINGLE), seed=seed)
    assert r2.orphaned == 0


def test_multi_server_retention(tmp_path: Path) -> None:
    """sepm1 at 0 h, sepm2 at 3 h, sepm3 kept until 240 h (10 days after the first update). 'back' returns
    at 200 h, fails over to sepm3 and learns every new certificate; 'late' returns at 300 h, after the last
    old-certificate manager was updated at 240 h."""
    clients = [("back", "g", "14.3"), ("late", "g", "14.3"), ("home", "g", "14.3")]
    sc = tiny_world(tmp_path, clients, [("back", "", 200.0), ("late", "", 300.0)], managers=THREE, runbook=MULTI)
    r = sim.simulate(sc, seed=3)
    back, late = outcome(r, "back"), outcome(r, "late")
    assert back["outcome"] == "ok"
    assert back["new_cert_at_hours"] == pytest.approx(240.0, abs=1.0)
    assert late["outcome"] == "orphaned"
    assert late["cause"] == "retired-before-return"
    assert late["orphaned_at_hours"] == pytest.approx(240.0)
    assert late["detected_at_hours"] == pytest.approx(300.0)
    assert outcome(r, "home")["outcome"] == "ok"
    # a retention past the return saves it too
    assert sim.simulate(sc.with_(**{"runbook.retention_days": 13}), seed=3).orphaned == 0


def test_retire_instead_of_update_orphans_the_same_way(tmp_path: Path) -> None:
    sc = tiny_world(
        tmp_path,
        [("late", "g", "14.3")],
        [("late", "", 300.0)],
        managers=THREE,
        runbook={**MULTI, "retention_end": "retire"},
    )
    r = sim.simulate(sc, seed=3)
    assert outcome(r, "late")["cause"] == "retired-before-return"
    assert outcome(r, "late")["orphaned_at_hours"] == pytest.approx(240.0)


def test_naive_on_one_manager_orphans_every_client_with_secure_comms(tmp_path: Path) -> None:
    """Updating the only manager at once leaves no manager with the old certificate to fail over to."""
    clients = [("a", "g", "14.3"), ("b", "g", "14.3"), ("c", "g", "14.2")]
    sc = tiny_world(tmp_path, clients, [("b", "", 50.0)])
    r = sim.simulate(sc, seed=4)
    assert r.orphaned == 3
    assert set(r.clients["cause"]) == {"no-failover-target"}
    assert r.clients["orphaned_at_hours"].tolist() == pytest.approx([0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    ("protocol", "secure", "orphaned"),
    [
        ("http", False, False),  # both gates open: no certificate checked
        ("https", False, True),  # transport gate: https checks the cached certificate
        ("http", True, True),  # signature gate: secure comms checks it even over http (KB step 8)
        ("https", True, True),
    ],
)
def test_each_gate_on_its_own(tmp_path: Path, protocol: str, secure: bool, orphaned: bool) -> None:
    groups = [
        {"name": "root", "msl": "list", "secure_comms": secure, "heartbeat_minutes": 60},
        {"name": "g", "parent": "root"},
    ]
    sc = tiny_world(tmp_path, [("a", "g", "14.3")], protocol=protocol, groups=groups)
    r = sim.simulate(sc, seed=5)
    assert (r.orphaned == 1) is orphaned
    if not orphaned:
        assert outcome(r, "a")["new_cert_at_hours"] < 1.0


def test_wait_shorter_than_heartbeat_orphans_clients_whose_heartbeat_had_not_come(tmp_path: Path) -> None:
    """Wait 0.5 h with a 60-minute heartbeat: an always-online client survives exactly when its first
    heartbeat after the start falls before the update; the others were online but too slow."""
    clients = [(f"c{i}", "g", "14.3") for i in range(40)]
    sc = tiny_world(tmp_path, clients, runbook={**SINGLE, "wait_hours": 0.5})
    r = sim.simulate(sc, seed=6)
    fleet = generate_fleet(sc, compile_topology(sc), streams(6)[0])
    expected = fleet.phase_u * 1.0 >= 0.5
    got = (r.clients["outcome"] == "orphaned").to_numpy()
    assert np.array_equal(got, expected)
    assert 5 < expected.sum() < 35
    assert set(r.clients.loc[got, "cause"]) == {"wait-too-short"}


def test_lower_tier_takes_over_when_top_tier_refuses(tmp_path: Path) -> None:
    """Tier 1 is sepm1 only, tier 2 sepm2. sepm1 is updated at 0 h: each client's first heartbeat meets a
    mismatch on sepm1, fails over to sepm2 (tier 2), and learns sepm1's new certificate there, within the
    first hour. When sepm2 is updated at 48 h they fail over back to sepm1, whose new certificate they hold."""
    sc = tiny_world(
        tmp_path,
        [("a", "g", "14.3"), ("b", "g", "14.3")],
        managers=("sepm1", "sepm2"),
        tiers=[["sepm1"], ["sepm2"]],
        runbook={**MULTI, "retention_days": 2},
    )
    r = sim.simulate(sc, seed=7)
    assert r.orphaned == 0
    assert (r.clients["new_cert_at_hours"] > 48.0).all()
    assert (r.clients["new_cert_at_hours"] < 49.0).all()
    assert (r.clients["last_manager"] == "sepm1").all()
    # with sepm2 retained only 1 h, a client away for the first 2 h finds no old-certificate manager left
    sc2 = tiny_world(
        tmp_path,
        [("a", "g", "14.3")],
        [("a", "", 2.0)],
        managers=("sepm1", "sepm2"),
        tiers=[["sepm1"], ["sepm2"]],
        runbook={**MULTI, "retention_days": 1 / 24},
    )
    assert outcome(sim.simulate(sc2, seed=7), "a")["cause"] == "retired-before-return"


def test_no_failover_target_when_the_list_holds_only_the_rotated_manager(tmp_path: Path) -> None:
    """A group whose list names only sepm1 cannot learn sepm1's new certificate from anyone."""
    groups = [
        {"name": "root", "msl": "list", "secure_comms": True, "heartbeat_minutes": 60},
        {"name": "g", "parent": "root"},
        {"name": "solo", "parent": "root", "inherit": False, "msl": "solo-list"},
    ]
    data = tiny_world(
        tmp_path,
        [("a", "g", "14.3"), ("s", "solo", "14.3")],
        managers=THREE,
        groups=groups,
        runbook=MULTI,
        extra={
            "msls": [
                {"name": "list", "tiers": [list(THREE)]},
                {"name": "solo-list", "tiers": [["sepm1"]]},
            ]
        },
    )
    r = sim.simulate(data, seed=8)
    assert outcome(r, "s")["cause"] == "no-failover-target"
    assert outcome(r, "s")["orphaned_at_hours"] == pytest.approx(0.0)
    assert outcome(r, "a")["outcome"] == "ok"


def test_gone_clients_are_reported_apart(tmp_path: Path) -> None:
    sc = tiny_world(tmp_path, [("a", "g", "14.3"), ("x", "g", "14.3")], [("x", "", "")])
    r = sim.simulate(sc, seed=9)
    assert outcome(r, "x")["outcome"] == "gone"
    assert outcome(r, "x")["cause"] == ""
    assert r.gone == 1 and r.orphaned == 1


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_heartbeat_phase_after_an_absence_that_ended_before_the_start(tmp_path: Path, engine: str) -> None:
    """Facts 8 and 9: a client checks in when it comes online, then every heartbeat. 'back' returned at -5 h with
    a 24-hour heartbeat, so it checked in at -5 h and next at 19 h: with secure communications off from 0 h
    (kb-single-server, 3 heartbeats = 72 h wait) it first hears of the relaxation at 19 h (before, it got a
    random phase, as if it had been online since ever). An always-on client
    with no absence has no known first check-in: its first one after 0 is somewhere in its first cycle."""
    sc = tiny_world(
        tmp_path,
        [("back", "g", "14.3"), ("ever", "g", "14.3")],
        [("back", -100.0, -5.0)],
        runbook=SINGLE,
        heartbeat_minutes=24 * 60,
        horizon_days=10,
    )
    r = sim.simulate(sc, seed=1, engine=engine)
    assert outcome(r, "back")["first_contact_hours"] == pytest.approx(19.0)
    # the engine's own heartbeats keep that phase: the certificate (72 h) reaches it at 19 + 3 x 24 = 91 h
    assert outcome(r, "back")["new_cert_at_hours"] == pytest.approx(91.0)
    assert 0.0 <= outcome(r, "ever")["first_contact_hours"] < 24.0
    assert r.orphaned == 0
