"""Sweeps over scenario fields, and identical answers serially, on a process pool and on Dask."""

from __future__ import annotations

from pathlib import Path

import pytest

import sim
from sim.analysis.replications import replicate
from sim.analysis.sweeps import sweep
from sim.errors import InputError
from sim.scenario.overrides import parse_set, parse_values

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "three-manager-failover.yaml"


def test_parse_values() -> None:
    assert parse_values("0:120:30") == [0, 30, 60, 90, 120]
    assert parse_values("0:1:0.25") == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert parse_values("1,2,4") == [1, 2, 4]
    assert parse_values("true,false") == [True, False]
    assert parse_values("update,retire") == ["update", "retire"]
    assert parse_values("5") == [5]
    assert parse_set(["a.b=1,2", "c=0:2"]) == {"a.b": [1, 2], "c": [0, 1, 2]}


@pytest.mark.parametrize("item", ["f=", "f=5:1", "f=0:10:0", "f=a:b", "x"])
def test_parse_errors(item: str) -> None:
    with pytest.raises(InputError):
        parse_set([item])


def test_sweep_table_and_common_random_numbers() -> None:
    sc = sim.load_scenario(SCENARIO)
    sw = sweep(
        sc, parse_set(["runbook.retention_days=0,10,40"]), replications=3, clients=600, workers=1, progress=False
    )
    assert len(sw.runs) == 9
    assert list(sw.runs.columns[:2]) == ["runbook.retention_days", "replication"]
    # the same fleet at every point: the same clients gone, replication by replication
    gone = sw.runs.pivot(index="replication", columns="runbook.retention_days", values="gone")
    assert (gone.nunique(axis=1) == 1).all()
    t = sw.table()
    assert list(t["runbook.retention_days"]) == [0, 10, 40]
    means = t["orphaned_mean"].to_numpy()
    assert means[0] >= means[1] >= means[2]
    assert (t["orphaned_ci95_low"] <= t["orphaned_mean"]).all()
    # a point of the sweep is the plain replication of the changed scenario
    alone = replicate(sc.with_(**{"runbook.retention_days": 10}), n=3, clients=600, workers=1, progress=False)
    assert list(sw.runs[sw.runs["runbook.retention_days"] == 10]["orphaned"]) == list(alone.runs["orphaned"])


def test_sweep_refuses_unknown_field() -> None:
    sc = sim.load_scenario(SCENARIO)
    with pytest.raises(InputError, match="runbook"):
        sweep(sc, parse_set(["runbook.retention_dayz=1,2"]), replications=1, clients=100, workers=1)


def test_dask_local_cluster_gives_identical_results() -> None:
    pytest.importorskip("dask.distributed")
    sc = sim.load_scenario(SCENARIO)
    grid = parse_set(["runbook.retention_days=5,30"])
    local = sweep(sc, grid, replications=2, clients=300, workers=1, progress=False)
    pool = sweep(sc, grid, replications=2, clients=300, workers=2, progress=False)
    dask = sweep(sc, grid, replications=2, clients=300, dask="local", progress=False)
    assert local.runs.equals(pool.runs)
    assert local.runs.equals(dask.runs)
    reps_dask = replicate(sc, n=2, clients=300, dask="local", progress=False)
    reps_local = replicate(sc, n=2, clients=300, workers=1, progress=False)
    assert reps_dask.summary() == reps_local.summary()


def test_a_sweep_with_a_target_judges_each_point_as_report_does() -> None:
    """One definition of risk (sim.analysis.risk): a point's verdict is the report's verdict on its runs."""
    from sim.analysis.risk import assess

    sc = sim.load_scenario(SCENARIO)
    grid = parse_set(["runbook.retention_days=0,60"])
    sw = sweep(sc, grid, replications=4, clients=400, workers=1, progress=False, max_orphans=2)
    t = sw.table()
    for _, row in t.iterrows():
        runs = sw.runs[sw.runs["runbook.retention_days"] == row["runbook.retention_days"]]
        k = int((runs["orphaned"] > 2).sum())
        risk = assess(k, len(runs), 0.95)
        assert (row["exceeding"], row["verdict"]) == (k, risk.verdict)
        assert (row["chance_ci95_low"], row["chance_ci95_high"]) == pytest.approx(risk.interval)
    rate = sweep(sc, grid, replications=4, clients=400, workers=1, progress=False, max_orphan_rate=0.005).table()
    share = sw.runs["orphaned"] / (sw.runs["clients"] - sw.runs["gone"])
    assert rate["exceeding"].tolist() == [
        int((share[sw.runs["runbook.retention_days"] == x] > 0.005).sum()) for x in (0, 60)
    ]
    with pytest.raises(InputError, match="--max-orphans"):
        sweep(sc, grid, replications=2, clients=100, workers=1, max_orphans=-1)
    assert "verdict" not in sweep(sc, grid, replications=2, clients=100, workers=1, progress=False).table()
