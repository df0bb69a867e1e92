"""Statistics across replications (``sim.analysis.stats``): a time some replications never reach.

Why: time to full trust used to be averaged over the replications that reached it (11 of 40 in the shipped
scenario) and printed as if it were the mean. These tests pin that it leads with how many reached it, that its
quantiles count the others as later than any, and that no mean is given unless all reached it.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from sim.analysis.stats import describe_time
from sim.presentation.text import format_time


def test_a_time_some_never_reach_has_no_mean_and_says_how_many_did() -> None:
    d = describe_time([100.0, None, 300.0, None, None])
    assert (d["n"], d["reached"], d["never"]) == (5, 2, 3)
    assert d["mean"] is None and d["ci95"] == [None, None]
    assert d["quantiles"]["0.5"] is None  # three of five never: the median is "never"
    assert format_time(d).startswith("reached by the horizon in 2 of 5 replications; median never")


def test_when_all_reach_it_the_mean_is_the_plain_mean() -> None:
    d = describe_time([10.0, 20.0, 30.0])
    assert (d["reached"], d["never"]) == (3, 0)
    assert d["mean"] == 20.0 and d["quantiles"]["0.5"] == 20.0
    assert "mean 20.0 h" in format_time(d)


@given(st.lists(st.one_of(st.none(), st.floats(0, 1e4)), min_size=1, max_size=40))
def test_the_median_is_never_exactly_when_the_middle_replication_never_reached_it(values: list[float | None]) -> None:
    d = describe_time(values)
    n, never = len(values), sum(v is None for v in values)
    assert d["reached"] + d["never"] == d["n"] == n and d["never"] == never
    # sorted, the never-reached replications come last; the median (the higher middle one when n is even)
    # is "never" exactly when its position ceil((n-1)/2) is among them
    middle = int(np.ceil((n - 1) / 2))
    assert (d["quantiles"]["0.5"] is None) == (middle >= n - never)
    assert (d["mean"] is None) == (never > 0)


def test_one_replication_prints_its_value_without_an_interval() -> None:
    """``rotasim run --replications 1`` crashed formatting an interval that one replication cannot have."""
    from sim.analysis.stats import describe
    from sim.presentation.text import format_stat

    assert format_stat(describe([4.0])) == "4.00 (one replication: no interval; run more for one)"
    assert format_time(describe_time([12.0])).startswith("reached by the horizon in 1 of 1 replications")
