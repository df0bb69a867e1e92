"""Calibration of the presence model from one snapshot of last check-ins (``sim.calibrate``).

The recovery tests draw a fleet from known parameters with the simulator's own generator
(``sim.model.presence.generate_presence``), take a snapshot of every client's last online moment by walking its
online spells (``Presence.next_spell``), fit, and require each parameter of the true family

- within 3 standard errors of the truth, and
- within 15% of it (rates and lengths) or 0.02 (shares),

and the true family to have the smallest AIC. Checked beforehand over seeds 0-9 at these sizes and the
Wednesday-evening snapshot: every seed passed, the worst relative error was 7% and the worst |z| 2.4. At a
snapshot in working hours the always-on share is looser (worst |z| 2.9, up to 0.033 off): tolerance 0.05
there (docs/fleet-import.md, "Accuracy").
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.calibration.ages import AgeModel, FitSettings, WorkPattern, count_ages, episode_mass
from sim.calibration.families import survival
from sim.calibration.fit import fit_presence
from sim.calibration.synthetic import last_online, synthetic_snapshot
from sim.model.presence import generate_presence
from sim.presentation.fit_figure import plot_fit
from sim.scenario.fields import PresenceSpec

WED_22 = 2 * 24 + 22.0  # Wednesday 22:00 UTC: laptops are off, always-on machines are on
TUE_13 = 1 * 24 + 13.0  # Tuesday 13:00 UTC: everybody is at work
SAT_12 = 5 * 24 + 12.0


def fleet(leave: dict[str, object], always_on: float = 0.35, gone: float = 0.0) -> PresenceSpec:
    return PresenceSpec.model_validate(
        {
            "patterns": [
                {"name": "always-on", "share": always_on, "schedule": "always"},
                {"name": "laptop", "share": 1 - always_on},
            ],
            "leave": {"max_days": 365, **leave},  # FitSettings' default: spells not cut at the purge age
            "gone_share": gone,
        }
    )


def assert_recovered(fit: object, family: str, truth: dict[str, float], share_tol: float = 0.02) -> None:
    ff = fit.families[family]  # type: ignore[attr-defined]
    for e in ff.estimates:
        want = truth[e.name]
        assert e.stderr is not None and e.stderr > 0, e.name
        assert abs(e.value - want) <= 3 * e.stderr, (e.name, e.value, e.stderr, want)
        if e.name == "always_on_share":
            assert abs(e.value - want) <= share_tol, (e.name, e.value, want)
        else:
            assert abs(e.value / want - 1) <= 0.15, (e.name, e.value, want)


# ------------------------------------------------------------------------------------------ the age law


def direct_scan(surv: np.ndarray, lam: float, dt: float) -> np.ndarray:
    """The remaining-coverage chain of ``episode_mass``'s docstring stepped one cell at a time (O(n^2))."""
    n = len(surv) - 1
    tail = np.concatenate([np.cumsum(((surv[1:] + surv[:-1]) / 2 * dt)[::-1])[::-1], [0.0]])
    m = tail[0]
    cdf = np.exp(-lam * tail) - np.exp(-lam * m)  # P(0 < R <= r), r on the grid
    cdf = np.concatenate([cdf, np.full(n + 2, cdf[-1])])
    g = np.exp(-lam * dt * np.concatenate([surv, np.zeros(n + 2)]))
    out = []
    for _ in range(n):
        cg = cdf * g  # spells starting now: R -> max(R, D)
        out.append(cg[1])  # coverage ending within this step
        cdf = np.concatenate([cg[1:], [cg[-1]]]) - cg[1]
    return np.array(out)


def test_episode_mass_solves_the_coverage_chain_exactly() -> None:
    dt = 1.0
    r = np.arange(0, 30 * 24 + dt / 2, dt)
    surv = survival("lognormal", np.array([math.log(6 * 24), math.log(0.8)]), r)
    lam = 5 / 8760
    c, p, m = episode_mass(surv, lam, dt)
    np.testing.assert_allclose(c, direct_scan(surv, lam, dt), rtol=1e-9, atol=1e-15)
    assert p == pytest.approx(1 - math.exp(-lam * m))
    # rare spells never overlap: the age of the current one has density lam * (1 - F(b))
    c_rare, p_rare, _ = episode_mass(surv, 1e-7, dt)
    np.testing.assert_allclose(c_rare, 1e-7 * dt * (surv[:-1] + surv[1:]) / 2, rtol=2e-3)
    assert c.sum() < p  # merged absences can outlast the purge age


def test_always_on_ages_match_the_simulated_fleet() -> None:
    """Merged leave spells of generate_presence: observed ages of always-on machines against the model."""
    spec = fleet(
        {"rate_per_year": 6, "duration_days": {"distribution": "lognormal", "median": 6, "sigma": 0.9}},
        always_on=1.0,
        gone=0.0,
    )
    age, online = synthetic_snapshot(spec, 80_000, np.random.default_rng(11), WED_22, heartbeat_hours=0.0)
    model = AgeModel(WED_22, FitSettings())
    p_on, classes, _ = model.probabilities(
        1.0, 6 / 8760, survival("lognormal", np.array([math.log(144), math.log(0.9)]), model.r)
    )
    data = count_ages(model, age, online)
    assert data.online == pytest.approx(80_000 * p_on, abs=4 * math.sqrt(80_000 * p_on * (1 - p_on)))
    # coarse classes: 0-3, 3-7, 7-14, 14-21, 21-30 days and older
    edges_days = [0, 3, 7, 14, 21, 30]
    k = np.searchsorted(model.edges / 24, edges_days)
    observed = [data.bins[a:b].sum() for a, b in zip(k[:-1], k[1:], strict=True)] + [data.beyond]
    expected = [80_000 * classes[a:b].sum() for a, b in zip(k[:-1], k[1:], strict=True)] + [80_000 * classes[-1]]
    for o, e in zip(observed, expected, strict=True):
        assert abs(o - e) <= 4 * math.sqrt(e) + 3, (observed, expected)


def test_laptops_are_last_seen_at_the_end_of_a_working_day() -> None:
    """At Saturday noon a laptop not on leave was last seen Friday ~18:00 (age ~18 h); one on leave since
    Wednesday night, at the end of Wednesday's window."""
    st = FitSettings(pattern=WorkPattern(spread_hours=0.0))
    model = AgeModel(SAT_12, st)
    assert model.q == 0.0
    assert np.flatnonzero(model.gap)[0] == model.bin_of(np.array([18.0]))[0]
    laptop = model.idx_laptop.reshape(1, -1)[0]
    # a leave that began 80 h before Friday 18:00 (Tuesday 10:00, inside a window): last seen then
    assert laptop[int(80 / model.dt)] == model.bin_of(np.array([18.0 + 80.5]))[0]
    # one that began 60 h before (Wednesday 06:00, before work): last seen Tuesday 18:00, 90 h before Saturday noon
    assert laptop[int(60 / model.dt)] == model.bin_of(np.array([18.0 + 72.0]))[0]


def test_probabilities_add_up() -> None:
    model = AgeModel(TUE_13, FitSettings(timezones={0.0: 0.5, 2.0: 0.5}))
    for fam, theta in (("exponential", [math.log(100)]), ("pareto", [math.log(60), math.log(1.2)])):
        p_on, classes, m = model.probabilities(0.3, 8 / 8760, survival(fam, np.array(theta), model.r))
        assert p_on + classes.sum() == pytest.approx(1.0, abs=1e-9)
        assert 0 < m < 365 * 24


def test_last_online_walks_spells() -> None:
    spec = fleet({"rate_per_year": 0.0}, always_on=0.0, gone=0.0)
    spec = spec.model_copy(update={"patterns": [spec.patterns[1].model_copy(update={"start_spread_hours": 0.0})]})
    pres = generate_presence(spec, 3, 500.0, np.random.default_rng(0))  # time 0 = Monday 09:00 UTC
    # Wednesday 22:00 is t = 61 h: last online Wednesday 18:00 = t 57
    np.testing.assert_allclose(last_online(pres, 61.0, 200.0), 57.0)
    # Monday 07:00 of the next week (t = 166): last online Friday 18:00 (t = 105)
    np.testing.assert_allclose(last_online(pres, 166.0, 200.0), 105.0)


# ------------------------------------------------------------------------------------------ recovery


def test_recovers_lognormal_fleet() -> None:
    truth = {"always_on_share": 0.35, "leave_rate_per_year": 5.0, "duration_median": 6.0, "duration_sigma": 0.8}
    spec = fleet({"rate_per_year": 5, "duration_days": {"distribution": "lognormal", "median": 6, "sigma": 0.8}})
    age, online = synthetic_snapshot(spec, 100_000, np.random.default_rng(0), WED_22)
    fit = fit_presence(age, online, WED_22)
    assert fit.best == "lognormal"
    assert_recovered(fit, "lognormal", truth)
    # the clients older than the purge age (a console would not list them): the model's invisible clients
    assert abs(fit.invisible_clients - fit.counts.beyond) <= 3 * fit.invisible_clients_se  # type: ignore[operator]
    # the written model is the simulator's: leave not cut at the purge age, exactly the fitted values
    ps = fit.presence_spec("tue", 9.0)
    assert ps.leave.max_days == 365.0 and ps.leave.duration_days.distribution == "lognormal"
    assert ps.leave.duration_days.model_dump() == {"distribution": "lognormal", **fit.chosen.shape}
    assert ps.leave.rate_per_year == fit.chosen.rate_per_year and ps.patterns[0].share == fit.chosen.always_on_share
    assert sum(p.share for p in ps.patterns) == pytest.approx(1.0)
    assert ps.start_weekday == "tue" and ps.gone_share == 0
    # prevalence of absence p = 1 - exp(-lambda m): against the share actually absent in the snapshot
    assert fit.chosen.prevalence == pytest.approx(1 - math.exp(-5 / 8760 * fit.chosen.mean_days * 24), rel=0.12)


@pytest.mark.parametrize(
    ("leave", "family", "truth"),
    [
        (
            {"rate_per_year": 4, "duration_days": {"distribution": "exponential", "mean": 7}},
            "exponential",
            {"leave_rate_per_year": 4.0, "duration_mean": 7.0},
        ),
        (
            {"rate_per_year": 3, "duration_days": {"distribution": "pareto", "minimum": 4, "alpha": 1.5}},
            "pareto",
            {"leave_rate_per_year": 3.0, "duration_minimum": 4.0, "duration_alpha": 1.5},
        ),
    ],
)
def test_recovers_other_families(leave: dict[str, object], family: str, truth: dict[str, float]) -> None:
    age, online = synthetic_snapshot(fleet(leave), 60_000, np.random.default_rng(1), WED_22)
    fit = fit_presence(age, online, WED_22)
    # the true family fits as well as the best (within 2 AIC: with spells up to a year and the export cut at
    # the purge age, a lognormal can mimic an exponential there) and recovers the truth
    assert fit.families[family].aic - fit.chosen.aic <= 2.0
    assert_recovered(fit, family, {"always_on_share": 0.35, **truth})


def test_snapshot_in_working_hours_warns_and_fixing_the_share_helps() -> None:
    spec = fleet({"rate_per_year": 5, "duration_days": {"distribution": "lognormal", "median": 6, "sigma": 0.8}})
    age, online = synthetic_snapshot(spec, 50_000, np.random.default_rng(2), TUE_13)
    lognormal_only = FitSettings(families=("lognormal",))
    fit = fit_presence(age, online, TUE_13, lognormal_only)
    assert fit.model.q > 0.99
    assert any("rests on the assumed working hours" in w for w in fit.warnings)
    truth = {"always_on_share": 0.35, "leave_rate_per_year": 5.0, "duration_median": 6.0, "duration_sigma": 0.8}
    # the share is only as good as its (larger) standard error here: over seeds 0-9 up to 0.033 off
    assert_recovered(fit, "lognormal", truth, share_tol=0.05)
    fixed = fit_presence(age, online, TUE_13, FitSettings(families=("lognormal",), always_on_share=0.35))
    assert not any("assumed working hours" in w for w in fixed.warnings)  # the share is given now
    e = fixed.chosen.estimate("always_on_share")
    assert (e.value, e.stderr, e.note) == (0.35, None, "fixed by the user")
    assert fixed.chosen.n_params == fit.chosen.n_params - 1


def test_standard_errors_match_the_spread_of_repeated_fits() -> None:
    """Observed-information standard errors against the spread of estimates over independent fleets."""
    spec = fleet({"rate_per_year": 4, "duration_days": {"distribution": "exponential", "mean": 7}})
    st = FitSettings(families=("exponential",))
    est, ses = [], []
    for seed in range(8):
        age, online = synthetic_snapshot(spec, 20_000, np.random.default_rng(100 + seed), WED_22)
        ff = fit_presence(age, online, WED_22, st).chosen
        est.append([e.value for e in ff.estimates])
        ses.append([np.nan if e.stderr is None else e.stderr for e in ff.estimates])
    ratio = np.std(est, axis=0, ddof=1) / np.mean(ses, axis=0)
    # 8 fits: the sample standard deviation is within a factor ~2 of the true one with high probability
    assert np.all((ratio > 0.35) & (ratio < 2.0)), ratio


# ------------------------------------------------------------------------------------------ edges


def test_few_absences_keep_the_default_shape() -> None:
    spec = fleet({"rate_per_year": 2, "duration_days": {"distribution": "exponential", "mean": 5}})
    age, online = synthetic_snapshot(spec, 600, np.random.default_rng(4), WED_22)
    fit = fit_presence(age, online, WED_22)
    assert list(fit.families) == ["lognormal"] and not fit.chosen.shape_fitted
    assert fit.chosen.shape == {"median": 5.0, "sigma": 1.0}
    assert any("too few to fit the absence lengths" in w for w in fit.warnings)
    assert fit.chosen.estimate("leave_rate_per_year").stderr is not None


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="longest regular off time"):
        fit_presence(np.zeros(3), np.ones(3, bool), WED_22, FitSettings(absence_days=2.0))
    with pytest.raises(ValueError, match="older than the purge age"):
        fit_presence(np.full(3, 1000.0 * 24), np.zeros(3, bool), WED_22)
    assert WorkPattern().longest_gap_hours() == 62.0


def test_plot_is_a_png() -> None:
    spec = fleet({"rate_per_year": 5, "duration_days": {"distribution": "exponential", "mean": 6}})
    age, online = synthetic_snapshot(spec, 5_000, np.random.default_rng(5), WED_22)
    fit = fit_presence(age, online, WED_22)
    png = plot_fit(fit, "test")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    table = fit.age_table()
    assert table[0]["class"] == "online" and table[0]["observed"] == int(online.sum())
    assert sum(r["observed"] for r in table[1:]) == len(age) - int(online.sum()) - fit.counts.beyond


def test_fit_holds_a_parameter_at_the_schema_limit_and_writes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Constrained, not cut: with the lognormal sigma limited below the truth (0.8; the limit lowered to 0.5
    here, the schema's is 5), the fit maximises the likelihood with sigma at the limit, reports it without a
    standard error, warns, and the written model is exactly the fitted one."""
    import sim.calibration.families as families

    monkeypatch.setattr(families, "MAX_SIGMA", 0.5)
    spec = fleet({"rate_per_year": 5, "duration_days": {"distribution": "lognormal", "median": 6, "sigma": 0.8}})
    age, online = synthetic_snapshot(spec, 20_000, np.random.default_rng(2), WED_22)
    fit = fit_presence(age, online, WED_22, FitSettings(families=("lognormal",)))
    ln = fit.families["lognormal"]
    assert ln.shape["sigma"] == 0.5 and ln.at_limit == ["duration_sigma"]
    e = ln.estimate("duration_sigma")
    assert e.stderr is None and "limit" in e.note
    assert any("at the scenario schema's limit" in w for w in fit.warnings)
    written = fit.presence_spec().leave.duration_days
    assert written.model_dump() == {"distribution": "lognormal", **ln.shape}
    # the other parameters still have standard errors (the Hessian over the free ones)
    assert all(x.stderr is not None for x in ln.estimates if x.name != "duration_sigma")
