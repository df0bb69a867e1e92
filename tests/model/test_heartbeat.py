"""Heartbeat timing and presence queries: exact grids, the forward-recurrence approximation's error, spells."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sim.model.fleet import generate_fleet
from sim.model.heartbeat import STEP_LIMIT, first_checkin, forward_recurrence
from sim.model.presence import WEEK, Presence, WeeklyWindows, pack_absences
from sim.model.streams import ClientStreams, keys_from_index
from sim.model.topology import compile_topology
from sim.scenario.document import build_scenario


def always_on_fleet(n: int, jitter: float, seed: int = 0):  # type: ignore[no-untyped-def]
    sc = build_scenario(
        {
            "name": "hb",
            "horizon_days": 30,
            "sites": [{"name": "s", "managers": [{"name": "m"}]}],
            "msls": [{"name": "l", "tiers": [["m"]]}],
            "groups": [{"name": "root", "msl": "l", "heartbeat_minutes": 60}],
            "fleet": {"clients": n, "jitter": jitter, "presence": {"online_checkin_delay_seconds": 0}},
            "runbook": {"template": "naive"},
        }
    )
    return generate_fleet(sc, compile_topology(sc), np.random.default_rng(seed))


def test_forward_recurrence_mean_matches_renewal_theory() -> None:
    """For intervals U(h(1-j), h(1+j)) the time to the next renewal from a random moment has mean
    E[X^2] / (2 E[X]) = h (1 + j^2 / 3) / 2."""
    u = np.random.default_rng(1).random(200_000)
    for j in (0.0, 0.2, 0.5):
        x = forward_recurrence(u, np.full(len(u), 1.0), j)
        expected = (1 + j * j / 3) / 2
        assert abs(x.mean() - expected) < 4 * x.std() / math.sqrt(len(x))
        assert x.min() >= 0 and x.max() <= 1 + j + 1e-12


def test_jitter_zero_is_an_exact_grid() -> None:
    fleet = always_on_fleet(50, 0.0)
    draws = ClientStreams(keys_from_index(fleet.n), 0, 0)
    idx = np.arange(fleet.n)
    h = np.ones(fleet.n)
    first = first_checkin(fleet, idx, np.zeros(fleet.n), np.full(fleet.n, np.nan), h, draws.uniform)
    assert np.allclose(first, fleet.phase_u)  # online since before the start: phase x h
    later = first_checkin(fleet, idx, np.full(fleet.n, 100.3), first, h, draws.uniform)
    expected = first + np.ceil((100.3 - first) / 1.0)
    assert np.allclose(later, expected)


def test_far_jumps_agree_with_stepping_every_interval() -> None:
    """The approximation: beyond STEP_LIMIT intervals the next check-in is drawn from the forward-recurrence
    distribution instead of stepping. Compare the delay after t with literal stepping (KS test, and means
    within a few standard errors)."""
    n, j = 20_000, 0.3
    fleet = always_on_fleet(n, j)
    idx = np.arange(n)
    h = np.ones(n)
    last = np.zeros(n)
    t = np.full(n, STEP_LIMIT + 17.37)
    approx = first_checkin(fleet, idx, t, last, h, ClientStreams(keys_from_index(n), 1, 0).uniform) - t
    rng = np.random.default_rng(5)
    literal = np.zeros(n)
    while (literal < t).any():
        todo = literal < t
        literal[todo] += rng.uniform(1 - j, 1 + j, int(todo.sum()))
    literal -= t
    assert stats.ks_2samp(approx, literal).pvalue > 1e-3
    se = math.sqrt(approx.var() / n + literal.var() / n)
    assert abs(approx.mean() - literal.mean()) < 4 * se


def test_weekly_windows_spell_and_wrap() -> None:
    w = WeeklyWindows.from_days(["mon", "tue"], 8, 18)
    s, e = w.spell(np.array([0.0, 9.0, 20.0, 40.0, 100.0]), np.zeros(5))
    assert s.tolist() == [8.0, 8.0, 32.0, 32.0, WEEK + 8.0]
    assert e.tolist() == [18.0, 18.0, 42.0, 42.0, WEEK + 18.0]
    nights = WeeklyWindows.from_days(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], 0, 24)
    assert nights.always
    round_clock = WeeklyWindows.from_days(["sun", "mon"], 0, 24)  # Sunday into Monday is one spell
    s, e = round_clock.spell(np.array([10.0]), np.zeros(1))
    assert (s[0], e[0]) == (-24.0, 24.0)  # from Sunday 00:00 to Monday 24:00


def test_next_spell_with_absences() -> None:
    A, B = pack_absences(np.array([0, 0, 1]), np.array([10.0, 12.0, -5.0]), np.array([20.0, 30.0, 5.0]), 3)
    assert A.shape == (3, 1) and (A[0, 0], B[0, 0]) == (10.0, 30.0)  # the two overlapping absences merged
    always = WeeklyWindows(np.array([0.0]), np.array([WEEK]), False)
    p = Presence(np.zeros(3, np.int16), np.zeros(3), [always], A, B, np.array([False, False, True]), ["on"])
    s, e = p.next_spell(np.array([0, 0, 1, 2]), np.array([5.0, 15.0, 0.0, 0.0]))
    assert s[0] < 0 and e[0] == 10.0  # online since ever until the absence
    assert (s[1], e[1]) == (30.0, 1e12)  # away until 30, then online for good
    assert (s[2], e[2]) == (5.0, 1e12)  # back at 5
    assert np.isinf(s[3])  # gone
    assert p.online_between(np.array([0]), np.array([12.0]), np.array([29.0]))[0] == np.False_
    assert p.online_between(np.array([0]), np.array([12.0]), np.array([31.0]))[0] == np.True_


@pytest.mark.parametrize("t", [0.0, 33.3, 150.0])
def test_next_spell_against_a_brute_force_scan(t: float) -> None:
    """Random weekly patterns, time zones and absences: compare with a 1-minute scan of being online."""
    rng = np.random.default_rng(int(t) + 3)
    n = 40
    wins = [
        WeeklyWindows.from_days(["mon", "wed", "thu"], 7.5, 17.25),
        WeeklyWindows(np.array([0.0]), np.array([WEEK]), False),
    ]
    c = rng.integers(0, n, 60)
    a = rng.uniform(-50, 300, 60)
    A, B = pack_absences(c, a, a + rng.exponential(30, 60), n)
    p = Presence(
        rng.integers(0, 2, n).astype(np.int16), rng.uniform(0, WEEK, n), wins, A, B, np.zeros(n, bool), ["w", "on"]
    )
    grid = t + np.arange(0, 400 * 60) / 60.0

    def online(i: int, x: np.ndarray) -> np.ndarray:
        if p.pattern[i] == 1:
            on = np.ones(len(x), bool)
        else:
            w = np.mod(x + p.offset[i], WEEK)
            on = np.zeros(len(x), bool)
            for lo, hi in zip(wins[0].a, wins[0].b, strict=True):
                on |= (w >= lo) & (w < hi)
        for lo, hi in zip(A[i], B[i], strict=True):
            on &= ~((x >= lo) & (x < hi))
        return on

    s, e = p.next_spell(np.arange(n), np.full(n, t))
    for i in range(n):
        on = online(i, grid)
        if on[0]:
            assert s[i] <= t + 1e-9
        else:
            first = grid[np.argmax(on)] if on.any() else math.inf
            assert s[i] == pytest.approx(first, abs=1 / 60 + 1e-9) or (not on.any() and s[i] > grid[-1])
        if on.any() and math.isfinite(e[i]) and e[i] < grid[-1]:
            k = int(np.argmax(on))
            off_after = np.argmax(~on[k:]) + k
            assert e[i] == pytest.approx(grid[off_after], abs=1 / 60 + 1e-9)
