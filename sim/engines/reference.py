"""The reference engine: every client is a SimPy process that wakes for every one of its check-ins.

It exists to check the fast engine (``sim.engine_fast``), so it is written from the model rules alone and
shares none of the fast engine's shortcuts: no interned states, no "settled" clients skipped between
changes, no analytic choice of server. Each client holds a plain cache (list variant, secure flag,
heartbeat, certificate per manager on its list), walks its list server by server in a random order drawn
for that check-in, and is tested against the orphan rule one by one. It is slow on purpose: cost grows
with clients x heartbeats.

Random draws (walk order, jitter) come from one generator per client and time-out draws from a second one,
both seeded from the engine's generator at the start: a client's draws depend on nothing another client
does, and testing a check-in for a time-out changes none of its other draws. So the passes of the load
fixed point are common random numbers: a client never timed out replays pass 0 exactly, and the learning
delay measures time-outs, not a reshuffled stream (as in the fast engine, which plays only the check-ins
that could teach something, so it tests no others for a time-out).

Order of things at one moment ``t`` (SimPy sorts events by time, then priority): the world's changes at
``t`` (priorities 0 and 1), then one evaluation of all of them together (``EVALUATE``: orphans, who is
behind, push deliveries), then the clients' check-ins at ``t`` (``CHECKIN``). So a change at ``t`` takes
effect before any check-in at ``t``, and several changes at the same ``t`` count as one.

Manager load (``count_load``, docs/model.md "Manager load and overload"): the reference counts, literally,
every check-in per (manager, bin), bin = int(t / bin_hours) capped at the last bin. A check-in counts once,
at the manager where its walk ends, which is what the fast engine's offered load means by "the manager a
client uses" (its log of assignments starts a new segment at the check-in that switched):

- the manager it learns from (on a switch, the new one: the switching check-in is the first on it);
- the manager that timed it out (overload, below);
- the manager whose certificate orphaned it (an unsupported version's mismatch);
- its last-used manager when no manager answers (all down or retired) or every one refuses it;
- an orphan keeps checking in on its heartbeat cycle (it never learns a new heartbeat) and counts at its
  last-used manager: the model counts orphans' load there (they keep trying it), gone clients never.

A handshake a client is refused on its way (a certificate mismatch it fails over from) is not counted: the
model offers one check-in per heartbeat, not one per server tried.

Overload (``fail_prob``, (manager, bin) -> probability): every manager a live client's walk connects to
(reachable: not down or retired) may time the check-in out, with that manager's probability in that bin,
drawn before the certificate is looked at. The first such manager is the one the check-in reaches; a later
one is reached only after a refusal (a mismatch the client fails over from), and the failover target times
out as any manager would: the surge after a certificate update is exactly such failovers. A time-out ends
the walk (no failover), is a failed connect (``fail_time``, which resets the failback clock), is not a
mismatch (a 14.2 client survives it), and the client tries again at its next heartbeat. Orphans' check-ins
are not played, so they never time out (as in the fast engine).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from heapq import heappush
from typing import Any, NamedTuple

import numpy as np
import simpy
from simpy.events import EventPriority
from simpy.exceptions import Interrupt

from sim.engines.common import initial_last_used
from sim.engines.initial import InitialState
from sim.engines.outcome import EngineOutput
from sim.model.causes import OrphanFacts
from sim.model.fleet import Fleet
from sim.model.heartbeat import forward_recurrence
from sim.model.presence import FAR
from sim.model.streams import splitmix64
from sim.model.topology import Topology
from sim.model.world import World
from sim.scenario.runbook import Step

EVALUATE = EventPriority(2)  # after every change of the world at the same time (the world uses 0 and 1)


CHECKIN = EventPriority(3)  # after the evaluation of the changes at the same time


CLIENT_BLOCK = 16  # uniforms drawn from a client's generator at a time (a single draw costs ~1 us)


class Cache(NamedTuple):
    """What a client holds: its list, secure communications, heartbeat and a certificate per list member.

    Never mutated: a client that learns a view points at that view's own ``Cache`` object."""

    msl: int
    secure: bool
    heartbeat: float  # minutes
    certs: dict[int, int]  # manager -> certificate generation, for every manager on the list


@dataclass
class Snapshot:
    """The world as a check-in meets it, read from ``world`` at one version."""

    version: int
    real: list[int]  # the certificate each manager presents (its own site's database)
    unreachable: list[bool]  # down (restarting) or retired
    retired: list[bool]
    views: list[list[Cache]]  # site -> group -> what a manager of that site teaches a client of that group
    trusts: list[list[bool]]  # site -> group -> that view holds the final certificates
    # planning probe: the certificates and retirements were the decisive step to land now
    hypo_real: list[int] | None = None
    hypo_retired: list[bool] | None = None


@dataclass
class ListInfo:
    """A list variant's entries in the form the walk needs."""

    tiers: list[list[int]]
    https: dict[int, bool]  # manager -> its entry uses https; also "is on the list"
    top: frozenset[int]


class ClientState:
    """One client's memory. Plain attributes, read and written only by the engine."""

    __slots__ = (
        "c", "group", "unsupported", "push", "override", "cache", "trusting", "lu", "switch_time", "fail_time",
        "pending_since", "orphaned", "proc", "t_next", "coming_online", "spell_start", "spell_end", "anchor", "k",
        "h_anchor", "seed", "gen", "ubuf", "ui", "timeout_seed", "timeout_gen", "survives",
    )  # fmt: skip

    def __init__(
        self,
        c: int,
        group: int,
        unsupported: bool,
        push: bool,
        override: float,
        cache: Cache,
        lu: int,
        seed: int,
        timeout_seed: int,
    ):
        self.c, self.group, self.unsupported, self.push = c, group, unsupported, push
        self.override: float | None = None if math.isnan(override) else override
        self.cache = cache
        self.trusting = False
        self.lu = lu
        self.switch_time = -math.inf
        self.fail_time = -math.inf
        self.pending_since = math.nan
        self.orphaned = False
        self.proc: simpy.Process | None = None
        self.t_next = math.inf  # the next heartbeat, or the check-in on coming online
        self.coming_online = False  # t_next is the check-in on coming online (kept even if the spell ended)
        self.spell_start = math.inf
        self.spell_end = math.inf
        self.anchor = math.nan  # jitter 0: heartbeats at anchor + k * h_anchor
        self.k = 0
        self.h_anchor = math.nan
        self.seed = seed  # its own generator: its draws depend on nothing another client does
        self.gen: np.random.Generator | None = None
        self.ubuf: list[float] = []
        self.ui = 0
        self.timeout_seed = timeout_seed  # time-out draws: apart, so a time-out test leaves the rest as it was
        self.timeout_gen: np.random.Generator | None = None
        self.survives = False  # planning probe: would survive the decisive step landing now


class At(simpy.Event):
    """A triggered event processed at the absolute time ``t`` with ``priority``.

    Check-in times are computed as absolute times (anchor + k*h); going through SimPy's ``now + delay``
    would round them a second time and could move a check-in from just after a change to just before it.
    """

    def __init__(self, env: simpy.Environment, t: float, priority: EventPriority):
        self.env = env
        self.callbacks = []
        self._value = None
        self._ok = True
        heappush(env._queue, (t, priority, next(env._eid), self))


class ReferenceEngine:
    """One process per client, one event per check-in; listens to the world to evaluate its changes."""

    def __init__(
        self,
        topo: Topology,
        fleet: Fleet,
        world: World,
        rng: np.random.Generator,
        horizon: float = math.inf,
        fail_prob: np.ndarray | None = None,
        bin_hours: float = 1.0,
        count_load: bool = False,
        probe: Step | None = None,
        initial: InitialState | None = None,
    ):
        self.topo, self.fleet, self.world, self.env, self.rng = topo, fleet, world, world.env, rng
        self.initial = initial
        self.t0 = 0.0 if initial is None else float(initial.at)  # when the fleet starts
        self.probe = probe
        self.survival_log: list[tuple[int, float, bool, bool]] = []
        # load: counts per (manager, bin) as one flat list (m * bins + b), time-out probabilities as lists
        self.bin_hours = float(bin_hours)
        if fail_prob is not None:
            self.bins = int(fail_prob.shape[1])
        else:
            self.bins = max(1, int(math.ceil(horizon / self.bin_hours))) if math.isfinite(horizon) else 1
        self.counting = count_load or fail_prob is not None
        self._count: list[int] | None = [0] * (topo.n_managers * self.bins) if self.counting else None
        self._p: list[list[float]] | None = None if fail_prob is None else np.asarray(fail_prob, float).tolist()
        self.timeouts = 0
        self.site = [int(s) for s in topo.manager_site]
        self.final_cert = [int(x) for x in world.final_cert]
        self.final_retired = [bool(x) for x in world.final_retired]
        self.jitter = float(fleet.jitter)
        self.use_last = bool(fleet.use_last_server)
        self.restart_saves = bool(topo.restart_saves_unsupported)
        self.failback = float(fleet.failback_hours)
        self._lists: dict[int, ListInfo] = {}
        n = fleet.n
        self.orphaned_at = np.full(n, np.nan)
        self.detected_at = np.full(n, np.nan)
        self.new_cert_at = np.full(n, np.nan)
        self.learnt_at = np.full(n, np.nan)  # first time it held any certificate generation > 0
        self.facts = OrphanFacts.empty(n)
        self.checkins = 0
        self.snap = self._snapshot()
        self.before = self.snap
        self.eval_pending = False
        lu0 = initial_last_used(fleet, topo) if initial is None else initial.last_server
        if initial is not None:
            initial.check(n, topo.n_managers)
            self.learnt_at = initial.learnt_at.astype(float).copy()
        # two generators per client, seeded from its key (its id for a fleet read from files), not its row:
        # the order of the rows of clients.csv changes nothing
        salt = rng.integers(0, 2**63, size=2, dtype=np.uint64)
        seeds = np.stack([splitmix64(fleet.keys ^ s) for s in salt], axis=1).tolist()
        gone = fleet.presence.gone
        self.clients: list[ClientState] = []
        for c in range(n):
            lu, g = int(lu0[c]), int(fleet.group[c])
            view = self.snap.views[self.site[lu]][g] if initial is None else self._observed_cache(initial, c)
            override = float(fleet.heartbeat_override[c])
            unsupported, push = bool(fleet.unsupported[c]), bool(fleet.push[c])
            cl = ClientState(c, g, unsupported, push, override, view, lu, seeds[c][0], seeds[c][1])
            cl.trusting = self._trusts(view)
            if cl.trusting and not gone[c]:
                self.new_cert_at[c] = self.t0
            self.clients.append(cl)
        self.alive = [cl for cl in self.clients if not gone[cl.c]]  # gone clients never check in nor die
        if probe is not None:
            for cl in self.alive:
                cl.survives = self._survives(cl, self.snap)
        self.survives_at_start = np.array([cl.survives for cl in self.clients], bool) if probe is not None else None
        for cl in self.alive:
            cl.proc = self.env.process(self._client(cl))
        # the console: per watched step, each client's first successful check-in since its end (inf: none yet);
        # the condition the world waits for: (step, members, k, members seen so far)
        self.watched: dict[int, np.ndarray] = {}
        self.armed: tuple[int, np.ndarray, int, list[int]] | None = None
        self.repaired_at = np.full(n, np.nan)
        if world.has_conditions:
            world.attach_console(self, fleet)
        if initial is not None:  # the observed fleet meets the world as it is now: evaluate it as after a change
            self.before_change(self.t0)

    def _observed_cache(self, init: InitialState, c: int) -> Cache:
        msl = int(init.msl[c])
        certs = {m: int(init.cert[c, m]) for m in self._list(msl).https}
        return Cache(msl, bool(init.secure[c]), float(init.heartbeat[c]), certs)

    # ------------------------------------------------------------------ the console

    def watch(self, key: int, t: float) -> None:
        self.watched[key] = np.full(self.fleet.n, np.inf)

    def first_seen(self, key: int, now: float) -> np.ndarray:
        return self.watched[key].copy()

    def arm(self, key: int, members: np.ndarray, k: int) -> None:
        """Nudge the world at the check-in that makes ``k`` of ``members`` seen."""
        mask = np.zeros(self.fleet.n, bool)
        mask[members] = True
        count = int(np.sum(np.isfinite(self.watched[key][mask])))
        self.armed = (key, mask, k, [count])

    def orphans(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        orphaned = np.array([cl.orphaned for cl in self.clients], bool)
        return orphaned, np.where(orphaned, self.detected_at, np.nan)

    def repair(self, idx: np.ndarray, t: float) -> None:
        """A new sylink.xml: the console's site (the first) view for its group; it checks in at once if online,
        else on coming online, and starts a fresh heartbeat cycle there."""
        snap = self._current()
        for c in idx.tolist():
            cl = self.clients[c]
            cl.orphaned = False
            self.repaired_at[c] = t
            self.detected_at[c] = np.nan
            view = snap.views[0][cl.group]
            cl.cache = view
            cl.trusting = snap.trusts[0][cl.group]
            self.new_cert_at[c] = t if cl.trusting else np.nan
            if math.isnan(self.learnt_at[c]) and any(gen > 0 for gen in view.certs.values()):
                self.learnt_at[c] = t
            cl.pending_since = math.nan
            s, e = self._spell(c, t)
            cl.spell_start, cl.spell_end = s, e
            cl.t_next = t if s <= t else (s + self._delay(c, s) if math.isfinite(s) else math.inf)
            cl.coming_online = True  # the cycle starts at that check-in
            self.alive.append(cl)
            if cl.proc is not None and cl.proc.is_alive:
                cl.proc.interrupt("repair")
            else:
                cl.proc = self.env.process(self._loop(cl))

    def flush(self, now: float) -> None:
        """Nothing to do: every check-in at ``now`` came before the world reads the console (priorities)."""

    def _seen(self, c: int, t: float) -> None:
        for key, seen in self.watched.items():
            if seen[c] == math.inf:
                seen[c] = t
                armed = self.armed
                if armed is not None and armed[0] == key and armed[1][c]:
                    armed[3][0] += 1
                    if armed[3][0] >= armed[2]:
                        self.armed = None
                        self.world.nudge()

    # ------------------------------------------------------------------ reading the world

    def _list(self, v: int) -> ListInfo:
        """The entries of list variant ``v`` (variants are interned during the run, so looked up lazily)."""
        info = self._lists.get(v)
        if info is None:
            var = self.topo.variants[v]
            info = ListInfo(
                tiers=[[m for m, _ in tier] for tier in var.tiers],
                https={m: bool(h) for tier in var.tiers for m, h in tier},
                top=frozenset(m for m, _ in var.tiers[0]),
            )
            self._lists[v] = info
        return info

    def _snapshot(self) -> Snapshot:
        w = self.world
        views: list[list[Cache]] = []
        trusts: list[list[bool]] = []
        for v in w.views:
            cert_all = [int(x) for x in v.cert]
            row: list[Cache] = []
            trow: list[bool] = []
            for g in range(self.topo.n_groups):
                msl = int(v.msl[g])
                certs = {m: cert_all[m] for m in self._list(msl).https}
                cache = Cache(msl, bool(v.secure[g]), float(v.heartbeat[g]), certs)
                row.append(cache)
                trow.append(self._trusts(cache))
            views.append(row)
            trusts.append(trow)
        hypo_real = hypo_retired = None
        if self.probe is not None:
            cert, retired = w.hypothetical(self.probe)
            hypo_real, hypo_retired = [int(x) for x in cert], [bool(r) for r in retired]
        return Snapshot(
            version=w.version,
            real=[int(x) for x in w.cert_actual],
            unreachable=[bool(d) or bool(r) for d, r in zip(w.down, w.retired, strict=True)],
            retired=[bool(r) for r in w.retired],
            views=views,
            trusts=trusts,
            hypo_real=hypo_real,
            hypo_retired=hypo_retired,
        )

    def _current(self) -> Snapshot:
        if self.snap.version != self.world.version:  # a guard: evaluations refresh it before any check-in
            self.snap = self._snapshot()
        return self.snap

    # ------------------------------------------------------------------ the rules on one cache

    def _trusts(self, cache: Cache) -> bool:
        """Holds the final certificate of every manager on its list that the runbook does not retire."""
        return all(gen == self.final_cert[m] for m, gen in cache.certs.items() if not self.final_retired[m])

    def _is_orphaned(self, cache: Cache, snap: Snapshot) -> bool:
        return self._orphan_rule(cache, snap.real, snap.retired)

    def _orphan_rule(self, cache: Cache, real: list[int], retired: list[bool]) -> bool:
        """Orphan rule: every entry is retired or has a closed gate (cached certificate differs from the real
        one, and the entry is https or secure communications are on). A manager merely down still counts."""
        info = self._list(cache.msl)
        for m, https in info.https.items():
            if retired[m]:
                continue
            if cache.certs[m] != real[m] and (https or cache.secure):
                continue
            return False
        return True

    def _survives(self, cl: ClientState, snap: Snapshot) -> bool:
        """Planning probe: would the client survive the decisive step landing now? The orphan rule in that
        world, and for an unsupported version its last server (or, without UseLastServer, any entry) must not
        refuse it there."""
        assert snap.hypo_real is not None and snap.hypo_retired is not None
        real, retired = snap.hypo_real, snap.hypo_retired
        cache = cl.cache
        if self._orphan_rule(cache, real, retired):
            return False
        if not cl.unsupported:
            return True
        info = self._list(cache.msl)

        def refuses(m: int) -> bool:
            return not retired[m] and cache.certs[m] != real[m] and (info.https[m] or cache.secure)

        if self.use_last:
            return not (cl.lu in info.https and refuses(cl.lu))
        return not any(refuses(m) for m in info.https)

    def _note_survival(self, cl: ClientState, t: float, snap: Snapshot, at_change: bool = False) -> None:
        if self.probe is None:
            return
        now = self._survives(cl, snap)
        if now != cl.survives:
            cl.survives = now
            self.survival_log.append((cl.c, t, now, at_change))

    def _hours(self, cl: ClientState) -> float:
        return cl.override if cl.override is not None else cl.cache.heartbeat / 60.0

    def _u(self, cl: ClientState) -> float:
        """The client's next uniform, from its own generator (created on its first draw)."""
        if cl.ui >= len(cl.ubuf):
            if cl.gen is None:
                cl.gen = np.random.Generator(np.random.PCG64(cl.seed))
            cl.ubuf = cl.gen.random(CLIENT_BLOCK).tolist()
            cl.ui = 0
        u = cl.ubuf[cl.ui]
        cl.ui += 1
        return u

    # ------------------------------------------------------------------ one check-in

    def _checkin(self, cl: ClientState, t: float, spell_start: float) -> None:
        """Walk the cached list: last-used server first (unless a failback is due), then each tier in a random
        order, skipping a server already tried. Success teaches the server's site view; a mismatch orphans an
        unsupported version (it does not fail over on it); no answer at all is a failed connect.

        Under the KB's reading of the 14.2 warning (``restart_saves_unsupported`` false), a manager restarting
        for a certificate an unsupported version does not hold is that mismatch, not silence."""
        self.checkins += 1
        snap = self._current()
        cache = cl.cache
        info = self._list(cache.msl)
        real, unreachable, retired = snap.real, snap.unreachable, snap.retired
        strict = cl.unsupported and not self.restart_saves

        def closed(m: int) -> bool:
            return cache.certs[m] != real[m] and (info.https[m] or cache.secure)

        first = -1
        lu = cl.lu
        if self.use_last and lu in info.https:
            due = lu not in info.top and t - max(cl.switch_time, cl.fail_time, spell_start) >= self.failback
            if not due:
                first = lu
        if first >= 0 and strict and unreachable[first] and not retired[first] and closed(first):
            self._tally(first, t)
            self._orphan_unsupported(cl, t)
            return
        if first >= 0 and not unreachable[first]:
            if self._timed_out(cl, first, t):
                return
            if not closed(first):
                self._tally(first, t)
                self._learn(cl, first, t, snap)
                return
            if cl.unsupported:
                self._tally(first, t)
                self._orphan_unsupported(cl, t)
                return
        for tier in info.tiers:
            rest = [m for m in tier if m != first]
            while rest:
                n = len(rest)
                m = rest.pop(0 if n == 1 else min(int(self._u(cl) * n), n - 1))  # a uniform permutation, lazily
                if unreachable[m]:
                    if strict and not retired[m] and closed(m):
                        self._tally(m, t)
                        self._orphan_unsupported(cl, t)
                        return
                    continue
                if self._timed_out(cl, m, t):
                    return
                if not closed(m):
                    self._tally(m, t)
                    self._learn(cl, m, t, snap)
                    return
                if cl.unsupported:
                    self._tally(m, t)
                    self._orphan_unsupported(cl, t)
                    return
        self._tally(cl.lu, t)  # nobody answered, or every one refused: it keeps trying its manager
        cl.fail_time = t

    def _tally(self, m: int, t: float) -> None:
        """Count one check-in at manager ``m`` in the bin of ``t``."""
        if self._count is not None:
            self._count[m * self.bins + min(int(t / self.bin_hours), self.bins - 1)] += 1

    def _timed_out(self, cl: ClientState, m: int, t: float) -> bool:
        """The check-in connects to ``m``: an overloaded ``m`` times it out with its probability in this bin.
        A time-out is counted at ``m`` and is a failed connect; the walk ends there."""
        if self._p is None:
            return False
        p = self._p[m][min(int(t / self.bin_hours), self.bins - 1)]
        if p <= 0.0:
            return False
        if cl.timeout_gen is None:
            cl.timeout_gen = np.random.Generator(np.random.PCG64(cl.timeout_seed))
        if float(cl.timeout_gen.random()) >= p:
            return False
        self.timeouts += 1
        self._tally(m, t)
        cl.fail_time = t
        return True

    def _learn(self, cl: ClientState, m: int, t: float, snap: Snapshot) -> None:
        s, g = self.site[m], cl.group
        view = snap.views[s][g]
        if m != cl.lu:
            cl.lu = m
            cl.switch_time = t
        cl.pending_since = math.nan
        if self.watched:
            self._seen(cl.c, t)
        if view is not cl.cache:
            if math.isnan(self.learnt_at[cl.c]) and any(gen > 0 for gen in view.certs.values()):
                self.learnt_at[cl.c] = t
            trusting = snap.trusts[s][g]
            if trusting and not cl.trusting:
                self.new_cert_at[cl.c] = t
            elif cl.trusting and not trusting:
                self.new_cert_at[cl.c] = np.nan
            cl.trusting = trusting
            cl.cache = view
        self._note_survival(cl, t, snap)

    def _orphan_unsupported(self, cl: ClientState, t: float) -> None:
        cl.orphaned = True
        self.orphaned_at[cl.c] = t
        self.detected_at[cl.c] = t
        self.facts.unsupported_hit[cl.c] = True

    # ------------------------------------------------------------------ time: one client's process

    def _spell(self, c: int, t: float) -> tuple[float, float]:
        s, e = self.fleet.presence.next_spell(np.array([c]), t)
        return float(s[0]), float(e[0])

    def _delay(self, c: int, s: float) -> float:
        return float(self.fleet.online_delay(np.array([c]), np.array([s]))[0])

    def _start(self, cl: ClientState) -> None:
        """The first check-in at or after 0: on coming online; for a client that came online before the start
        (a working window that opened earlier, an absence that ended), its heartbeats since then, stepped one by
        one; only a client online since ever is at a random point of its cycle (forward recurrence)."""
        t0 = self.t0
        s, e = self._spell(cl.c, t0)
        cl.spell_start, cl.spell_end = s, e
        if not math.isfinite(s):
            cl.t_next = math.inf
            return
        last = math.nan if self.initial is None else float(self.initial.last_checkin[cl.c])
        if s <= t0 and last >= s:  # an observed client online since its last check-in: its heartbeats since
            self._step_to(cl, last, t0)
        elif s <= -FAR / 2:
            h = self._hours(cl)
            u = np.array([self.fleet.phase_u[cl.c]])
            cl.t_next = float(forward_recurrence(u, np.array([h]), self.jitter)[0])
            cl.anchor, cl.k, cl.h_anchor = cl.t_next, 0, h
            cl.coming_online = False
            if cl.t_next < t0:
                self._step_to(cl, cl.t_next, t0)
            self._fit(cl)
        elif s < t0:
            cl.t_next = s + self._delay(cl.c, s)
            cl.coming_online = True
            if cl.t_next < t0:  # its check-ins before the start taught nothing: step to the first at or after it
                self._step_to(cl, cl.t_next, t0)
        else:
            cl.t_next = s + self._delay(cl.c, s)
            cl.coming_online = True

    def _step_to(self, cl: ClientState, w: float, t0: float) -> None:
        """From a check-in at ``w`` before ``t0``, the heartbeats since, stepped one by one: the first at or
        after ``t0``."""
        h = self._hours(cl)
        if self.jitter > 0:
            while w < t0:
                w += h * (1.0 - self.jitter) + 2.0 * self.jitter * h * self._u(cl)
            cl.t_next = w
        else:
            cl.anchor, cl.h_anchor = w, h
            cl.k = max(1, math.ceil((t0 - w) / h - 1e-12))
            cl.t_next = cl.anchor + cl.k * h
        cl.coming_online = False
        self._fit(cl)

    def _fit(self, cl: ClientState) -> None:
        """A heartbeat at or after the spell's end does not happen: the client checks in on coming online."""
        if not cl.coming_online and cl.t_next >= cl.spell_end:
            s, e = self._spell(cl.c, cl.spell_end)
            cl.spell_start, cl.spell_end = s, e
            cl.t_next = s + self._delay(cl.c, s) if math.isfinite(s) else math.inf
            cl.coming_online = True

    def _advance(self, cl: ClientState, w: float, anchor_here: bool) -> None:
        """The heartbeat after a check-in at ``w``: exactly h later (jitter 0, counted from the check-in that
        set the cycle) or U(h(1-j), h(1+j)) later."""
        h = self._hours(cl)
        if self.jitter > 0:
            cl.t_next = w + h * (1.0 - self.jitter) + 2.0 * self.jitter * h * self._u(cl)
        else:
            if anchor_here or h != cl.h_anchor:
                cl.anchor, cl.k, cl.h_anchor = w, 0, h
            cl.k += 1
            cl.t_next = cl.anchor + cl.k * h
        cl.coming_online = False
        self._fit(cl)

    def _client(self, cl: ClientState) -> Generator[simpy.Event, Any, None]:
        self._start(cl)
        yield from self._loop(cl)

    def _loop(self, cl: ClientState) -> Generator[simpy.Event, Any, None]:
        env = self.env
        ev: At | None = None
        ev_t = math.nan
        while math.isfinite(cl.t_next):
            if ev is None or ev_t != cl.t_next:
                ev, ev_t = At(env, cl.t_next, CHECKIN), cl.t_next
            try:
                yield ev
            except Interrupt as push:
                if push.cause == "repair":  # a new sylink.xml: its next check-in was set by ``repair``
                    ev = None
                    continue
                # push mode: the open connection delivers a change at once; an extra check-in that moves the
                # heartbeat cycle only if it changes the heartbeat
                now = env.now
                h = self._hours(cl)
                assert isinstance(push.cause, float)
                self._checkin(cl, now, push.cause)
                if cl.orphaned and not self.counting:
                    return
                if self._hours(cl) != h:
                    cl.spell_start, cl.spell_end = self._spell(cl.c, now)
                    self._advance(cl, now, True)
                continue
            ev = None
            w = env.now
            was_online = cl.coming_online
            if cl.orphaned:
                if math.isnan(self.detected_at[cl.c]):  # orphaned at a change: first seen failing now
                    self.detected_at[cl.c] = w
                if not self.counting:
                    return
                self._tally(cl.lu, w)  # an orphan keeps trying its manager, on its heartbeat cycle
                self._advance(cl, w, was_online)
                continue
            h = self._hours(cl)
            self._checkin(cl, w, cl.spell_start)
            if cl.orphaned and not self.counting:
                return
            self._advance(cl, w, was_online or self._hours(cl) != h)

    # ------------------------------------------------------------------ the world's changes

    def before_change(self, t: float) -> None:
        if not self.eval_pending:
            self.before = self._snapshot()  # the world just before the first change at t
            self.eval_pending = True
            ev = At(self.env, t, EVALUATE)
            ev.callbacks.append(self._evaluate)

    def after_change(self, t: float) -> None:
        assert self.eval_pending

    def _evaluate(self, _event: simpy.Event) -> None:
        """After every change at ``t``: orphans, then who is behind its site, then push deliveries."""
        t = self.env.now
        self.eval_pending = False
        new = self.snap = self._snapshot()
        before = self.before
        if self.world.has_restores:
            self._revive(t, new)
        survivors: list[ClientState] = []
        for cl in self.alive:
            if cl.orphaned:
                continue
            if self._is_orphaned(cl.cache, new):
                self._record_orphan(cl, t, before, new)
            elif self._losing_unsupported(cl, new):
                cl.orphaned = True  # it will meet the refusal at its next check-in and cannot fail over
                self.orphaned_at[cl.c] = t
                self.facts.unsupported_hit[cl.c] = True
            else:
                survivors.append(cl)
        self.alive = survivors
        for cl in survivors:
            self._note_survival(cl, t, new, at_change=True)
            if cl.cache != new.views[self.site[cl.lu]][cl.group]:
                if math.isnan(cl.pending_since):
                    cl.pending_since = t
            else:
                cl.pending_since = math.nan
        push = [cl for cl in survivors if cl.push and cl.proc is not None and cl.proc.is_alive]
        if push:
            starts, _ = self.fleet.presence.next_spell(np.array([cl.c for cl in push]), t)
            for cl, start in zip(push, starts.tolist(), strict=True):
                if start <= t:
                    assert cl.proc is not None
                    cl.proc.interrupt(start)

    def _revive(self, t: float, snap: Snapshot) -> None:
        """An orphan whose cache a restored certificate makes good again is one no longer: it kept trying on its
        heartbeat cycle, so its next attempt succeeds (an unsupported version only if its last server accepts it)."""
        gone = self.fleet.presence.gone
        listed = {cl.c for cl in self.alive}  # an orphan of a check-in is still listed until this evaluation
        for cl in self.clients:
            if not cl.orphaned or gone[cl.c] or self._is_orphaned(cl.cache, snap):
                continue
            if cl.unsupported and self._refuses(cl, cl.lu, snap):
                continue
            c = cl.c
            cl.orphaned = False
            self.orphaned_at[c] = self.detected_at[c] = np.nan
            f = self.facts
            f.unsupported_hit[c], f.rescue_ok[c], f.online_in_window[c], f.other_available[c] = (
                False,
                True,
                False,
                False,
            )
            if c not in listed:
                self.alive.append(cl)
            if cl.proc is None or not cl.proc.is_alive:  # it stopped at the attempt that found it orphaned
                while cl.t_next < t:
                    self._advance(cl, cl.t_next, cl.coming_online)
                cl.proc = self.env.process(self._loop(cl))

    def _refuses(self, cl: ClientState, m: int, snap: Snapshot) -> bool:
        info = self._list(cl.cache.msl)
        if m not in info.https or snap.retired[m]:
            return False
        return cl.cache.certs[m] != snap.real[m] and (info.https[m] or cl.cache.secure)

    def _losing_unsupported(self, cl: ClientState, snap: Snapshot) -> bool:
        """By the KB's reading: an unsupported version whose last server (it goes there first) now refuses it."""
        if not cl.unsupported or self.restart_saves or not self.use_last:
            return False
        info = self._list(cl.cache.msl)
        m = cl.lu
        if m not in info.https or snap.retired[m]:
            return False
        return cl.cache.certs[m] != snap.real[m] and (info.https[m] or cl.cache.secure)

    def _record_orphan(self, cl: ClientState, t: float, before: Snapshot, new: Snapshot) -> None:
        c = cl.c
        cl.orphaned = True
        self.orphaned_at[c] = t
        self.facts.rescue_ok[c] = not self._is_orphaned(before.views[self.site[cl.lu]][cl.group], new)
        # a certificate other than the cached one (newer, or older after a restore): TrustTable.other_available
        self.facts.other_available[c] = any(before.real[m] != gen for m, gen in cl.cache.certs.items())
        ps = cl.pending_since
        if math.isnan(ps):
            self.facts.online_in_window[c] = False
        else:
            self.facts.online_in_window[c] = bool(
                self.fleet.presence.online_between(np.array([c]), np.array([ps]), np.array([t]))[0]
            )

    def finish(self) -> EngineOutput:
        gone = self.fleet.presence.gone
        orphaned = np.array([cl.orphaned for cl in self.clients], bool)
        self.new_cert_at[orphaned | gone] = np.nan
        last = np.array([cl.lu for cl in self.clients], np.int64)
        counted = None
        if self._count is not None:
            counted = np.array(self._count, float).reshape(self.topo.n_managers, self.bins)
        return EngineOutput(
            self.orphaned_at,
            self.detected_at,
            self.new_cert_at,
            last,
            self.checkins,
            self.facts,
            timeouts=self.timeouts,
            learnt_at=self.learnt_at,
            counted_load=counted,
            survives_at_start=self.survives_at_start,
            survival_changes=self._survival_changes(),
            seen_since=None if self.world.watch not in self.watched else self.watched[self.world.watch].copy(),
            repaired_at=self.repaired_at,
        )

    def _survival_changes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        if self.probe is None:
            return None
        log = self.survival_log
        return (
            np.array([c for c, _, _, _ in log], np.int64),
            np.array([t for _, t, _, _ in log], float),
            np.array([v for _, _, v, _ in log], bool),
            np.array([w for _, _, _, w in log], bool),
        )


def run_reference(
    topo: Topology,
    fleet: Fleet,
    world: World,
    rng: np.random.Generator,
    horizon: float,
    fail_prob: np.ndarray | None = None,
    bin_hours: float = 1.0,
    count_load: bool = False,
    probe: Step | None = None,
    initial: InitialState | None = None,
) -> EngineOutput:
    """Play every check-in of every client up to ``horizon`` hours. ``probe``: the decisive step of a planning
    probe (not in the runbook the world runs): record when each client would survive it.

    ``fail_prob`` ((manager, bin) -> probability, bins of ``bin_hours``) lets overloaded managers time
    check-ins out; with it, or with ``count_load``, the output carries the literal check-in count per
    (manager, bin) in ``counted_load`` (bins: those of ``fail_prob``, else ceil(horizon / bin_hours))."""
    world.start()
    if initial is not None and initial.at > 0:
        world.env.run(until=initial.at)  # the world before the observed moment, without the fleet
    engine = ReferenceEngine(topo, fleet, world, rng, horizon, fail_prob, bin_hours, count_load, probe, initial)
    world.listeners.append(engine)
    try:
        world.env.run(until=horizon)
        return engine.finish()
    finally:
        world.listeners.remove(engine)  # freed with the run, not by a later garbage collection
