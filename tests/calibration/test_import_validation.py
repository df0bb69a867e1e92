"""End-to-end validation of ``rotasim fleet import`` against a fleet rotasim did not write.

``tests/validation/fleet_truth.py`` draws a fleet from its own model (alternating renewal, a trip / vacation /
long-leave mixture, decommissioned machines; no code from ``sim``), writes the console export at a snapshot
after the console's purge, and counts the true orphans of a kb-multi-server rotation whose first update is at
the snapshot. Here the export is imported with ``sim.import_inventory``, the written scenario is run, and its
predicted orphans at retentions of 7, 30 and 90 days are compared with the truth.

The first test checks the generator itself against closed forms, so that a failure of the comparison is a
finding about the import, not about the generator.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from tests.validation.fleet_truth import (
    KIND_NAMES,
    FleetParams,
    export_console,
    first_checkin_after_t0,
    generate_fleet,
    listed,
    snapshot_text,
    truth,
)

SEED = 20250305
N_CLIENTS = 20_000
RETENTIONS = (7.0, 30.0, 90.0)
REPLICATIONS = 12
HORIZON_DAYS = 400.0  # the simulation: longer than the longest retention plus the longest leave (270 days)
TRUTH_HORIZON_DAYS = 365.0  # the truth: alive = back within a year (the longest leave is 270 days)
LONG_PURGE = 365.0  # long leave (at most 270 days) stays visible
DEFAULT_PURGE = 30.0  # the import's default, also a common console setting


@pytest.fixture(scope="module")
def fleet():
    return generate_fleet(FleetParams(n_clients=N_CLIENTS), seed=SEED)


# ------------------------------------------------------------------------------------------ the generator


def _within(observed: float, expected: float, sd: float, k: float = 4.0) -> bool:
    return abs(observed - expected) <= k * sd


def _binomial_sd(p: float, n: int) -> float:
    return math.sqrt(p * (1.0 - p) / n)


def _forward_survival_uniform(r: float, a: float, b: float) -> float:
    """P(remaining length > r) for a spell running at a random moment, length uniform on [a, b]:
    the forward recurrence time has density (1 - F(x)) / E[D]."""
    m = (a + b) / 2.0
    if r <= a:
        tail = (a - r) + (b - a) / 2.0
    elif r < b:
        tail = (b - r) ** 2 / (2.0 * (b - a))
    else:
        tail = 0.0
    return tail / m


def test_generator_matches_closed_forms(fleet, tmp_path):
    p = fleet.params
    shares = p.stationary_shares()
    dec = fleet.decommissioned
    lap = ~fleet.always_on & ~dec
    n_lap = int(lap.sum())

    # kinds and decommissioning as drawn
    assert _within(fleet.always_on.mean(), p.always_on_share, _binomial_sd(p.always_on_share, fleet.n))
    assert _within(dec.mean(), p.decommissioned_share, _binomial_sd(p.decommissioned_share, fleet.n))

    # share of laptops online at a weekday noon (Wednesday 12:00, 9.5 h before the 21:30 snapshot):
    # the stationary share present, 1 / (1 + sum r_k m_k)
    noon = -9.5 / 24.0
    on_noon = fleet.online_at(noon)[lap].mean()
    assert _within(on_noon, shares["present"], _binomial_sd(shares["present"], n_lap)), (on_noon, shares)
    # ... and none online outside the working window (the snapshot is a Wednesday 21:30, a Sunday noon)
    assert not fleet.online_at(0.0)[~fleet.always_on].any()
    assert not fleet.online_at(-2.0 - 9.5 / 24.0 - 1.0)[~fleet.always_on].any()

    # share on each absence kind at the snapshot: r_k m_k / (1 + sum_j r_j m_j) (alternating renewal)
    kind = fleet.absence_kind_at(0.0)[lap]
    for k, name in enumerate(KIND_NAMES[:3]):
        got = float((kind == k).mean())
        assert _within(got, shares[name], _binomial_sd(shares[name], n_lap)), (name, got, shares[name])

    # long leave running at t0 with more than R days to go: share_long * forward survival(R), the closed form
    # of the truth at R = 30 and 90 (vacations are at most 21 days; chains of absences are rare)
    tr = truth(fleet, RETENTIONS, purge_days=DEFAULT_PURGE, horizon_days=TRUTH_HORIZON_DAYS)
    for r in (30.0, 90.0):
        expected = n_lap * shares["long-leave"] * _forward_survival_uniform(r, *p.long_leave_days)
        assert _within(tr.orphaned[r], expected, math.sqrt(expected)), (r, tr.orphaned[r], expected)

    # the truth: monotone in R, invisible within orphaned, decommissioned never orphans, everyone alive is back
    for a, b in zip(RETENTIONS, RETENTIONS[1:], strict=False):
        assert tr.orphaned[a] >= tr.orphaned[b] and tr.invisible[a] >= tr.invisible[b]
    assert all(0 <= tr.invisible[r] <= tr.orphaned[r] for r in RETENTIONS)
    assert tr.orphaned[90.0] > 0 and tr.invisible[90.0] > 0
    assert tr.gone == int(dec.sum()) and tr.alive + tr.gone + tr.not_back == fleet.n and tr.not_back == 0
    first = first_checkin_after_t0(fleet)
    assert np.all(np.isinf(first[dec])) and np.all(np.isfinite(first[~dec]))
    # an online client checks in within a heartbeat of t0: never an orphan
    on0 = fleet.online_at(0.0)
    assert np.all(first[on0] <= 5.0 / 1440.0)

    # the last check-in lies within a heartbeat before the end of the last online period
    age = fleet.age_days()
    end = -fleet.last_online_before(0.0)
    assert np.all((age >= end) & (age <= end + 5.0 / 1440.0 + 1e-9))
    assert np.all(age[on0] <= 5.0 / 1440.0 + 1e-9)

    # the purge: exactly the clients last seen more than purge_days ago are left out, alive or not
    for purge in (DEFAULT_PURGE, LONG_PURGE):
        path = tmp_path / f"export-{purge:g}.csv"
        counts = export_console(fleet, path, purge_days=purge)
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        names = {r["Computer Name"] for r in rows}
        expected_names = set(fleet.names[(age <= purge) | on0])
        assert names == expected_names and len(rows) == counts["listed"]
        assert counts["listed"] + counts["purged"] == fleet.n
        assert np.all(age[~listed(fleet, purge)] > purge)
        assert {r["Online Status"] for r in rows} == {"Online", "Offline"}
        assert all(r["Group"].startswith("My Company\\") and r["Version"].count(".") == 3 for r in rows)
        assert sum(r["Online Status"] == "Online" for r in rows) == int(on0.sum())
        t = truth(fleet, RETENTIONS, purge_days=purge, horizon_days=TRUTH_HORIZON_DAYS)
        assert t.orphaned == tr.orphaned  # what the console lists does not change who is orphaned
        assert t.listed == counts["listed"] and t.purged == counts["purged"]
    # with a 30-day purge the alive clients left out are exactly long-leave ones; with 365 days, none is left out
    purged_alive = ~listed(fleet, DEFAULT_PURGE) & ~dec
    assert purged_alive.sum() > 0
    assert np.all(fleet.absence_kind_at(0.0)[purged_alive] == KIND_NAMES.index("long-leave"))
    assert not (~listed(fleet, LONG_PURGE) & ~dec).any()
    assert truth(fleet, RETENTIONS, purge_days=LONG_PURGE).invisible == dict.fromkeys(RETENTIONS, 0)


def test_first_and_last_online_match_a_brute_force_scan(fleet):
    """first_online_after / last_online_before (what the truth and the export rest on) against a 1-minute
    scan of the presence rule itself, for random clients and the longest-absent ones."""
    rng = np.random.default_rng(1)
    far = np.argsort(-np.where(fleet.decommissioned, -1.0, fleet.age_days()))[:8]
    idx = np.concatenate([rng.choice(fleet.n, 24, replace=False), far, np.flatnonzero(fleet.decommissioned)[:4]])
    first = fleet.first_online_after(0.0)
    last = fleet.last_online_before(0.0)
    step = 1.0 / 1440.0

    def online(i: int, ts: np.ndarray) -> np.ndarray:
        s, e = fleet.abs_start[:, i], fleet.abs_end[:, i]
        absent = ((s[None, :] <= ts[:, None]) & (ts[:, None] < e[None, :])).any(axis=1)
        w = ts + fleet.week_offset_days
        d = np.floor(w)
        h = (w - d) * 24.0
        window = fleet.always_on[i] | ((np.mod(d, 7.0) < 5) & (h >= 8.0) & (h < 18.0))
        return ~absent & window & (ts < fleet.decommissioned_at[i])

    def scan(i: int, sign: float) -> float:
        for a in range(0, 1100, 20):  # 20-day chunks, back to the oldest decommissioning (3 years)
            ts = sign * (a + np.arange(0.0, 20.0, step))
            o = online(i, ts)
            if o.any():
                return float(ts[np.argmax(o)])
        return sign * np.inf

    for i in idx:
        f, b = scan(int(i), 1.0), scan(int(i), -1.0)
        assert (np.isinf(f) and np.isinf(first[i])) or 0.0 <= f - first[i] < step + 1e-9, (i, f, first[i])
        assert (np.isinf(b) and np.isinf(last[i])) or 0.0 <= last[i] - b < step + 1e-9, (i, b, last[i])


# ------------------------------------------------------------------------------------------ the comparison


@pytest.fixture(scope="module")
def imported(fleet, tmp_path_factory):
    """purge_days -> (truth, prediction curve, fit.json, import result), each import run once."""
    cache: dict[float, tuple] = {}

    def get(purge: float):
        if purge not in cache:
            d = tmp_path_factory.mktemp(f"import-{purge:g}")
            export_console(fleet, d / "export.csv", purge_days=purge)
            res = sim.import_inventory(
                d / "export.csv", d / "out", snapshot=snapshot_text(fleet), managers="sepm1,sepm2,sepm3"
            )  # the purge age is the export's own bound (sim.calibration.purge)
            sc = sim.load_scenario(res.out / "scenario.yaml")
            # the written scenario: kb-multi-server, the three managers in one tier; run it long enough, at the
            # longest retention asked (the curve gives any shorter one from the same runs: sim.planning)
            assert type(sc.runbook).__name__ == "KbMultiServer" and len(sc.managers) == 3
            sc = sc.with_(**{"horizon_days": HORIZON_DAYS, "runbook.retention_days": max(RETENTIONS)})
            reps = sim.replicate(sc, n=REPLICATIONS, workers=1, progress=False)
            curve = reps.curve(list(RETENTIONS)).set_index("retention_days")
            fit = json.loads(Path(res.out / "fit.json").read_text())
            tr = truth(fleet, RETENTIONS, purge_days=purge, horizon_days=TRUTH_HORIZON_DAYS)
            cache[purge] = (tr, curve, fit, res)
        return cache[purge]

    return get


def _accepted(tr, curve, r: float) -> tuple[float, float, float, float]:
    """(predicted mean, lowest and highest accepted, tolerance) for retention r.

    What the import can be held to is ``c = truth + lookalike``: the ``lookalike`` rows are decommissioned
    machines still listed and not seen for more than R days; one snapshot cannot tell them from long leave
    (fact 25 bounds the ages only from below), so the import counts them as possibly orphaned (not an orphan,
    but a row a planner has to chase anyway). Accepted: ``truth - tol <= predicted <= c + tol`` with
    tol = max(3 sigma, 25% of c), sigma^2 = se^2 + 2 c, where
    - se is the standard error of the predicted mean over the replications (the simulator's Monte Carlo);
    - one ``c`` is the Poisson noise of the true count: whether a given fleet has 70 or 90 laptops more
      than 90 days from returning is itself a draw (seeds 0-4 at 20,000 clients gave 70-102 at R = 90);
    - the other ``c`` is the Poisson noise of the snapshot the fit sees: the ages that carry the return
      times are a draw of the same size (backward and forward recurrence times have one distribution);
    - 25%: the import fits rotasim's model family (Poisson leave starts, one length family), not the
      generator's mixture of trips, vacations and long leave, so some bias is expected; within a quarter the
      answer still sets a retention.
    The fit's parameter uncertainty beyond that noise is not included. 20,000 clients: at 10,000 the noise
    alone is 60% of the count at R = 90, and the comparison would accept nearly anything.
    """
    mean = float(curve.loc[r, "orphaned_mean"])
    se = float(curve.loc[r, "stderr"])
    t = tr.orphaned[r]
    c = t + tr.lookalike[r]
    tol = max(3.0 * math.sqrt(se**2 + 2.0 * c), 0.25 * c)
    return mean, t - tol, c + tol, tol


def _compare(imported, purge: float, r: float) -> None:
    tr, curve, fit, _ = imported(purge)
    mean, lo, hi, tol = _accepted(tr, curve, r)
    assert lo <= mean <= hi, (
        f"purge {purge:g} d, retention {r:g} d: rotasim predicts {mean:.1f} orphans, truth {tr.orphaned[r]} "
        f"({tr.invisible[r]} of them purged from the export, {tr.lookalike[r]} decommissioned look-alikes "
        f"listed); accepted {lo:.1f} to {hi:.1f} (tolerance {tol:.1f}); fitted {fit['chosen_family']}, "
        f"invisible {fit['invisible']['expected']:.1f}, rows {fit['rows']}"
    )


NOT_IN_THE_EXPORT = pytest.mark.xfail(
    strict=True,
    reason="not identifiable from this export: a console purging at 30 days lists no absence older than 30 days, "
    "and the generator's long leave (60-270 days, 0.03 a year) leaves about 8 rows in the window's last quarter "
    "among thousands of trips and vacations; every single-family fit extrapolates that tail to a few invisible "
    "clients (truth: about 160). The import says so (test_import_warns_when_the_purge_cut_a_tail)",
)


@pytest.mark.parametrize(
    "r",
    [
        7.0,  # the orphans at 7 days are mostly vacations, visible in a 30-day export
        pytest.param(30.0, marks=NOT_IN_THE_EXPORT),
        pytest.param(90.0, marks=NOT_IN_THE_EXPORT),
    ],
)
def test_import_predicts_orphans_default_purge(imported, r):
    """A console purging at 30 days: long leave is not in the export at all (purged), yet its clients come back."""
    _compare(imported, DEFAULT_PURGE, r)


def test_import_warns_when_the_purge_cut_a_tail(imported):
    """Where the export cannot show the tail, the import says its invisible clients are an extrapolation."""
    _, _, fit, res = imported(DEFAULT_PURGE)
    assert fit["purge"]["purge_days"] == DEFAULT_PURGE
    assert any("last quarter of the export's window" in w for w in fit["warnings"]), fit["warnings"]
    # servers and desktops (always on in the generator) show no absence: always-on groups, not fitted
    assert fit["always_on_groups"] == ["My Company/Desktops", "My Company/Servers"]


@pytest.mark.parametrize("r", RETENTIONS)
def test_import_predicts_orphans_long_purge(imported, r):
    """A console keeping clients for a year, imported with the defaults (the issue's case): the purge age comes
    from the export (its oldest row), long leave is visible in it, as are decommissioned machines of the last
    year, and leave spells are not cut at the purge age."""
    _compare(imported, LONG_PURGE, r)


def test_import_sees_what_the_console_listed(fleet, imported):
    """The import reads every listed row and no more; what it calls gone and online is what the export holds."""
    for purge in (DEFAULT_PURGE, LONG_PURGE):
        tr, _, fit, res = imported(purge)
        assert fit["rows"]["read"] == fit["rows"]["clients"] == tr.listed and fit["rows"]["skipped"] == 0
        assert fit["rows"]["online"] == int(fleet.online_at(0.0).sum())
        # a console purge leaves nothing beyond the purge age; the import infers it from the oldest row
        assert fit["purge"]["from"] == "the export" and fit["purge"]["purge_days"] <= purge
        assert fit["rows"]["fitted"] + fit["rows"]["always_on_groups"] == tr.listed
        assert res.snapshot_given
        # the console's times (M/D/YYYY hh:mm:ss AM, UTC) read back as the generator's ages, to the second
        ages = pd.read_csv(res.out / "ages.csv").set_index("client_id")["age_days"]
        keep = listed(fleet, purge)
        truth_age = pd.Series(fleet.age_days()[keep], index=fleet.names[keep])
        assert ages.index.sort_values().equals(truth_age.index.sort_values())
        assert np.allclose(ages.loc[truth_age.index].to_numpy(), truth_age.to_numpy(), rtol=0, atol=1.0 / 86400)
