"""What a replication sends back to the parent does not grow with the fleet (only the report's at-risk
candidates, the orphaned clients' rows, grow, with the orphans): so the parent's memory stays flat in the
number of replications whatever the number of clients."""

from __future__ import annotations

import pickle

import numpy as np

from sim.analysis.sampling import _report_task
from sim.experiments.digest import _digest
from sim.scenario.document import load_scenario

SHIPPED = "scenarios/three-manager-failover.yaml"


def _arrays(obj: object, out: list[np.ndarray]) -> list[np.ndarray]:
    if isinstance(obj, np.ndarray):
        out.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _arrays(v, out)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _arrays(v, out)
    elif hasattr(obj, "__dict__"):
        _arrays(vars(obj), out)
    return out


def test_a_digest_holds_no_per_client_array_and_does_not_grow_with_clients() -> None:
    sc = load_scenario(SHIPPED)
    small, large = (_digest(sc, 3, 0, "fast", n, 40, False) for n in (300, 3000))
    assert small.result is None and large.result is None
    assert all(len(a) < 300 * 24 for a in _arrays(large, []))  # the curve's lattice, never one per client
    assert len(pickle.dumps(large)) < 1.1 * len(pickle.dumps(small))


def test_the_report_task_sends_back_the_orphans_rows_only() -> None:
    sc = load_scenario(SHIPPED)
    d, extra = _report_task(sc, 3, 0, "fast", 3000, 40)
    assert d.result is None
    assert len(extra.orphans) == d.summary["orphaned"]
    assert len(extra.profiles) <= 4  # (group, version, presence) profiles, not clients
