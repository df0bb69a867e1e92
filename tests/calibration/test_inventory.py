"""Reading inventory exports (``sim.inventory``) and ``rotasim fleet import`` (``sim.cli_fleet``) end to end.

The CLI tests build their own app with the ``rotasim`` error policy (``sim.cli.app._RotasimGroup``) and add
``fleet_app`` to it exactly as ``sim.cli`` does (``app.add_typer(fleet_app, name="fleet")``).
Sample exports are in tests/data/inventory/: a SEPM-style computer-status export (UTF-8 with BOM, quoted,
US times, backslash group paths), the first 12 of its clients as a semicolon file with ISO times (offsets,
``Z`` and none), 8 of them with unusual column names, a file of bad rows and an HR leave calendar.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
import yaml
from scipy.stats import norm
from typer.testing import CliRunner

import sim
from sim.calibration.importer import OUTPUTS
from sim.calibration.inventory import FIELDS, column_key, group_tree, parse_map, parse_times, read_inventory
from sim.calibration.synthetic import synthetic_export
from sim.cli.app import _RotasimGroup
from sim.cli.app import app as rotasim_app
from sim.cli.fleet import fleet_app
from sim.errors import InputError
from sim.model.fleet import generate_fleet
from sim.model.topology import compile_topology
from sim.scenario.document import build_scenario, load_presence
from sim.scenario.fields import PresenceSpec

DATA = Path(__file__).resolve().parents[1] / "data" / "inventory"
SEPM = DATA / "sepm-computer-status.csv"
SEMI = DATA / "semicolon-iso-tz.csv"
CUSTOM = DATA / "custom-columns.csv"
BAD = DATA / "bad-rows.csv"
HR = DATA / "hr-absences.csv"
SNAPSHOT = pd.Timestamp("2025-03-05T21:30:00Z").timestamp()

app = typer.Typer(cls=_RotasimGroup)


@app.callback()
def _root() -> None:
    """Stand-in for the rotasim app."""


app.add_typer(fleet_app, name="fleet")
runner = CliRunner()


def run(*args: str | Path) -> Any:
    return runner.invoke(app, ["fleet", "import", *[str(a) for a in args]])


# ------------------------------------------------------------------------------------------ columns


@pytest.mark.parametrize("k", range(4))
def test_each_accepted_spelling_is_read(tmp_path: Path, k: int) -> None:
    """Every accepted name of every field, in odd case and spacing, finds its column."""
    names = {f: aliases[k % len(aliases)] for f, aliases in FIELDS.items()}
    header = [f"  {names[f].upper() if k % 2 else names[f].lower()} " for f in FIELDS]
    path = tmp_path / "x.csv"
    path.write_text(
        ",".join(header) + "\n"
        "PC1,My Company\\A,14.3,2025-03-05 21:00:00,online,Windows 11\n"
        "PC2,My Company\\B,14.3,2025-03-01 09:00:00,offline,Windows 10\n"
    )
    inv = read_inventory(path)
    assert set(inv.columns) == set(FIELDS)
    assert list(inv.client_id) == ["PC1", "PC2"]
    assert list(inv.group) == ["My Company/A", "My Company/B"]
    assert list(inv.online) == [1, 0]
    assert list(inv.os) == ["Windows 11", "Windows 10"]
    assert inv.checkin[0] - inv.checkin[1] == pytest.approx((4 * 24 + 12) * 3600)


def test_column_names_compare_loosely() -> None:
    assert column_key(" Last Check-in ") == column_key("last check in") == column_key("LAST_CHECKIN")
    assert column_key("\ufeffComputer Name") == "computername"


def test_sepm_export_is_read() -> None:
    inv = read_inventory(SEPM)
    assert inv.columns == {
        "client_id": "Computer Name",
        "group": "Group Name",
        "version": "Client Version",
        "last_checkin": "Last Check-in",
        "online": "Online Status",
        "os": "Operating System",
    }
    assert (inv.n, inv.rows_read, inv.bad) == (40, 40, [])
    assert inv.client_id[0] == "LT-001" and inv.group[0] == "My Company/Laptops/Engineering"
    assert inv.checkin.max() == SNAPSHOT  # "3/5/2025 09:30:00 PM"
    assert inv.checkin[0] == pd.Timestamp("2025-03-05T18:11:00Z").timestamp()  # "3/5/2025 06:11:00 PM"


def test_map_reads_other_names() -> None:
    with pytest.raises(InputError, match="no column for computer name, group, client version, last check-in time"):
        read_inventory(CUSTOM)
    mapping = parse_map(["Device=client_id", "OU=group", "agent=version", "SEEN=last_checkin", "Connected=online"])
    inv = read_inventory(CUSTOM, mapping)
    assert inv.n == 8 and inv.columns["online"] == "Connected" and "os" not in inv.columns
    np.testing.assert_array_equal(inv.checkin, read_inventory(SEPM).checkin[:8])
    assert list(inv.online) == [0, 0, 1, 0, 0, 0, 1, 0]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["Device"], "expected COLUMN=FIELD"),
        (["Device=hostname"], "unknown field 'hostname'"),
        (["Device=client_id", "Name=client_id"], "mapped twice"),
    ],
)
def test_bad_map_items_are_refused(items: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_map(items)


def test_map_to_a_missing_column_is_refused() -> None:
    with pytest.raises(InputError, match="no column 'Hostname'"):
        read_inventory(CUSTOM, parse_map(["Hostname=client_id"]))


# ------------------------------------------------------------------------------------------ times


def test_times_with_and_without_zone_agree() -> None:
    """The semicolon file writes the same instants as the SEPM export: +01:00, Z, and without a zone."""
    semi = read_inventory(SEMI)
    sepm = read_inventory(SEPM)
    assert semi.columns["group"] == "Group Path" and semi.columns["online"] == "Status"
    np.testing.assert_array_equal(semi.checkin, sepm.checkin[:12])
    np.testing.assert_array_equal(semi.online, sepm.online[:12])
    # --tz moves only the times written without a zone (every third row, from the third)
    shifted = read_inventory(SEMI, tz_hours=2.0)
    diff = (sepm.checkin[:12] - shifted.checkin) / 3600
    np.testing.assert_array_equal(diff, [0, 0, 2] * 4)


def test_time_formats() -> None:
    s = pd.Series(
        [
            "2025-03-05 09:00:00",
            "2025-03-05T10:00:00+01:00",
            "2025-03-05T09:00:00Z",
            "2025-03-05 09:00:00 UTC",
            "2025-03-05 04:00:00 -0500",
            "3/5/2025 9:00:00 AM",
            "03/05/2025 09:00",
            "2025-03-05T09:00:00.000",
        ]
    )
    want = pd.Timestamp("2025-03-05T09:00:00Z").timestamp()
    np.testing.assert_array_equal(parse_times(s, 0.0), want)
    local = parse_times(pd.Series(["2025-03-05 10:00:00", "2025-03-05T10:00:00+01:00"]), 1.0)
    np.testing.assert_array_equal(local, want)
    assert np.isnan(parse_times(pd.Series(["yesterday", "", "31/31/2025"]), 0.0)).all()
    custom = parse_times(pd.Series(["05.03.2025 09h00"]), 0.0, "%d.%m.%Y %Hh%M")
    assert custom[0] == want


# ------------------------------------------------------------------------------------------ bad rows


BAD_ROWS = [
    (3, "Computer Name", "empty computer name"),
    (4, "Last Check-in", "cannot read the time 'yesterday'"),
    (5, "Online Status", "unknown online status 'Sleeping'"),
    (6, "", "expected 6 fields like the header, found 5"),
    (7, "Computer Name", "duplicate computer name 'lt-001' (first on line 2)"),
    (8, "Group", "empty group"),
    (10, "Version", "empty client version"),
    (13, "Last Check-in", "no last check-in time"),
]


def test_bad_rows_are_skipped_with_line_numbers() -> None:
    inv = read_inventory(BAD)
    assert [(b.line, b.column) for b in inv.bad] == [(line, col) for line, col, _ in BAD_ROWS]
    for b, (_, _, problem) in zip(inv.bad, BAD_ROWS, strict=True):
        assert b.problem.startswith(problem)
    assert str(inv.bad[0]) == "line 3, Computer Name: empty computer name"
    assert (inv.rows_read, inv.n) == (11, 3)  # the blank line 9 is not a row
    assert list(inv.client_id) == ["LT-001", "SRV-009", "LT-010"]


def test_strict_stops_at_the_first_bad_row() -> None:
    with pytest.raises(InputError) as err:
        read_inventory(BAD, strict=True)
    assert (err.value.location, err.value.message) == ("line 3, Computer Name", "empty computer name")


def test_checkins_after_the_snapshot_are_bad_rows() -> None:
    snap = pd.Timestamp("2025-03-05T21:00:00Z").timestamp()
    inv = read_inventory(SEPM, snapshot=snap)
    late = [b for b in inv.bad if "after the snapshot" in b.problem]
    assert len(late) == inv.rows_read - inv.n > 0
    assert all(b.column == "Last Check-in" for b in late)


# ------------------------------------------------------------------------------------------ groups


def test_group_tree_from_paths() -> None:
    nodes = group_tree(["My Company/Laptops/Sales", "My Company/Servers", "My Company/Laptops/Sales"])
    assert [(g.name, g.parent) for g in nodes] == [
        ("My Company", None),
        ("My Company/Laptops", "My Company"),
        ("My Company/Laptops/Sales", "My Company/Laptops"),
        ("My Company/Servers", "My Company"),
    ]
    two_tops = group_tree(["Laptops", "Servers/DC"])
    assert [(g.name, g.parent) for g in two_tops] == [
        ("My Company", None),
        ("Laptops", "My Company"),
        ("Servers", "My Company"),
        ("Servers/DC", "Servers"),
    ]


# ------------------------------------------------------------------------------------------ the command


def test_import_writes_a_runnable_scenario(tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    r = run(SEPM, "--out", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)
    # the purge age is the export's own bound: its oldest offline row is 134.5 days old
    assert "Read 40 rows" in r.output and "Purge age 135 days (from the export" in r.output
    clients = pd.read_csv(out / "clients.csv", dtype=str)
    assert list(clients.columns) == ["client_id", "group", "version"] and len(clients) == 40
    assert clients["group"].iloc[0] == "My Company/Laptops/Engineering"
    groups = yaml.safe_load((out / "groups.yaml").read_text())["groups"]
    assert groups[0] == {"name": "My Company", "inherit": True, "msl": "CHANGE-ME", "secure_comms": True}
    assert {"name": "My Company/Laptops/Sales", "parent": "My Company/Laptops", "inherit": True} in groups
    assert set(clients["group"]) <= {g["name"] for g in groups}
    fit = json.loads((out / "fit.json").read_text())
    assert fit["rows"] == {
        "read": 40,
        "skipped": 0,
        "clients": 40,
        "always_on_groups": 0,
        "online": 17,
        "fitted": 40,
        "fitted_online": 17,
        "offline_recent": 14,
        "absent": 9,
    }
    assert fit["purge"]["purge_days"] == 135 and fit["purge"]["from"] == "the export"
    assert fit["snapshot_utc"] == "2025-03-05T21:30:00+00:00"
    assert {p["name"] for p in fit["parameters"]} >= {"always_on_share", "leave_rate_per_year", "invisible_clients"}
    assert (out / "fit.png").read_bytes()[:4] == b"\x89PNG"
    ages = pd.read_csv(out / "ages.csv")
    assert ages["class"].value_counts().to_dict() == {"online": 17, "offline": 14, "absent": 9}
    presence = load_presence(out / "presence.yaml")
    # not cut at the purge age; no gone share (a snapshot cannot tell decommissioned machines from long leave)
    assert presence.leave.max_days == 365 and presence.gone_share == 0
    assert presence.model_dump(mode="json") == fit["presence_written"]
    assert presence.start_weekday == "wed" and presence.start_hour_utc == 21.5
    sc = sim.load_scenario(out / "scenario.yaml")
    assert sc.fleet.presence == presence and sc.runbook.template == "kb-multi-server"  # type: ignore[union-attr]
    assert sc.fleet.files is not None and sc.fleet.files.seen_within_days == 135
    # versions go through the simulator's own table: 14.2.3335.x is 14.2 RU1 (KB: 14.2.1), which cannot fail over
    v = {x["version"]: x for x in fit["versions"]}
    assert v["14.2.3335.1000"]["release"] == "14.2 RU1" and not v["14.2.3335.1000"]["fails_over_on_cert_mismatch"]
    assert "versions" not in yaml.safe_load((out / "scenario.yaml").read_text())
    result = sim.simulate(sc, seed=1)
    assert result.summary()["clients"] == 40
    assert set(result.clients["client_id"]) == set(clients["client_id"])


def test_written_scenario_warns_of_its_placeholders(tmp_path: Path) -> None:
    """Every value an export cannot tell is marked; validate, run and report warn (one line) until none is left."""
    out = tmp_path / "fleet"
    assert run(SEPM, "--out", out).exit_code == 0
    text = (out / "scenario.yaml").read_text()
    marks = [ln for ln in text.splitlines() if "PLACEHOLDER" in ln]
    assert len(marks) == 4 and all(ln.startswith("# PLACEHOLDER ") for ln in marks)
    for args in (["validate"], ["run"]):
        r = CliRunner().invoke(rotasim_app, [*args, str(out / "scenario.yaml")])
        assert r.exit_code == 0, r.output
        warned = [ln for ln in r.stderr.splitlines() if "PLACEHOLDER" in ln]
        assert len(warned) == 1 and "4 PLACEHOLDER marks left" in warned[0], r.stderr
    with pytest.warns(sim.InputWarning, match="4 PLACEHOLDER marks"):
        sim.load_scenario(out / "scenario.yaml")
    # given the managers, the list and the heartbeat, only the inheritance is left to check
    out2 = tmp_path / "fleet2"
    r = run(SEPM, "--out", out2, "--managers", "a,b", "--msl", "hq", "--heartbeat-minutes", "60")
    assert r.exit_code == 0, r.output
    (out2 / "scenario.yaml").write_text(
        "\n".join(ln for ln in (out2 / "scenario.yaml").read_text().splitlines() if "PLACEHOLDER" not in ln)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sc = sim.load_scenario(out2 / "scenario.yaml")
    assert sc.groups[0].heartbeat_minutes == 60 and sc.msls[0].name == "hq"


def test_purge_age_flag_against_the_data(tmp_path: Path) -> None:
    """A flag older rows contradict is one warning naming the file and the rows; the export's bound is used."""
    with pytest.warns(sim.InputWarning) as rec:
        res = sim.import_inventory(SEPM, tmp_path / "a", purge_days=30)
    lines = [str(w.message) for w in rec if "purge" in str(w.message)]
    assert len(lines) == 1 and str(SEPM) in lines[0] and "2 offline rows" in lines[0] and "\n" not in lines[0]
    assert res.purge is not None and res.purge.days == 135 and res.fit.settings.purge_days == 135
    res = sim.import_inventory(SEPM, tmp_path / "b", purge_days=200)  # above the data: the flag stands
    assert res.purge is not None and res.purge.days == 200 and res.purge.source == "--purge-days"


def test_a_checkin_in_the_future_is_not_the_snapshot(tmp_path: Path) -> None:
    lines = SEPM.read_text(encoding="utf-8-sig").splitlines()
    future = lines[1].split(",")
    future[0] = '"LT-FUTURE"'
    future[6] = '"2999-01-01 00:00:00"'
    src = tmp_path / "export.csv"
    src.write_text("\n".join([*lines, ",".join(future)]) + "\n", encoding="utf-8")
    r = run(src, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert "line 42, Last Check-in" in r.stderr and "in the future" in r.stderr
    assert "Snapshot 2025-03-05T21:30:00+00:00" in r.output and "41 rows" in r.output


def test_unmatched_versions_are_named(tmp_path: Path) -> None:
    src = tmp_path / "export.csv"
    src.write_text(SEPM.read_text(encoding="utf-8-sig").replace("14.3.8289.5000", "15.0.1.1"), encoding="utf-8")
    with pytest.warns(sim.InputWarning, match="no version rule matches '15.0.1.1' \\(18 clients\\)"):
        res = sim.import_inventory(src, tmp_path / "out")
    assert {v["version"]: v["rule"] for v in res.versions}["15.0.1.1"] is None


def test_import_recovers_a_synthetic_fleet(tmp_path: Path) -> None:
    """presence.yaml holds the chosen fit; on a fleet drawn from a known model and exported by a console that
    purges at 30 days, the import infers the purge age, recovers what one snapshot determines whatever family
    AIC picks (the shares, and the rate and length of the absences longer than the threshold, each within 20%),
    and estimates the purged clients (invisible) within 3 standard errors and 25%."""
    truth = PresenceSpec.model_validate(
        {
            "patterns": [{"name": "always-on", "share": 0.4, "schedule": "always"}, {"name": "laptop", "share": 0.6}],
            "leave": {
                "rate_per_year": 6,
                "duration_days": {"distribution": "lognormal", "median": 7, "sigma": 1.2},
                "max_days": 365,
            },
        }
    )
    src = tmp_path / "export.csv"
    n = 40_000
    df = synthetic_export(truth, n, np.random.default_rng(8), purge_days=30)
    df.to_csv(src, index=False)
    purged = n - len(df)
    r = run(src, "--out", tmp_path / "out", "--start", "2025-03-10 09:00", "--managers", "a,b")
    assert r.exit_code == 0, r.output
    p = load_presence(tmp_path / "out" / "presence.yaml")
    fit = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert fit["purge"]["purge_days"] == 30
    est = {e["name"]: e for e in fit["parameters"]}
    assert fit["chosen_family"] == p.leave.duration_days.distribution
    assert p.patterns[0].share == est["always_on_share"]["value"]
    assert p.leave.rate_per_year == est["leave_rate_per_year"]["value"]
    for name, value in p.leave.duration_days.model_dump().items():
        if name != "distribution":
            assert value == est[f"duration_{name}"]["value"]
    assert abs(est["always_on_share"]["value"] - 0.4) <= 3 * est["always_on_share"]["stderr"]
    # the purged clients: beyond the export, so the tail is each family's extrapolation; the true family's
    # estimate is within 3 standard errors of the count, and the import says the families disagree
    n_fit = fit["rows"]["fitted"]
    q = fit["families"]["lognormal"]["invisible_share"]
    q_se = fit["families"]["lognormal"]["invisible_share_stderr"]
    assert abs(n_fit * q / (1 - q) - purged) <= 3 * n_fit * q_se / (1 - q) ** 2
    ch = fit["families"][fit["chosen_family"]]["invisible_share"]
    assert est["invisible_clients"]["value"] == pytest.approx(n_fit * ch / (1 - ch))
    assert any("disagree on the share of the fleet unseen" in w for w in fit["warnings"])
    clients = pd.read_csv(tmp_path / "out" / "clients.csv")
    assert len(clients) == len(df) + fit["invisible"]["written"]
    # truth: P(D > 3 days) for D lognormal(median 7, sigma 1.2) (their mean length runs into the tail beyond
    # the purge age, which the export does not show: see above)
    assert fit["derived"]["long_absences_per_year"] == pytest.approx(6 * norm.sf(np.log(3 / 7) / 1.2), rel=0.2)
    assert "absences longer than 3 days" in r.output and "Invisible clients: about" in r.output
    assert (p.start_weekday, p.start_hour_utc) == ("mon", 9.0)
    sc = sim.load_scenario(tmp_path / "out" / "scenario.yaml")
    assert [m.name for m in sc.managers] == ["a", "b"]


def test_bad_rows_are_counted_and_reported(tmp_path: Path) -> None:
    r = run(BAD, "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert f"warning: {BAD}: line 3, Computer Name: empty computer name (skipped)" in r.output
    assert "line 13, Last Check-in: no last check-in time" in r.output
    fit = json.loads((tmp_path / "out" / "fit.json").read_text())
    assert fit["rows"]["read"] == 11 and fit["rows"]["skipped"] == 8 and fit["rows"]["clients"] == 3
    assert fit["bad_rows"][3] == "line 6: expected 6 fields like the header, found 5"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((BAD, "--strict"), f"error: {BAD}: line 3, Computer Name: empty computer name"),
        ((CUSTOM,), "no column for computer name"),
        ((SEPM, "--map", "Nope=os"), "error: --map: Nope=os: no column 'Nope'"),
        ((SEPM, "--absence-days", "2"), "longest regular off time"),
        ((SEPM, "--snapshot", "soon"), "error: --snapshot: soon: cannot read the time"),
        ((SEPM, "--absences", HR, "--strict"), "line 5, client_id: computer 'LT-999' is not among the imported"),
        ((SEPM, "--purge-days", "2"), "expected below --purge-days"),
        ((SEPM, "--max-leave-days", "100"), "expected more than the purge age (135 days)"),
        ((SEPM, "--max-leave-days", "2000"), "expected 1 to 1095 days"),
        ((DATA / "missing.csv",), "no such file"),
    ],
)
def test_failures_exit_2_and_write_nothing(tmp_path: Path, args: tuple[str | Path, ...], message: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "clients.csv").write_text("old\n")
    r = run(*args, "--out", out)
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert [p.name for p in out.iterdir()] == ["clients.csv"] and (out / "clients.csv").read_text() == "old\n"
    r = run(*args, "--out", tmp_path / "new")
    assert r.exit_code == 2 and not (tmp_path / "new").exists()
    assert not list(tmp_path.glob(".rotasim-import-*"))


def test_known_absences_join_the_scenario(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run(SEPM, "--out", out, "--absences", HR, "--start", "2025-03-06T08:00:00+01:00", "--msl", "hq-list")
    assert r.exit_code == 0, r.output
    assert "line 5, client_id: computer 'LT-999' is not among the imported clients (skipped)" in r.output
    assert "line 6, offline_until: must be after offline_from (skipped)" in r.output
    absences = pd.read_csv(out / "absences.csv", dtype=str, keep_default_na=False)
    assert absences.values.tolist() == [
        ["LT-001", "2025-03-07T00:00:00+00:00", "2025-03-24T00:00:00+00:00"],
        ["LT-005", "2025-03-10T07:00:00+00:00", "2025-03-14T17:00:00+00:00"],
        ["WS-002", "", "48"],
        ["SRV-003", "2025-03-08T00:00:00+00:00", ""],
    ]
    assert yaml.safe_load((out / "groups.yaml").read_text())["groups"][0]["msl"] == "hq-list"
    fit = json.loads((out / "fit.json").read_text())
    assert fit["absences"] == {
        "source": str(HR),
        "read": 6,
        "skipped": 2,
        "written": 4,
        "bad_rows": fit["absences"]["bad_rows"],
    }
    sc = sim.load_scenario(out / "scenario.yaml")
    assert sc.fleet.files is not None and sc.fleet.files.absences == "absences.csv"
    assert sc.fleet.files.start_time == "2025-03-06T07:00:00+00:00" and sc.fleet.files.background_presence
    result = sim.simulate(sc, seed=2)
    assert result.clients.set_index("client_id").loc["SRV-003", "outcome"] == "gone"  # never back


def test_single_manager_gets_the_single_server_procedure(tmp_path: Path) -> None:
    r = run(SEMI, "--out", tmp_path / "o", "--managers", "sepm1", "--heartbeat-minutes", "60")
    assert r.exit_code == 0, r.output
    sc = sim.load_scenario(tmp_path / "o" / "scenario.yaml")
    assert sc.runbook.template == "kb-single-server"  # type: ignore[union-attr]
    assert sc.groups[0].heartbeat_minutes == 60
    assert sim.simulate(sc, seed=0).summary()["clients"] == 12


def test_written_fleet_fields_run_alike_in_both_engines(tmp_path: Path) -> None:
    """fleet.files.seen_within_days and always_on_groups (what an import writes) change the fleet only, which
    both engines replay: client by client they agree in a deterministic world; and the fields do what they say
    (no background leave begins before the bound, the always-on group is online throughout)."""
    from tests.engines.test_equivalence import assert_same_clients, run_both

    rows = [(f"lt{i:03d}", "laptops", "14.3") for i in range(150)] + [
        (f"srv{i:02d}", "servers", "14.3") for i in range(30)
    ]
    rows += [(f"inv{i:02d}", "laptops", "14.3") for i in range(10)]  # invisible: away since before, back at 24 h x i
    (tmp_path / "clients.csv").write_text("client_id,group,version\n" + "".join(f"{a},{b},{c}\n" for a, b, c in rows))
    (tmp_path / "absences.csv").write_text(
        "client_id,offline_from,offline_until\n" + "".join(f"inv{i:02d},,{24.0 * (i + 1)}\n" for i in range(10))
    )
    data = {
        "name": "written",
        "horizon_days": 20,
        "sites": [{"name": "hq", "managers": [{"name": f"s{k}", "restart_minutes": 15} for k in (1, 2)]}],
        "msls": [{"name": "list", "tiers": [["s1"], ["s2"]]}],
        "groups": [
            {"name": "root", "msl": "list", "secure_comms": True, "heartbeat_minutes": 15},
            {"name": "laptops", "parent": "root"},
            {"name": "servers", "parent": "root"},
        ],
        "fleet": {
            "files": {
                "clients": "clients.csv",
                "absences": "absences.csv",
                "background_presence": True,
                "seen_within_days": 10,
                "always_on_groups": ["servers"],
            },
            "jitter": 0.0,
            "failback_hours": None,
            "presence": {
                "online_checkin_delay_seconds": 0,
                "patterns": [
                    {"name": "laptop", "share": 0.7, "start_spread_hours": 0},
                    {"name": "always-on", "share": 0.3, "schedule": "always"},
                ],
                "leave": {"rate_per_year": 20, "duration_days": {"distribution": "pareto", "minimum": 3, "alpha": 1.1}},
            },
        },
        "runbook": {"template": "kb-multi-server", "wait_heartbeats": 3, "retention_days": 5},
    }
    sc = build_scenario(data, source=str(tmp_path / "written.yaml"), base_dir=tmp_path)
    fast, ref = run_both(sc, seed=2)
    assert_same_clients(fast, ref)
    assert ref.orphaned > 0
    fleet = generate_fleet(sc, compile_topology(sc), np.random.default_rng(5))
    pres = fleet.presence
    servers = np.char.startswith(fleet.client_id.astype(str), "srv")
    srv = np.flatnonzero(servers)
    assert not np.isfinite(pres.abs_start[servers]).any()  # no leave at all
    assert all(pres.online_at(srv, t).all() for t in (0.0, 13.0, 100.0, 333.3))  # and no weekly pattern
    listed = np.char.startswith(fleet.client_id.astype(str), "lt")
    started = pres.abs_start[listed]
    assert np.all(started[np.isfinite(started)] >= -240.0) and np.isfinite(started).any()
    invisible = np.flatnonzero(~listed & ~servers)
    assert not pres.online_at(invisible, 0.0).any()


def test_imported_builds_resolve_as_the_simulator_resolves_them(tmp_path: Path) -> None:
    """A 14.2 RU1 build as a console exports it is a client that cannot use the multi-server method, a 14.2 RU2
    build one that can, in the import's report and in the simulated fleet alike (one version table,
    sim.model.versions; the importer used to treat every 14.2.x as unable)."""
    src = tmp_path / "export.csv"
    src.write_text(SEPM.read_text(encoding="utf-8-sig").replace("14.3.8289.5000", "14.2.5323.2000"), encoding="utf-8")
    res = sim.import_inventory(src, tmp_path / "out")
    v = {x["version"]: x for x in res.versions}
    assert v["14.2.3335.1000"]["release"] == "14.2 RU1" and not v["14.2.3335.1000"]["fails_over_on_cert_mismatch"]
    assert v["14.2.5323.2000"]["fails_over_on_cert_mismatch"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sc = sim.load_scenario(tmp_path / "out" / "scenario.yaml")
    fleet = generate_fleet(sc, compile_topology(sc), np.random.default_rng(0))
    unsupported = {str(fleet.version_names[k]) for k in np.unique(fleet.version[fleet.unsupported])}
    assert unsupported == {"14.2.3335.1000"}


def test_rows_older_than_any_leave_are_decommissioned(tmp_path: Path) -> None:
    """A console that never purges lists machines unseen for years: older than the longest leave the model
    holds, they are left out of the fit and written as never coming back (one warning)."""
    lines = SEPM.read_text(encoding="utf-8-sig").splitlines()
    old = lines[1].split(",")
    old[0], old[6], old[7] = '"LT-ANCIENT"', '"2021-01-04 09:00:00"', '"Offline"'
    src = tmp_path / "export.csv"
    src.write_text("\n".join([*lines, ",".join(old)]) + "\n", encoding="utf-8")
    with pytest.warns(sim.InputWarning, match="1 offline row last checked in more than 1000 days ago"):
        res = sim.import_inventory(src, tmp_path / "out")
    assert res.purge is not None and res.purge.days == 1000 and res.fit.counts.beyond == 1
    ab = pd.read_csv(tmp_path / "out" / "absences.csv", dtype=str, keep_default_na=False)
    assert ab.set_index("client_id").loc["LT-ANCIENT"].tolist() == ["", ""]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = sim.simulate(sim.load_scenario(tmp_path / "out" / "scenario.yaml"), seed=1)
    assert result.clients.set_index("client_id").loc["LT-ANCIENT", "outcome"] == "gone"


@pytest.mark.parametrize("group", ["\x1b", "\x1f", "Laptops\x07", "\x1fMy Company\\Sales"])
def test_a_group_named_with_control_characters_imports_and_reloads(tmp_path: Path, group: str) -> None:
    """Found by the fuzz test: the scenario holds names with control characters made visible, the clients file
    had them raw, so the import's own check refused what it had written (an internal error, exit 70)."""
    from sim.calibration.importer import ImportOptions, run_import
    from sim.presentation.fit_figure import plot_fit

    src = tmp_path / "export.csv"
    src.write_text(
        "Computer Name,Group,Version,Last Check-in\n"
        f"pc1,{group},14.3.RU9,2026-01-01T00:00\npc2,My Company,14.3.RU9,2026-01-01T01:00\n",
        encoding="utf-8",
    )
    run_import(src, tmp_path / "out", ImportOptions(), render=plot_fit)
    sc = sim.load_scenario(tmp_path / "out" / "scenario.yaml")
    # \x1f is white space to Python (and to the clients-file reader): a group of only that is an empty group,
    # a row the import skips with a warning
    kept = ["pc2"] if group == "\x1f" else ["pc1", "pc2"]
    assert sim.simulate(sc, horizon_days=2).clients["client_id"].tolist() == kept


@pytest.mark.parametrize("text", ["/1", "0000-01-01T00:00", "1989-12-31T23:59"])
def test_a_time_outside_any_console_s_life_is_unreadable(text: str) -> None:
    """Found by the fuzz test: '/1' was read as a date of year 0, and the import then failed writing it (an
    internal error). A check-in before 1990 is a typo: the row is flagged as unreadable (one after now is
    flagged as in the future)."""
    assert np.isnan(parse_times(pd.Series([text]), 0.0)[0])
    assert parse_times(pd.Series(["2026-01-01T00:00"]), 0.0)[0] == 1_767_225_600.0
