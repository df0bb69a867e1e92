"""Calendar dates beside the hours (``sim.analysis.dates``): in the scenario's time zone when it knows its start
(``fleet.files.start_time``), ISO 8601 in JSON and CSV, nothing when it does not."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import sim
from sim.analysis.dates import Clock, dated_name
from sim.cli import app as cli

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "scenarios" / "fleet-from-files.yaml"  # start_time 2025-03-03T08:00:00+00:00
GENERATED = ROOT / "scenarios" / "single-site-small.yaml"


def test_clock_formats_in_the_start_times_zone_and_rounds_to_the_second() -> None:
    c = Clock(datetime.fromisoformat("2025-03-03T09:00:00+01:00"))
    assert c.iso(0.0) == "2025-03-03T09:00:00+01:00"
    assert c.iso(5 / 60) == "2025-03-03T09:05:00+01:00"  # 0.08333... h is 5 minutes, not 4:59
    assert c.iso(72.25) == "2025-03-06T09:15:00+01:00"
    assert c.text(24.0) == "Tue 4 Mar 2025 09:00" and c.zone() == "UTC+01:00"
    assert c.iso(float("nan")) is None and c.iso(None) is None and c.text(float("inf")) == ""
    assert Clock(None).origin() == "" and not Clock(None).known
    df = pd.DataFrame({"start_hours": [0.0, 1.5], "x": [1, 2]})
    assert list(c.with_dates(df, ["start_hours"]).columns) == ["start_hours", "start_at", "x"]
    assert Clock(None).with_dates(df, ["start_hours"]) is df
    assert dated_name("orphaned_at_hours") == "orphaned_at" and dated_name("time_hours") == "time_at"


def test_run_prints_and_writes_dates_when_the_scenario_knows_its_start(tmp_path: Path) -> None:
    assert Clock.of(sim.load_scenario(FILES)).iso(0) == "2025-03-03T08:00:00+00:00"
    runner = CliRunner()
    text = runner.invoke(cli.app, ["run", str(FILES)]).stdout
    assert "t = 0 is Mon 3 Mar 2025 08:00 UTC" in text
    assert "Thu 6 Mar 2025 08:10" in text  # the certificate update, 72 h after the wait began
    out = tmp_path / "c.csv"
    res = runner.invoke(cli.app, ["run", str(FILES), "--json", "--clients-out", str(out)])
    got = json.loads(res.stdout)
    assert got["start_time"] == "2025-03-03T08:00:00+00:00"
    assert got["steps"][0]["start_at"] == "2025-03-03T08:00:00+00:00"
    assert datetime.fromisoformat(got["full_trust_at"]) > datetime.fromisoformat(got["start_time"])
    csv = pd.read_csv(out, keep_default_na=False)
    assert {"orphaned_at", "new_cert_at", "detected_at", "first_contact_at"} <= set(csv.columns)
    row = csv[csv["new_cert_at"] != ""].iloc[0]
    t = datetime.fromisoformat(row["new_cert_at"]) - datetime.fromisoformat("2025-03-03T08:00:00+00:00")
    assert abs(t.total_seconds() / 3600 - float(row["new_cert_at_hours"])) < 1 / 3600


def test_no_dates_without_a_start_time() -> None:
    runner = CliRunner()
    got = json.loads(runner.invoke(cli.app, ["run", str(GENERATED), "--clients", "100", "--json"]).stdout)
    assert "start_time" not in got and "start_at" not in got["steps"][0]
    assert "t = 0 is" not in runner.invoke(cli.app, ["run", str(GENERATED), "--clients", "100"]).stdout


def test_report_shows_dates_in_its_tables_json_and_csv(tmp_path: Path) -> None:
    sim.report(FILES, tmp_path, max_orphans=50, replications=2, max_replications=2, workers=1)
    j = json.loads((tmp_path / "report.json").read_text())
    assert j["scenario"]["start_time"] == "2025-03-03T08:00:00+00:00" and j["scenario"]["time_zone"] == "UTC"
    assert j["runbook"][0]["start_at"] == "2025-03-03T08:00:00+00:00"
    assert j["trust_daily"][1]["time_at"] == "2025-03-04T08:00:00+00:00"
    page = (tmp_path / "report.md").read_text()
    assert "t = 0 is Mon 3 Mar 2025 08:00 UTC" in page and "Thu 6 Mar 2025 08:10" in page
    assert "first_contact_median_at" in (tmp_path / "at-risk-clients.csv").read_text().splitlines()[0]
