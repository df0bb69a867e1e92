"""Manager load: exact offered load in small worlds, Erlang B against a simulated loss system, overload."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import simpy

import sim
from sim.model.heartbeat import first_checkin
from sim.model.load import erlang_b, fail_probability
from sim.scenario.document import build_scenario
from sim.scenario.fields import LoadSpec

ROOT = Path(__file__).resolve().parents[2]


def world(n: int, heartbeat: float, pattern: dict, runbook: dict, managers: int = 1, **load: object) -> sim.Scenario:
    names = [f"m{i}" for i in range(managers)]
    return build_scenario(
        {
            "name": "load",
            "horizon_days": 14,
            "sites": [{"name": "s", "managers": [{"name": m, "restart_minutes": 0} for m in names]}],
            "msls": [{"name": "l", "tiers": [names]}],
            "groups": [{"name": "root", "msl": "l", "heartbeat_minutes": heartbeat}],
            "load": {"enabled": True, "bin_minutes": 60, **load},
            "fleet": {
                "clients": n,
                "presence": {"patterns": [pattern], "online_checkin_delay_seconds": 0},
            },
            "runbook": runbook,
        }
    )


WAIT_ONLY = {"steps": [{"kind": "wait", "hours": 1}]}


def test_always_on_load_is_clients_over_heartbeat() -> None:
    sc = world(600, 30, {"name": "on", "share": 1, "schedule": "always"}, WAIT_ONLY)
    r = sim.simulate(sc, seed=1)
    assert r.load is not None
    per_s = r.load["offered_per_second"].to_numpy()
    # 600 clients every 30 minutes: 1200 check-ins an hour, 1/3 per second, in every full bin
    assert per_s[:-1] == pytest.approx(600 / 1800.0)
    assert r.summary()["load"]["managers"][0]["failed_checkins"] == 0


def test_weekday_office_hours_load_counts_spells_and_coming_online() -> None:
    """Clients online 08:00-18:00 on weekdays (no spread, UTC), heartbeat 60 min. The offered load counts the
    check-in on coming online as a point and the heartbeats after it as 1/h from half an interval later:
    1 + 9.5 = 10.5 per full workday (the literal grid 8:00, ..., 17:00 is 10; on average over spell lengths
    the two agree). From Monday 09:00 for 14 days: Monday's last 9 hours (online since before the start:
    no point, no shift), 9 full workdays, and the third Monday's first hour with its point: 9 + 94.5 + 1.5."""
    pattern = {"name": "office", "share": 1, "start_hour": 8, "end_hour": 18, "start_spread_hours": 0}
    sc = world(50, 60, pattern, WAIT_ONLY)
    r = sim.simulate(sc, seed=2)
    total = (r.load["offered_per_second"] * 3600.0).sum()
    expected_per_client = 9.0 + 9 * 10.5 + 1.5
    assert total == pytest.approx(50 * expected_per_client, rel=1e-9)
    # nights and weekends carry nothing
    t = r.load["time_hours"].to_numpy()
    local = np.mod(t + 9.0, 168.0)  # runbook starts Monday 09:00 UTC
    off = (np.mod(local, 24.0) >= 18) | (np.mod(local, 24.0) < 8) | (local >= 120)
    assert r.load.loc[off, "offered_per_second"].sum() == 0


def test_failover_moves_load_to_the_other_managers() -> None:
    """naive on one of two managers... kb-multi-server on two: after m0's update its clients fail over to m1."""
    sc = world(
        1000,
        15,
        {"name": "on", "share": 1, "schedule": "always"},
        {"template": "kb-multi-server", "retention_days": 5, "operator_minutes": 0},
        managers=2,
    )
    r = sim.simulate(sc, seed=3)
    L = r.load.pivot(index="time_hours", columns="manager", values="offered_per_second")
    total = 1000 / 900.0
    assert L.iloc[0].sum() == pytest.approx(total, rel=0.05)
    assert L.loc[3.0, "m1"] == pytest.approx(total, rel=0.01)  # all on m1 after m0 rotated
    assert L.loc[130.0, "m0"] == pytest.approx(total, rel=0.01)  # all back on m0 after m1 rotated (day 5)


def test_erlang_b_recursion_known_values() -> None:
    assert erlang_b(np.array([1.0]), 1)[0] == pytest.approx(0.5)
    assert erlang_b(np.array([2.0]), 2)[0] == pytest.approx(0.4)
    assert erlang_b(np.array([10.0]), 10)[0] == pytest.approx(0.21458, abs=1e-5)
    spec = LoadSpec(enabled=True, overload="fluid")
    p = fail_probability(np.array([[1.0, 2.0, 4.0]]), np.array([2.0]), spec)
    assert p.tolist() == [[0.0, 0.0, 0.5]]


def test_fleet_checkins_into_a_loss_system_block_as_erlang_b() -> None:
    """The assumption behind the erlang-b overload rule: the check-ins of many clients with jittered
    heartbeats are close to a Poisson stream, so a manager with c sessions blocks them as Erlang B predicts.
    We take the check-in times the heartbeat model produces for 3,000 always-on clients (15-minute heartbeat,
    jitter 0.3) and feed them to a SimPy loss system with c sessions and exponential session times."""
    sc = world(3000, 15, {"name": "on", "share": 1, "schedule": "always"}, WAIT_ONLY)
    from sim.experiments.simulate import streams
    from sim.model.fleet import generate_fleet
    from sim.model.streams import ClientStreams, keys_from_index
    from sim.model.topology import compile_topology

    sc = sc.with_(**{"fleet.jitter": 0.3})
    topo = compile_topology(sc)
    fleet = generate_fleet(sc, topo, streams(0)[0])
    draws = ClientStreams(keys_from_index(fleet.n), 7, 0)
    idx = np.arange(fleet.n)
    h = np.full(fleet.n, 0.25)
    last = np.full(fleet.n, np.nan)
    t = np.zeros(fleet.n)
    times = []
    for _ in range(24):  # six hours of heartbeats
        ci = first_checkin(fleet, idx, t, last, h, draws.uniform)
        times.append(ci)
        last, t = ci, ci + 1e-9
    arrivals = np.sort(np.concatenate(times))
    arrivals = arrivals[arrivals < 6.0] * 3600.0  # seconds
    rate = len(arrivals) / (6.0 * 3600.0)
    c, mean_service = 4, 1.2  # offered load: 3.3 check-ins per second x 1.2 s = 4 erlangs on 4 sessions
    rng = np.random.default_rng(1)
    env = simpy.Environment()
    sessions = simpy.Resource(env, capacity=c)
    blocked = [0]

    def session(duration: float):  # type: ignore[no-untyped-def]
        with sessions.request() as req:
            yield req
            yield env.timeout(duration)

    def arrive():  # type: ignore[no-untyped-def]
        prev = 0.0
        for a, d in zip(arrivals, rng.exponential(mean_service, len(arrivals)), strict=True):
            yield env.timeout(a - prev)
            prev = a
            if sessions.count >= c:
                blocked[0] += 1
            else:
                env.process(session(d))

    env.process(arrive())
    env.run()
    measured = blocked[0] / len(arrivals)
    expected = float(erlang_b(np.array([rate * mean_service]), c)[0])
    se = math.sqrt(expected * (1 - expected) / len(arrivals)) * 3  # blocking events are correlated: be generous
    assert 0.05 < expected < 0.5
    assert abs(measured - expected) < 3 * se, (measured, expected, se)
    assert abs(measured - expected) < 0.02


def test_shipped_overload_scenario_overloads_and_the_runbook_change_avoids_it() -> None:
    """Scaled to 6,000 clients with capacity scaled alike, the shipped pair keeps its meaning."""
    rows = []
    for name in ("overload-rotation", "overload-avoided"):
        sc = sim.load_scenario(ROOT / "scenarios" / f"{name}.yaml")
        sc = sc.with_(**{"load.capacity_per_second": 3.5 * 6000 / 30000})
        rows.append(sim.simulate(sc, clients=6000, horizon_days=10).summary()["load"])
    bad, good = rows
    assert max(m["hours_over_capacity"] for m in bad["managers"]) > 1
    assert sum(m["failed_checkins"] for m in bad["managers"]) > 100
    assert bad["learning_delay_hours"]["clients_delayed"] > 0
    assert max(m["hours_over_capacity"] for m in good["managers"]) == 0
    assert sum(m["failed_checkins"] for m in good["managers"]) == 0
