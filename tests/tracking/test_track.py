"""rotasim track: the rotation log, the state exports show, the forecast from it (docs/model.md, "Tracking a
rotation"). A rotation is simulated end to end (tests/track_sim.py) and exports are cut from it at known dates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.analysis.verdict import Threshold
from sim.scenario.document import Scenario, build_scenario
from sim.tracking.forecast import forecast, track_inputs
from sim.tracking.observed import ExportSpec
from tests.track_sim import Truth, simulate_truth

GROUP_PATH = {"Laptops": "My Company\\Laptops", "Desktops": "My Company\\Desktops", "My Company": "My Company"}


def rotation(tmp: Path, clients: int = 200, **over: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "tracked",
        "horizon_days": 40,
        "seed": 5,
        "start_time": "2026-11-02T09:00:00+00:00",
        "sites": [{"name": "hq", "managers": [{"name": f"sepm{k}", "restart_minutes": 10} for k in (1, 2, 3)]}],
        "msls": [{"name": "hq-list", "tiers": [["sepm1", "sepm2", "sepm3"]]}],
        "groups": [
            {"name": "My Company", "msl": "hq-list", "secure_comms": True, "heartbeat_minutes": 240},
            {"name": "Laptops", "parent": "My Company"},
            {"name": "Desktops", "parent": "My Company"},
        ],
        "fleet": {
            "clients": clients,
            "groups": {"Laptops": 0.6, "Desktops": 0.4},
            "versions": {"14.3.RU8": 1.0},
            "presence": {
                "patterns": [
                    {"name": "laptop", "share": 0.5, "days": ["mon", "tue", "wed", "thu", "fri"]},
                    {"name": "always-on", "share": 0.5, "schedule": "always"},
                ],
                "leave": {
                    "rate_per_year": 8,
                    "duration_days": {"distribution": "lognormal", "median": 6, "sigma": 1.0},
                },
                "gone_share": 0.01,
            },
        },
        "runbook": {"template": "kb-multi-server", "wait_heartbeats": 3, "retention_days": 14},
    }
    data.update(over)
    return build_scenario(data, source=str(tmp / "tracked.yaml"), base_dir=tmp)


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scenario, Truth]:
    tmp = tmp_path_factory.mktemp("rot")
    sc = rotation(tmp)
    return sc, simulate_truth(sc)


def spec_at(path: Path, t: float) -> ExportSpec:
    from datetime import timedelta

    from tests.track_sim import START

    return ExportSpec(path, (START + timedelta(hours=t)).isoformat())


@pytest.mark.parametrize("day", [0.3, 1.0, 4.0, 9.0, 16.0])
def test_track_recovers_who_holds_what(tmp_path: Path, truth: tuple[Scenario, Truth], day: float) -> None:
    """At each export date, the state derived from the log and the export is the simulation's, client by
    client: which certificate generation it holds for each manager, and its last server."""
    sc, tr = truth
    t = day * 24.0
    log = tr.write_log(tmp_path / "log.yaml", t)
    exp = tr.write_export(tmp_path / "export.csv", t, GROUP_PATH)
    tracked = track_inputs(sc, log, [spec_at(exp, t)])
    obs = tracked.obs
    held = tr.held_at(t)
    mismatches = []
    for i, cid in enumerate(obs.client_id):
        if str(cid) not in held:
            assert obs.cert[i].max() == 0  # never seen since the start: holds what it held then
            continue
        _, m, certs = held[str(cid)]
        got = {k: int(obs.cert[i, k]) for k in certs}
        if got != certs or obs.last_server[i] != m:
            mismatches.append((cid, certs, got))
    assert mismatches == []
    assert obs.at == pytest.approx(t)
    assert (obs.cert.max(axis=1) > 0).any() == (day >= 0.3)


@pytest.mark.parametrize("day", [3.0, 8.0])
def test_track_forecasts_the_final_orphans_within_its_interval(
    tmp_path: Path, truth: tuple[Scenario, Truth], day: float
) -> None:
    """The simulated rotation's final orphans lie within the forecast's range over its replications, and the
    orphans of "change the retained manager at the planned date" (the probe's curve) equal the plan kept."""
    sc, tr = truth
    t = day * 24.0
    log = tr.write_log(tmp_path / "log.yaml", t)
    exp = tr.write_export(tmp_path / "export.csv", t, GROUP_PATH)
    tracked = track_inputs(sc, log, [spec_at(exp, t)])
    fc = forecast(tracked, Threshold(max_orphans=3), replications=16, max_replications=16)
    final = int((tr.result.clients["outcome"] == "orphaned").sum())
    lo, hi = np.quantile(fc.orphans, [0.025, 0.975])
    assert lo - 1 <= final <= hi + 1, (final, fc.orphans)
    assert fc.planned_change_at == pytest.approx(14 * 24.0 + 5 / 60 + 5 / 60, abs=1e-6)
    assert np.array_equal(fc.orphans_if(fc.planned_change_at), fc.orphans)
    # changing the retained manager now orphans at least every client that does not hold the new certificates
    behind = int((tracked.obs.cert[:, :2].min(axis=1) == 0).sum())
    assert fc.orphans_if(tracked.now).max() <= behind
    assert fc.risk_if(tracked.now).verdict in ("NO-GO", "INCONCLUSIVE")


def test_an_export_may_carry_its_time() -> None:
    """``FILE@TIME`` gives the export's moment (a time with zone); a path with an @ but no time stays a path."""
    assert ExportSpec.parse("out/e.csv@2026-11-10T09:00:00+00:00") == ExportSpec(
        Path("out/e.csv"), "2026-11-10T09:00:00+00:00"
    )
    assert ExportSpec.parse("me@host/e.csv") == ExportSpec(Path("me@host/e.csv"))


def test_the_plan_resumes_now(tmp_path: Path, truth: tuple[Scenario, Truth]) -> None:
    """Steps done land at their logged times; the wait after the last done step is shortened by the time
    passed; the retention keeps its anchor (sepm1's update) and nothing lands before now."""
    from sim.model.topology import compile_topology
    from sim.runbooks import expand_runbook
    from sim.tracking.log import read_log
    from sim.tracking.plan import replay_steps, view_history

    sc, tr = truth
    log = read_log(tr.write_log(tmp_path / "log.yaml", 2.0), sc, expand_runbook(sc))  # only update-sepm1 done
    topo = compile_topology(sc)
    steps = replay_steps(expand_runbook(sc), log, 6.0, topo)  # now: 6 h; the plan waits 3 heartbeats (12 h)
    world = view_history(topo, steps, sc.replication_interval_hours, 24 * 40.0).world
    done = world.step_done
    assert done["update-sepm1"] == pytest.approx(5 / 60)
    assert done["update-sepm2"] == pytest.approx(5 / 60 + 12.0 + 5 / 60)  # as planned: 12 h after sepm1
    assert done["update-sepm3"] == pytest.approx(5 / 60 + 14 * 24.0 + 5 / 60)  # the retention's anchor kept
    late = replay_steps(expand_runbook(sc), log, 30.0, topo)  # now: 30 h, past the planned wait
    world = view_history(topo, late, sc.replication_interval_hours, 24 * 40.0).world
    assert world.step_done["update-sepm2"] == pytest.approx(30.0 + 5 / 60)  # not before now


def test_a_change_counts_once_it_reached_the_clients_site(tmp_path: Path) -> None:
    """Two sites, replication every hour (fact 16): sepm1 (hq) is updated at 09:05 and branch's database
    learns it at the next tick, 10:00. A branch client that checked in at 09:30 (server sepm2) has not learnt
    it; one at 10:15 has; an hq client at 09:10 (server sepm1) has."""
    data: dict[str, Any] = {
        "name": "two-sites",
        "horizon_days": 20,
        "start_time": "2026-11-02T09:00:00+00:00",
        "replication_interval_hours": 1,
        "sites": [
            {"name": "hq", "managers": [{"name": "sepm1"}]},
            {"name": "branch", "managers": [{"name": "sepm2"}, {"name": "sepm3"}]},
        ],
        "msls": [{"name": "l", "tiers": [["sepm1", "sepm2", "sepm3"]]}],
        "groups": [{"name": "My Company", "msl": "l", "heartbeat_minutes": 60}],
        "runbook": {"template": "kb-multi-server", "retention_days": 10},
    }
    sc = build_scenario(data, source=str(tmp_path / "s.yaml"), base_dir=tmp_path)
    log = tmp_path / "log.csv"
    log.write_text("step,done_at\nupdate-sepm1,2026-11-02T09:05:00+00:00\n")
    exp = tmp_path / "e.csv"
    exp.write_text(
        "Computer Name,Group,Version,Last Check-in,Server Name\n"
        "early,My Company,14.3,2026-11-02 09:30:00+00:00,sepm2\n"
        "late,My Company,14.3,2026-11-02 10:15:00+00:00,sepm3\n"
        "hq,My Company,14.3,2026-11-02 09:10:00+00:00,sepm1\n"
        "before,My Company,14.3,2026-11-02 09:01:00+00:00,sepm1\n"
    )
    obs = track_inputs(sc, log, [spec_at(exp, 1.5)]).obs
    held = dict(zip(obs.client_id, obs.cert[:, 0], strict=True))
    assert held == {"early": 0, "late": 1, "hq": 1, "before": 0}
    assert list(obs.last_server) == [1, 2, 0, 0]
