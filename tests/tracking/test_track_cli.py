"""rotasim track on the command line: the shipped example (scenarios/tracking), its files and exit codes, and
each bad input as one line and exit 2, with nothing written."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sim.cli import app as cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "scenarios" / "tracking"
SCENARIO = EXAMPLE / "rotation.yaml"
BOUND = ("--replications", "8", "--max-replications", "8")

runner = CliRunner()


def invoke(*args: str | Path) -> Any:
    return runner.invoke(cli.app, [str(a) for a in args])


def track(out: Path, *extra: str | Path, log: Path = EXAMPLE / "log.yaml", exports: tuple[Path, ...] = ()) -> Any:
    exps = exports or (EXAMPLE / "export-day3.csv", EXAMPLE / "export-day8.csv")
    args: list[str | Path] = ["track", SCENARIO, "--log", log, "--out", out, *BOUND]
    for e in exps:
        args += ["--export", e]
    return invoke(*args, *extra)


def test_the_shipped_example_answers(tmp_path: Path) -> None:
    """The README's example: a NO-GO for changing sepm3 now (exit 4), every file written, dates beside hours,
    and the worklist naming the clients the plan would orphan."""
    out = tmp_path / "out"
    res = track(out, "--max-orphans", "5")
    assert res.exit_code == 4, res.output
    assert "NO-GO" in res.stdout and "Tue 10 Nov 2026" in res.stdout  # dates beside hours, as the clock writes them
    names = ("track.json", "at-risk-clients.csv", "needs-repair.csv", "orphans-by-date.csv", "adoption.csv")
    for name in names + ("time-away.csv", "track.html", "track.md", "adoption.png", "orphans-by-date.png"):
        assert (out / name).is_file(), name
    html = (out / "track.html").read_text()
    assert "NO-GO" in html and "Adoption observed and forecast" in html and "<script" not in html
    md = (out / "track.md").read_text()
    assert "](adoption.png)" in md and "When may the retained manager change" in md
    rec = json.loads((out / "track.json").read_text())
    assert rec["verdict"] == "NO-GO" and rec["decisive_step"] == "update-sepm3"
    assert rec["now"]["date"].startswith("2026-11-10") and rec["planned_change"]["date"].startswith("2026-11-16")
    assert rec["replications"] == 8
    rows = list(csv.DictReader((out / "at-risk-clients.csv").open()))
    assert rows and all(r["last_seen"].startswith("2026-") and r["last_seen"].endswith("+00:00") for r in rows)
    assert {"computer_name", "group", "site", "version", "expected_return", "chance_back_before_planned_change"} <= set(
        rows[0]
    )
    repair = list(csv.DictReader((out / "needs-repair.csv").open()))
    assert {r["computer_name"] for r in repair} <= {r["computer_name"] for r in rows}
    dates = list(csv.DictReader((out / "orphans-by-date.csv").open()))
    assert dates[0]["verdict"] == "NO-GO"


def test_a_generous_threshold_is_go_and_exits_0(tmp_path: Path) -> None:
    """GO needs at least 72 replications at 95% (sim.analysis.risk): 80, none exceeding 300 orphans."""
    exp, out = EXAMPLE / "export-day8.csv", tmp_path / "o"
    bound = ("--replications", "80", "--max-replications", "80")
    res = invoke(
        "track", SCENARIO, "--log", EXAMPLE / "log.yaml", "--export", exp, "--out", out, "--max-orphans", "300", *bound
    )
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "o" / "track.json").read_text())["verdict"] == "GO"


def test_cells_a_spreadsheet_would_evaluate_are_text(tmp_path: Path) -> None:
    """A computer name starting with = (or + - @) is written with a leading apostrophe."""
    exp = tmp_path / "e.csv"
    text = (EXAMPLE / "export-day8.csv").read_text().splitlines()
    rows = [text[0]] + [("=HYPERLINK(1)" if i == 0 else "") + line for i, line in enumerate(text[1:])]
    # make the renamed client one that is behind: give it a last check-in before the first update
    first = rows[1].split(",")
    first[3] = "2026-11-01 08:00:00+00:00"
    rows[1] = ",".join(first)
    exp.write_text("\n".join(rows) + "\n")
    res = invoke("track", SCENARIO, "--log", EXAMPLE / "log.yaml", "--export", exp, "--out", tmp_path / "o", *BOUND)
    assert res.exit_code in (3, 4), res.output
    body = (tmp_path / "o" / "at-risk-clients.csv").read_text()
    assert "'=HYPERLINK(1)" in body and "\n=HYPERLINK" not in body


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def bad_log(tmp: Path, body: str) -> Path:
    return write(tmp, "log.yaml", body)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("steps:\n  - {step: update-sepm9, done_at: '2026-11-02T09:05:00+00:00'}\n", "update-sepm9"),
        ("steps:\n  - {step: update-sepm2, done_at: '2026-11-02T09:05:00+00:00'}\n", "next step is 'update-sepm1'"),
        ("steps:\n  - {step: update-sepm1, done_at: '2026-11-02T09:05:00'}\n", "zone"),
        (
            "steps:\n  - {step: update-sepm1, done_at: '2026-11-02T10:05:00Z'}\n"
            "  - {step: update-sepm2, done_at: '2026-11-02T09:05:00Z'}\n",
            "after the previous step",
        ),
        ("steps:\n  - {step: wait-after-sepm1, done_at: '2026-11-02T09:05:00Z'}\n", "is a wait"),
        ("steps:\n  - {step: update-sepm1, done_at: '2026-11-20T09:05:00Z'}\n", "cannot show that step"),
    ],
)
def test_bad_logs_are_one_line_exit_2(tmp_path: Path, body: str, fragment: str) -> None:
    out = tmp_path / "out"
    res = track(out, log=bad_log(tmp_path, body))
    assert res.exit_code == 2, res.output
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: ")
    assert fragment in res.stderr
    assert not out.exists()


def test_a_csv_log_reads_like_the_yaml_one(tmp_path: Path) -> None:
    log = write(
        tmp_path,
        "log.csv",
        "step,done_at\nupdate-sepm1,2026-11-02T09:05:00+00:00\nupdate-sepm2,2026-11-02T12:10:00+00:00\n",
    )
    a, b = tmp_path / "a", tmp_path / "b"
    assert track(a, log=log).exit_code == track(b).exit_code == 4
    assert (
        json.loads((a / "track.json").read_text())["plan_kept"]
        == json.loads((b / "track.json").read_text())["plan_kept"]
    )


def test_duplicated_names_in_an_export_are_refused(tmp_path: Path) -> None:
    lines = (EXAMPLE / "export-day8.csv").read_text().splitlines()
    exp = write(tmp_path, "dup.csv", "\n".join(lines + [lines[1].replace("c0000000", "C0000000")]) + "\n")
    res = track(tmp_path / "out", exports=(exp,))
    assert res.exit_code == 2, res.output
    assert "duplicate computer name 'C0000000'" in res.stderr and res.stderr.count("\n") == 1


def test_clients_missing_from_a_later_export_are_refused(tmp_path: Path) -> None:
    lines = (EXAMPLE / "export-day8.csv").read_text().splitlines()
    later = write(tmp_path, "later.csv", "\n".join(lines[:1] + lines[2:]) + "\n")
    res = track(tmp_path / "out", exports=(EXAMPLE / "export-day3.csv", later))
    assert res.exit_code == 2, res.output
    assert "1 missing, e.g. 'c0000000'" in res.stderr and res.stderr.count("\n") == 1


def test_a_scenario_without_start_time_is_refused(tmp_path: Path) -> None:
    sc = write(tmp_path, "s.yaml", SCENARIO.read_text().replace('start_time: "2026-11-02T09:00:00+00:00"\n', ""))
    for f in ("log.yaml", "export-day8.csv"):
        shutil.copy(EXAMPLE / f, tmp_path / f)
    res = invoke(
        "track", sc, "--log", tmp_path / "log.yaml", "--export", tmp_path / "export-day8.csv", "--out", tmp_path / "o"
    )
    assert res.exit_code == 2 and "start_time" in res.stderr and res.stderr.count("\n") == 1


def test_an_unknown_group_or_server_is_refused(tmp_path: Path) -> None:
    text = (EXAMPLE / "export-day8.csv").read_text()
    bad_group = write(tmp_path, "g.csv", text.replace("My Company\\Laptops", "Elsewhere\\Nowhere", 1))
    res = track(tmp_path / "o1", exports=(bad_group,))
    assert res.exit_code == 2 and "Elsewhere/Nowhere" in res.stderr
    bad_server = write(tmp_path, "s.csv", text.replace(",sepm3\n", ",sepm7\n", 1))
    res = track(tmp_path / "o2", exports=(bad_server,))
    assert res.exit_code == 2 and "'sepm7'" in res.stderr


def test_backtest_scores_a_finished_rotation(tmp_path: Path) -> None:
    """The shipped rotation, finished (log-finished.yaml, exports of days 3, 8 and 30): one row per earlier
    export, forecast against what the day-30 export shows; the observed counts are read off the exports."""
    out = tmp_path / "bt"
    exports = tuple(EXAMPLE / f"export-day{d}.csv" for d in (3, 8, 30))
    res = track(out, "--backtest", log=EXAMPLE / "log-finished.yaml", exports=exports)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((out / "backtest.csv").open()))
    assert len(rows) == 2 and [int(r["steps_done"]) for r in rows] == [2, 2]
    # 27 rows of the day-30 export were last seen before update-sepm3 (2026-11-16 09:10): no final certificate
    last = [r["Last Check-in"] for r in csv.DictReader((EXAMPLE / "export-day30.csv").open())]
    assert sum(t < "2026-11-16 09:10" for t in last) == 27
    assert {r["without_final_observed"] for r in rows} == {"27"}
    within = sum(r[k] == "True" for r in rows for k in ("without_final_within", "returns_within"))
    assert within >= 2
    assert "Backtest" in (out / "backtest.md").read_text() and (out / "backtest.html").is_file()


def test_backtest_needs_two_exports(tmp_path: Path) -> None:
    res = track(
        tmp_path / "bt", "--backtest", log=EXAMPLE / "log-finished.yaml", exports=(EXAMPLE / "export-day30.csv",)
    )
    assert res.exit_code == 2 and "two exports" in res.stderr
