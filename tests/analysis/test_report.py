"""The risk report and the scenario comparison: verdict grading, sequential sampling, tables, files, escaping,
atomic writing, figures and the two commands' exit codes.

Small fleets (300-500 clients) and few replications keep the file well under a minute.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
from matplotlib.figure import Figure
from typer.testing import CliRunner

import sim
from sim.analysis import provenance, tables
from sim.analysis.comparison import load_variants
from sim.analysis.orphan_rows import OrphanRows
from sim.analysis.replications import replicate
from sim.analysis.report import Report
from sim.analysis.sampling import ORPHAN_COLUMNS, RepExtra, check_counts, run_sequential
from sim.analysis.verdict import EXIT_CODES, Threshold, judge, worst_verdict
from sim.calibration.fit import FAMILIES
from sim.cli.app import _RotasimGroup
from sim.cli.compare import compare_command
from sim.cli.report import report_command
from sim.errors import InputError
from sim.presentation import figures as figs
from sim.presentation import report as rp
from sim.scenario.overrides import parse_variant
from tests.tiny import tiny_world

ROOT = Path(__file__).resolve().parents[2]
SINGLE = ROOT / "scenarios" / "single-site-small.yaml"
MULTI = ROOT / "scenarios" / "three-manager-failover.yaml"
HOSTILE = "<img src=x onerror=alert(1)> $\\foo{$"


def app() -> typer.Typer:
    """The two commands on an app with rotasim's error policy (bad input: exit 2), as sim.cli registers them."""
    a = typer.Typer(cls=_RotasimGroup, add_completion=False)
    a.command("report")(report_command)
    a.command("compare")(compare_command)
    return a


def invoke(*args: str | Path) -> Any:
    return CliRunner().invoke(app(), [str(a) for a in args])


# ------------------------------------------------------------------------------------------- verdict


def test_judge_grades_by_the_chance_that_one_rotation_exceeds_the_threshold() -> None:
    """Clopper-Pearson at 95%: 0 of 72 exceeding has an upper bound 1 - 0.025^(1/72) = 4.99% < 5%: GO; 0 of 71
    (5.06%) cannot show it: INCONCLUSIVE; 4 of 20 has a lower bound of 5.7% > 5%: NO-GO."""
    assert judge([1] * 72, 1)["verdict"] == "GO"  # exactly at the threshold is within it
    assert judge([1] * 71, 1)["verdict"] == "INCONCLUSIVE"
    j = judge([0] * 16 + [9] * 4, 3)
    assert j["verdict"] == "NO-GO" and j["exceeding"] == 4 and j["chance"] == pytest.approx(0.2)
    assert j["chance_ci"] == pytest.approx([0.0573, 0.4366], abs=1e-4)
    assert judge([0] * 18 + [9] * 2, 3)["verdict"] == "INCONCLUSIVE"  # lower bound 1.2%
    # the mean and its t interval are reported beside it: [5, 6, 5, 6]: 5.5 +- 3.182446 x 0.288675
    m = judge([5, 6, 5, 6], 0)
    assert m["mean"] == pytest.approx(5.5) and m["ci95"] == pytest.approx([4.581302, 6.418698], abs=1e-5)
    # a mean under the threshold is not GO when single rotations exceed it often
    assert judge([0] * 60 + [20] * 20, 10)["verdict"] == "NO-GO"


def test_judge_edge_cases() -> None:
    assert judge([0] * 100, 0)["verdict"] == "GO"  # no orphan in any run meets "at most 0"
    assert judge([3] * 100, 2.999)["verdict"] == "NO-GO"
    assert judge([0] * 100, 0, exceeding=20)["verdict"] == "NO-GO"  # the caller's count (the probes) wins
    one = judge([7], 100)
    assert one["verdict"] == "INCONCLUSIVE" and one["ci95"] == [None, None]


def test_threshold_validation_and_text() -> None:
    assert Threshold(max_orphans=0).describe() == "at most 0 orphans"
    assert Threshold(max_orphans=1).describe() == "at most 1 orphan"
    assert Threshold(max_orphan_rate=0.005).describe() == "an orphan rate of at most 0.50%"
    assert Threshold(max_orphan_rate=0.005).option() == "--max-orphan-rate 0.005"
    with pytest.raises(InputError, match="not both"):
        Threshold(max_orphans=1, max_orphan_rate=0.1)
    with pytest.raises(InputError, match="0 or more"):
        Threshold(max_orphans=-1)
    with pytest.raises(InputError, match="between 0 and 1"):
        Threshold(max_orphan_rate=1.5)


# ------------------------------------------------------------------------------------------- sequential sampling


@pytest.fixture(scope="module")
def multi() -> sim.Scenario:
    return sim.load_scenario(MULTI)


@pytest.fixture(scope="module")
def multi_orphans(multi: sim.Scenario) -> np.ndarray:
    """Orphans of replications 0..15 at 400 clients, run in one go."""
    reps = replicate(multi, n=16, seed=5, clients=400, workers=1, progress=False)
    return reps.runs["orphaned"].to_numpy(float)


def test_sequential_sampling_doubles_until_decided_and_reuses_runs(
    multi: sim.Scenario, multi_orphans: np.ndarray
) -> None:
    """4 replications cannot decide any verdict near the threshold (the first batch's own mean): the report
    doubles 4 -> 8 -> 16. Each batch's verdict and mean equal ``judge`` on that prefix of the runs made in one
    go, and the replications are 0..n-1, each run once."""
    threshold = float(multi_orphans[:4].mean())
    assert judge(multi_orphans[:4], threshold)["verdict"] == "INCONCLUSIVE"
    expected = []
    probes = replicate(multi, n=16, seed=5, clients=400, workers=1, progress=False)
    for n in (4, 8, 16):
        prefix = type(probes)(probes.scenario, probes.seed, probes.engine, probes.digests[:n])
        k = prefix.exceeding(threshold, None, setting=prefix.digests[0].setting)
        j = judge(multi_orphans[:n], threshold, exceeding=k)
        expected.append((n, j["verdict"], j["mean"]))
        if j["verdict"] != "INCONCLUSIVE":
            break
    logs: list[str] = []
    s = run_sequential(
        multi,
        Threshold(max_orphans=threshold),
        replications=4,
        max_replications=16,
        seed=5,
        clients=400,
        workers=1,
        progress=False,
        log=logs.append,
    )
    got = [(b["replications"], b["verdict"], b["mean"]) for b in s.batches]
    assert got == [(n, v, pytest.approx(m)) for n, v, m in expected]
    assert [d.replication for d in s.reps.digests] == list(range(s.n))
    assert s.metric() == pytest.approx(multi_orphans[: s.n])
    assert len(s.batches) >= 2 and s.n == expected[-1][0]
    assert any(line.startswith("after 4 replications: INCONCLUSIVE") for line in logs)


def test_sequential_sampling_stops_at_once_when_the_first_batch_decides(multi: sim.Scenario) -> None:
    """Every replication over a threshold of 0: the first batch already shows NO-GO (lower bound 63%)."""
    s = run_sequential(
        multi,
        Threshold(max_orphans=0),
        replications=3,
        max_replications=48,
        seed=5,
        clients=300,
        workers=1,
        progress=False,
    )
    assert s.n == 3 and [b["verdict"] for b in s.batches] == ["NO-GO"]


def test_sequential_sampling_reaches_go_when_enough_replications_can_show_it(multi: sim.Scenario) -> None:
    """No replication exceeds a huge threshold, yet GO needs 72 of them: 10 -> 20 -> 40 -> 80."""
    s = run_sequential(
        multi,
        Threshold(max_orphans=10_000),
        replications=10,
        max_replications=320,
        seed=5,
        clients=100,
        workers=1,
        progress=False,
    )
    assert [b["replications"] for b in s.batches] == [10, 20, 40, 80]
    assert [b["verdict"] for b in s.batches] == ["INCONCLUSIVE"] * 3 + ["GO"]


def test_replication_counts_are_checked() -> None:
    with pytest.raises(InputError, match="at least 2"):
        check_counts(1, 10)
    with pytest.raises(InputError, match="at least --replications"):
        check_counts(20, 10)


# ------------------------------------------------------------------------------------------- hand-made tables


def _extra(
    k: int,
    orphans: list[tuple[str, str, str, str, str, float]],
    profiles: dict[tuple[str, str, str], int],
    share: list[float],
) -> RepExtra:
    o = pd.DataFrame(
        [
            {
                "client_id": c,
                "group": g,
                "version": v,
                "presence": p,
                "cause": cause,
                "orphaned_at_hours": 1.0,
                "first_contact_hours": fc,
            }
            for c, g, v, p, cause, fc in orphans
        ],
        columns=ORPHAN_COLUMNS,
    )
    prof = pd.DataFrame([{"group": g, "version": v, "presence": p, "clients": n} for (g, v, p), n in profiles.items()])
    steps = pd.DataFrame(columns=["name", "kind", "start_hours", "end_hours", "detail"])
    t = np.arange(len(share), dtype=float)
    return RepExtra(k, OrphanRows.from_frame(o), prof, t, np.array(share, np.float32), steps, None)


def test_at_risk_per_client_and_per_profile_by_hand() -> None:
    """Two replications of 10 clients: 'a' (laptops) orphaned in both, 'b' (laptops) in one, 'c' (desktops) in
    one. Laptops: 4 clients per replication, 3 orphans in 8 client-replications -> 37.5%; desktops 1 in 12."""
    prof = {("laptops", "14.3", "office"): 4, ("desktops", "14.3", "always"): 6}
    e0 = _extra(
        0,
        [
            ("a", "laptops", "14.3", "office", "wait-too-short", 2.0),
            ("b", "laptops", "14.3", "office", "offline-through-window", 10.0),
        ],
        prof,
        [0, 1],
    )
    e1 = _extra(
        1,
        [
            ("a", "laptops", "14.3", "office", "wait-too-short", 4.0),
            ("c", "desktops", "14.3", "always", "missed-group", float("nan")),
        ],
        prof,
        [0, 1],
    )
    clients, profiles = tables.at_risk_tables([e0, e1])
    assert list(clients["client_id"]) == ["a", "b", "c"]
    assert list(clients["orphaned_share"]) == [1.0, 0.5, 0.5]
    assert list(clients["orphaned_replications"]) == [2, 1, 1]
    assert clients.loc[0, "first_contact_hours_median"] == 3.0
    assert clients.loc[0, "causes"] == "wait-too-short:2"
    assert list(clients["profile_orphaned_share"]) == pytest.approx([3 / 8, 3 / 8, 1 / 12])
    lap = profiles[profiles["group"] == "laptops"].iloc[0]
    assert lap["orphaned_share"] == pytest.approx(0.375)
    assert lap["orphans_per_rotation"] == pytest.approx(1.5) and lap["clients_per_rotation"] == 4
    assert lap["main_cause"] == "wait-too-short"
    apart = tables.handle_apart_table([e0, e1])
    assert apart.to_dict(orient="records")[0] | {"advice": ""} == {
        "cause": "missed-group",
        "group": "desktops",
        "version": "14.3",
        "orphans_per_rotation": 0.5,
        "advice": "",
    }


def test_trust_band_mean_and_quantiles() -> None:
    ex = [_extra(k, [], {("g", "v", "p"): 1}, [0.0, s]) for k, s in enumerate([0.2, 0.4, 0.6])]
    band = tables.trust_band(ex)
    assert band["mean"].tolist() == pytest.approx([0.0, 0.4])
    assert band["low"].iloc[1] == pytest.approx(np.quantile([0.2, 0.4, 0.6], 0.025))
    assert band["high"].iloc[1] == pytest.approx(np.quantile([0.2, 0.4, 0.6], 0.975))


def test_trust_markers_name_the_end_of_the_retention() -> None:
    steps = pd.DataFrame(
        [
            ("update-a", "update-certificate", 0.0, 0.1),
            ("wait-after-a", "wait", 0.1, 0.35),
            ("update-b", "update-certificate", 0.35, 0.45),
            ("retain-c", "wait", 0.45, 720.0),
            ("update-c", "update-certificate", 720.0, 720.1),
        ],
        columns=["name", "kind", "start_hours", "end_hours"],
    )
    sc = sim.load_scenario(ROOT / "scenarios" / "three-manager-failover.yaml").with_(
        **{"runbook.order": ["sepm1", "sepm2", "sepm3"]}
    )
    steps["name"] = steps["name"].str.replace("-a", "-sepm1").str.replace("-b", "-sepm2").str.replace("-c", "-sepm3")
    marks = tables.trust_markers(sc, steps, 2880.0)
    # update-b lands within 1% of the horizon after update-a: merged
    assert marks == [(0.1, "update-sepm1"), (720.1, "retention ends: update-sepm3 (30 d)")]


def test_assumptions_list_every_parameter_with_value_and_source(multi: sim.Scenario) -> None:
    index = {"repair_minutes": "orphaning", "sites[].managers[].restart_minutes": "sites", "duration_days": "presence"}
    over = {"fleet.clients": (400, "command line (--clients)")}
    t = provenance.assumptions_table(multi, over, doc_index=index).set_index("parameter")
    assert t.loc["repair_minutes", "value"] == "30"
    assert t.loc["repair_minutes", "description"] == "Hands-on time to repair one orphan (A)."
    assert t.loc["repair_minutes", "source"] == "default; assumption; docs/model.md#orphaning"
    assert t.loc["sites[0].managers[0].restart_minutes", "source"] == (
        "scenario file; domain fact 18; assumption; docs/model.md#sites"
    )
    assert t.loc["fleet.clients", "value"] == "400"
    assert t.loc["fleet.clients", "source"] == "command line (--clients)"
    assert t.loc["runbook.retention_days", "value"] == "30"
    assert t.loc["runbook.retention_days", "source"] == "scenario file; KB 187099"
    # a distribution's parameters inherit the description and the section of the field that holds them
    median = t.loc["fleet.presence.leave.duration_days.median"]
    assert median["value"] == "5"
    assert median["source"] == "scenario file; domain fact 12; assumption; docs/model.md#presence"
    assert t.loc["versions.14.2.fails_over_on_cert_mismatch", "value"] == "false"
    assert t.loc["fleet.presence.away_at_start.share", "source"] == "default"
    assert "base_dir" not in t.index and "source" not in t.index
    assert len(t) > 60 and t.index.is_unique


def test_model_doc_index_maps_fields_to_sections(tmp_path: Path) -> None:
    doc = tmp_path / "model.md"
    doc.write_text(
        "# Title\n`ignored_before_a_section`\n## Sites, managers & certificates\n"
        "Restart: `sites[].managers[].restart_minutes` *(default 10)*.\n"
        "### kb-multi-server (KB 187099)\nKeep `retention_days` and `versions.<version>.fails_over_on_cert_mismatch`.\n"
        "## Later\n`retention_days` again, `name`.\n"
    )
    index = provenance.model_doc_index(str(doc))
    assert index == {
        "sites[].managers[].restart_minutes": "sites-managers--certificates",
        "retention_days": "kb-multi-server-kb-187099",
        "versions.*.fails_over_on_cert_mismatch": "kb-multi-server-kb-187099",
        "name": "later",
    }
    assert provenance.doc_section("runbook.retention_days", index) == "kb-multi-server-kb-187099"
    assert provenance.doc_section("versions.*.fails_over_on_cert_mismatch", index) == "kb-multi-server-kb-187099"
    assert provenance.doc_section("sites[].name", index) is None  # 'name' alone is too vague to cite
    assert provenance.model_doc_index(str(tmp_path / "missing.md")) == {}


def test_model_doc_index_reads_the_source_trees_model_doc_by_default() -> None:
    """In a source checkout the assumptions cite docs/model.md's sections (the default path finds the file)."""
    index = provenance.model_doc_index()
    assert index and index == provenance.model_doc_index(str(ROOT / "docs" / "model.md"))
    assert provenance.doc_section("runbook.retention_days", index) is not None


# ------------------------------------------------------------------------------------------- the report files


@pytest.fixture(scope="module")
def single_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, Path]:
    out = tmp_path_factory.mktemp("rep") / "report"
    sc = sim.load_scenario(SINGLE)
    rep = rp.generate_report(
        sc,
        out,
        source="scenarios/single-site-small.yaml",
        threshold=Threshold(max_orphans=0),
        replications=4,
        max_replications=8,
        clients=500,
        workers=1,
        progress=False,
    )
    return rep, out


def test_report_writes_every_file_and_the_json_verdict(single_report: tuple[Report, Path]) -> None:
    rep, out = single_report
    names = {p.name for p in out.iterdir()}
    expected = {
        "report.html",
        "report.md",
        "report.json",
        "at-risk-clients.csv",
        "orphans-distribution.png",
        "orphans-vs-setting.png",
        "orphans-by-cause-group-version.png",
        "runbook-timeline.png",
        "trust-over-time.png",
    }
    assert names == expected  # no staging folder left, no manager-load.png (capacity not modelled)
    for png in (n for n in names if n.endswith(".png")):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    j = json.loads((out / "report.json").read_text())
    assert j["verdict"] == rep.verdict == "NO-GO"  # ~30 orphans against at most 0
    assert j["exit_code"] == 4
    assert j["threshold"] == {"max_orphans": 0.0}
    assert j["sampling"]["replications"] == 4 and j["sampling"]["batches"][0]["verdict"] == "NO-GO"
    assert j["seed"] == 11 and j["rotasim_version"] == sim.__version__
    assert j["command"] == (
        "rotasim report scenarios/single-site-small.yaml --out " + str(out) + " --replications 4 "
        "--max-replications 8 --max-orphans 0 --seed 11 --clients 500"
    )
    assert set(j["files"]) == expected
    runs = rep.runs
    assert j["estimate"]["mean"] == pytest.approx(runs["orphaned"].mean())
    # repair hours are orphans x 30 minutes
    assert j["repair"]["hours"]["mean"] == pytest.approx(runs["orphaned"].mean() * 30 / 60)
    assert j["manager_load"] == "capacity not modelled in this scenario"
    assert j["reach_go"]["plan"]["parameter"] == "wait_hours"


def test_at_risk_csv_accounts_for_every_orphan(single_report: tuple[Report, Path]) -> None:
    rep, out = single_report
    csv = pd.read_csv(out / "at-risk-clients.csv", dtype={"client_id": str})
    assert list(csv.columns[:4]) == ["client_id", "orphaned_share", "orphaned_replications", "replications"]
    assert csv["orphaned_replications"].sum() == rep.runs["orphaned"].sum()
    assert csv["client_id"].is_unique
    assert (csv["replications"] == 4).all()
    assert csv["orphaned_share"].tolist() == pytest.approx((csv["orphaned_replications"] / 4).tolist())
    assert csv["orphaned_share"].is_monotonic_decreasing
    assert {"cause", "group", "version", "presence", "first_contact_hours_median"} <= set(csv.columns)


def test_report_sections_come_in_the_issue_order(single_report: tuple[Report, Path]) -> None:
    _, out = single_report
    page = (out / "report.html").read_text()
    md = (out / "report.md").read_text()
    titles = [
        "What to do next",
        "Verdict",
        "What would reach GO",
        "Orphans by cause, group and version",
        "Clients most at risk",
        "Runbook timeline",
        "Progress: clients contacted and trusting the new certificates",
        "Manager load against capacity",
        "Assumptions and reproduction",
    ]
    html_at = [page.index(f"<h2>{t}</h2>") for t in titles]
    md_at = [md.index(f"## {i}. {t}") for i, t in enumerate(titles, 1)]
    assert html_at == sorted(html_at) and md_at == sorted(md_at)
    assert "Manager capacity is not modelled in this scenario" in page
    assert page.count('<img src="data:image/png;base64,') == 5  # self-contained: figures embedded
    assert "<script" not in page and 'href="http' not in page and 'src="http' not in page
    assert "NO-GO" in page.split("<h2>")[0]  # the verdict badge heads the page
    assert "hours of hands-on work" in page and "30 minutes per repair" in page
    assert "--seed 11" in page and f"rotasim version: {sim.__version__}" in page
    assert "![" in md and "(orphans-distribution.png)" in md


def test_report_escapes_strings_from_input_files(tmp_path: Path) -> None:
    """A group, a client, the scenario's name and description carrying markup: escaped everywhere."""
    groups = [
        {"name": "root", "msl": "list", "secure_comms": True, "heartbeat_minutes": 60},
        {"name": HOSTILE, "parent": "root"},
        {"name": "g", "parent": "root"},
    ]
    sc = tiny_world(
        tmp_path,
        [("c1", HOSTILE, "14.3"), ("c2", HOSTILE, "14.3"), ("c<3>&", "g", "14.2")],
        [("c1", "", 5.0)],
        groups=groups,
        extra={"name": "<script>alert(1)</script>", "description": "a & b <i>x</i> | c"},
    )
    out = tmp_path / "out"
    rep = rp.generate_report(
        sc,
        out,
        source=str(tmp_path / "tiny.yaml"),
        threshold=Threshold(max_orphans=0),
        replications=2,
        max_replications=2,
        workers=1,
        progress=False,
    )
    assert rep.verdict == "NO-GO" and rep.orphans["mean"] == 3  # naive, one manager: every client orphaned
    page = (out / "report.html").read_text()
    assert "<script>" not in page and "<img src=x" not in page and "<i>x</i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "c&lt;3&gt;&amp;" in page
    md = (out / "report.md").read_text()
    assert "<img src=x" not in md and "<script>" not in md and "a &amp; b &lt;i&gt;x&lt;/i&gt; \\| c" in md
    assert "What would reach GO" in page and "no retention or wait that rotasim plans for" in page


def test_report_with_no_orphan_is_go_with_an_empty_at_risk_list(tmp_path: Path) -> None:
    """Three managers, every client online with an hourly heartbeat, 5 days of retention: nobody is orphaned."""
    rb = {"template": "kb-multi-server", "retention_days": 5, "operator_minutes": 0}
    sc = tiny_world(
        tmp_path, [(f"c{i}", "g", "14.3") for i in range(5)], managers=("a", "b", "c"), runbook=rb, horizon_days=10
    )
    out = tmp_path / "out"
    rep = rp.generate_report(
        sc,
        out,
        source="tiny.yaml",
        threshold=Threshold(max_orphans=0),
        replications=2,
        max_replications=80,
        workers=1,
        progress=False,
    )
    assert rep.verdict == "GO" and rep.exit_code == 0 and rep.sampling.n == 80
    assert rep.judgement["ci95"] == [0.0, 0.0] and rep.judgement["exceeding"] == 0
    assert (out / "at-risk-clients.csv").read_text().splitlines() == [",".join(rep.at_risk.columns)]
    page = (out / "report.html").read_text()
    assert "No client was orphaned in any replication" in page
    assert "GO: this rotation stays within the threshold" in page
    # any retention meets it: the rotation of the other two managers takes 3 hours (3 hourly heartbeats), in
    # which every client checks in and learns the new certificates
    assert rep.plan is not None and rep.plan.recommended == 0.0
    assert "already meets that" in page
    assert [t.get_text() for ax in rp.report_figures(rep)["breakdown"][0].axes for t in ax.texts] == ["no orphans"] * 3


def test_load_hook_draws_capacity_when_a_load_table_exists(single_report: tuple[Report, Path], tmp_path: Path) -> None:
    rep, _ = single_report
    t = np.arange(0, 48.0, 1.0)
    load = pd.concat(
        [
            pd.DataFrame(
                {"time_hours": t, "manager": m, "offered_per_second": 2 + np.sin(t / 5) + i, "capacity_per_second": 3.5}
            )
            for i, m in enumerate(["sepm1", "sepm2"])
        ]
    )
    fig = figs.load_figure(load)
    ax = fig.axes[0]
    assert ax.get_title() == "Manager load against capacity"
    assert ax.get_ylabel() == "check-ins per second" and "hours" in ax.get_xlabel()
    assert len(ax.get_lines()) == 4  # offered and capacity per manager
    with pytest.raises(ValueError, match="capacity_per_second"):
        figs.load_figure(load.drop(columns="capacity_per_second"))
    rep.load = load
    try:
        files = rp.report_files(rep)
    finally:
        rep.load = None
    assert "manager-load.png" in files
    assert "capacity not modelled" not in files["report.html"].decode()


# ------------------------------------------------------------------------------------------- figures


def _check_figure(fig: Figure) -> None:
    """Title, axis labels with units on every axes that holds data, and only palette colours for series."""
    title = fig.get_suptitle() if hasattr(fig, "get_suptitle") else ""
    assert title or all(ax.get_title() for ax in fig.axes)
    for ax in fig.axes:
        if not ax.has_data():
            continue
        assert ax.get_xlabel() and ax.get_ylabel() or ax.get_yticklabels(), ax
        assert re.search(
            r"\((count|hours|days|%.*|mean|.*per second)\)|per second|\(mean, count\)",
            ax.get_xlabel() + " " + ax.get_ylabel(),
        ), (ax.get_xlabel(), ax.get_ylabel())
        allowed = {c.lower() for c in figs.OKABE_ITO} | {"#bbbbbb", "#333333"}
        for line in ax.get_lines():
            c = line.get_color()
            if isinstance(c, str) and c.startswith("#"):
                assert c.lower() in allowed, c


def test_every_report_figure_is_labelled_and_uses_the_palette(single_report: tuple[Report, Path]) -> None:
    rep, _ = single_report
    made = rp.report_figures(rep)
    assert set(made) == {"verdict", "curve", "breakdown", "timeline", "trust"}
    for fig, alt in made.values():
        assert alt
        _check_figure(fig)
        w, h = fig.get_size_inches() * fig.dpi
        assert 800 <= w <= 1400 and 250 <= h <= 1200  # readable at the size the page shows
    trust_ax = made["trust"][0].axes[0]
    assert trust_ax.get_ylabel() == "clients (% of clients not gone)"
    assert trust_ax.get_ylim() == (0, 102)
    # trust and, beside it, the share contacted since the window opened (the progress under kb-multi-server)
    labels = [ln.get_label() for ln in trust_ax.get_lines()]
    assert "trusting the new certificates" in labels and "checked in since the window opened" in labels
    for fig, _ in made.values():  # titles name the scenario and the runbook; legends never sit on the data
        assert all(ax.get_legend() is None for ax in fig.axes)
    for key in ("verdict", "curve", "trust"):
        assert "single-site-small: kb-single-server" in made[key][0].axes[0].get_title()


def test_labels_keep_what_differs() -> None:
    long = "three-manager-failover-with-a-long-name"
    got = figs.distinct_labels([long, f"{long} [runbook.retention_days=90]", f"{long} [runbook.retention_days=30]"], 40)
    assert got[1].endswith("[runbook.retention_days=90]") and got[2].endswith("[runbook.retention_days=30]")
    assert len(set(got)) == 3 and all(len(x) <= 40 for x in got)
    assert figs.distinct_labels(["a", "b"]) == ["a", "b"]
    assert figs.distinct_labels(["My Company/Sales/Laptops-in-the-field-EMEA"], 28)[0].endswith("field-EMEA")


def test_thresholds_and_counts_read_at_a_glance() -> None:
    """A 0 threshold is drawn off the axis; histogram counts have integer ticks; a curve spanning 0 to 460
    orphans against a threshold of 5 switches to a scale that keeps the threshold region readable."""
    fig = figs.orphans_distribution_figure({"s": [3, 4, 4, 6]}, threshold=0, interval={"s": (3.0, 5.5)})
    ax = fig.axes[0]
    assert ax.get_xlim()[0] < 0
    assert all(float(t).is_integer() for t in ax.get_yticks())
    x = np.arange(0, 121.0)
    curve = pd.DataFrame(
        {"retention_days": x, "orphaned_mean": 460 * np.exp(-x / 12), "ci95_low": 0.0, "ci95_high": 0.0}
    )
    curve["ci95_low"] = curve["orphaned_mean"] * 0.9
    curve["ci95_high"] = curve["orphaned_mean"] * 1.1
    spec = figs.CurveSpec(curve, "retention_days", "days", current=30.0, recommended=47.5)
    ax = figs.curve_figure({"s": spec}, threshold=5.0).axes[0]
    assert ax.get_yscale() == "symlog"
    assert any("recommended, 47.5 days" in ln.get_label() for ln in ax.get_lines())
    assert not [t for t in ax.texts if t.get_rotation() == 90]  # no vertical labels over the curves
    small = curve.assign(orphaned_mean=curve["orphaned_mean"] / 100, ci95_high=curve["ci95_high"] / 100)
    assert (
        figs.curve_figure({"s": figs.CurveSpec(small, "retention_days", "days")}, threshold=5.0).axes[0].get_yscale()
        == "linear"
    )


def test_fit_figure_colours_come_from_the_one_palette() -> None:
    """The fit figure of ``rotasim fleet import`` colours each presence family from the figures' palette: one
    distinct Okabe-Ito colour per family the fit knows."""
    assert set(figs.FAMILY_COLOURS) == set(FAMILIES)
    assert set(figs.FAMILY_COLOURS.values()) <= set(figs.OKABE_ITO)
    assert len(set(figs.FAMILY_COLOURS.values())) == len(FAMILIES)
    assert figs.HIGHLIGHT_COLOUR in figs.OKABE_ITO


def test_breakdown_figure_with_no_orphans_says_so() -> None:
    empty = {k: pd.DataFrame(columns=[k, "mean", "ci95_low", "ci95_high"]) for k in ("cause", "group", "version")}
    fig = figs.breakdown_figure({"s": empty})
    assert [t.get_text() for ax in fig.axes for t in ax.texts] == ["no orphans"] * 3


# ------------------------------------------------------------------------------------------- commands


def test_report_command_exit_codes_go_nogo_and_progress_on_stderr(tmp_path: Path) -> None:
    common = ["--clients", "100", "--replications", "3", "--max-replications", "72", "--workers", "1"]
    go = invoke("report", SINGLE, "--out", tmp_path / "go", "--max-orphans", "100000", *common)
    assert go.exit_code == 0, go.output
    assert go.stdout.startswith("GO: chance of exceeding 0.0% (0 of 72 replications")
    assert "after 3 replications: INCONCLUSIVE" in go.stderr and "after 72 replications: GO" in go.stderr
    nogo = invoke("report", SINGLE, "--out", tmp_path / "nogo", *common)  # default threshold: 0 orphans
    assert nogo.exit_code == 4, nogo.output
    assert nogo.stdout.startswith("NO-GO: ") and "threshold: at most 0 orphans" in nogo.stdout
    assert json.loads((tmp_path / "nogo" / "report.json").read_text())["verdict"] == "NO-GO"
    rate = invoke("report", SINGLE, "--out", tmp_path / "rate", "--max-orphan-rate", "0.9", "-q", *common)
    assert rate.exit_code == 0 and rate.stderr == ""
    assert json.loads((tmp_path / "rate" / "report.json").read_text())["threshold"] == {"max_orphan_rate": 0.9}


def test_report_command_inconclusive_exits_3_after_the_cap(
    tmp_path: Path, multi: sim.Scenario, multi_orphans: np.ndarray
) -> None:
    """Threshold = the mean of the first 4 replications and the cap at 4: 4 replications cannot decide."""
    k = float(multi_orphans[:4].mean())
    r = invoke(
        "report",
        MULTI,
        "--out",
        tmp_path / "inc",
        "--max-orphans",
        repr(k),
        "--clients",
        "400",
        "--seed",
        "5",
        "--replications",
        "4",
        "--max-replications",
        "4",
        "--workers",
        "1",
    )
    assert r.exit_code == 3, r.output
    assert r.stdout.startswith("INCONCLUSIVE: ")
    page = (tmp_path / "inc" / "report.html").read_text()
    assert "INCONCLUSIVE: the replications cannot tell whether the chance" in page


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--max-orphans", "1", "--max-orphan-rate", "0.1"], "not both"),
        (["--replications", "1"], "at least 2"),
        (["--replications", "10", "--max-replications", "5"], "at least --replications"),
        (["--max-orphan-rate", "2"], "between 0 and 1"),
    ],
)
def test_report_command_bad_input_exits_2_and_writes_nothing(tmp_path: Path, args: list[str], fragment: str) -> None:
    r = invoke("report", SINGLE, "--out", tmp_path / "o", *args)
    assert r.exit_code == 2, r.output
    assert fragment in r.stderr and r.stderr.startswith("error: ")
    assert not (tmp_path / "o").exists()


def test_report_command_missing_scenario_and_file_as_out(tmp_path: Path) -> None:
    r = invoke("report", tmp_path / "nope.yaml", "--out", tmp_path / "o")
    assert r.exit_code == 2 and "no such scenario file" in r.stderr
    (tmp_path / "f").write_text("x")
    r = invoke("report", SINGLE, "--out", tmp_path / "f")
    assert r.exit_code == 2 and "not a folder" in r.stderr


def test_parse_variant() -> None:
    assert parse_variant("a.yaml") == (Path("a.yaml"), {})
    assert parse_variant("dir/a.yml:runbook.wait_hours=168,fleet.jitter=0.2") == (
        Path("dir/a.yml"),
        {"runbook.wait_hours": 168, "fleet.jitter": 0.2},
    )
    with pytest.raises(InputError, match="field=value"):
        parse_variant("a.yaml:oops")
    with pytest.raises(InputError, match="at least two"):
        load_variants([str(SINGLE)])
    v = load_variants([str(SINGLE), str(SINGLE)])
    assert [x.label for x in v] == ["single-site-small #1", "single-site-small #2"]


def test_compare_command_overlays_and_tables_scenarios(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    r = invoke(
        "compare",
        SINGLE,
        f"{SINGLE}:runbook.wait_hours=168",
        MULTI,
        f"{MULTI}:runbook.retention_days=90",
        "--out",
        out,
        "--clients",
        "300",
        "--replications",
        "3",
        "--workers",
        "1",
        "-q",
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().endswith(f"comparison: {out / 'compare.html'}")
    names = {p.name for p in out.iterdir()}
    assert names == {
        "compare.html",
        "compare.md",
        "compare.json",
        "comparison.csv",
        "compare-orphans.png",
        "compare-by-cause-group-version.png",
        "compare-orphans-vs-setting.png",
        "compare-runbook-timelines.png",
        "compare-trust-over-time.png",
    }
    csv = pd.read_csv(out / "comparison.csv")
    assert csv["label"].tolist() == [
        "single-site-small",
        "single-site-small [runbook.wait_hours=168]",
        "three-manager-failover",
        "three-manager-failover [runbook.retention_days=90]",
    ]
    assert (csv["replications"] == 3).all()
    # a week's wait saves clients the 3-heartbeat wait orphans (common random numbers: the same fleet)
    assert csv["orphaned_mean"][1] < csv["orphaned_mean"][0]
    assert csv["orphaned_mean"][3] <= csv["orphaned_mean"][2]
    assert csv["recommended_unit"].tolist() == ["hours", "hours", "days", "days"]
    j = json.loads((out / "compare.json").read_text())
    assert j["seed"] == 11 and [s["label"] for s in j["scenarios"]] == csv["label"].tolist()
    page = (out / "compare.html").read_text()
    assert page.count('<img src="data:image/png;base64,') == 5
    assert "runbook.wait_hours" in page  # the differing parameters
    bad = invoke("compare", SINGLE, "--out", tmp_path / "x")
    assert bad.exit_code == 2 and "at least two" in bad.stderr


def test_the_report_says_which_reading_of_the_14_2_warning_it_used(
    multi: sim.Scenario, single_report: tuple[Report, Path]
) -> None:
    """KB 187099 says 14.2 clients cannot use the multi-server method; the kinder restart-timing reading is an
    option, and a report resting on it must say so."""
    from sim.presentation.report import _unsupported_reading

    assert "KB 187099's reading (the default)" in _unsupported_reading(multi)[0]
    kinder = multi.with_(**{"fleet.restart_saves_unsupported": True})
    assert (
        "restart-timing reading" in _unsupported_reading(kinder)[0] and "optimistic" in _unsupported_reading(kinder)[0]
    )
    assert _unsupported_reading(single_report[0].scenario) == []  # kb-single-server: no such question
    assert json.loads((single_report[1] / "report.json").read_text())["unsupported_reading"] == "kb"


def test_compare_gate_exits_with_the_worst_verdict(tmp_path: Path) -> None:
    """Without --gate compare exits 0 whatever it found; with it, the worst verdict's code (NO-GO: 4)."""
    common = ["--clients", "100", "--replications", "2", "--workers", "1", "-q"]
    args = [SINGLE, f"{SINGLE}:runbook.wait_hours=168"]  # threshold 0: the 3-heartbeat wait orphans clients
    plain = invoke("compare", *args, "--out", tmp_path / "a", *common)
    assert plain.exit_code == 0, plain.output
    assert "NO-GO" in plain.stdout and "gate:" not in plain.stdout
    assert plain.stdout.startswith("threshold: at most 0 orphans (--max-orphans 0); 2 replications per scenario")
    gated = invoke("compare", *args, "--out", tmp_path / "b", "--gate", *common)
    assert gated.exit_code == 4, gated.output
    assert "gate: NO-GO (the worst of 2 verdicts), exit 4" in gated.stdout
    lenient = invoke("compare", *args, "--out", tmp_path / "c", "--gate", "--max-orphans", "100000", *common)
    assert lenient.exit_code == 3, lenient.output  # 2 replications cannot show GO: INCONCLUSIVE
    assert (tmp_path / "c" / "compare.html").exists()  # the files are written before the gate decides


def test_worst_verdict_orders_no_go_over_inconclusive_over_go() -> None:
    assert worst_verdict(["GO", "INCONCLUSIVE", "GO"]) == "INCONCLUSIVE"
    assert worst_verdict(["INCONCLUSIVE", "NO-GO", "GO"]) == "NO-GO"
    assert worst_verdict(["GO"]) == "GO"
    assert EXIT_CODES == {"GO": 0, "INCONCLUSIVE": 3, "NO-GO": 4}


def test_plot_trust_titles_name_the_procedure() -> None:
    """Notebook 02 plots one scenario under three procedures: each title must say which."""
    sc = sim.load_scenario(MULTI)
    titles = set()
    for spec in ({"template": "naive", "managers": "all"}, {"template": "kb-multi-server", "retention_days": 30}):
        r = sim.simulate(sc.with_(runbook=spec), seed=1, clients=200, horizon_days=40)
        title = r.plot_trust().axes[0].get_title()
        assert spec["template"] in title and "three-manager-failover" in title
        titles.add(title)
    assert len(titles) == 2


def test_report_says_what_to_do_next_and_folds_its_parameters(single_report: tuple[Report, Path]) -> None:
    rep, out = single_report
    page = (out / "report.html").read_text()
    nxt = page.split('<section id="next">')[1].split("</section>")[0]
    assert page.index('<section id="next">') < page.index('<section id="verdict">')
    assert "Setting: " in nxt and "Rotate separately: " in nxt and "Watch: " in nxt
    assert "rotasim plan scenarios/single-site-small.yaml --max-orphans 0" in nxt  # 8 replications show nothing
    # inherited group settings read as such, never as "none"; the full table is folded away
    assert "inherited (true)" in page and "<details><summary>All " in page
    shown = page.split("<details>")[0].split('<section id="assumptions">')[1]
    assert "groups[0].name" not in shown
    # progress: the share contacted since the window opened, beside trust
    prog = page.split('<section id="trust">')[1].split("</section>")[0]
    assert "<th>contacted</th>" in prog and "<th>trusting</th>" in prog
