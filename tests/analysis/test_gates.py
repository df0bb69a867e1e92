"""Planning a gate's share with its cap (sim/analysis/gates.py): the best pair worked out by hand on tiny
deterministic worlds, no regression against the cap-only plan at the runbook's own share, and bad shares."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sim
from sim.analysis.gates import default_shares
from sim.analysis.planning import plan, plan_scenario
from sim.analysis.replications import Replications, check_shares, replicate
from sim.errors import InputError
from sim.experiments.digest import _digest
from sim.experiments.options import RunOptions
from sim.scenario.document import build_scenario
from tests.tiny import tiny_world

RB = {"template": "kb-multi-server", "wait_heartbeats": 3, "retention_days": 30, "operator_minutes": 0}
HOME = 6  # clients at their desks throughout in both months


def month(tmp: Path, back_days: list[float], home: int) -> sim.Scenario:
    """Ten always-on clients, heartbeat 60 min, managers a, b, c (c retained): ``home`` at their desks, the
    others away from before the rotation until the given days, checking in at once on return."""
    away = [f"away{i}" for i in range(len(back_days))]
    clients = [(f"home{i}", "g", "14.3") for i in range(home)] + [(c, "g", "14.3") for c in away]
    absences = [(c, -1.0, 24.0 * b) for c, b in zip(away, back_days, strict=True)]
    return tiny_world(tmp, clients, absences, managers=("a", "b", "c"), runbook=dict(RB), horizon_days=40)


def two_months(tmp_path: Path, shares: tuple[float, ...]) -> Replications:
    """Two possible rotations, two replications each: a good month (9 home, one back on day 3) and a bad one
    (6 home, four back on days 3, 6, 10 and 25). Deterministic (no jitter, explicit absences): each replication
    is its month exactly."""
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    good, bad = month(tmp_path / "good", [3], 9), month(tmp_path / "bad", [3, 6, 10, 25], HOME)
    digests = [_digest(sc, 1, k, "fast", None, None, False, shares) for k, sc in enumerate([good, good, bad, bad])]
    return Replications(good, 1, "fast", digests, shares)


def test_the_best_gate_of_two_months_by_hand(tmp_path: Path) -> None:
    """Target: at most 1 orphan; confidence 0.5, where 4 replications show GO only if none exceeds.

    The retention wait starts when b's update ends, 3 h (0.125 day) after the first update (3 heartbeats);
    a gate opens no earlier. Fixed cap x orphans whoever is still away at x: the bad month needs x past day 10
    (the client back on day 10 checks in at 240 h, so the lattice point after it, 10.01), in both months the
    old certificate stays 10.01 days. Gates (k = ceil(10 share) check-ins since the first update):
    - 80%: in the bad month the 8th check-in is the day-6 return, leaving 2 away: no cap meets 1 orphan.
    - 90%: the good month's 9 home clients open it at the floor (0.125 day, 1 orphan); the bad month's 9th
      check-in is the day-10 return at 240 h (1 orphan left); a cap ending at that very moment lets the gate,
      read after the check-ins of the moment, open first: cap 10.00, mean days (0.125 + 10) / 2, orphans 1.
    - 100%: opens on day 3 (good: no orphan) and day 25 (bad, after the cap 10.01: 1 orphan); cap 10.01,
      mean days (3 + 10.01) / 2, mean orphans 0.5.
    So 90% with a 10-day cap: the fewest days (5.06 against 6.51 at 100% and 10.01 fixed)."""
    reps = two_months(tmp_path, (0.8, 0.9, 1.0))
    p = plan(reps, max_orphans=1, confidence=0.5)
    assert p.recommended == pytest.approx(10.01)  # the runbook's own (fixed) retention
    assert p.gates is not None and p.gate is not None
    t = p.gates.set_index("share")
    assert math.isnan(t.loc[0.8, "retention_days"]) and t.loc[0.8, "verdict"] != "GO"
    assert t.loc[0.9, "retention_days"] == pytest.approx(10.0)
    assert t.loc[0.9, "days_mean"] == pytest.approx((0.125 + 10.0) / 2)
    assert t.loc[0.9, "orphaned_mean"] == 1.0 and t.loc[0.9, "exceeding"] == 0 and t.loc[0.9, "verdict"] == "GO"
    assert t.loc[1.0, "retention_days"] == pytest.approx(10.01)
    assert t.loc[1.0, "days_mean"] == pytest.approx((3.0 + 10.01) / 2)
    assert t.loc[1.0, "orphaned_mean"] == 0.5 and t.loc[1.0, "verdict"] == "GO"
    assert (p.gate.share, p.gate.setting) == (0.9, pytest.approx(10.0))
    says = "keep c on the old certificate until 90% of the clients have checked in since the first update, or 10 days"
    assert says in p.statement()
    j = p.to_json()
    assert j["recommended_gate"]["share"] == 0.9 and j["recommended_gate"]["retention_days"] == pytest.approx(10.0)
    assert [g["share"] for g in j["gates"]] == [0.8, 0.9, 1.0] and j["gates"][0]["retention_days"] is None
    # a choice among the planned shares; one the probes did not plan is refused in one line
    only = plan(reps, max_orphans=1, confidence=0.5, gate_shares=[1.0])
    assert only.gates is not None and list(only.gates["share"]) == [1.0]
    with pytest.raises(InputError, match="0.95 was not planned"):
        plan(reps, max_orphans=1, confidence=0.5, gate_shares=[0.95])


def test_the_planned_pair_is_what_running_it_gives(tmp_path: Path) -> None:
    """Running the bad month at the recommended pair: the retention ends when the day-10 client checks in
    (its 9th check-in), 10 days after the first update, and orphans the day-25 client only."""
    sc = month(tmp_path, [3, 6, 10, 25], HOME).with_(
        **{"runbook.retention_until_share": 0.9, "runbook.retention_days": 10.0}
    )
    r = sim.simulate(sc, seed=1)
    steps = r.steps.set_index("name")
    held = steps.loc["retain-c", "end_hours"] - steps.loc["update-a", "end_hours"]
    assert held == pytest.approx(240.0) and r.orphaned == 1
    assert list(r.clients.loc[r.clients["outcome"] == "orphaned", "client_id"]) == ["away3"]


def test_the_runbooks_own_share_plans_as_the_cap_only_plan() -> None:
    """No regression: the per-share row at the runbook's own share is today's cap-only plan of it, from the
    same replications (same need per replication, same recommendation, same orphans at it)."""
    sc = sim.load_scenario("scenarios/three-manager-failover.yaml").with_(
        **{"fleet.clients": 300, "runbook.retention_until_share": 0.97, "runbook.retention_days": 45}
    )
    reps = replicate(sc, n=6, seed=2, workers=1, progress=False, gate_shares=(0.95, 0.99))
    assert reps.shares() == [0.95, 0.97, 0.99]
    np.testing.assert_array_equal(reps.needed(max_orphans=20, share=0.97), reps.needed(max_orphans=20))
    p = plan(reps, max_orphans=20, confidence=0.5)
    assert p.gates is not None
    own = p.gates.set_index("share").loc[0.97]
    assert p.recommended is not None and own["retention_days"] == p.recommended
    assert own["orphaned_mean"] == pytest.approx(reps.orphans_at([p.recommended]).mean())
    assert p.risk is not None and own["exceeding"] == p.risk.exceeding
    alone = plan(replicate(sc, n=6, seed=2, workers=1, progress=False), max_orphans=20, confidence=0.5)
    assert alone.recommended == p.recommended and alone.curve.equals(p.curve)


def test_default_shares_surround_the_runbooks_own() -> None:
    assert default_shares(0.965) == (0.945, 0.955, 0.965, 0.975, 0.985)
    assert default_shares(0.99) == (0.97, 0.98, 0.99, 1.0)
    assert default_shares(0.96251) == (0.9425, 0.9525, 0.96251, 0.9725, 0.9825)  # its own as given
    sc = sim.load_scenario("scenarios/gated-retention.yaml")
    p, reps = plan_scenario(
        sc,
        RunOptions(clients=200, workers=1, progress=False),
        max_orphans=17,
        replications=3,
        max_replications=3,
        extend_horizon=False,
    )
    assert reps.shares() == [0.9425, 0.9525, 0.9625, 0.9725, 0.9825] and p.gates is not None and len(p.gates) == 5


@pytest.mark.parametrize("bad", [[0], [-0.1], [1.2], ["x"], [math.nan], [True], ["0.9", ""]])
def test_bad_shares_name_the_option(bad: list[Any]) -> None:
    with pytest.raises(InputError, match=r"--gate-shares: each share must be a number above 0 and at most 1"):
        check_shares(bad)


def test_a_gate_that_opens_over_the_target_is_said_and_not_a_horizon_problem() -> None:
    """gated-retention's gate opens with 15 clients not checked in (ceil(0.9625 x 400) = 385 of 400 have), so
    no cap meets at most 3 orphans: the plan says the gate is why, and does not double the horizon looking for
    returns that would not help."""
    sc = sim.load_scenario("scenarios/gated-retention.yaml")
    p, reps = plan_scenario(
        sc, RunOptions(workers=1, progress=False), max_orphans=3, replications=3, max_replications=3, gate_shares=[]
    )
    assert p.reason == "gate" and p.notes == [] and reps.horizon_days == sc.horizon_days
    assert p.at_gate == pytest.approx(15.0, abs=0.5)
    assert "the gate ends the retention while too many clients have not checked in" in p.statement()


def test_a_level_gate_is_the_pure_death_stopping_rule_in_closed_form() -> None:
    """Always-on clients (heartbeat 5 min), a share U(0, 0.3) of 400 away at the start with Exp(mean 10 days)
    remaining, gate 97% (k = 400 - ceil(388) = 12 may be missing), cap 100 days. The clients not checked in are a
    pure death of the N0 away at the start, so per rotation the gate opens at the (N0 - k)-th return: orphans
    min(N0, k) exactly, and days in service E = m (H(N0) - H(k)) with variance m^2 sum_{j>k} 1/j^2 (order
    statistics of exponentials). Since N0 varies between rotations, a fixed retention as long as the gate's
    mean orphans far more (the stopping argument of scenarios/gated-retention.yaml)."""
    m, k = 10.0, 12
    data: dict[str, Any] = {
        "name": "pure-death",
        "horizon_days": 150,
        "sites": [{"name": "hq", "managers": [{"name": f"sepm{i}", "restart_minutes": 0} for i in (1, 2, 3)]}],
        "msls": [{"name": "list", "tiers": [["sepm1", "sepm2", "sepm3"]]}],
        "groups": [{"name": "root", "msl": "list", "heartbeat_minutes": 5}],
        "fleet": {
            "clients": 400,
            "presence": {
                "away_at_start": {
                    "share": {"distribution": "uniform", "low": 0.0, "high": 0.3},
                    "remaining_days": {"distribution": "exponential", "mean": m},
                }
            },
        },
        "runbook": {"template": "kb-multi-server", "retention_days": 100, "retention_until_share": 0.97},
    }
    sc = build_scenario(data)
    reps = replicate(sc, n=30, seed=3, workers=1, progress=False, keep_results=True)
    n0 = np.array([int((r.clients["first_contact_hours"] > 1).sum()) for r in reps.results])
    assert n0.min() <= k < n0.max()  # some rotations open the gate at once, most wait
    orphans = reps.orphans_at([100.0])[:, 0]
    np.testing.assert_array_equal(orphans, np.minimum(n0, k))
    harmonic = [float(np.sum(1.0 / np.arange(k + 1, n + 1))) for n in n0]
    expected = m * np.mean(harmonic)
    se = m * math.sqrt(sum(float(np.sum(1.0 / np.arange(k + 1, n + 1) ** 2)) for n in n0)) / len(n0)
    days = reps.in_service(100.0)
    assert days.mean() == pytest.approx(expected, abs=3 * se + 0.02)  # + the 15-minute floor
    fixed = reps.orphans_at([days.mean()])  # the fixed retention as long on average, same rotations
    assert fixed.mean() > orphans.mean() + 3
