"""Time away learnt from the rotation itself (sim.tracking.survival): returns between exports are censored,
left-truncated survival data; Kaplan-Meier and a log-normal with a never-returning share are fitted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.scenario.document import Scenario
from sim.tracking.forecast import track_inputs
from sim.tracking.survival import TimeAway, absences, away_threshold_hours, compare_fits, fit_lognormal, kaplan_meier
from tests.track_sim import Truth
from tests.tracking.test_track import GROUP_PATH, spec_at, truth  # noqa: F401  (the module fixture)


def test_kaplan_meier_by_hand() -> None:
    """Four absences entered at age 0: returns at 1 and 3 days, one censored at 2, one at 4. S(1) = 3/4,
    S(3) = 3/4 * (1 - 1/2) = 3/8 (two at risk at 3 days: the one censored at 2 left)."""
    ta = TimeAway(np.zeros(4), np.array([1.0, 2.0, 3.0, 4.0]) * 24, np.array([True, False, True, False]))
    km = kaplan_meier(ta)
    assert km["days"].tolist() == [1.0, 3.0]
    assert km["still_away"].tolist() == pytest.approx([0.75, 0.375])
    assert km["at_risk"].tolist() == [4, 2]


def test_delayed_entry_keeps_late_comers_out_of_early_risk_sets() -> None:
    """An absence first seen at age 5 days is not at risk at 1 day."""
    ta = TimeAway(np.array([0.0, 5.0, 0.0]) * 24, np.array([1.0, 6.0, 8.0]) * 24, np.array([True, True, False]))
    km = kaplan_meier(ta)
    assert km["at_risk"].tolist() == [2, 2]
    assert km["still_away"].tolist() == pytest.approx([0.5, 0.25])


def test_the_fit_recovers_a_known_log_normal() -> None:
    """Synthetic: log-normal(median 6 d, sigma 1) absences seen at random ages, 2% never back, observed over
    10 days: the truncated, censored fit recovers the median and sigma within 25%."""
    rng = np.random.default_rng(4)
    n = 4000
    d = rng.lognormal(np.log(6.0), 1.0, n)
    d[rng.random(n) < 0.02] = np.inf
    a = rng.uniform(0, 40, n)  # age when first seen
    seen = d > a
    d, a = d[seen], a[seen]
    end = np.minimum(d, a + 10.0)
    fit = fit_lognormal(TimeAway(a * 24, end * 24, d <= a + 10.0))
    assert fit is not None
    median, sigma, never = fit
    assert median == pytest.approx(6.0, rel=0.25) and sigma == pytest.approx(1.0, rel=0.25)
    assert 0.0 < never < 0.2


def test_the_rotation_learns_its_time_away(tmp_path: Path, truth: tuple[Scenario, Truth]) -> None:  # noqa: F811
    """Exports on days 3, 8 and 13 of the simulated rotation (leave: log-normal median 6 days, sigma 1): the
    fit lands near the scenario's model and the comparison names both."""
    sc, tr = truth
    log = tr.write_log(tmp_path / "log.yaml", 13 * 24.0)
    specs = [spec_at(tr.write_export(tmp_path / f"e{d}.csv", d * 24.0, GROUP_PATH), d * 24.0) for d in (3, 8, 13)]
    k = track_inputs(sc, log, specs)
    ta = absences(k.obs.exports, k.log.calendar.start.timestamp(), away_threshold_hours(sc.fleet.presence, 240))
    assert ta.returned.sum() >= 5 and (~ta.returned).sum() >= 1
    cmp = compare_fits(ta, sc.fleet.presence)
    assert cmp["lognormal"] is not None
    assert 2.0 < cmp["lognormal"]["median_days"] < 15.0
    assert cmp["tails"]["away_over_30_days"]["scenario"] == pytest.approx(0.0538, abs=1e-3)
