"""CLI: run --replications, plan and sweep."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import sim
from sim.analysis.planning import plan
from sim.analysis.replications import replicate
from sim.cli.app import app

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = str(ROOT / "scenarios" / "three-manager-failover.yaml")
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_run_replications_json_gives_intervals() -> None:
    code, out, _ = invoke("run", SCENARIO, "--replications", "4", "--clients", "400", "--workers", "1", "--json")
    assert code == 0
    j = json.loads(out)
    assert j["replications"] == 4
    for key in ("mean", "stderr", "ci95", "quantiles"):
        assert key in j["orphaned"]
    for stats in j["orphaned_by_cause"].values():
        assert set(stats) >= {"mean", "stderr", "ci95", "quantiles"}
    reps = replicate(sim.load_scenario(SCENARIO), n=4, clients=400, workers=1, progress=False)
    assert j["orphaned"]["mean"] == reps.summary()["orphaned"]["mean"]


def test_run_replications_text_and_refuses_clients_out(tmp_path: Path) -> None:
    code, out, _ = invoke("run", SCENARIO, "--replications", "3", "--clients", "300", "--workers", "1")
    assert code == 0 and "3 replications" in out and "95% CI" in out
    code, _, err = invoke("run", SCENARIO, "--replications", "3", "--clients-out", str(tmp_path / "c.csv"))
    assert code == 2 and "--clients-out" in err
    assert not (tmp_path / "c.csv").exists()


def test_plan_json_and_curve_file(tmp_path: Path) -> None:
    curve = tmp_path / "curve.csv"
    code, out, _ = invoke(
        "plan",
        SCENARIO,
        "--max-orphans",
        "3",
        "--replications",
        "5",
        "--clients",
        "600",
        "--workers",
        "1",
        "--json",
        "--curve-out",
        str(curve),
    )
    assert code == 0
    j = json.loads(out)
    assert set(j) >= {"recommended_retention_days", "target", "confidence", "blocking_causes", "curve"}
    assert j["target"] == {"max_orphans": 3.0} and j["confidence"] == 0.95
    assert {"days", "orphaned_mean", "ci95"} <= set(j["curve"][0])
    # the CLI samples on as report does (5 -> 10 -> ... -> 80) until a chance below 5% can be shown
    assert j["replications"] == 80 and j["reason"] == "recommended"
    reps = replicate(sim.load_scenario(SCENARIO), n=80, clients=600, workers=1, progress=False)
    assert j["recommended_retention_days"] == plan(reps, max_orphans=3).recommended
    assert j["risk"]["verdict"] == "GO" and j["curve"][-1]["verdict"] == "GO"
    df = pd.read_csv(curve)
    assert list(df.columns[:2]) == ["retention_days", "orphaned_mean"]


def test_plan_text_and_bad_runbook(tmp_path: Path) -> None:
    code, out, _ = invoke(
        "plan", SCENARIO, "--max-orphan-rate", "0.01", "--replications", "3", "--clients", "300", "--workers", "1"
    )
    assert code == 0 and "recommended" in out and "chance of exceeding that below 5%" in out
    naive = ROOT / "scenarios" / "naive-single-manager.yaml"
    if naive.exists():
        code, _, err = invoke("plan", str(naive), "--replications", "2", "--clients", "100", "--workers", "1")
        assert code == 2 and "kb-multi-server or kb-single-server" in err


def test_plan_gate_shares(tmp_path: Path) -> None:
    """``--gate-shares`` on a fixed retention: the plan of the fixed retention, and a row per share whose
    figures are those of planning the same replications in Python; the text shows the table."""
    base = ["plan", SCENARIO, "--max-orphans", "10", "--confidence", "0.5", "--replications", "4"]
    base += ["--max-replications", "4", "--keep-horizon", "--clients", "300", "--workers", "1"]
    code, out, _ = invoke(*base, "--gate-shares", "0.97,0.95", "--json")
    assert code == 0
    j = json.loads(out)
    assert [g["share"] for g in j["gates"]] == [0.95, 0.97]
    assert set(j["gates"][0]) == {"share", "retention_days", "days_mean", "orphaned_mean", "exceeding", "verdict"}
    reps = replicate(sim.load_scenario(SCENARIO), n=4, clients=300, workers=1, progress=False, gate_shares=(0.95, 0.97))
    p = plan(reps, max_orphans=10, confidence=0.5)
    assert p.gates is not None and j["recommended_retention_days"] == p.recommended
    assert [g["retention_days"] for g in j["gates"]] == [None if v != v else v for v in p.gates["retention_days"]]
    assert p.gate is not None and p.gate.share == 0.97  # 95% cannot keep every rotation under 10 orphans
    assert j["gates"][0]["retention_days"] is None and j["gates"][1]["verdict"] == "GO"
    assert j["recommended_gate"] == {"share": 0.97, "retention_days": p.gate.setting, "statement": p.gate.phrase}
    assert "keep sepm3 on the old certificate until 97% of the clients have checked in" in j["statement"]
    code, out, _ = invoke(*base, "--gate-shares", "0.95,0.97")
    assert code == 0 and "Gates (4 replications" in out and "mean retention (days)" in out


def test_plan_bad_gate_shares_exit_2() -> None:
    for bad in ("0.95,1.5", "0,0.9", "most", "0.9,,0.95"):
        code, _, err = invoke("plan", SCENARIO, "--replications", "2", "--gate-shares", bad)
        assert code == 2 and "--gate-shares: each share must be a number above 0 and at most 1" in err, bad
        assert len(err.strip().splitlines()) == 1


def test_sweep_writes_tables(tmp_path: Path) -> None:
    out, runs = tmp_path / "points.csv", tmp_path / "runs.parquet"
    code, text, _ = invoke(
        "sweep",
        SCENARIO,
        "--set",
        "runbook.retention_days=0:60:30",
        "--set",
        "fleet.jitter=0,0.1",
        "--replications",
        "2",
        "--clients",
        "300",
        "--workers",
        "1",
        "--out",
        str(out),
        "--runs-out",
        str(runs),
    )
    assert code == 0, text
    points = pd.read_csv(out)
    assert len(points) == 6
    assert list(points.columns[:2]) == ["runbook.retention_days", "fleet.jitter"]
    assert len(pd.read_parquet(runs)) == 12
    assert "orphaned_mean" in text


def test_sweep_bad_input_exit_2(tmp_path: Path) -> None:
    code, _, err = invoke("sweep", SCENARIO, "--set", "runbook.retention_days", "--out", str(tmp_path / "o.csv"))
    assert code == 2 and "FIELD=VALUES" in err
    code, _, err = invoke(
        "sweep",
        SCENARIO,
        "--set",
        "fleet.nosuch=1,2",
        "--replications",
        "1",
        "--clients",
        "50",
        "--workers",
        "1",
        "--out",
        str(tmp_path / "o.csv"),
    )
    assert code == 2 and "nosuch" in err
    assert not (tmp_path / "o.csv").exists()


def test_replications_json_is_byte_identical_serial_parallel_and_dask() -> None:
    args = ["run", SCENARIO, "--replications", "3", "--clients", "300", "--json"]
    serial = invoke(*args, "--workers", "1")
    parallel = invoke(*args, "--workers", "2")
    assert serial[0] == parallel[0] == 0
    assert serial[1] == parallel[1]
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return
    dask = invoke(*args, "--dask", "local")
    assert dask[0] == 0 and dask[1] == serial[1]


def test_run_summary_shows_manager_load_when_modelled() -> None:
    overload = str(ROOT / "scenarios" / "overload-rotation.yaml")
    code, out, _ = invoke("run", overload, "--clients", "6000", "--horizon-days", "3")
    assert code == 0
    assert "Manager load" in out and "failed check-ins" in out
    assert out.count("  sepm") >= 3
    code, out, _ = invoke("run", SCENARIO, "--clients", "300")
    assert code == 0 and "Manager load" not in out
