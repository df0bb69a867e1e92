"""The second hardening round (issue 18) at the command line: exit codes, output targets, injection, leaks,
and inputs refused before work starts. Tiny worlds (a few hundred clients, a few days) through typer's
CliRunner, so that each test takes a second or less."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.cli import app as cli
from sim.errors import InputError
from sim.experiments.dask_address import parse_dask_address

ROOT = Path(__file__).resolve().parents[2]
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

    monkeypatch.setattr("sim.experiments.digest.run_with_savings", broken)  # what rotasim run calls
    line = one_line(invoke("run", SHIPPED, *SMALL), 70)
    assert line.startswith("internal error: KeyError: 'x' (a bug in rotasim: please report it")


def test_sigterm_inside_a_command_is_143_and_its_own_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sim.cli.main import Terminated

    def terminated(*a: Any, **k: Any) -> None:
        raise Terminated(15)

    monkeypatch.setattr("sim.experiments.digest.run_with_savings", terminated)
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


# ------------------------------------------------------------------------------------------ injection, leaks

FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\tx", "\rx"]


def test_csv_cells_a_spreadsheet_would_evaluate_are_neutralised(tmp_path: Path) -> None:
    from sim.io import atomic_write_csv, csv_bytes

    df = pd.DataFrame({"client_id": [*FORMULAS, "ok", "-5"], "n": [-1.5] * 8, "k": [-3] * 8})
    atomic_write_csv(df, tmp_path / "a.csv")
    for text in ((tmp_path / "a.csv").read_bytes().decode(), csv_bytes(df).decode()):
        back = pd.read_csv(io.StringIO(text), dtype={"client_id": str}, keep_default_na=False)
        want = [*("'" + f.replace("\r", "\n") for f in FORMULAS), "ok", "-5"]  # a CR would split the row
        assert list(back["client_id"]) == want
        assert list(back["n"]) == [-1.5] * 8 and list(back["k"]) == [-3] * 8  # numbers stay numbers


def test_fleet_ids_with_formulas_reach_the_clients_csv_neutralised(tmp_path: Path) -> None:
    d = tmp_path / "s"
    d.mkdir()
    ids = [*FORMULAS[:3], "pc1"]
    pd.DataFrame({"client_id": ids, "group": "root", "version": "14.3"}).to_csv(d / "clients.csv", index=False)
    import yaml

    doc = yaml.safe_load(SHIPPED.read_text())
    doc["fleet"] = {"files": {"clients": "clients.csv"}}
    doc["groups"] = [{"name": "root", "msl": doc["msls"][0]["name"]}]
    (d / "s.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path / "c.csv"
    res = invoke("run", d / "s.yaml", "--clients-out", out, "--json")
    assert res.exit_code == 0, res.output
    ids = pd.read_csv(out, dtype=str)["client_id"].tolist()
    assert sorted(ids) == sorted(["'" + f for f in FORMULAS[:3]] + ["pc1"])


def test_control_characters_of_a_scenario_never_reach_the_terminal(tmp_path: Path) -> None:
    text = SHIPPED.read_text()
    bad = tmp_path / "s.yaml"
    bad.write_text(
        'name: "evil\\e]0;pwned\\a\\e[2J"\n' + "\n".join(ln for ln in text.splitlines() if not ln.startswith("name:"))
    )
    res = invoke("validate", bad)
    assert res.exit_code == 0 and "\x1b" not in res.output and "\x07" not in res.output
    assert "evil\\x1b]0;pwned\\x07" in res.stdout
    res = invoke("run", bad, *SMALL)
    assert "\x1b]" not in res.output and "\x07" not in res.output


def test_an_error_never_quotes_a_file_of_the_wrong_kind(tmp_path: Path) -> None:
    """A presence_file pointing at a secret (here a stand-in for /etc/shadow): its content is not shown."""
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$SECRETHASH:19000:0:99999:7:::\n")
    text = SHIPPED.read_text().replace("fleet:\n", f"fleet:\n  presence_file: {secret}\n", 1)
    (tmp_path / "s.yaml").write_text(text)
    res = invoke("validate", tmp_path / "s.yaml")
    line = one_line(res)
    assert "SECRETHASH" not in line and "root:" not in line


# ------------------------------------------------------------------------------------------ inputs refused up front


def scenario_text(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    """A second ``runbook:`` block silently turned a kb-multi-server scenario into naive."""
    text = SHIPPED.read_text() + "runbook:\n  template: naive\n"
    first = next(i for i, ln in enumerate(SHIPPED.read_text().splitlines(), 1) if ln.startswith("runbook:"))
    line = one_line(invoke("validate", scenario_text(tmp_path, text)))
    assert f"key 'runbook' given twice (first on line {first})" in line


@pytest.mark.parametrize(
    ("old", "new", "phrase"),
    [
        ("heartbeat_minutes: 5", "heartbeat_minutes: true", "heartbeat_minutes: expected a number, not true"),
        ("retention_days: 30", "retention_days: .inf", "runbook.retention_days: Input should be a finite number"),
        ("jitter", "jitter", None),
    ],
)
def test_booleans_and_infinities_are_not_numbers(tmp_path: Path, old: str, new: str, phrase: str | None) -> None:
    text = SHIPPED.read_text()
    if phrase is None:  # a share mapping: {version: true} is not a share either
        text = text.replace('versions: {"14.3.RU8": 1.0}', 'versions: {"14.3.RU8": true}')
        phrase = "versions: expected numbers, not true/false"
    else:
        assert old in text
        text = text.replace(old, new)
    assert phrase in one_line(invoke("validate", scenario_text(tmp_path, text)))


def test_deep_nesting_is_one_line(tmp_path: Path) -> None:
    line = one_line(invoke("validate", scenario_text(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")))
    assert "nested more than 64 levels deep" in line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_inputs_that_are_not_files_say_what_they_are(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    cases = {os.devnull: "is a device, not a file", str(tmp_path): "is a folder, not a file"}
    cases |= {str(fifo): "is a FIFO (named pipe), not a file", str(loop): "is a symlink loop, not a file"}
    for path, phrase in cases.items():
        assert one_line(invoke("validate", path)) == f"error: {path}: {phrase}\n"
    assert "nul" in one_line(invoke("validate", "a\0b.yaml")).lower()  # click's own check, or ours


def test_a_symlink_loop_as_the_clients_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "clients.csv").symlink_to(tmp_path / "clients.csv")
    text = SHIPPED.read_text().replace("fleet:\n  clients: 5000\n", "fleet:\n  files: {clients: clients.csv}\n")
    text = text.replace("  groups: {Laptops: 0.6, Desktops: 0.4}\n", "").replace('  versions: {"14.3.RU8": 1.0}\n', "")
    line = one_line(invoke("run", scenario_text(tmp_path, text)))
    assert "clients.csv: is a symlink loop, not a file" in line


def test_fleet_fields_that_files_would_ignore_are_refused(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "fleet-from-files.yaml").read_text().replace("fleet:\n", "fleet:\n  clients: 500\n")
    line = one_line(invoke("validate", scenario_text(tmp_path, text, "f.yaml")))
    assert "fleet: clients: the fleet is read from fleet.files" in line


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["run", SHIPPED, "--dask", "local"], "--dask: places replications; give --replications N"),
        (["run", SHIPPED, "--workers", "2"], "--workers: places replications"),
        (["sweep", SHIPPED, "--set", "fleet={}"], "--set: {}: each value must be a number"),
        (["sweep", SHIPPED, "--set", "fleet.jitter=["], "cannot read the value '['"),
        (["plan", SHIPPED, "--max-orphans", "nan"], "--max-orphans"),
        (["run", SHIPPED, "--workers", "100000", "--replications", "2"], "--workers: expected 1 to 1024"),
    ],
)
def test_options_refused_before_work(args: list[Any], phrase: str) -> None:
    assert phrase in one_line(invoke(*args))


@pytest.mark.parametrize("fmt", ["%Q", "%", "%H:%M"])
def test_a_bad_time_format_is_one_line(tmp_path: Path, fmt: str) -> None:
    export = ROOT / "tests" / "data" / "inventory" / "sepm-computer-status.csv"
    line = one_line(invoke("fleet", "import", export, "--out", tmp_path / "o", "--time-format", fmt))
    assert line.startswith(f"error: --time-format: {fmt}: ")
    assert not (tmp_path / "o").exists()


def test_a_check_in_far_in_the_future_is_warned_with_its_row_and_not_the_snapshot(tmp_path: Path) -> None:
    """One check-in dated 2075 used to become the snapshot and mark most of the fleet gone."""
    export = ROOT / "tests" / "data" / "inventory" / "sepm-computer-status.csv"
    lines = export.read_text(encoding="utf-8-sig").splitlines()
    bad = lines[1].replace("3/5/2025", "3/5/2075")
    assert bad != lines[1]
    (tmp_path / "e.csv").write_text("\n".join([lines[0], bad, *lines[2:]]) + "\n")
    res = invoke("fleet", "import", tmp_path / "e.csv", "--out", tmp_path / "o")
    assert res.exit_code == 0, res.output
    assert "line 2, Last Check-in: last check-in '3/5/2075" in res.stderr and "implausible" in res.stderr
    assert "2075" not in (tmp_path / "o" / "fit.json").read_text().split('"bad_rows"')[0]


def test_report_paths_are_relative_to_the_scenario_folder(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    res = invoke("report", SHIPPED, "--out", out, *REPORT, "-q")
    assert res.exit_code in (0, 3, 4) or res.exit_code == 1, res.output
    j = (out / "report.json").read_text()
    assert str(ROOT) not in j and f" {tmp_path}" not in j and f'"{tmp_path}' not in j  # no absolute path
    assert '"command": "rotasim report three-manager-failover.yaml --out ' in j
    full = invoke("report", SHIPPED, "--out", out, *REPORT, "-q", "--full-paths")
    assert full.exit_code == res.exit_code and str(SHIPPED) in (out / "report.json").read_text()
