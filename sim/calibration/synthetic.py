"""Synthetic snapshots and exports drawn from rotasim's own presence model: for the fit's tests, the benchmark
and trying the import without a real fleet.

Why here and not in the tests: ``benchmarks/bench_inventory_import.py`` and the notebooks use them too. They
only show that the fit inverts its own generator; the independent check is ``tests/validation``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.model.presence import WEEK, Presence, generate_presence
from sim.scenario.fields import WEEKDAYS, PresenceSpec


def last_online(presence: Presence, t: float, lookback_hours: float) -> np.ndarray:
    """The last moment at or before ``t`` each client was online (-inf: not within ``lookback_hours``).

    Walks forward through each client's online spells with ``Presence.next_spell``, so it agrees with what
    the simulator would have had the client do: first from a week before ``t`` (most clients were online in
    it), then, for the others only, from twice as far back, up to ``lookback_hours``.
    """
    n = presence.n
    last = np.full(n, -np.inf)
    todo = np.arange(n)
    span = min(8 * 24.0, lookback_hours)
    while len(todo):
        last[todo] = _walk(presence, todo, t, span)
        todo = todo[~np.isfinite(last[todo])]
        if span >= lookback_hours:
            break
        span = min(2 * span, lookback_hours)
    return last


def _walk(presence: Presence, idx: np.ndarray, t: float, span: float) -> np.ndarray:
    cur = np.full(len(idx), t - span)
    last = np.full(len(idx), -np.inf)
    active = np.arange(len(idx))
    for _ in range(100_000):  # each pass moves every active client to its next spell; bounded by their count
        if not len(active):
            break
        s, e = presence.next_spell(idx[active], cur[active])
        ok = s <= t
        last[active[ok]] = np.minimum(e[ok], t)
        cur[active[ok]] = e[ok]
        active = active[ok & (e < t)]
    return last


def synthetic_snapshot(
    spec: PresenceSpec,
    n: int,
    rng: np.random.Generator,
    snapshot_weekhour_utc: float,
    heartbeat_hours: float = 5 / 60,
) -> tuple[np.ndarray, np.ndarray]:
    """(age in hours of the last check-in, online) of ``n`` clients drawn from ``spec`` at a snapshot taken
    at ``snapshot_weekhour_utc``; gone clients and those unseen for the whole look-back get ``inf``.

    The fleet is ``generate_presence``'s (stationary: leave spells start from ``max_days`` before time 0);
    the snapshot is taken late enough that every spell that could still be running started after time 0.
    A check-in happens within a heartbeat of going offline, so offline ages grow by U(0, heartbeat).
    """
    lookback = spec.leave.max_days * 24.0 + 4 * 24.0
    start_wh = WEEKDAYS.index(spec.start_weekday) * 24.0 + spec.start_hour_utc
    t = lookback + np.mod(snapshot_weekhour_utc - start_wh - lookback, WEEK)
    pres = generate_presence(spec, n, t + 1.0, rng)
    last = last_online(pres, t, lookback)
    online = last >= t
    age = t - last + np.where(online, 0.0, rng.uniform(0.0, heartbeat_hours, n))
    age[online] = rng.uniform(0.0, heartbeat_hours, int(online.sum()))
    return age, online


def synthetic_export(
    spec: PresenceSpec,
    n: int,
    rng: np.random.Generator,
    snapshot: str = "2025-03-05T21:30:00+00:00",
    groups: tuple[str, ...] = ("My Company\\Laptops", "My Company\\Desktops", "My Company\\Servers"),
    versions: tuple[str, ...] = ("14.3.8289.5000", "14.3.9210.6000"),
    purge_days: float | None = None,
) -> pd.DataFrame:
    """A computer-status export (SEPM column names) of ``n`` clients drawn from ``spec`` at ``snapshot``:
    for tests, the benchmark and trying the import. Gone clients were last seen 31 to 400 days before (from
    ``max_days`` + 1 when that is longer). ``purge_days``: the console deleted the offline clients last seen
    longer ago than that, so they are not in the export (fewer than ``n`` rows)."""
    snap = pd.Timestamp(snapshot).tz_convert("UTC")
    weekhour = snap.day_of_week * 24.0 + snap.hour + snap.minute / 60.0
    age, online = synthetic_snapshot(spec, n, rng, weekhour)
    unseen = ~np.isfinite(age)
    low = max(spec.leave.max_days, 30.0) + 1.0
    age[unseen] = 24.0 * rng.uniform(low, max(400.0, low + 35.0), int(unseen.sum()))
    secs = snap.timestamp() - age * 3600.0
    stamps = np.datetime_as_string(np.round(secs).astype("int64").astype("datetime64[s]"), unit="s")
    df = pd.DataFrame(
        {
            "Computer Name": [f"PC-{i:07d}" for i in range(n)],
            "Group Name": np.array(groups, dtype=object)[rng.integers(0, len(groups), n)],
            "Client Version": np.array(versions, dtype=object)[rng.integers(0, len(versions), n)],
            "Operating System": "Windows 11 Enterprise",
            "Last Check-in": np.char.replace(stamps.astype(str), "T", " "),
            "Online Status": np.where(online, "Online", "Offline"),
        }
    )
    if purge_days is not None:
        df = df[online | (age <= purge_days * 24.0)].reset_index(drop=True)
    return df
