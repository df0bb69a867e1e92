"""Presence draws (sim/model/presence.py): the share away at the start given as a range."""

from __future__ import annotations

import numpy as np
import pytest

from sim.errors import InputError
from sim.model.presence import generate_presence
from sim.scenario.document import build_scenario
from sim.scenario.fields import PresenceSpec

N = 400


def away_counts(share: object, draws: int = 300) -> np.ndarray:
    spec = PresenceSpec.model_validate({"away_at_start": {"share": share}})
    counts = []
    for k in range(draws):
        p = generate_presence(spec, N, 24.0, np.random.default_rng(k))
        counts.append(int((p.abs_start < 0).any(axis=1).sum()))  # away from before t = 0
    return np.array(counts, float)


def test_a_share_range_is_drawn_once_per_replication() -> None:
    """Share s ~ U(0, 0.3), then each client away with chance s: mean N E[s] = 60 and variance
    E[N s (1 - s)] + N^2 Var(s) = 400 (0.15 - 0.03) + 160000 x 0.0075 = 1248 (sd 35.3), against the binomial
    51 (sd 7.1) of a fixed share of 0.15: how many are away varies between rotations far more."""
    ranged, fixed = away_counts({"distribution": "uniform", "low": 0.0, "high": 0.3}), away_counts(0.15)
    assert ranged.mean() == pytest.approx(60, abs=3 * 35.3 / np.sqrt(len(ranged)))
    assert 30 < ranged.std(ddof=1) < 41
    assert fixed.mean() == pytest.approx(60, abs=3 * 7.1 / np.sqrt(len(fixed)))
    assert 5.5 < fixed.std(ddof=1) < 8.5


def test_a_fixed_share_draws_as_before() -> None:
    """A number draws no share (scenarios with one keep their numbers); a range low = high = 0 away nobody."""
    assert away_counts({"distribution": "uniform", "low": 0.0, "high": 0.0}, draws=5).sum() == 0
    spec = PresenceSpec.model_validate({"away_at_start": {"share": 0.1}})
    a = generate_presence(spec, N, 24.0, np.random.default_rng(3))
    b = generate_presence(spec.model_copy(), N, 24.0, np.random.default_rng(3))
    np.testing.assert_array_equal(a.abs_start, b.abs_start)


@pytest.mark.parametrize(
    "share",
    [
        1.5,
        -0.1,
        "most",
        True,
        {"distribution": "uniform", "low": 0.3, "high": 0.1},
        {"distribution": "uniform", "low": 0},
    ],
)
def test_a_bad_share_names_the_field(share: object) -> None:
    data = {
        "name": "x",
        "sites": [{"name": "s", "managers": [{"name": "m1"}, {"name": "m2"}]}],
        "msls": [{"name": "l", "tiers": [["m1", "m2"]]}],
        "groups": [{"name": "root", "msl": "l"}],
        "fleet": {"clients": 10, "presence": {"away_at_start": {"share": share}}},
        "runbook": {"template": "kb-multi-server"},
    }
    with pytest.raises(InputError, match=r"fleet\.presence\.away_at_start(\.|: )share: expected a"):
        build_scenario(data)
