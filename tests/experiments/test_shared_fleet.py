"""A fleet base built once per scenario and shared by its replications gives the very same replications.

Why: the undrawn part of a fleet (ids, stream keys, what files say) is the same in every replication, so
replications share it (sim.experiments.shared); what is drawn stays per replication and per client, so the
bytes must not change, and the base must be built once, not per replication.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sim.analysis.replications import replicate
from sim.experiments import shared
from sim.experiments.simulate import seed_sequences, simulate
from sim.model import fleet as fleet_mod
from sim.model.fleet import fleet_base, generate_fleet
from sim.model.topology import compile_topology
from sim.scenario.document import load_scenario

SCENARIOS = ["scenarios/three-manager-failover.yaml", "scenarios/fleet-from-files.yaml"]


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if dataclasses.is_dataclass(a):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))  # type: ignore[arg-type]
    return bool(a == b)


@pytest.mark.parametrize("path", SCENARIOS)
def test_a_fleet_drawn_on_a_shared_base_is_the_fleet_drawn_alone(path: str) -> None:
    sc = load_scenario(path)
    topo = compile_topology(sc)
    n = 700 if sc.fleet.files is None else None
    base = fleet_base(sc, topo, n)
    for k in range(3):
        rng_a, rng_b = (np.random.default_rng(seed_sequences(5, k)[0]) for _ in range(2))
        alone = generate_fleet(sc, topo, rng_a, n=n)
        on_base = generate_fleet(sc, topo, rng_b, n=n, base=base)
        assert _same(alone, on_base)


@pytest.mark.parametrize("path", SCENARIOS)
def test_replications_share_one_base_and_give_the_same_bytes(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario(path)
    clients = 600 if sc.fleet.files is None else None
    shared.clear()
    built = []
    real = fleet_mod.fleet_base
    monkeypatch.setattr(shared, "fleet_base", lambda *a: built.append(1) or real(*a))
    reps = replicate(sc, n=3, seed=2, clients=clients, horizon_days=40, workers=1, keep_results=True)
    assert len(built) == 1  # once for the three replications
    for k, r in enumerate(reps.results):
        alone = simulate(sc, seed=2, replication=k, clients=clients, horizon_days=40)
        assert r.clients.to_csv() == alone.clients.to_csv()
        assert r.summary() == alone.summary()
    shared.clear()


def test_an_edited_clients_file_is_read_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    src = load_scenario(SCENARIOS[1])
    clients = tmp_path / str(src.fleet.files.clients)  # type: ignore[union-attr]
    clients.parent.mkdir(parents=True)
    shutil.copy(src.base_dir / str(src.fleet.files.clients), clients)  # type: ignore[union-attr]
    sc = src.model_copy(update={"base_dir": tmp_path})
    key = shared.base_key(sc, None)
    lines = clients.read_text().splitlines()
    clients.write_text("\n".join(lines[:-1]) + "\n")
    assert shared.base_key(sc, None) != key


class _FakeClient:
    """Stands in for a Dask client: records what is scattered, hands the object back as its 'future'."""

    def __init__(self) -> None:
        self.scattered: list[object] = []

    def scatter(self, obj: object, broadcast: bool = False, hash: bool = True) -> object:
        assert broadcast and not hash
        self.scattered.append(obj)
        return obj


def test_dask_ships_each_scenario_and_its_fleet_base_once() -> None:
    from sim.experiments.digest import _digest
    from sim.experiments.execution import ShippedBase, _ship_once, _shipped

    a = load_scenario(SCENARIOS[0])
    b = a.with_(**{"runbook.retention_days": 40})  # another scenario, the same fleet
    tasks = [(sc, 1, k, "fast", 400, 30.0, False) for sc in (a, b) for k in range(3)]
    client = _FakeClient()
    shipped = _ship_once(client, tasks)
    bases = [x for x in client.scattered if isinstance(x, ShippedBase)]
    assert len(client.scattered) - len(bases) == 2 and len(bases) == 1  # two scenarios, one fleet base
    shared.clear()
    got = [_shipped(_digest, *t).summary for t in shipped]
    shared.clear()
    assert got == [_digest(*t).summary for t in tasks]


def test_local_dask_workers_keep_glibc_adaptive_mmap_threshold() -> None:
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which turns off glibc's adaptive mmap threshold:
    every large numpy array is then a fresh mmap, and a replication took twice as long as in this process
    (measured: README, Performance). ``--dask local`` starts its workers without it; ``worker_environment`` is
    what it (and the benchmark) wraps the cluster in."""
    pytest.importorskip("dask.distributed")
    from distributed.nanny import _get_env_variables

    from sim.experiments.execution import _trim_threshold, run_tasks, worker_environment

    assert "MALLOC_TRIM_THRESHOLD_" in _get_env_variables("distributed.nanny.pre-spawn-environ")  # Dask's default
    with worker_environment():
        assert "MALLOC_TRIM_THRESHOLD_" not in _get_env_variables("distributed.nanny.pre-spawn-environ")
    assert run_tasks(_trim_threshold, [()], workers=1, dask="local", progress=False) == [None]


def test_an_existing_cluster_with_the_trim_setting_gets_one_warning() -> None:
    from sim.errors import InputWarning
    from sim.experiments.execution import _check_trim

    class Workers:
        def __init__(self, values: dict[str, str | None]) -> None:
            self.values = values

        def run(self, fn: object) -> dict[str, str | None]:
            return self.values

    with pytest.warns(InputWarning, match="MALLOC_TRIM_THRESHOLD_"):
        _check_trim(Workers({"tcp://w1": None, "tcp://w2": "65536"}), "tcp://sched:8786")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_trim(Workers({"tcp://w1": None}), "tcp://sched:8786")
