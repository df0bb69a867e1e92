"""The version rules (docs/model.md, "Client versions"): one table maps release names and console builds to
capabilities, for the simulator and the importer alike, and the KB's reading of the 14.2 warning is the default.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import sim
from sim.errors import InputWarning
from sim.model.versions import VersionTable
from sim.scenario.document import Scenario
from sim.scenario.fields import DEFAULT_VERSIONS, VersionSpec
from tests.tiny import tiny_world

TABLE = VersionTable(DEFAULT_VERSIONS)


@pytest.mark.parametrize(
    ("version", "release", "unsupported"),
    [
        ("14.2", "14.2", True),
        ("14.2.1", "14.2 RU1", True),
        ("14.2 ru1", "14.2 RU1", True),  # case and spacing do not matter
        ("  14.2   RU1 MP1 ", "14.2 RU1 MP1", True),
        ("14.2.758.0000", "14.2", True),
        ("14.2.1015.0100", "14.2 MP1", True),
        ("14.2.3335.1000", "14.2 RU1", True),
        ("14.2.3357.1000", "14.2 RU1 MP1", True),
        ("14.2.5323.2000", "14.2 RU2", False),  # as consoles export it: the KB names 14.2 and 14.2.1 only
        ("14.2 RU2", "14.2 RU2", False),
        ("14.3", "14.3", False),
        ("14.3.9816.7000", "14.3", False),
        ("14.3.RU8", "14.3", False),
        ("14.1", "14.1", False),
    ],
)
def test_release_names_and_builds_map_to_capabilities(version: str, release: str, unsupported: bool) -> None:
    m = TABLE.match(version)
    assert m.rule is not None and m.release == release and m.unsupported is unsupported


@pytest.mark.parametrize("version", ["14.2.9999.1000", "15.0.1", "SEP 14", ""])
def test_a_version_no_rule_matches_is_reported_not_a_silent_default(version: str) -> None:
    m = TABLE.match(version)
    assert m.rule is None and not m.unsupported  # treated as failing over, and ...
    assert TABLE.unmatched([version, "14.3"]) == [version]  # ... listed, for the warning


def test_the_most_specific_rule_wins_and_exact_rules_beat_patterns() -> None:
    table = VersionTable(
        {
            "14.2.*": VersionSpec(release="any 14.2 build", fails_over_on_cert_mismatch=True),
            "14.2.3335.*": VersionSpec(release="RU1", fails_over_on_cert_mismatch=False),
            "14.2.3335.1000": VersionSpec(release="that build", fails_over_on_cert_mismatch=True),
        }
    )
    assert table.match("14.2.3335.1000").release == "that build"
    assert table.match("14.2.3335.1001").release == "RU1"
    assert table.match("14.2.5323.2000").release == "any 14.2 build"


def scenario_with(tmp: Path, versions: dict[str, object] | None = None) -> Scenario:
    sc = tiny_world(
        tmp,
        [("a", "g", "14.2.3335.1000"), ("b", "g", "14.2.5323.2000"), ("c", "g", "14.9.1.0"), ("d", "g", "14.9.1.0")],
        managers=("sepm1", "sepm2"),
        runbook={"template": "kb-multi-server", "retention_days": 1},
    )
    return sc if versions is None else sc.with_(versions=versions)


def test_a_listed_rule_replaces_the_default_with_the_same_key_and_keeps_the_others(tmp_path: Path) -> None:
    sc = scenario_with(tmp_path, {"14.2 RU1": {"fails_over_on_cert_mismatch": True}, "14.9.*": {}})
    table = VersionTable(sc.versions)
    assert not table.match("14.2 ru1").unsupported  # replaced (keys compared without case)
    assert table.match("14.2").unsupported  # kept
    assert table.match("14.9.1.0").rule == "14.9.*"


def test_fleet_files_use_the_rules_and_warn_once_naming_unknown_versions(tmp_path: Path) -> None:
    sc = scenario_with(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = sim.simulate(sc, seed=1)
    found = [w.message for w in caught if isinstance(w.message, InputWarning)]
    assert len(found) == 1
    msg = str(found[0])
    assert "clients.csv: version" in msg and "'14.9.1.0' (2 clients)" in msg and "14.2.5323" not in msg
    # the RU1 build does not fail over: orphaned at its manager's update; the RU2 build is not
    c = r.clients.set_index("client_id")
    assert c.loc["a", "cause"] == "unsupported-version"
    assert c.loc["b", "outcome"] == "ok"


def restart_world(tmp: Path, *, restart_saves: bool) -> Scenario:
    """sepm1 and sepm2 in one tier, 60-minute heartbeat, sepm1 restarts for 2 hours after its update at 0.5 h.
    'old' (14.2) uses sepm1 and checks in at 1 h, while sepm1 is down: by the KB it is lost there; under the
    restart-timing reading it finds sepm1 silent, fails over to sepm2 and learns sepm1's new certificate (and
    would be lost later, at sepm2's update, had the runbook one)."""
    sc = tiny_world(
        tmp,
        [("old", "g", "14.2"), ("new", "g", "14.3")],
        managers=("sepm1", "sepm2"),
        tiers=[["sepm1"], ["sepm2"]],
        runbook={
            "steps": [
                {"kind": "wait", "hours": 0.5},
                {"kind": "update-certificate", "managers": ["sepm1"]},
            ]
        },
        horizon_days=1,
        extra={"seed": 1},
    )
    return sc.with_(
        **{
            "sites.0.managers.0.restart_minutes": 120,
            "fleet.restart_saves_unsupported": restart_saves,
            "fleet.presence.start_hour_utc": 9.0,
        }
    )


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_by_the_kb_a_restart_does_not_save_a_14_2_client(tmp_path: Path, engine: str) -> None:
    r = sim.simulate(restart_world(tmp_path, restart_saves=False), seed=1, engine=engine)
    c = r.clients.set_index("client_id")
    assert (c.loc["old", "outcome"], c.loc["old", "cause"]) == ("orphaned", "unsupported-version")
    # orphaned when its manager changed (it has no way back), seen at its next check-in, during the restart
    assert c.loc["old", "orphaned_at_hours"] == pytest.approx(0.5)
    assert 0.5 < c.loc["old", "detected_at_hours"] < 2.5
    assert c.loc["new", "outcome"] == "ok"


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_the_restart_timing_reading_lets_it_fail_over_while_the_manager_is_silent(tmp_path: Path, engine: str) -> None:
    r = sim.simulate(restart_world(tmp_path, restart_saves=True), seed=1, engine=engine)
    c = r.clients.set_index("client_id")
    assert c.loc["old", "outcome"] == "ok" and c.loc["old", "last_manager"] in ("sepm1", "sepm2")
    assert r.orphaned == 0
