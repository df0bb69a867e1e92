"""The second hardening round (issue 18) at the command line: exit codes, output targets, injection, leaks,
and inputs refused before work starts. Tiny worlds (a few hundred clients, a few days) through typer's
CliRunner, so that each test takes a second or less."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app as cli
from sim.errors import InputError
from sim.experiments.execution import parse_dask_address

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "scenarios" / "three-manager-failover.yaml"
SMALL = ("--clients", "200", "--horizon-days", "20")
REPORT = ("--clients", "200", "--replications", "2", "--max-replications", "2")

runner = CliRunner()


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(cli.app, [str(a) for a in args], env={"ROTASIM_DEBUG": "", **(env or {})})


def one_line(res: Any, code: int = 2) -> str:
    assert res.exit_code == code, res.output
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.output, res.stderr
    return str(res.stderr)


# ------------------------------------------------------------------------------------------ exit codes


def test_a_bug_is_exit_70_and_says_where_to_report_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*a: Any, **k: Any) -> None:
        raise KeyError("x")

    monkeypatch.setattr("sim.experiments.simulate.simulate", broken)
    line = one_line(invoke("run", SHIPPED, *SMALL), 70)
    assert line.startswith("internal error: KeyError: 'x' (a bug in rotasim: please report it")


def test_sigterm_inside_a_command_is_143_and_its_own_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sim.cli.main import Terminated

    def terminated(*a: Any, **k: Any) -> None:
        raise Terminated(15)

    monkeypatch.setattr("sim.experiments.simulate.simulate", terminated)
    res = invoke("run", SHIPPED, *SMALL, "--clients-out", tmp_path / "c.csv")
    assert res.exit_code == 143 and res.stderr == "terminated\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "address",
    ["tcp://", "host", "tcp://h:0", "tcp://h:99999", "udp://h:1", "tcp://h:1/x", "tcp://[::1", "h:1 2", "tcp://u@h:1"],
)
def test_malformed_dask_addresses_are_refused_before_work(address: str) -> None:
    with pytest.raises(InputError, match="expected 'local' or a scheduler address"):
        parse_dask_address(address)
    assert "--dask" in one_line(invoke("run", SHIPPED, *SMALL, "--replications", "2", "--dask", address))


def test_dask_addresses_that_parse() -> None:
    assert parse_dask_address("local") is None
    assert parse_dask_address("10.0.0.1:8786") == ("tcp", "10.0.0.1", 8786)
    assert parse_dask_address("tls://[::1]:8786") == ("tls", "::1", 8786)


def test_a_scheduler_that_refuses_is_one_line_at_once() -> None:
    line = one_line(invoke("run", SHIPPED, *SMALL, "--replications", "2", "--dask", "tcp://127.0.0.1:1"))
    assert "cannot reach the Dask scheduler" in line


# ------------------------------------------------------------------------------------------ output targets


def test_dash_writes_the_clients_to_stdout_and_the_summary_to_stderr() -> None:
    res = invoke("run", SHIPPED, *SMALL, "--clients-out", "-")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("client_id,group,version,outcome,")
    assert len(res.stdout.splitlines()) == 201
    assert "Orphaned" in res.stderr or "orphan" in res.stderr.lower()


def test_two_outputs_cannot_both_be_stdout() -> None:
    res = invoke("sweep", SHIPPED, *SMALL, "--set", "runbook.retention_days=1,2", "--out", "-", "--runs-out", "-")
    assert "only one output can go to standard output" in one_line(res)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_one_line_exit_2_and_the_device_stays() -> None:
    line = one_line(invoke("run", SHIPPED, *SMALL, "--clients-out", "/dev/full"))
    assert line == "error: /dev/full: cannot write the file (No space left on device)\n"
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_symlink_to_a_device_is_written_through(tmp_path: Path) -> None:
    link = tmp_path / "clients.csv"
    link.symlink_to(os.devnull)
    assert invoke("run", SHIPPED, *SMALL, "--clients-out", link, "--json").exit_code == 0
    assert link.is_symlink() and os.readlink(link) == os.devnull


@pytest.mark.parametrize("command", ["report", "compare"])
def test_an_empty_out_folder_is_refused(command: str, tmp_path: Path) -> None:
    args = [SHIPPED] if command == "report" else [SHIPPED, SHIPPED]
    res = invoke(command, *args, "--out", "", *SMALL)
    assert "--out: expected a folder name (got an empty one)" in one_line(res)


def test_report_cleans_a_killed_runs_staging_folder(tmp_path: Path) -> None:
    dead = 2**22 + 1
    out = tmp_path / "rep"
    (tmp_path / f".rep.staging-{dead}-abc").mkdir()
    res = invoke("report", SHIPPED, "--out", out, *REPORT, "-q")
    assert res.exit_code in (0, 1, 3, 4), res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]
    assert pd.read_csv(out / "at-risk-clients.csv") is not None


def test_a_horizon_too_short_for_the_runbook_is_one_line(tmp_path: Path) -> None:
    """The runbook's decisive step after the horizon: there is no curve to plan from (was an AssertionError)."""
    res = invoke("report", SHIPPED, "--out", tmp_path / "r", *REPORT, "--horizon-days", "20", "-q")
    assert "horizon_days: the runbook's steps do not all run within the horizon (20 days)" in one_line(res)
    assert list(tmp_path.iterdir()) == []
