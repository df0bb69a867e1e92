"""Run options: one ``RunOptions`` checked in one place, taken the same way by the API and by every command.

Why: the options used to be copied into some twenty signatures and had drifted apart. These tests pin the
limits and their one-line messages, that ``options=RunOptions(...)`` and the keywords give the same run, and
that every command of the CLI offers the same run options.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import sim
from sim.analysis.verdict import EXIT_CODES
from sim.cli.app import app
from sim.cli.options import EngineName
from sim.experiments import options as opts
from sim.experiments.options import RunOptions, check_replications, merge_options
from sim.io import dumps
from sim.scenario import fields

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "scenarios" / "three-manager-failover.yaml"
RUN_FLAGS = ["--seed", "--clients", "--horizon-days", "--engine", "--workers", "--dask", "--quiet"]


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"seed": -1}, "--seed: expected a whole number, 0 or more (got -1)"),
        ({"seed": 1.5}, "--seed: expected a whole number"),
        ({"clients": 0}, "--clients: expected 1 to 5000000 clients (got 0)"),
        ({"clients": 5_000_001}, "--clients: expected 1 to 5000000"),
        ({"horizon_days": 0}, "--horizon-days: expected more than 0 and at most 1095 days"),
        ({"horizon_days": 1096}, "--horizon-days: expected more than 0"),
        ({"horizon_days": float("nan")}, "--horizon-days"),
        ({"engine": "quick"}, "--engine: expected fast or reference (got 'quick')"),
        ({"engine": "reference", "clients": 20_001}, "--engine: the reference engine is for at most 20000"),
        ({"workers": 0}, "--workers: expected 1 to 1024 processes (got 0)"),
        ({"workers": 1025}, "--workers: expected 1 to 1024"),
        ({"dask": ""}, "--dask: expected 'local' or a scheduler address"),
    ],
)
def test_bad_options_are_refused_with_one_line(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(sim.InputError) as err:
        RunOptions(**changes)  # type: ignore[arg-type]
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_limits_are_the_schemas_and_the_engines_the_clis() -> None:
    assert opts.MAX_CLIENTS == fields.MAX_CLIENTS and opts.MAX_HORIZON_DAYS == fields.MAX_HORIZON_DAYS == 1095
    assert tuple(e.value for e in EngineName) == opts.ENGINES
    RunOptions(seed=0, clients=5_000_000, horizon_days=1095, workers=1024, dask="local")  # the bounds are allowed
    assert RunOptions(seed=np.int64(3)).seed == 3  # numpy integers are whole numbers too


def test_replication_counts_have_one_bound() -> None:
    check_replications(1)
    check_replications(10_000)
    for bad in (0, 10_001):
        with pytest.raises(sim.InputError, match="--replications: expected 1 to 10000"):
            check_replications(bad)
    with pytest.raises(sim.InputError, match="expected 2 to 10000"):
        check_replications(1, minimum=2)
    with pytest.raises(sim.InputError, match="--replications"):
        sim.replicate(sim.load_scenario(SHIPPED), n=0)


def test_merge_keeps_options_adds_keywords_and_refuses_a_contradiction() -> None:
    base = RunOptions(seed=3, clients=100)
    assert merge_options(None) == RunOptions()
    assert merge_options(base, seed=None, engine="fast") == base  # defaults change nothing
    assert merge_options(base, horizon_days=10) == RunOptions(seed=3, clients=100, horizon_days=10)
    assert merge_options(base, seed=3) == base  # the same value twice is no contradiction
    with pytest.raises(sim.InputError, match="options: seed: given twice"):
        merge_options(base, seed=4)
    with pytest.raises(sim.InputError, match="expected a RunOptions"):
        merge_options({"seed": 3})  # type: ignore[arg-type]
    assert base.replace(seed=5).seed == 5 and base.seed == 3  # frozen: a copy
    with pytest.raises(AttributeError):
        base.seed = 4  # type: ignore[misc]


def test_a_file_fleet_cannot_be_resized(tmp_path: Path) -> None:
    (tmp_path / "clients.csv").write_text("client_id,group,version\na,root,14.3\n")
    data = {
        "name": "from-files",
        "sites": [{"name": "hq", "managers": [{"name": "sepm1"}, {"name": "sepm2"}]}],
        "msls": [{"name": "list", "tiers": [["sepm1", "sepm2"]]}],
        "groups": [{"name": "root", "msl": "list"}],
        "fleet": {"files": {"clients": "clients.csv"}},
        "runbook": {"template": "kb-multi-server"},
    }
    (tmp_path / "files.yaml").write_text(yaml.safe_dump(data))
    sc = sim.load_scenario(tmp_path / "files.yaml")
    RunOptions(horizon_days=10).check(sc)  # only the size is fixed by the files
    with pytest.raises(sim.InputError, match="reads its fleet from files"):
        RunOptions(clients=10).check(sc)
    with pytest.raises(sim.InputError, match="reads its fleet from files"):
        sim.replicate(sc, n=2, options=RunOptions(clients=10, workers=1))


@pytest.fixture(scope="module")
def small() -> sim.Scenario:
    return sim.load_scenario(SHIPPED)


def test_options_and_keywords_give_the_same_runs(small: sim.Scenario) -> None:
    o = RunOptions(seed=4, clients=300, horizon_days=60, workers=1, progress=False)
    kw = {"seed": 4, "clients": 300, "horizon_days": 60}
    assert sim.simulate(small, options=o).summary() == sim.simulate(small, **kw).summary()  # type: ignore[arg-type]
    a = sim.replicate(small, n=3, options=o)
    b = sim.replicate(small, n=3, workers=1, progress=False, **kw)  # type: ignore[arg-type]
    assert a.runs.equals(b.runs) and a.seed == b.seed == 4
    grid = {"runbook.retention_days": [5, 40]}
    s1 = sim.sweep(small, grid, replications=2, options=o)
    s2 = sim.sweep(small, grid, replications=2, workers=1, progress=False, **kw)  # type: ignore[arg-type]
    assert s1.runs.equals(s2.runs)
    p1 = sim.plan(small, max_orphans=2, replications=3, max_replications=3, extend_horizon=False, options=o)
    p2 = sim.plan(
        small,
        max_orphans=2,
        replications=3,
        max_replications=3,
        extend_horizon=False,
        workers=1,
        seed=4,
        clients=300,
        horizon_days=60,
    )
    assert p1.to_json() == p2.to_json()


def test_options_reach_what_keywords_cannot(small: sim.Scenario) -> None:
    """``plan`` has no ``engine`` keyword (its signature is stable); through ``options`` it takes one."""
    assert "engine" not in inspect.signature(sim.plan).parameters
    ref = RunOptions(engine="reference", clients=60, horizon_days=40, workers=1)
    p = sim.plan(small, replications=2, max_replications=2, extend_horizon=False, options=ref)
    assert p.replications == 2 and p.horizon_days == 40
    r = sim.simulate(small, options=RunOptions(engine="reference", clients=60, horizon_days=40, seed=1))
    assert r.engine == "reference"


def test_every_public_run_function_accepts_options() -> None:
    for fn in (sim.simulate, sim.replicate, sim.sweep, sim.plan, sim.report, sim.compare):
        param = inspect.signature(fn).parameters.get("options")
        assert param is not None and param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is None


# ------------------------------------------------------------------------------------------- the CLI

runner = CliRunner()


def _flags(command: str) -> set[str]:
    res = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200", "TERM": "dumb"})
    assert res.exit_code == 0, res.output
    return {f for f in RUN_FLAGS if f in res.stdout}


@pytest.mark.parametrize("command", ["run", "plan", "sweep", "report", "compare"])
def test_every_command_takes_the_same_run_options(command: str) -> None:
    assert _flags(command) == set(RUN_FLAGS)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--seed", "-1"], "error: --seed: expected a whole number, 0 or more (got -1)"),
        (["--workers", "0"], "error: --workers: expected 1 to 1024 processes (got 0)"),
        (["--engine", "reference", "--clients", "30000"], "error: --engine: the reference engine is for at most"),
        (["--replications", "0"], "error: --replications: expected 1 to 10000 (got 0)"),
    ],
)
def test_the_cli_prints_the_options_one_line(args: list[str], fragment: str) -> None:
    res = runner.invoke(app, ["run", str(SHIPPED), *args])
    assert res.exit_code == 2
    assert res.stderr.startswith(fragment) and res.stderr.count("\n") == 1


def test_plan_takes_the_engine_from_the_command_line() -> None:
    args = ["plan", str(SHIPPED), "--replications", "2", "--max-replications", "2", "--keep-horizon"]
    args += ["--clients", "60", "--horizon-days", "40", "--workers", "1"]
    fast = runner.invoke(app, [*args, "--json"])
    ref = runner.invoke(app, [*args, "--json", "--engine", "reference"])
    assert fast.exit_code == ref.exit_code == 0, ref.output
    want = sim.plan(
        sim.load_scenario(SHIPPED),
        replications=2,
        max_replications=2,
        extend_horizon=False,
        options=RunOptions(engine="reference", clients=60, horizon_days=40, workers=1),
    )
    assert dumps(want.to_json()) == ref.stdout.strip()


def test_report_and_compare_run_the_engine_and_say_so(tmp_path: Path) -> None:
    """The two commands that could not take ``--engine`` (nor ``--dask``) before RunOptions."""
    small = ["--clients", "60", "--horizon-days", "40", "--workers", "1", "-q", "--max-orphans", "1000"]
    res = runner.invoke(
        app,
        ["report", str(SHIPPED), "--out", str(tmp_path / "r"), "--replications", "2", "--max-replications", "2"]
        + [*small, "--engine", "reference"],
    )
    assert res.exit_code in (0, 3), res.output  # 2 replications cannot show GO: INCONCLUSIVE (3) is the answer
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert "--engine reference" in report["command"]
    assert "engine: reference" in (tmp_path / "r" / "report.md").read_text()
    want = sim.report(
        SHIPPED,
        tmp_path / "api",
        max_orphans=1000,
        replications=2,
        max_replications=2,
        options=RunOptions(engine="reference", clients=60, horizon_days=40, workers=1),
    )
    assert res.stdout.startswith(f"{want.verdict}: ") and res.exit_code == EXIT_CODES[want.verdict]
    assert (
        want.orphans
        == sim.report(
            SHIPPED,
            tmp_path / "fast",
            max_orphans=1000,
            replications=2,
            max_replications=2,
            clients=60,
            horizon_days=40,
            workers=1,
            options=RunOptions(engine="reference"),
        ).orphans
    )
    cmp = runner.invoke(
        app,
        ["compare", str(SHIPPED), f"{SHIPPED}:runbook.retention_days=5", "--out", str(tmp_path / "c")]
        + ["--replications", "2", *small, "--engine", "reference"],
    )
    assert cmp.exit_code == 0, cmp.output
    assert "--engine reference" in json.loads((tmp_path / "c" / "compare.json").read_text())["command"]
