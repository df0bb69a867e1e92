"""Both engines start from an observed state (sim.engines.initial, the hook rotasim track uses) and agree
client by client on tiny deterministic worlds (tests/tiny.py: jitter 0, no check-in delay)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.engines.common import initial_last_used
from sim.engines.initial import InitialState
from sim.experiments.options import RunOptions
from sim.experiments.result import Result
from sim.experiments.simulate import execute, prepare
from tests.engines.test_equivalence import assert_same_clients
from tests.tiny import tiny_world

RUNBOOK = {
    "steps": [
        {"kind": "update-certificate", "name": "u1", "managers": ["sepm1"]},
        {"kind": "wait", "hours": 10},
        {"kind": "update-certificate", "name": "u2", "managers": ["sepm2"]},
        {"kind": "wait", "hours": 20},
        {"kind": "update-certificate", "name": "u3", "managers": ["sepm3"]},
    ]
}


def world(tmp: Path, tiers: list[list[str]] | None = None):  # type: ignore[no-untyped-def]
    clients = [(f"c{i}", "g", "14.3") for i in range(6)] + [("old", "g", "14.2")]
    absences = [
        ("c1", 1.5, 40.0),  # away before u2 and u3 land: back with sepm1's certificate only
        ("c2", 0.5, 12.0),  # away from before now, back between u2 and u3
        ("c3", 1.5, ""),  # never back
        ("old", 0.5, 13.0),  # 14.2, back after its server changed certificate
    ]
    return tiny_world(
        tmp,
        clients,
        absences,
        managers=("sepm1", "sepm2", "sepm3"),
        tiers=tiers,
        runbook=RUNBOOK,
        horizon_days=3,
    )


def observed(
    at: float, n: int, managers: int, held: dict[int, list[int]], last: dict[int, float], server: dict[int, int]
) -> InitialState:
    cert = np.zeros((n, managers), np.int64)
    for c, row in held.items():
        cert[c] = row
    lc = np.array([last.get(c, at - 0.25) for c in range(n)], float)
    return InitialState(
        at=at,
        msl=np.zeros(n, np.int64),
        secure=np.ones(n, bool),
        heartbeat=np.full(n, 60.0),
        cert=cert,
        last_server=np.array([server.get(c, 0) for c in range(n)], np.int64),
        last_checkin=lc,
        learnt_at=np.where(cert.max(axis=1) > 0, lc, np.nan),
    )


def run(sc, engine: str, init: InitialState) -> Result:  # type: ignore[no-untyped-def]
    return execute(prepare(sc, RunOptions(seed=1, engine=engine), initial_state=init)).result  # type: ignore[arg-type]


@pytest.mark.parametrize("tiers", [[["sepm1"], ["sepm2"], ["sepm3"]], [["sepm3"], ["sepm2"], ["sepm1"]]])
def test_engines_agree_from_an_observed_state(tmp_path: Path, tiers: list[list[str]]) -> None:
    """At 5 h (after u1 at 0): c0, c4 and c5 hold sepm1's new certificate (checked in at 4.75 h), c1 and
    c3 checked in at 1 h and hold the old one, c2 and 'old' at 0.25 h. Each engine must agree on every
    outcome: who is orphaned when, who trusts the final certificates when, last manager. (Single-server tiers:
    no draw decides anything.)"""
    sc = world(tmp_path, tiers)
    held = {c: [1, 0, 0] for c in (0, 4, 5)}
    init = observed(5.0, 7, 3, held, {1: 1.0, 3: 1.0, 2: 0.25, 6: 0.25}, {})
    fast, ref = run(sc, "fast", init), run(sc, "reference", init)
    assert_same_clients(fast, ref)
    cl = fast.clients.set_index("client_id")
    assert cl.loc["c0", "new_cert_at_hours"] >= 30.0  # trusts the final certificates after u3
    assert cl.loc["c1", "outcome"] == "orphaned"  # held only sepm1's new and old sepm2/3: u3 closed the last
    assert cl.loc["old", "outcome"] == "orphaned"  # 14.2 whose last server changed certificate
    assert cl.loc["c3", "outcome"] != "ok"


def test_observed_start_at_zero_is_the_plain_run(tmp_path: Path) -> None:
    """An initial state at 0 h that says what the start says (old certificates, the same last servers, no
    check-in yet) gives the same run as no initial state, in both engines."""
    sc = world(tmp_path)
    for engine in ("fast", "reference"):
        prep = prepare(sc, RunOptions(seed=1, engine=engine))  # type: ignore[arg-type]
        plain = execute(prep).result
        lu = initial_last_used(prep.fleet, prep.topo)
        init = observed(0.0, 7, 3, {}, {c: np.nan for c in range(7)}, {c: int(lu[c]) for c in range(7)})
        assert_same_clients(plain, run(sc, engine, init))


def test_the_forecast_agrees_between_engines(tmp_path: Path) -> None:
    """The forecast from an observed state of a stochastic world (random choice within a tier, laptops,
    leave): per replication the same fleet and draws of who returns when, so the paired differences of
    fast and reference must be small (within 4 standard errors, and the plan's orphans within one client
    on average)."""
    from sim.analysis.verdict import Threshold
    from sim.tracking.forecast import forecast, track_inputs
    from tests.track_sim import simulate_truth
    from tests.tracking.test_track import GROUP_PATH, rotation, spec_at

    sc = rotation(tmp_path, clients=60)
    truth = simulate_truth(sc)
    t = 6 * 24.0
    log = truth.write_log(tmp_path / "log.yaml", t)
    tr = track_inputs(sc, log, [spec_at(truth.write_export(tmp_path / "e.csv", t, GROUP_PATH), t)])
    runs = {
        e: forecast(tr, Threshold(max_orphans=3), replications=6, max_replications=6, engine=e)
        for e in ("fast", "reference")
    }  # type: ignore[arg-type]
    fast, ref = runs["fast"], runs["reference"]
    for a, b in ((fast.orphans, ref.orphans), (fast.orphans_if(tr.now), ref.orphans_if(tr.now))):
        d = np.asarray(a, float) - np.asarray(b, float)
        se = d.std(ddof=1) / np.sqrt(len(d)) if d.std() > 0 else 0.0
        assert abs(d.mean()) <= 4 * se + 1.0, (a, b)
    assert np.array_equal(fast.orphans_if(tr.now), ref.orphans_if(tr.now))  # now: who is behind, no draw
