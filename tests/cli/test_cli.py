"""The rotasim command line: what it prints, what it writes, and how it refuses bad input.

Expected numbers come from ``sim.simulate`` on the same scenario and seed: the CLI adds no model of its own.
Most tests use typer's CliRunner (same process, fast); a few run the installed console script end to end.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import sim
from sim.cli import app as cli
from sim.experiments.result import CLIENT_COLUMNS
from sim.io import atomic_write_csv, atomic_write_text, jsonable
from sim.model.causes import CAUSE_MEANINGS, CAUSES

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "scenarios" / "three-manager-failover.yaml"
FIRST_COLUMNS = "client_id,group,version,outcome,cause,orphaned_at_hours,new_cert_at_hours"
ANSI = re.compile(r"\x1b\[")

runner = CliRunner()


def invoke(*args: str | Path, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(cli.app, [str(a) for a in args], env=env)


def write_variant(tmp: Path, name: str, changes: dict[str, Any]) -> Path:
    """The shipped scenario with top-level or dotted changes, written to ``tmp``."""
    data = yaml.safe_load(SHIPPED.read_text())
    for key, value in changes.items():
        cur = data
        *parts, last = key.split(".")
        for p in parts:
            cur = cur[p]
        cur[last] = value
    path = tmp / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shipped scenario with 20% 14.2 clients and a 3-day retention: orphans of two causes, two versions."""
    return write_variant(
        tmp_path_factory.mktemp("mixed"),
        "mixed.yaml",
        {"fleet.versions": {"14.3.RU8": 0.8, "14.2": 0.2}, "runbook.retention_days": 3},
    )


def file_fleet(tmp: Path, rows: list[str]) -> Path:
    """A scenario reading its fleet from clients.csv (rows without the header)."""
    (tmp / "clients.csv").write_text("client_id,group,version\n" + "".join(r + "\n" for r in rows))
    data = {
        "name": "from-files",
        "horizon_days": 10,
        "sites": [{"name": "hq", "managers": [{"name": "sepm1"}, {"name": "sepm2"}]}],
        "msls": [{"name": "list", "tiers": [["sepm1", "sepm2"]]}],
        "groups": [{"name": "root", "msl": "list"}, {"name": "g", "parent": "root"}],
        "fleet": {"files": {"clients": "clients.csv"}},
        "runbook": {"template": "kb-multi-server", "retention_days": 2},
    }
    path = tmp / "files.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def expected_json(result: sim.Result) -> Any:
    return json.loads(json.dumps(jsonable(result.summary())))


def run_json(stdout: str) -> Any:
    """``rotasim run --json``: the summary of simulate, and what a longer setting would have saved (apart)."""
    got = json.loads(stdout)
    assert "would_have_saved" in got
    got.pop("would_have_saved")
    return got


# ------------------------------------------------------------------------------------------- run


def test_run_summary_reports_orphans_causes_steps_trust_and_repair(mixed: Path) -> None:
    r = sim.simulate(sim.load_scenario(mixed), seed=11, clients=800)
    assert set(r.orphaned_by_cause) == {"unsupported-version", "retired-before-return"}  # the fixture's point
    res = invoke("run", mixed, "--seed", "11", "--clients", "800")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert not ANSI.search(out)  # not a terminal: no colour codes
    assert "scenario three-manager-failover" in out
    assert "seed 11, engine fast, 800 clients" in out
    assert f"Orphaned: {r.orphaned} of 800 clients ({100 * r.orphaned / 800:.2f}%)" in out
    assert f"Gone: {r.gone} " in out
    for cause, n in r.orphaned_by_cause.items():
        assert re.search(rf"^  {cause} +{n}  {re.escape(CAUSE_MEANINGS[cause])}$", out, re.M), cause
    for group, n in r.summary()["orphaned_by_group"].items():
        assert re.search(rf"^  {group} +{n}$", out, re.M)
    for version, n in r.summary()["orphaned_by_version"].items():
        assert re.search(rf"^  {re.escape(version)} +{n}$", out, re.M)
    for st in r.summary()["steps"]:
        a, b = st["start_hours"], st["end_hours"]
        line = next(x for x in out.splitlines() if x.split()[:1] == [st["name"]])
        times = [f"{a:.2f}", f"{b:.2f}", f"{a / 24:.2f}", f"{b / 24:.2f}"]
        assert line.split() == [st["name"], st["kind"], *times, *st["detail"].split()]
    s = r.summary()
    if s["not_trusting_at_horizon"]:
        assert f"{s['not_trusting_at_horizon']} returning clients did not trust the new certificates" in out
    else:
        assert f"trusted the new certificates by {s['full_trust_at_hours']:.1f} h" in out
    assert f"Repair: {r.orphaned * 0.5:.1f} hours of hands-on work ({r.orphaned} orphans x 30 min)" in out
    assert re.search(r"^Wall time: \d+\.\d\d s \(this command", out, re.M)
    assert "These counts are one replication" in out
    assert f"rotasim run {mixed} --replications 40" in out and f"rotasim plan {mixed} --max-orphans K" in out
    assert f"rotasim report {mixed} --max-orphans K" in out
    assert "What a longer retention would have saved (in this replication; this run's retention: 3 days)" in out
    # unsupported-version orphans fail over on no setting; retired-before-return ones a longer retention saves
    assert re.search(r"^  unsupported-version +\d+  no retention within the horizon saves them$", out, re.M)
    assert re.search(r"^  retired-before-return +\d+  a retention of [\d.]+ days? would have saved", out, re.M)
    assert res.stderr == ""


def test_run_names_the_setting_that_would_have_saved_each_cause(mixed: Path) -> None:
    """The probe's per-client answer, checked against re-running: at the printed retention every saved
    retired-before-return orphan is saved; one lattice step (0.01 day) shorter, one of them is not."""
    res = invoke("run", mixed, "--seed", "11", "--clients", "800", "--json")
    saved = run_json(res.stdout) and json.loads(res.stdout)["would_have_saved"]
    assert saved["parameter"] == "retention_days" and saved["used"] == 3.0
    by = {c["cause"]: c for c in saved["causes"]}
    assert by["unsupported-version"]["saved"] == 0 and by["unsupported-version"]["retention_days"] is None
    rbr = by["retired-before-return"]
    x = rbr["retention_days"]
    assert rbr["saved"] > 0 and x > 3.0 and rbr["half_saved_retention_days"] <= x
    sc = sim.load_scenario(mixed)
    base = sim.simulate(sc, seed=11, clients=800).clients
    mine = ((base["outcome"] == "orphaned") & (base["cause"] == "retired-before-return")).to_numpy()

    def still(days: float) -> int:
        r = sim.simulate(sc.with_(**{"runbook.retention_days": days}), seed=11, clients=800).clients
        return int((r["outcome"].to_numpy()[mine] == "orphaned").sum())

    assert still(x) == rbr["orphans"] - rbr["saved"]
    assert still(round(x - 0.01, 2)) > rbr["orphans"] - rbr["saved"]


def test_files_written_are_named_on_stderr(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.csv"
    res = invoke("run", mixed, "--clients", "300", "--json", "--clients-out", out)
    assert res.exit_code == 0 and f"wrote {out} (300 clients)" in res.stderr
    json.loads(res.stdout)  # stdout stays one JSON object
    sw = invoke(
        "sweep",
        mixed,
        "--clients",
        "200",
        "--set",
        "runbook.retention_days=3,6",
        "--replications",
        "2",
        "--workers",
        "1",
        "-q",
        "--out",
        tmp_path / "s.csv",
        "--runs-out",
        tmp_path / "r.csv",
    )
    assert sw.exit_code == 0, sw.output
    assert "NaN" not in sw.stdout and "full_trust_reached: replications in which every returning client" in sw.stdout
    assert f"wrote {tmp_path / 's.csv'} (2 points)" in sw.stderr and f"wrote {tmp_path / 'r.csv'} (4 runs)" in sw.stderr


def test_flags_take_no_value_and_help_says_what_commands_do() -> None:
    bad = invoke("run", SHIPPED, "--json", "true")
    assert bad.exit_code == 2 and "unexpected extra argument" in bad.stderr
    raw = {c: invoke(c, "--help").stdout for c in ("run", "plan", "sweep", "report", "compare")}
    assert "<bool>" not in raw["run"].split("--help")[0]  # --json is a flag, shown as one
    helps = {c: " ".join(h.split()) for c, h in raw.items()}
    assert "one replication" in helps["run"] and "--replications N" in helps["run"]
    assert "--confidence" in helps["plan"] and "common random numbers" in helps["sweep"]
    assert "4 NO-GO" in helps["report"] and "Exits 0 whatever the verdicts, unless --gate" in helps["compare"]


def test_run_json_is_the_summary_of_simulate(mixed: Path) -> None:
    res = invoke("run", mixed, "--seed", "5", "--clients", "600", "--json")
    assert res.exit_code == 0, res.output
    got = run_json(res.stdout)  # one JSON object and nothing else
    want = expected_json(sim.simulate(sim.load_scenario(mixed), seed=5, clients=600))
    assert got == want
    for key in ("clients", "orphaned", "orphaned_by_cause", "gone", "steps", "repair_hours"):
        assert key in got
    assert got["clients"] == 600 and got["seed"] == 5 and got["engine"] == "fast"
    assert got["orphaned"] == sum(got["orphaned_by_cause"].values()) > 0
    assert list(got["steps"][0])[:4] == ["name", "kind", "start_hours", "end_hours"]
    assert [s["name"] for s in got["steps"]] == [
        "update-sepm1",
        "wait-after-sepm1",
        "update-sepm2",
        "retain-sepm3",
        "update-sepm3",
    ]
    # retention is counted from update-sepm1's change, which lands after 5 operator minutes
    assert got["steps"][3]["end_hours"] == pytest.approx(3 * 24 + 5 / 60, abs=1e-6)


def test_same_seed_gives_byte_identical_json_and_csv(mixed: Path, tmp_path: Path) -> None:
    outs = []
    for name in ("a.csv", "b.csv", "c.csv"):
        seed = "9" if name != "c.csv" else "10"
        res = invoke("run", mixed, "--seed", seed, "--clients", "500", "--json", "--clients-out", tmp_path / name)
        assert res.exit_code == 0, res.output
        outs.append(res.stdout)
    assert outs[0] == outs[1]
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()  # the seed matters


def test_clients_csv_columns_rows_and_empty_cells(mixed: Path, tmp_path: Path) -> None:
    out = tmp_path / "clients.csv"
    res = invoke("run", mixed, "--seed", "4", "--clients", "500", "--clients-out", out)
    assert res.exit_code == 0, res.output
    r = sim.simulate(sim.load_scenario(mixed), seed=4, clients=500)
    text = out.read_text()
    header = text.splitlines()[0]
    assert header.startswith(FIRST_COLUMNS + ",")
    first = CLIENT_COLUMNS[:7]
    assert ",".join(first) == FIRST_COLUMNS
    assert header.split(",") == first + [c for c in r.clients.columns if c not in first]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 500
    want = r.clients.set_index("client_id").to_dict(orient="index")
    outcomes = set()
    for row in rows:
        w = want[row["client_id"]]
        assert [row["outcome"], row["group"], row["version"]] == [w["outcome"], w["group"], w["version"]]
        outcomes.add(row["outcome"])
        for col in ("orphaned_at_hours", "new_cert_at_hours"):
            if math.isnan(float(w[col])):
                assert row[col] == ""
            else:
                assert float(row[col]) == pytest.approx(w[col], abs=1e-6)
        if row["outcome"] == "orphaned":
            assert row["cause"] in CAUSES
            assert row["orphaned_at_hours"] != "" and row["new_cert_at_hours"] == ""
        else:
            assert row["cause"] == "" and row["orphaned_at_hours"] == ""
    assert outcomes == {"ok", "orphaned", "gone"}
    assert sum(row["outcome"] == "orphaned" for row in rows) == r.orphaned


def test_clients_and_horizon_overrides_change_the_run(tmp_path: Path) -> None:
    base = run_json(invoke("run", SHIPPED, "--seed", "2", "--clients", "400", "--json").stdout)
    short = invoke("run", SHIPPED, "--seed", "2", "--clients", "400", "--horizon-days", "10", "--json")
    assert short.exit_code == 0, short.output
    got = run_json(short.stdout)
    assert base["clients"] == 400 and base["horizon_hours"] == 120 * 24
    assert got["horizon_hours"] == 240.0
    # the retained manager is updated at 30 days, after a 10-day horizon: no client trusts all new ones
    assert got["not_trusting_at_horizon"] > base["not_trusting_at_horizon"]
    assert got["not_trusting_at_horizon"] == 400 - got["gone"] - got["orphaned"]
    sc = sim.load_scenario(SHIPPED)
    assert got == expected_json(sim.simulate(sc, seed=2, clients=400, horizon_days=10))
    bigger = run_json(invoke("run", SHIPPED, "--seed", "2", "--clients", "900", "--json").stdout)
    assert bigger["clients"] == 900
    assert bigger == expected_json(sim.simulate(sc, seed=2, clients=900))


def test_default_seed_is_the_scenarios() -> None:
    got = run_json(invoke("run", SHIPPED, "--clients", "300", "--json").stdout)
    assert got["seed"] == 7
    assert got == expected_json(sim.simulate(sim.load_scenario(SHIPPED), clients=300))


def test_reference_engine_on_a_tiny_fleet() -> None:
    res = invoke(
        "run", SHIPPED, "--seed", "3", "--clients", "150", "--horizon-days", "40", "--engine", "reference", "--json"
    )
    assert res.exit_code == 0, res.output
    got = run_json(res.stdout)
    assert got["engine"] == "reference" and got["clients"] == 150
    ref = sim.simulate(sim.load_scenario(SHIPPED), seed=3, clients=150, horizon_days=40, engine="reference")
    assert got == expected_json(ref)


def test_version() -> None:
    res = invoke("--version")
    assert res.exit_code == 0
    assert res.stdout.strip() == f"rotasim {sim.__version__}"


# ------------------------------------------------------------------------------------------- validate


def test_validate_ok_on_the_shipped_scenario() -> None:
    res = invoke("validate", SHIPPED)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == (
        "OK: three-manager-failover: 3 groups, 3 managers in 1 site, runbook kb-multi-server (5 steps), "
        "5000 generated clients, horizon 120 days"
    )


def test_validate_reads_the_fleet_files(tmp_path: Path) -> None:
    path = file_fleet(tmp_path, ["a,g,14.3", "b,g,14.2", "c,root,14.3"])
    res = invoke("validate", path)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == (
        "OK: from-files: 2 groups, 2 managers in 1 site, runbook kb-multi-server (3 steps), "
        "3 clients from clients.csv, horizon 10 days"
    )


# ------------------------------------------------------------------------------------------- bad input


def _bad_cases(tmp: Path) -> dict[str, tuple[Path, list[str]]]:
    """name -> (scenario path, fragments the one error line must contain)."""
    syntax = tmp / "syntax.yaml"
    syntax.write_text(SHIPPED.read_text().replace("seed: 7", "seed: [7"))
    (tmp / "csv").mkdir()
    return {
        "missing file": (tmp / "nope.yaml", ["nope.yaml", "no such scenario file"]),
        "yaml syntax": (syntax, ["syntax.yaml", "line ", "not valid YAML"]),
        "unknown field": (
            write_variant(tmp, "unknown.yaml", {"horizon_dayz": 3}),
            ["unknown.yaml", "horizon_dayz", "unknown field"],
        ),
        "wrong type": (
            write_variant(tmp, "type.yaml", {"fleet.jitter": 1.5}),
            ["type.yaml: fleet.jitter: Input should be less than 1 (got 1.5)"],
        ),
        "wrong type text": (
            write_variant(tmp, "text.yaml", {"horizon_days": "soon"}),
            ["text.yaml", "horizon_days", "(got 'soon')"],
        ),
        "unknown manager": (
            write_variant(tmp, "msl.yaml", {"msls": [{"name": "hq-list", "tiers": [["sepm1", "sepm9"]]}]}),
            ["msl.yaml", "msls", "unknown manager 'sepm9'"],
        ),
        "bad clients row": (
            file_fleet(tmp / "csv", ["a,g,14.3", "b,Nowhere,14.3"]),
            ["clients.csv", "line 3, group", "unknown group 'Nowhere'"],
        ),
    }


@pytest.mark.parametrize("command", ["run", "validate"])
@pytest.mark.parametrize(
    "case",
    [
        "missing file",
        "yaml syntax",
        "unknown field",
        "wrong type",
        "wrong type text",
        "unknown manager",
        "bad clients row",
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, case: str, command: str) -> None:
    path, fragments = _bad_cases(tmp_path)[case]
    out = tmp_path / "out.csv"
    extra = ["--clients-out", str(out)] if command == "run" else []
    res = invoke(command, path, *extra)
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    for f in fragments:
        assert f in lines[0]
    assert "Traceback" not in res.output
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.csv")]  # no temporary file either


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--sed", "1"], "No such option: --sed"),
        (["--engine", "quick"], "'quick' is not one of 'fast', 'reference'"),
        (["--seed", "-1"], "--seed"),
        (["--clients", "0"], "--clients: expected 1 to"),
        (["--horizon-days", "0"], "--horizon-days: expected more than 0"),
        (["--clients-out", "no/such/folder/x.csv"], "--clients-out: no/such/folder/x.csv: the folder"),
    ],
)
def test_bad_options_are_one_line_exit_2(args: list[str], fragment: str) -> None:
    res = invoke("run", SHIPPED, *args)
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ")
    assert fragment in res.stderr
    assert "Traceback" not in res.output


def test_resizing_a_file_fleet_is_refused(tmp_path: Path) -> None:
    res = invoke("run", file_fleet(tmp_path, ["a,g,14.3"]), "--clients", "10")
    assert res.exit_code == 2
    assert res.stderr == "error: --clients: the scenario reads its fleet from files; it cannot be resized\n"


def test_missing_command_is_one_line_exit_2() -> None:
    res = invoke()
    assert res.exit_code == 2
    assert res.stderr == "error: Missing command. (see 'rotasim --help')\n"


def test_warnings_are_one_line_each_without_internal_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """An InputWarning prints as ``warning: <file>: <field>: <message>``; any other warning as one line with
    its category; neither with Python's file and line of the code that issued it."""
    from sim.errors import warn
    from sim.scenario import document

    real = document.load_scenario

    def warned(path: Path) -> sim.Scenario:
        warn(str(path), "fleet.versions", "version 12.1 follows no rule;\nread as 14.3")
        warnings.warn("a library changes its default", FutureWarning, stacklevel=1)
        return real(path)

    monkeypatch.setattr(document, "load_scenario", warned)
    res = invoke("validate", SHIPPED)
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("OK: ")
    assert res.stderr.splitlines() == [
        f"warning: {SHIPPED}: fleet.versions: version 12.1 follows no rule; read as 14.3",
        "warning: FutureWarning: a library changes its default",
    ]
    assert "test_cli.py" not in res.stderr and "warnings.warn" not in res.stderr


def test_a_warning_of_every_replication_is_shown_once(tmp_path: Path) -> None:
    """A version no rule matches is warned about by every replication's fleet; the command says it once."""
    path = write_variant(tmp_path, "v.yaml", {"fleet.versions": {"14.3.RU8": 0.9, "15.0.1": 0.1}})
    res = invoke("run", path, "--clients", "300", "--replications", "3", "--workers", "1", "--json")
    assert res.exit_code == 0, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"warning: {path}: fleet.versions: no version rule matches '15.0.1' (")
    assert json.loads(res.stdout)["replications"] == 3


# ------------------------------------------------------------------------------------------- failures


def test_internal_error_is_one_line_exit_70_with_traceback_only_in_debug(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(*a: Any, **k: Any) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr("sim.experiments.digest.run_with_savings", broken)
    out = tmp_path / "out.csv"
    res = invoke("run", SHIPPED, "--clients-out", out, env={"ROTASIM_DEBUG": ""})
    assert res.exit_code == 70
    assert res.stderr.count("\n") == 1
    assert res.stderr.startswith("internal error: ZeroDivisionError: float division by zero")
    assert "ROTASIM_DEBUG=1" in res.stderr and "Traceback" not in res.output
    assert not out.exists()
    dbg = invoke("run", SHIPPED, env={"ROTASIM_DEBUG": "1"})
    assert dbg.exit_code == 70
    assert "Traceback (most recent call last)" in dbg.stderr and "in broken" in dbg.stderr
    assert dbg.stderr.splitlines()[-1].startswith("internal error: ZeroDivisionError")


def test_ctrl_c_during_the_run_exits_130_and_writes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def interrupted(*a: Any, **k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("sim.experiments.digest.run_with_savings", interrupted)
    out = tmp_path / "out.csv"
    res = invoke("run", SHIPPED, "--clients-out", out)
    assert res.exit_code == 130
    assert res.stderr == "interrupted\n"
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_writing_the_csv_leaves_no_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Half of the CSV is written when Ctrl-C lands: neither the target nor the temporary file remains, and
    an older file at the target is left as it was."""
    real = pd.DataFrame.to_csv

    def half_then_interrupt(self: pd.DataFrame, f: Any, **k: Any) -> None:
        real(self.head(len(self) // 2), f, **k)
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_interrupt)
    out = tmp_path / "out.csv"
    res = invoke("run", SHIPPED, "--clients", "300", "--clients-out", out)
    assert res.exit_code == 130
    assert list(tmp_path.iterdir()) == []
    out.write_text("previous\n")
    assert invoke("run", SHIPPED, "--clients", "300", "--clients-out", out).exit_code == 130
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_report_defaults_in_the_signature_are_the_librarys() -> None:
    """``rotasim report`` writes its defaults into its signature (typer reads it at start-up, before the report
    module is imported): they must be the library's."""
    from sim.analysis import sampling
    from sim.cli import report as command

    assert command.DEFAULT_REPLICATIONS == sampling.DEFAULT_REPLICATIONS
    assert command.DEFAULT_MAX_REPLICATIONS == sampling.DEFAULT_MAX_REPLICATIONS


# ------------------------------------------------------------------------------------------- sim.io


def test_atomic_write_text_replaces_whole_file_and_keeps_mode(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    atomic_write_text(p, "one\n")
    umask = os.umask(0)
    os.umask(umask)
    assert p.read_text() == "one\n"
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask  # a normal new file, not mkstemp's 0600
    p.chmod(0o640)
    atomic_write_text(p, "two\n")
    assert p.read_text() == "two\n" and p.stat().st_mode & 0o777 == 0o640
    assert [x.name for x in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_write_csv_failure_removes_the_temporary_file(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": [1.0, float("nan")], "y": ["a", ""]})
    p = tmp_path / "t.csv"
    atomic_write_csv(df, p)
    assert p.read_text() == "x,y\n1.000000,a\n,\n"
    with pytest.raises(AttributeError):
        atomic_write_csv(object(), tmp_path / "u.csv")  # type: ignore[arg-type]
    assert [x.name for x in tmp_path.iterdir()] == ["t.csv"]


# ------------------------------------------------------------------------------------------- documents


def test_every_cause_has_a_meaning_and_is_in_the_readme() -> None:
    assert set(CAUSE_MEANINGS) == set(CAUSES)
    readme = (ROOT / "README.md").read_text()
    for cause in CAUSES:
        assert f"`{cause}`" in readme


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    assert blocks[:2] == [
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && "
        ".venv/bin/rotasim run scenarios/three-manager-failover.yaml",
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest",
    ]
    before = readme.split("```bash")[0].strip().splitlines()
    assert len(before) == 1 and before[0].startswith("# ")  # a title line and nothing else before them
    ci = ROOT / ".ci" / "run"
    assert blocks[1] in ci.read_text().splitlines()
    assert os.access(ci, os.X_OK)


# ------------------------------------------------------------------------------------------- end to end


def _console_script() -> str:
    found = Path(sys.executable).parent / "rotasim"
    if found.exists():
        return str(found)
    which = shutil.which("rotasim")
    if which is None:
        pytest.skip("the rotasim console script is not installed")
    return which


def test_console_script_end_to_end(tmp_path: Path) -> None:
    exe = _console_script()
    env = {**os.environ, "ROTASIM_DEBUG": ""}

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=120)

    ok = call("run", str(SHIPPED), "--clients", "300", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["clients"] == 300 and ok.stderr == ""
    text = call("run", str(SHIPPED), "--clients", "300")
    assert text.returncode == 0 and "Orphaned: " in text.stdout and not ANSI.search(text.stdout)
    bad = write_variant(tmp_path, "bad.yaml", {"fleet.jitter": 1.5})
    out = tmp_path / "o.csv"
    err = call("run", str(bad), "--clients-out", str(out))
    assert err.returncode == 2
    assert err.stdout == ""
    assert err.stderr == f"error: {bad}: fleet.jitter: Input should be less than 1 (got 1.5)\n"
    assert not out.exists()
    version = call("--version")
    assert version.returncode == 0 and version.stdout == f"rotasim {sim.__version__}\n"
