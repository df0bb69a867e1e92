"""Paired differences in ``rotasim compare``: replication k of every scenario draws from the same streams, so
the difference of replication k is the runbooks' doing; its mean and Student-t interval are computed from the
replications' own numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sim.analysis.comparison import paired_differences, run_compare
from sim.analysis.verdict import Threshold
from sim.experiments.options import RunOptions
from sim.presentation.compare import write_comparison
from sim.presentation.text import comparison_lines

ROOT = Path(__file__).resolve().parents[2]
GATED = str(ROOT / "scenarios" / "gated-retention.yaml")
FIXED = GATED + ":runbook.retention_until_share=null,runbook.retention_days=30"


@pytest.fixture(scope="module")
def comp():  # type: ignore[no-untyped-def]
    return run_compare([GATED, FIXED, GATED], threshold=Threshold.given(15, None), replications=8,
                       options=RunOptions(workers=1))  # fmt: skip


def test_the_paired_difference_is_the_mean_of_the_replications_differences(comp) -> None:  # type: ignore[no-untyped-def]
    p = paired_differences(comp)
    row = p[(p["scenario"] == comp.variants[1].label) & (p["measure"] == "orphans")].iloc[0]
    a = comp.reports[0].runs.set_index("replication")["orphaned"].astype(float)
    b = comp.reports[1].runs.set_index("replication")["orphaned"].astype(float)
    d = (b - a).to_numpy()
    assert row["replications"] == 8 and row["against"] == comp.variants[0].label
    assert row["mean_difference"] == pytest.approx(d.mean())
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    days = p[(p["scenario"] == comp.variants[1].label) & (p["measure"].str.startswith("days"))].iloc[0]
    ha = comp.reports[0].runs.set_index("replication")["exposure:old_certificate_hours"]
    hb = comp.reports[1].runs.set_index("replication")["exposure:old_certificate_hours"]
    assert days["mean_difference"] == pytest.approx(((hb - ha) / 24).mean())
    # kb-multi-server keeps secure communications on: that exposure is absent, not a row of zeros
    assert not p["measure"].str.startswith("hours with secure").any()


def test_a_scenario_against_itself_differs_by_exactly_nothing(comp) -> None:  # type: ignore[no-untyped-def]
    p = paired_differences(comp)
    same = p[p["scenario"] == comp.variants[2].label]
    assert len(same) and (same[["mean_difference", "ci95_low", "ci95_high"]].to_numpy() == 0).all()


def test_the_cli_lines_and_the_json_carry_them(comp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = comparison_lines(comp).splitlines()
    paired = [ln for ln in lines if ln.startswith("paired, ")]
    assert len(paired) == 2 and "orphans " in paired[0] and "95% interval" in paired[0]
    write_comparison(comp, tmp_path / "out")
    js = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert {r["measure"] for r in js["paired_differences"]} >= {"orphans", "repair hours"}
    assert "Paired differences" in (tmp_path / "out" / "compare.html").read_text()
