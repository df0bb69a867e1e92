"""The compiled kernels (sim.model.kernels) against the numpy forms they replace at scale: the same bits.

Why exact: a replication must give the same bytes whichever form ran it (the numpy form below
``KERNEL_MIN`` clients, or where numba is missing or ``ROTASIM_JIT=0``), so "close" is not enough.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.experiments.simulate import simulate
from sim.model import heartbeat, kernels
from sim.model.fleet import generate_fleet
from sim.model.presence import WeeklyWindows, pack_absences
from sim.model.streams import ClientStreams, keys_from_index
from sim.model.topology import compile_topology
from sim.scenario.document import load_scenario

pytest.importorskip("numba")

SHIPPED = "scenarios/three-manager-failover.yaml"


@pytest.fixture
def always_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every call of any size takes the compiled form."""
    monkeypatch.setattr(kernels, "KERNEL_MIN", 0)
    assert kernels.jit_enabled()


@pytest.fixture
def never_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "use_kernel", lambda n: None)


def _fleet(n: int, seed: int):  # type: ignore[no-untyped-def]
    sc = load_scenario(SHIPPED).with_(**{"fleet.presence.away_at_start.share": 0.1})
    topo = compile_topology(sc)
    fleet = generate_fleet(sc, topo, np.random.default_rng(seed), n=n)
    pres = fleet.presence
    # two more patterns: weekend days that wrap round the week's end, and night shifts past midnight
    pres.windows.append(WeeklyWindows.from_days(["sat", "sun", "mon"], 0.0, 24.0))
    pres.windows.append(WeeklyWindows.from_days(["mon", "tue", "wed", "thu", "fri"], 20.0, 30.0))
    assert pres.windows[-2].wraps
    rng = np.random.default_rng(seed + 1)
    pres.pattern = rng.integers(-1, len(pres.windows), n).astype(np.int16)
    return fleet


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_next_spell_kernel_gives_the_numpy_walks_bits(seed: int) -> None:
    fleet = _fleet(3000, seed)
    pres = fleet.presence
    rng = np.random.default_rng(seed)
    idx = rng.permutation(fleet.n)[:2500]
    for t in (rng.uniform(-400.0, 5000.0, len(idx)), np.full(len(idx), 0.0), pres.abs_end[idx, 0]):
        t = np.where(np.isfinite(t), t, 17.25)
        want_s, want_e = pres._next_spell_numpy(idx, t)
        got_s, got_e = np.empty(len(idx)), np.empty(len(idx))
        a, b, n, wraps, always = pres._packed_windows
        kern = kernels._load()
        assert kern is not None
        kern["next_spell"](
            idx, t, pres.pattern, pres.offset, a, b, n, wraps, always, pres.abs_start, pres.abs_end,
            pres.last_absence_end, pres.gone, got_s, got_e,
        )  # fmt: skip
        assert _equal(got_s, want_s) and _equal(got_e, want_e)


def test_jittered_steps_draw_the_same_streams(always_kernel: None, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 4000
    keys = keys_from_index(n)
    rng = np.random.default_rng(5)
    clients = rng.permutation(n)
    anchor = rng.uniform(0.0, 10.0, n)
    t = anchor + rng.uniform(0.0, 3.0, n)  # within STEP_LIMIT intervals: the stepping loop
    h = np.where(rng.random(n) < 0.5, 0.5, 1.0 / 12.0)
    out = {}
    for name in ("kernel", "numpy"):
        if name == "numpy":
            monkeypatch.setattr(kernels, "use_kernel", lambda n: None)
        streams = ClientStreams(keys, np.random.SeedSequence(11), 0)
        out[name] = heartbeat._step(clients, anchor, t, h, 0.1, streams.uniform), streams.counter.copy()
    assert _equal(out["kernel"][0], out["numpy"][0]) and _equal(out["kernel"][1], out["numpy"][1])
    assert (out["kernel"][0] >= t).all()


def test_merged_absences_match_the_numpy_merge(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    n, m = 500, 4000
    client = rng.integers(0, n, m)
    start = np.round(rng.uniform(-50.0, 500.0, m))  # rounded: ties and touching spells
    end = start + np.round(rng.exponential(30.0, m)) - 2.0  # some empty or reversed, dropped
    monkeypatch.setattr(kernels, "KERNEL_MIN", 0)
    got = pack_absences(client, start, end, n)
    monkeypatch.setattr(kernels, "use_kernel", lambda n: None)
    want = pack_absences(client, start, end, n)
    assert all(_equal(g, w) for g, w in zip(got, want, strict=True))


def test_a_replication_is_the_same_with_and_without_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario(SHIPPED)
    monkeypatch.setattr(kernels, "KERNEL_MIN", 0)
    a = simulate(sc, seed=4, clients=1500, horizon_days=60)
    monkeypatch.setattr(kernels, "use_kernel", lambda n: None)
    b = simulate(sc, seed=4, clients=1500, horizon_days=60)
    assert a.clients.to_csv() == b.clients.to_csv()
    assert a.summary() == b.summary() and a.checkins == b.checkins


def test_single_server_runbook_too(monkeypatch: pytest.MonkeyPatch) -> None:
    sc = load_scenario("scenarios/single-site-small.yaml")
    monkeypatch.setattr(kernels, "KERNEL_MIN", 0)
    a = simulate(sc, seed=2, clients=800)
    monkeypatch.setattr(kernels, "use_kernel", lambda n: None)
    b = simulate(sc, seed=2, clients=800)
    assert a.clients.to_csv() == b.clients.to_csv()
