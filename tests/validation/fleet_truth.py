"""An independent fleet generator and its ground truth, to validate ``rotasim fleet import`` end to end.

Why independent: the import fits rotasim's own presence model (``sim.presence``, ``sim.calibrate``): a
weekly pattern with a personal offset, **leave spells that start as a Poisson process whatever the client is
doing** (overlapping spells merge), lengths from one family (exponential, lognormal or Pareto) cut at
``max_days``, and a ``gone_share``. Testing the import on fleets drawn from that model
(tests/calibration/test_calibrate.py) only shows that the fit inverts its own generator. This module imports
nothing from ``sim``; it is plain numpy and draws a fleet from a *different* model of what machines do:

- each client is an **alternating renewal process**: a present spell (gamma distributed, shape ``up_shape``,
  not exponential unless ``up_shape == 1``), then an absence, then a present spell ...; absences never
  overlap, and a new one starts only after the client has come back;
- a laptop's absence length is drawn from a **mixture of three kinds** (short trips 1-4 days, vacations 1-3
  weeks, long leave 2-9 months), each uniform on its range: no single family describes it;
- laptops are online on working days (Monday to Friday) 08:00-18:00 UTC, the same hours for all, and not
  while absent; always-on machines (servers, desktops) are online except for short outages (hours);
- a share of machines are decommissioned at a uniform random time in the past and never come back;
- every process runs from ``warmup_days`` before the snapshot (so the state at the snapshot is the stationary
  one) to ``future_days`` after it.

Rates are per unit of present time (an absence kind of rate ``r`` per year starts, while present, at rate
``r``), so in the stationary state the share of present time is ``1 / (1 + sum_k r_k m_k)`` and the share on
kind ``k`` is ``r_k m_k / (1 + sum_j r_j m_j)`` (``m_k`` the mean length in years), whatever the gamma shape:
the closed forms ``tests/calibration/test_import_validation.py`` checks the generator against.

The heartbeat is 5 minutes: a client checks in when it comes online and every 5 minutes while online, so its
last check-in before the snapshot lies within 5 minutes before the end of its last online period (or before
the snapshot if it is online then).

``export_console`` writes what an SEPM console exports at the snapshot, **after its purge**: a client whose
last check-in is older than ``purge_days`` has been deleted from the console and is not in the export,
although it is alive and will come back (domain fact 25). ``truth`` counts, over *all* clients (listed or
purged), which would be orphaned by a kb-multi-server rotation whose first certificate update is at the
snapshot and whose retained old-certificate manager changes R days later.

Times inside this module are days relative to the snapshot ``t0`` (negative: before it).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DAY_S = 86400.0
HEARTBEAT_DAYS = 5.0 / 1440.0
WORK_START_H = 8.0
WORK_END_H = 18.0
KIND_NAMES = ("trip", "vacation", "long-leave", "outage")  # outage: always-on machines only
# 14.3 builds as a console shows them (four dotted fields); no 14.2 build: the truth knows nothing of
# version rules (a 14.2 client is orphaned by the multi-server method whatever the retention).
EXPORT_COLUMNS = (
    "Computer Name",
    "IP Address",
    "Group",
    "Version",
    "Operating System",
    "Last Check-in Time",
    "Online Status",
)
VERSIONS = ("14.3.8259.5000", "14.3.9816.7000", "14.3.10148.8000", "14.3.11213.9000")


@dataclass(frozen=True)
class FleetParams:
    """The fleet's parameters; rates are per year of present time, lengths in days (uniform on the range)."""

    n_clients: int = 20_000
    always_on_share: float = 0.25
    # always-on machines: short outages (patching, network), hours
    outage_rate_per_year: float = 4.0
    outage_hours: tuple[float, float] = (1.0, 12.0)
    # laptops: the absence mixture
    trip_rate_per_year: float = 8.0
    trip_days: tuple[float, float] = (1.0, 4.0)
    vacation_rate_per_year: float = 2.0
    vacation_days: tuple[float, float] = (7.0, 21.0)
    long_leave_rate_per_year: float = 0.03
    long_leave_days: tuple[float, float] = (60.0, 270.0)
    up_shape: float = 2.0  # gamma shape of the present spells (1: exponential)
    # decommissioned machines (of either kind): gone for good at a uniform time in the past
    decommissioned_share: float = 0.01
    decommission_within_days: float = 3 * 365.0
    warmup_days: float = 3 * 365.0
    future_days: float = 2 * 365.0
    snapshot: str = "2025-03-05T21:30:00"  # UTC; a Wednesday evening (laptops are offline, servers online)

    @property
    def laptop_kinds(self) -> tuple[tuple[float, float, float], ...]:
        """(rate per day of present time, min days, max days) of trip, vacation, long leave."""
        return (
            (self.trip_rate_per_year / 365.0, *self.trip_days),
            (self.vacation_rate_per_year / 365.0, *self.vacation_days),
            (self.long_leave_rate_per_year / 365.0, *self.long_leave_days),
        )

    def stationary_shares(self) -> dict[str, float]:
        """Closed forms for a laptop that is not decommissioned: the share of time present (not absent) and
        on each absence kind, r_k m_k / (1 + sum_j r_j m_j)."""
        rm = [r * (a + b) / 2.0 for r, a, b in self.laptop_kinds]
        denom = 1.0 + sum(rm)
        out = {"present": 1.0 / denom}
        out.update({KIND_NAMES[k]: rm[k] / denom for k in range(3)})
        return out


@dataclass
class Fleet:
    """A generated fleet: per client its kind, absences (K, n) in days from t0 (padded with +inf), and
    the decommissioning time (+inf: never)."""

    params: FleetParams
    t0: np.datetime64  # the snapshot, UTC, seconds
    names: np.ndarray
    groups: np.ndarray
    versions: np.ndarray
    always_on: np.ndarray  # bool
    abs_start: np.ndarray  # (K, n)
    abs_end: np.ndarray  # (K, n)
    abs_kind: np.ndarray  # (K, n) int8 index into KIND_NAMES, -1 padding
    decommissioned_at: np.ndarray  # days from t0, +inf if never
    week_offset_days: float  # t0's position in its week: days since Monday 00:00 UTC
    rng_seed: int | None = None
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return len(self.names)

    @property
    def decommissioned(self) -> np.ndarray:
        return np.isfinite(self.decommissioned_at)

    # ---- the weekly windows (laptops)

    def _next_window(self, t: np.ndarray) -> np.ndarray:
        """Earliest moment >= t inside a working window."""
        w = t + self.week_offset_days
        d = np.floor(w)
        h = (w - d) * 24.0
        dow = np.mod(d, 7.0)
        workday = dow < 5
        inside = workday & (h >= WORK_START_H) & (h < WORK_END_H)
        before = workday & (h < WORK_START_H)
        # after the window or at a weekend: the next working day's 08:00
        ahead = np.select([dow <= 3, dow == 4, dow == 5], [1.0, 3.0, 2.0], 1.0)
        nxt = np.where(before, d, d + ahead) + WORK_START_H / 24.0
        return np.where(inside, t, nxt - self.week_offset_days)

    def _last_window(self, t: np.ndarray) -> np.ndarray:
        """Latest moment <= t inside a working window (its end, 18:00, counting as inside)."""
        w = t + self.week_offset_days
        d = np.floor(w)
        h = (w - d) * 24.0
        dow = np.mod(d, 7.0)
        workday = dow < 5
        inside = workday & (h >= WORK_START_H) & (h <= WORK_END_H)
        after = workday & (h > WORK_END_H)
        # before the window or at a weekend: the previous working day's 18:00
        back = np.select([dow == 0, dow <= 4, dow == 5], [3.0, 1.0, 1.0], 2.0)
        prv = np.where(after, d, d - back) + WORK_END_H / 24.0
        return np.where(inside, t, prv - self.week_offset_days)

    # ---- presence queries (all clients at once)

    def _absence_index(self, t: np.ndarray) -> np.ndarray:
        """Per client, the index of the first absence ending after t (absences are sorted, disjoint)."""
        k = (self.abs_end <= t[None, :]).sum(axis=0)
        return np.minimum(k, self.abs_start.shape[0] - 1)

    def online_at(self, t_days: float) -> np.ndarray:
        """Online at t (days from t0): not decommissioned, not absent, and a laptop inside a window."""
        t = np.full(self.n, float(t_days))
        k = self._absence_index(t)
        cols = np.arange(self.n)
        absent = (self.abs_start[k, cols] <= t) & (t < self.abs_end[k, cols])
        window = self.always_on | (self._next_window(t) == t)
        return ~absent & window & (t < self.decommissioned_at)

    def absence_kind_at(self, t_days: float) -> np.ndarray:
        """Per client the kind (index into KIND_NAMES) of the absence running at t, -1 if none."""
        t = np.full(self.n, float(t_days))
        k = self._absence_index(t)
        cols = np.arange(self.n)
        absent = (self.abs_start[k, cols] <= t) & (t < self.abs_end[k, cols])
        return np.where(absent, self.abs_kind[k, cols], -1)

    def first_online_after(self, t_days: float = 0.0) -> np.ndarray:
        """Per client the first moment >= t it is online (+inf: never, e.g. decommissioned)."""
        cols = np.arange(self.n)
        K = self.abs_start.shape[0]
        t = np.full(self.n, float(t_days))
        out = np.full(self.n, np.inf)
        todo = ~(self.decommissioned & (self.decommissioned_at <= t))
        for _ in range(4 * K):
            if not todo.any():
                break
            k = self._absence_index(t)
            s, e = self.abs_start[k, cols], self.abs_end[k, cols]
            cand = np.where((s <= t) & (t < e), e, t)  # out of the absence running at t
            cand = np.where(self.always_on, cand, self._next_window(cand))
            # the candidate is good unless it fell into the next absence (then start again from there)
            k2 = self._absence_index(cand)
            s2, e2 = self.abs_start[k2, cols], self.abs_end[k2, cols]
            ok = ~((s2 <= cand) & (cand < e2))
            ok &= cand < self.decommissioned_at
            gone = cand >= self.decommissioned_at
            done = todo & ok
            out[done] = cand[done]
            todo &= ~done & ~gone
            t = np.where(todo, cand, t)
        if todo.any():
            raise RuntimeError("first_online_after did not converge")
        return out

    def last_online_before(self, t_days: float = 0.0) -> np.ndarray:
        """Per client the last moment <= t (or <= its decommissioning) it was online (-inf: never)."""
        cols = np.arange(self.n)
        K = self.abs_start.shape[0]
        t = np.minimum(np.full(self.n, float(t_days)), self.decommissioned_at)
        out = np.full(self.n, -np.inf)
        todo = np.ones(self.n, dtype=bool)
        for _ in range(4 * K):
            if not todo.any():
                break
            # the last absence starting at or before t
            j = (self.abs_start <= t[None, :]).sum(axis=0) - 1
            jj = np.maximum(j, 0)
            s, e = self.abs_start[jj, cols], self.abs_end[jj, cols]
            inside = (j >= 0) & (s <= t) & (t < e)
            cand = np.where(inside, s, t)
            cand = np.where(self.always_on, cand, self._last_window(cand))
            # good unless it fell into the absence before
            j2 = (self.abs_start <= cand[None, :]).sum(axis=0) - 1
            jj2 = np.maximum(j2, 0)
            s2, e2 = self.abs_start[jj2, cols], self.abs_end[jj2, cols]
            # a moment equal to an absence's start counts as the end of the online period before it
            bad = (j2 >= 0) & (s2 < cand) & (cand < e2)
            done = todo & ~bad
            out[done] = cand[done]
            todo &= ~done
            t = np.where(todo, np.where(bad, s2, cand), t)
        if todo.any():
            raise RuntimeError("last_online_before did not converge")
        return out

    def last_checkin(self) -> np.ndarray:
        """Per client the last check-in at or before t0, days from t0: uniform within a heartbeat before the end
        of its last online period (before t0 itself if online then) (cached)."""
        if "last_checkin" not in self._cache:
            end = self.last_online_before(0.0)
            rng = np.random.default_rng(None if self.rng_seed is None else [self.rng_seed, 1])
            self._cache["last_checkin"] = end - rng.uniform(0.0, HEARTBEAT_DAYS, self.n)
        return self._cache["last_checkin"]

    def age_days(self) -> np.ndarray:
        """Age of the last check-in at the snapshot, days."""
        return -self.last_checkin()


def generate_fleet(params: FleetParams | None = None, seed: int | None = 0) -> Fleet:
    """Draw a fleet: the alternating renewal process of every client from ``-warmup_days`` to ``future_days``."""
    p = params or FleetParams()
    rng = np.random.default_rng(seed)
    n = p.n_clients
    always = rng.random(n) < p.always_on_share
    lap_kinds = p.laptop_kinds
    lap_rate = sum(k[0] for k in lap_kinds)
    out_rate = p.outage_rate_per_year / 365.0
    rate = np.where(always, out_rate, lap_rate)
    probs = np.array([k[0] for k in lap_kinds]) / lap_rate
    lo = np.array([k[1] for k in lap_kinds])
    hi = np.array([k[2] for k in lap_kinds])

    t = np.full(n, -p.warmup_days)
    starts, ends, kinds = [], [], []
    while (t < p.future_days).any():
        live = t < p.future_days
        up = rng.gamma(p.up_shape, 1.0 / (p.up_shape * rate))
        kind = rng.choice(3, size=n, p=probs)
        length = rng.uniform(lo[kind], hi[kind])
        kind = np.where(always, 3, kind)
        length = np.where(always, rng.uniform(*p.outage_hours, size=n) / 24.0, length)
        s = t + up
        e = s + length
        starts.append(np.where(live, s, np.inf))
        ends.append(np.where(live, e, np.inf))
        kinds.append(np.where(live, kind, -1).astype(np.int8))
        t = np.where(live, e, t)
    abs_start = np.vstack(starts)
    abs_end = np.vstack(ends)
    abs_kind = np.vstack(kinds)

    decom = rng.random(n) < p.decommissioned_share
    decommissioned_at = np.where(decom, -rng.uniform(0.0, p.decommission_within_days, n), np.inf)

    t0 = np.datetime64(p.snapshot, "s")
    monday = np.datetime64("2024-01-01T00:00:00", "s")  # a Monday
    week_offset = float(((t0 - monday) / np.timedelta64(1, "s")) / DAY_S % 7.0)

    width = len(str(n))
    idx = np.arange(1, n + 1)
    server = always & (rng.random(n) < 0.4)
    prefix = np.where(server, "SRV-", np.where(always, "WS-", "LT-"))
    names = np.char.add(prefix.astype(str), np.char.zfill(idx.astype(str), width))
    lap_group = np.where(rng.random(n) < 0.5, r"My Company\Laptops\Sales", r"My Company\Laptops\Engineering")
    groups = np.where(server, r"My Company\Servers", np.where(always, r"My Company\Desktops", lap_group))
    versions = rng.choice(np.array(VERSIONS), size=n, p=[0.1, 0.3, 0.4, 0.2])
    return Fleet(
        params=p,
        t0=t0,
        names=names,
        groups=groups,
        versions=versions,
        always_on=always,
        abs_start=abs_start,
        abs_end=abs_end,
        abs_kind=abs_kind,
        decommissioned_at=decommissioned_at,
        week_offset_days=week_offset,
        rng_seed=seed,
    )


# ------------------------------------------------------------------------------------------ the console


def listed(fleet: Fleet, purge_days: float) -> np.ndarray:
    """Which clients the console still lists at t0: online, or last checked in at most ``purge_days`` ago."""
    return fleet.online_at(0.0) | (fleet.age_days() <= purge_days)


def _us_console_time(days_from_t0: np.ndarray, t0: np.datetime64) -> list[str]:
    """``M/D/YYYY hh:mm:ss AM`` as a US-English SEPM console writes it (UTC here)."""
    secs = np.round(days_from_t0 * DAY_S).astype("int64")
    stamps = (t0 + secs.astype("timedelta64[s]")).astype("datetime64[s]").astype(object)
    return [f"{s.month}/{s.day}/{s.year} {s.strftime('%I:%M:%S %p')}" for s in stamps]


def export_console(fleet: Fleet, path: str | Path, purge_days: float = 30.0) -> dict[str, int]:
    """Write the console's computer-status export at t0 into ``path``; return counts (listed, purged ...).

    Columns as SEPM writes them (and as sim/inventory.py reads them): Computer Name, IP Address, Group,
    Version, Operating System, Last Check-in Time, Online Status. Clients not seen for more than
    ``purge_days`` (console purge) are left out, alive or not."""
    on = fleet.online_at(0.0)
    keep = listed(fleet, purge_days)
    last = fleet.last_checkin()
    times = _us_console_time(last[keep], fleet.t0)
    os_names = np.where(
        np.char.startswith(fleet.names.astype(str), "SRV-"),
        "Windows Server 2019 Standard",
        np.where(np.char.startswith(fleet.names.astype(str), "WS-"), "Windows 10 Enterprise", "Windows 11 Enterprise"),
    )
    idx = np.flatnonzero(keep)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL)
        w.writerow(EXPORT_COLUMNS)
        for j, i in enumerate(idx):
            w.writerow(
                [
                    fleet.names[i],
                    f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                    fleet.groups[i],
                    fleet.versions[i],
                    os_names[i],
                    times[j],
                    "Online" if on[i] else "Offline",
                ]
            )
    dec = fleet.decommissioned
    return {
        "listed": int(keep.sum()),
        "purged": int((~keep).sum()),
        "purged_alive": int((~keep & ~dec).sum()),
        "listed_decommissioned": int((keep & dec).sum()),
        "online": int(on.sum()),
    }


def snapshot_text(fleet: Fleet) -> str:
    """The snapshot as ``--snapshot`` / ``ImportOptions.snapshot`` takes it (UTC)."""
    return str(fleet.t0).replace("T", " ") + "+00:00"


# ------------------------------------------------------------------------------------------ the truth


@dataclass(frozen=True)
class Truth:
    """Orphans of a kb-multi-server rotation with the first update at t0, by retention R (days)."""

    retention_days: tuple[float, ...]
    orphaned: dict[float, int]  # over all alive clients, listed or purged
    invisible: dict[float, int]  # of those, purged from the export
    lookalike: dict[float, int]  # decommissioned machines still listed, not seen for more than R days (see truth)
    alive: int  # back within horizon_days (or online at t0)
    gone: int  # decommissioned
    not_back: int  # alive machines not back within horizon_days (neither orphaned nor counted alive)
    listed: int
    purged: int
    purge_days: float
    horizon_days: float

    def as_dict(self) -> dict[str, object]:
        return {
            "purge_days": self.purge_days,
            "horizon_days": self.horizon_days,
            "alive": self.alive,
            "gone": self.gone,
            "not_back": self.not_back,
            "listed": self.listed,
            "purged": self.purged,
            "orphaned": {f"{r:g}": self.orphaned[r] for r in self.retention_days},
            "invisible": {f"{r:g}": self.invisible[r] for r in self.retention_days},
            "lookalike": {f"{r:g}": self.lookalike[r] for r in self.retention_days},
        }


def first_checkin_after_t0(fleet: Fleet) -> np.ndarray:
    """Per client its first check-in at or after t0, days: within a heartbeat if online at t0 (the next beat),
    else the moment it comes online (the first heartbeat is right at the start); +inf if never (cached)."""
    if "first_checkin" not in fleet._cache:
        first = fleet.first_online_after(0.0)
        rng = np.random.default_rng(None if fleet.rng_seed is None else [fleet.rng_seed, 2])
        beat = rng.uniform(0.0, HEARTBEAT_DAYS, fleet.n)
        fleet._cache["first_checkin"] = np.where(first == 0.0, beat, first)
    return fleet._cache["first_checkin"]


def truth(
    fleet: Fleet,
    retention_days: tuple[float, ...] = (7.0, 30.0, 90.0),
    purge_days: float = 30.0,
    horizon_days: float = 365.0,
) -> Truth:
    """Who is orphaned: an alive client (back within ``horizon_days``) whose first check-in after t0 is later
    than t0 + R. Decommissioned machines are gone, never orphans. ``invisible``: orphans the console purged.

    ``lookalike``: decommissioned machines the export still lists and that were last seen more than R days
    ago. In one snapshot such a row is indistinguishable from a laptop that long on leave (fact 25 bounds the
    ages only from below), so any importer must count it as possibly orphaned: not an orphan, but a row a
    planner has to chase anyway."""
    first = first_checkin_after_t0(fleet)
    dec = fleet.decommissioned
    alive = ~dec & (first <= horizon_days)
    keep = listed(fleet, purge_days)
    orph = {float(r): int((alive & (first > r)).sum()) for r in retention_days}
    inv = {float(r): int((alive & (first > r) & ~keep).sum()) for r in retention_days}
    age = fleet.age_days()
    look = {float(r): int((dec & keep & (age > r)).sum()) for r in retention_days}
    return Truth(
        retention_days=tuple(float(r) for r in retention_days),
        orphaned=orph,
        invisible=inv,
        lookalike=look,
        alive=int(alive.sum()),
        gone=int(dec.sum()),
        not_back=int((~dec & ~alive).sum()),
        listed=int(keep.sum()),
        purged=int((~keep).sum()),
        purge_days=float(purge_days),
        horizon_days=float(horizon_days),
    )
