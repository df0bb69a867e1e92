"""When each client is online: a weekly pattern in its local time, minus absences (leave spells, known
absences), minus decommissioning. Stored per client in a few numbers, never as a list of every day, and
queried for all clients at once.

The one query both engines need is ``next_spell(idx, t)``: the first online spell whose end is after ``t``
(its start may be before ``t``: the client is online at ``t``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from sim.model import kernels
from sim.scenario.fields import (
    WEEKDAYS,
    Distribution,
    Exponential,
    Fixed,
    LogNormal,
    Pareto,
    PresenceSpec,
    ShareRange,
    Uniform,
)

WEEK = 168.0


FAR = 1e12  # "since ever" / "for ever", in hours


@dataclass
class WeeklyWindows:
    """Online windows of one pattern within a local week, [a, b) in hours from Monday 00:00."""

    a: np.ndarray
    b: np.ndarray
    wraps: bool  # the last window runs into next week's first

    @classmethod
    def from_days(cls, days: list[str], start: float, end: float) -> WeeklyWindows:
        day_idx = sorted(WEEKDAYS.index(d) for d in days)
        wins: list[list[float]] = []
        for d in day_idx:
            a, b = d * 24.0 + start, d * 24.0 + end
            if wins and abs(wins[-1][1] - a) < 1e-9:
                wins[-1][1] = b
            else:
                wins.append([a, b])
        arr = np.array(wins)
        wraps = len(wins) > 1 and arr[0, 0] == 0.0 and arr[-1, 1] == WEEK
        return cls(arr[:, 0].copy(), arr[:, 1].copy(), bool(wraps))

    @property
    def always(self) -> bool:
        return len(self.a) == 1 and self.a[0] == 0.0 and self.b[0] == WEEK

    def spell(self, w: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First window ending after local week-hour ``w`` (week starting at sim time ``base``)."""
        n = len(self.a)
        j = np.searchsorted(self.b, w, side="right")
        nxt = j >= n
        jj = np.where(nxt, 0, j)
        wk = base + np.where(nxt, WEEK, 0.0)
        s = wk + self.a[jj]
        e = wk + self.b[jj]
        if self.wraps:
            first, last = jj == 0, jj == n - 1
            s = np.where(first, wk - WEEK + self.a[-1], s)
            e = np.where(last, wk + WEEK + self.b[0], e)
        return s, e


@dataclass
class Presence:
    """Per-client presence: pattern index (-1: always on), local week offset, absences (N, K) padded with
    +inf, and the decommissioned flag."""

    pattern: np.ndarray
    offset: np.ndarray
    windows: list[WeeklyWindows]
    abs_start: np.ndarray
    abs_end: np.ndarray
    gone: np.ndarray
    pattern_names: list[str]
    leaves: np.ndarray | None = None  # bool: goes away for good during the horizon (reported as gone)
    tz: np.ndarray | None = None  # the UTC offset part of ``offset``, hours

    @property
    def decommissioned(self) -> np.ndarray:
        """Never comes back: gone from the start, or leaving for good during the horizon."""
        return self.gone if self.leaves is None else self.gone | self.leaves

    @property
    def n(self) -> int:
        return len(self.pattern)

    @functools.cached_property
    def last_absence_end(self) -> np.ndarray:
        """When each client's last absence ends (-inf: it has none)."""
        if self.abs_end.shape[1] == 0:
            return np.full(self.n, -np.inf)
        return np.where(np.isfinite(self.abs_start), self.abs_end, -np.inf).max(axis=1)

    def _pattern_spell(self, idx: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        s = np.full(len(idx), -FAR)
        e = np.full(len(idx), FAR)
        pat = self.pattern[idx]
        for k, win in enumerate(self.windows):
            sel = np.flatnonzero(pat == k)
            if len(sel) == 0 or win.always:
                continue
            tt = t[sel]
            w = np.mod(tt + self.offset[idx[sel]], WEEK)
            s[sel], e[sel] = win.spell(w, tt - w)
        return s, e

    @functools.cached_property
    def _packed_windows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The weekly windows as padded arrays for the compiled walk: a, b (patterns x windows), windows per
        pattern, wraps, and patterns the walk treats as always online."""
        P = len(self.windows)
        W = max([len(w.a) for w in self.windows] + [1])
        a = np.full((P, W), np.inf)
        b = np.full((P, W), np.inf)
        for k, win in enumerate(self.windows):
            a[k, : len(win.a)], b[k, : len(win.b)] = win.a, win.b
        n = np.array([len(w.a) for w in self.windows], np.int64)
        wraps = np.array([w.wraps for w in self.windows], bool)
        always = np.array([w.always for w in self.windows], bool)
        return a, b, n, wraps, always

    def next_spell(self, idx: np.ndarray, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """First online spell of each client ``idx`` that ends after ``t``: (start, end), +inf if none.

        Large calls run the compiled walk (``sim.model.kernels``), which gives the same bits as the numpy
        walk below (``_next_spell_numpy``, the reference)."""
        idx = np.asarray(idx, dtype=np.int64)
        kern = kernels.use_kernel(len(idx))
        if kern is None:
            return self._next_spell_numpy(idx, t)
        tt = np.ascontiguousarray(np.broadcast_to(np.asarray(t, dtype=float), idx.shape))
        out_s, out_e = np.empty(len(idx)), np.empty(len(idx))
        a, b, n, wraps, always = self._packed_windows
        kern["next_spell"](
            idx,
            tt,
            self.pattern,
            np.ascontiguousarray(self.offset, dtype=float),
            a,
            b,
            n,
            wraps,
            always,
            np.ascontiguousarray(self.abs_start),
            np.ascontiguousarray(self.abs_end),
            self.last_absence_end,
            self.gone,
            out_s,
            out_e,
        )
        return out_s, out_e

    def _next_spell_numpy(self, idx: np.ndarray, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """``next_spell`` for all clients at once in numpy: the reference form of the walk."""
        cur = np.broadcast_to(np.asarray(t, dtype=float), idx.shape).copy()
        out_s = np.full(len(idx), np.inf)
        out_e = np.full(len(idx), np.inf)
        todo = np.flatnonzero(~self.gone[idx])
        K = self.abs_start.shape[1]
        for _ in range(2 * K + 4):
            if len(todo) == 0:
                break
            ci = idx[todo]
            s, e = self._pattern_spell(ci, cur[todo])
            u = np.maximum(s, cur[todo])
            if K == 0:
                out_s[todo], out_e[todo] = s, e
                break
            # every absence of the client ended before this pattern spell began: the spell stands as it is
            clear = self.last_absence_end[ci] <= s
            if clear.any():
                out_s[todo[clear]], out_e[todo[clear]] = s[clear], e[clear]
                keep = ~clear
                todo, ci, s, e, u = todo[keep], ci[keep], s[keep], e[keep], u[keep]
                if len(todo) == 0:
                    break
            A, B = self.abs_start[ci], self.abs_end[ci]
            inside = (u[:, None] >= A) & (u[:, None] < B)
            hit = inside.any(axis=1)
            # inside an absence: look again from its end
            cur[todo[hit]] = np.where(inside[hit], B[hit], -np.inf).max(axis=1)
            ok = ~hit
            if ok.any():
                uo, so, eo = u[ok, None], s[ok], e[ok]
                Ao, Bo = A[ok], B[ok]
                ended = np.where((Bo > so[:, None]) & (Bo <= uo), Bo, -np.inf).max(axis=1)
                starts = np.where(Ao > uo, Ao, np.inf).min(axis=1)
                out_s[todo[ok]] = np.maximum(so, ended)
                out_e[todo[ok]] = np.minimum(eo, starts)
            todo = todo[hit]
            never = np.isinf(cur[todo])
            todo = todo[~never]
        return out_s, out_e

    def take(self, rows: np.ndarray) -> Presence:
        """The presence of clients ``rows``, in that order (a permutation reorders the fleet)."""
        return Presence(
            self.pattern[rows],
            self.offset[rows],
            self.windows,
            self.abs_start[rows],
            self.abs_end[rows],
            self.gone[rows],
            self.pattern_names,
            leaves=None if self.leaves is None else self.leaves[rows],
            tz=None if self.tz is None else self.tz[rows],
        )

    def online_at(self, idx: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        s, _ = self.next_spell(idx, t)
        return s <= np.asarray(t)

    def online_between(self, idx: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
        """Online at some moment of [t0, t1)."""
        s, _ = self.next_spell(idx, t0)
        return s < t1


def sample(dist: Distribution, rng: np.random.Generator, n: int) -> np.ndarray:
    if isinstance(dist, Exponential):
        return rng.exponential(dist.mean, n)
    if isinstance(dist, LogNormal):
        return rng.lognormal(np.log(dist.median), dist.sigma, n)
    if isinstance(dist, Pareto):
        return dist.minimum * (1.0 + rng.pareto(dist.alpha, n))
    if isinstance(dist, Fixed):
        return np.full(n, dist.value)
    if isinstance(dist, Uniform):
        return rng.uniform(dist.low, dist.high, n)
    raise TypeError(type(dist).__name__)


def away_share(share: float | ShareRange, rng: np.random.Generator) -> float:
    """This replication's share of clients away at the start: the number given, or one draw of its range.

    Why a range (A): how many are away when a rotation starts depends on the week it falls in (a quiet month,
    the summer), which nobody knows when planning; drawn once per replication, it makes the count vary between
    rotations more than independent clients can (a fixed share gives a binomial count). A fixed share draws
    nothing, so scenarios with one keep their numbers."""
    if isinstance(share, ShareRange):
        return float(rng.uniform(share.low, share.high))
    return float(share)


def pack_absences(client: np.ndarray, start: np.ndarray, end: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge overlapping absences per client and pack them into (n, K) arrays padded with +inf.

    In numpy throughout (it was a pandas groupby, most of a large fleet's generation): sort by (client,
    start), stable; a run of absences merges while each starts no later than the latest end so far in its
    client's run (``_run_end``); a merged absence keeps its first start and its latest end."""
    keep = end > start
    client, start, end = client[keep], start[keep], end[keep]
    if len(client) == 0:
        return np.zeros((n, 0)), np.zeros((n, 0))
    kern = kernels.use_kernel(n)
    if kern is not None:
        c, s, e = kern["merge_absences"](client.astype(np.int64), start.astype(float), end.astype(float), n)
    else:
        order = np.lexsort((start, client))
        c, s, e = client[order], start[order], end[order]
        first_of_client = np.r_[True, c[1:] != c[:-1]]
        run_end = _run_end(c, e)
        new = first_of_client.copy()
        new[1:] |= s[1:] > run_end[:-1]
        heads = np.flatnonzero(new)
        c, s, e = c[heads], s[heads], np.maximum.reduceat(e, heads)
    counts = np.bincount(c, minlength=n)
    K = int(counts.max())
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(c)) - first[c]
    A = np.full((n, K), np.inf)
    B = np.full((n, K), np.inf)
    A[c, pos] = s
    B[c, pos] = e
    return A, B


def _run_end(c: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The running maximum of ``e`` within each client's run (``c`` sorted): exact, by ranks, so that one
    ``maximum.accumulate`` over ``client * R + rank`` never mixes two clients."""
    values, rank = np.unique(e, return_inverse=True)
    key = c.astype(np.int64) * np.int64(len(values)) + rank.astype(np.int64)
    return values[np.maximum.accumulate(key) % len(values)]


def generate_presence(
    spec: PresenceSpec,
    n: int,
    horizon_hours: float,
    rng: np.random.Generator,
    extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    always_on: np.ndarray | None = None,
    leave_from: np.ndarray | None = None,
) -> Presence:
    """Draw every client's pattern, time zone, leave spells and decommissioning, vectorised.

    Leave spells start as a Poisson process from ``max_days`` before the start until the horizon, so clients
    already on leave at the start are as likely as in a fleet that has been running for ever (stationary).
    ``extra`` adds known absences (client index, from, until); ``always_on`` forces the pattern off for
    clients read from files without a background presence model. ``leave_from`` (hours, per client): leave
    spells that would start before it are not drawn (a client seen recently has no older spell; +inf: none at
    all); the draws are made as without it, so the other clients' spells do not change.

    The draws are vectorised over clients in index order, so client i's presence depends on its index: a
    fleet read from files calls ``generate_presence_by_id`` instead, which gives each client the same draws
    whatever its row.
    """
    names = [p.name for p in spec.patterns]
    shares = np.array([p.share for p in spec.patterns])
    pattern = rng.choice(len(names), size=n, p=shares / shares.sum()).astype(np.int16)
    offs = np.array(list(spec.timezones.keys()), dtype=float)
    tzp = np.array(list(spec.timezones.values()), dtype=float)
    tz = offs[rng.choice(len(offs), size=n, p=tzp / tzp.sum())]
    spread = np.array([p.start_spread_hours for p in spec.patterns])[pattern]
    personal = np.clip(rng.normal(0.0, 1.0, n) * spread, -6.0, 6.0)
    start_weekhour = WEEKDAYS.index(spec.start_weekday) * 24.0 + spec.start_hour_utc
    offset = start_weekhour + tz - personal  # a later personal start shifts local time back
    windows = [
        WeeklyWindows(np.array([0.0]), np.array([WEEK]), False)
        if p.schedule == "always"
        else WeeklyWindows.from_days(list(p.days), p.start_hour, p.end_hour)
        for p in spec.patterns
    ]
    if always_on is not None:
        windows.append(WeeklyWindows(np.array([0.0]), np.array([WEEK]), False))
        names.append("always-on (listed)")
        pattern = np.where(always_on, len(windows) - 1, pattern).astype(np.int16)

    cl: list[np.ndarray] = []
    st: list[np.ndarray] = []
    en: list[np.ndarray] = []
    lv = spec.leave
    if lv.rate_per_year > 0:
        span = horizon_hours + lv.max_days * 24.0
        counts = rng.poisson(lv.rate_per_year * span / 8760.0, n)
        c = np.repeat(np.arange(n), counts)
        s = rng.uniform(-lv.max_days * 24.0, horizon_hours, len(c))
        d = np.minimum(sample(lv.duration_days, rng, len(c)), lv.max_days) * 24.0
        keep = (s + d > 0) & (s < horizon_hours)
        if leave_from is not None:
            keep &= s >= leave_from[c]
        cl.append(c[keep])
        st.append(s[keep])
        en.append((s + d)[keep])
    aw = spec.away_at_start
    share = away_share(aw.share, rng)
    if share > 0:
        c = np.flatnonzero(rng.random(n) < share)
        rem = sample(aw.remaining_days, rng, len(c)) * 24.0
        cl.append(c)
        st.append(np.full(len(c), -FAR))
        en.append(rem)
    gone = rng.random(n) < spec.gone_share
    leaves = np.zeros(n, bool)
    if extra is not None:
        c, s, e = extra
        open_end = ~np.isfinite(e)
        gone[c[open_end & (s <= 0)]] = True  # away from the start for good: never online
        leaves[c[open_end & (s > 0)]] = True  # present until it leaves for good
        e = np.where(open_end, FAR, e)
        cl.append(c)
        st.append(s)
        en.append(e)
    if cl:
        A, B = pack_absences(np.concatenate(cl), np.concatenate(st), np.concatenate(en), n)
    else:
        A, B = np.zeros((n, 0)), np.zeros((n, 0))
    return Presence(pattern, offset, windows, A, B, gone, names, leaves=leaves, tz=tz)


def generate_presence_by_id(
    spec: PresenceSpec,
    ids: np.ndarray,
    horizon_hours: float,
    rng: np.random.Generator,
    extra: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    always_on: np.ndarray | None = None,
    leave_from: np.ndarray | None = None,
) -> Presence:
    """``generate_presence`` for clients named by ``ids`` (rows of a file): drawn in the order of the ids and
    returned in row order, so that the order of the rows changes nothing (README, "What rotasim guarantees").

    Why not a stream per client here as the engines have: the presence draws are vectorised over whole
    distributions (a Poisson count of leave spells, then that many starts and durations), which a per-client
    stream would turn into a Python loop; drawing in a canonical order and un-permuting is exact and as fast.
    ``extra``'s client indices, ``always_on`` and ``leave_from`` are in row order, like the result."""
    n = len(ids)
    order = np.argsort(np.asarray(ids).astype(str), kind="stable")  # canonical position -> row
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)  # row -> canonical position
    if extra is not None:
        c, s, e = extra
        by_client = np.lexsort((e, s, rank[c]))  # the absences' own row order does not matter either
        extra = (rank[c][by_client], s[by_client], e[by_client])
    canonical = generate_presence(
        spec,
        n,
        horizon_hours,
        rng,
        extra=extra,
        always_on=None if always_on is None else always_on[order],
        leave_from=None if leave_from is None else leave_from[order],
    )
    return canonical.take(rank)
