"""The cause of an orphan made after a restore (docs/model.md, "Causes", row 5), in both engines.

After a ``restore-certificate`` a manager presents a certificate of a *lower* generation than one a client may
hold; "a manager on its list already presented a certificate it could have learnt by failing over" must count
that one too, or the orphan falls through to ``offline-through-window`` though a longer wait would have saved
it exactly as in a forward rotation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import sim
from tests.engines.test_equivalence import assert_same_clients, run_both
from tests.tiny import tiny_world

STEPS = [
    {"kind": "update-certificate", "name": "update-a", "managers": ["a"], "operator_minutes": 0},
    {"kind": "wait", "hours": 4},
    {"kind": "restore-certificate", "name": "restore-a", "managers": ["a"], "operator_minutes": 0},
    {"kind": "wait", "hours": 2},
    {"kind": "update-certificate", "name": "update-b", "managers": ["b"], "operator_minutes": 0},
]


def world(tmp: Path, steps: list[dict[str, object]]) -> sim.Scenario:
    """Managers a and b on one list (HTTPS, secure communications on), heartbeat 60 min, no jitter. ``away``
    checks in for 3 hours after a's update (learning a's new certificate, generation 1), leaves at 3.5 h and is
    back on day 2; ``home`` stays."""
    clients = [("away", "g", "14.3"), ("home", "g", "14.3")]
    return tiny_world(
        tmp, clients, [("away", 3.5, 48.0)], managers=("a", "b"), runbook={"steps": steps}, horizon_days=4
    )


def test_an_orphan_after_a_restore_is_retired_before_return(tmp_path: Path) -> None:
    """At 4 h a goes back to its old certificate (generation 0): ``away`` still trusts b, so it is not orphaned.
    At 6 h b's update leaves it holding a's generation 1 (a presents 0) and b's 0 (b presents 1): orphaned while
    away. Just before that change a already presented a certificate other than the one it held, which it would
    have learnt by failing over to b had it been online, and it came back only after b, the last manager whose
    certificate it held, changed: ``retired-before-return`` (a longer wait before b's update saves it). The rule
    "newer" (generation above the cached one) missed it: a's 0 is below its 1, and the cause fell through to
    ``offline-through-window``."""
    sc = world(tmp_path, STEPS)
    fast, ref = run_both(sc)
    assert_same_clients(fast, ref)
    for r in (fast, ref):
        c = r.clients.set_index("client_id")
        assert c.loc["away", "outcome"] == "orphaned"
        assert c.loc["away", "orphaned_at_hours"] == pytest.approx(6.0)
        assert c.loc["away", "cause"] == "retired-before-return"
        assert c.loc["home", "outcome"] != "orphaned"


def test_a_longer_wait_before_the_second_update_saves_it(tmp_path: Path) -> None:
    """The cause's remedy holds: with b's update after ``away`` is back (day 2), it fails over to b, learns a's
    restored certificate there and survives b's update."""
    longer = [*STEPS[:3], {"kind": "wait", "hours": 50}, STEPS[4]]
    fast, ref = run_both(world(tmp_path, longer))
    assert_same_clients(fast, ref)
    assert fast.orphaned == ref.orphaned == 0
