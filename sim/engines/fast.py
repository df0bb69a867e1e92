"""The fast engine: the world is SimPy, the fleet moves in numpy batches only when it could learn something.

Between two changes of the world nothing a client could learn changes, so a client that has caught up with
what its manager's site knows is "settled" and costs nothing until the next change. At each change the
engine (1) finds clients whose cache the change made unrecoverable (orphans), (2) marks the clients that
could now learn something or must fail over, and (3) when the world is about to change again, plays the
check-ins of those clients that fall before that moment, in one vectorised batch per round. Cost grows with
clients x changes of the world, not with heartbeats.
"""

from __future__ import annotations

import numpy as np

from sim.engines.common import heartbeat_hours, initial_last_used, view_states, world_status
from sim.engines.initial import InitialState
from sim.engines.outcome import EngineOutput
from sim.model.causes import OrphanFacts
from sim.model.fleet import Fleet
from sim.model.heartbeat import EPS, first_checkin
from sim.model.load import Assignments
from sim.model.streams import ClientStreams
from sim.model.topology import Topology
from sim.model.trust import StateTable, WorldStatus, choose_server
from sim.model.world import World
from sim.scenario.runbook import Step


class FastEngine:
    """Listens to the world (``before_change`` / ``after_change``) and advances the fleet lazily."""

    def __init__(
        self,
        topo: Topology,
        fleet: Fleet,
        world: World,
        streams: ClientStreams,
        fail_prob: np.ndarray | None = None,
        bin_hours: float = 1.0,
        timeout_streams: ClientStreams | None = None,
        probe: Step | None = None,
        record_assignments: bool = True,
        initial: InitialState | None = None,
    ):
        self.topo, self.fleet, self.world, self.streams = topo, fleet, world, streams
        self.record_assignments = record_assignments  # only the load model reads them: a run without it skips
        self.probe = probe
        self.survival_log: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.fail_prob, self.bin_hours = fail_prob, bin_hours
        self.timeouts = 0
        self.timeout_streams = timeout_streams or streams
        self.timeout_log: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (clients, times, managers)
        # (clients, times, managers, heartbeat hours) from then on, whenever a client's manager or heartbeat moved
        self.assignments: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        n = fleet.n
        self.table = StateTable(topo)
        self.final_cert = world.final_cert
        self.final_retired = world.final_retired
        self.vs = view_states(world, self.table)
        self.lu = initial_last_used(fleet, topo)
        self.state = self.vs[topo.manager_site[self.lu], fleet.group]
        self.now = 0.0
        self.dirty = False
        self.gone = fleet.presence.gone.copy()
        self.orphaned = np.zeros(n, bool)
        self.orphaned_at = np.full(n, np.nan)
        self.detected_at = np.full(n, np.nan)
        self.new_cert_at = np.full(n, np.nan)
        self.learnt_at = np.full(n, np.nan)  # first time it held any new certificate
        self.hb_last = np.full(n, np.nan)
        self.next_ci = np.full(n, np.nan)
        self.pending_since = np.full(n, np.nan)
        self.switch_time = np.full(n, -np.inf)
        self.fail_time = np.full(n, -np.inf)
        self.active = np.zeros(n, bool)
        self.deferred = np.zeros(n, bool)  # next_ci is a failback check-in, not the next heartbeat
        self.facts = OrphanFacts.empty(n)
        self.checkins = 0
        if initial is not None:
            self._start_from(initial)
        self.ws = world_status(world)
        self.prev_vs = self.vs
        self.prev_ws = self.ws
        self._tables()
        all_idx = np.arange(n)
        if record_assignments:
            self.assignments.append(
                (
                    all_idx,
                    np.full(n, self.now),
                    self.lu.copy(),
                    heartbeat_hours(fleet, self.hb_tab, self.state, all_idx),
                )
            )
        trusting = self.trusts[self.state] & ~self.gone
        self.new_cert_at[trusting] = self.now
        self.survives = np.zeros(n, bool)
        if probe is not None:
            live = np.flatnonzero(~self.gone)
            self.survives[live] = self._survival(live)
        self.survives_at_start = self.survives.copy()
        # the console (docs/model.md, "Conditions"): per watched step, (first check-in predicted from each
        # client's phase at its end, first successful check-in played, first failed check-in played)
        self.watched: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.flushed = -np.inf  # when the console was last read (its check-ins played)
        self.repaired_at = np.full(n, np.nan)
        if world.has_conditions:
            world.attach_console(self, fleet)

    def _start_from(self, init: InitialState) -> None:
        """Start at ``init.at`` from an observed fleet (``sim.engines.initial``): each client's cache interned,
        its last server and the phase of its heartbeat as given; the world at that moment is evaluated (orphans,
        who is behind) before any check-in, as after a change."""
        init.check(self.fleet.n, self.topo.n_managers)
        self.lu = init.last_server.astype(np.int64).copy()
        self.state = np.array(
            [
                self.table.intern(int(init.msl[c]), bool(init.secure[c]), float(init.heartbeat[c]), init.cert[c])
                for c in range(self.fleet.n)
            ],
            np.int64,
        )
        self.hb_last = init.last_checkin.astype(float).copy()
        self.learnt_at = init.learnt_at.astype(float).copy()
        self.now = float(init.at)
        self.dirty = True

    # ------------------------------------------------------------------ listener protocol

    def before_change(self, t: float) -> None:
        self.advance_to(t)

    def after_change(self, t: float) -> None:
        self.dirty = True

    def advance_to(self, t: float) -> None:
        if self.dirty and t > self.now:
            self._world_changed(self.now)
            self.dirty = False
        if t > self.now:
            self._play_until(t)
            self.now = t

    def finish(self, horizon: float) -> EngineOutput:
        self.advance_to(horizon)
        if self.dirty:
            self._world_changed(self.now)
        self.new_cert_at[self.orphaned | self.gone] = np.nan
        w = self.world.watch
        seen = None if w is None or w not in self.watched else self.first_seen(w, horizon)
        return EngineOutput(
            self.orphaned_at,
            self.detected_at,
            self.new_cert_at,
            self.lu,
            self.checkins,
            self.facts,
            assignments=Assignments.build(self.assignments) if self.record_assignments else None,
            learnt_at=self.learnt_at,
            timeout_events=self._timeout_events(),
            timeouts=self.timeouts,
            survives_at_start=self.survives_at_start if self.probe is not None else None,
            survival_changes=self._survival_changes(),
            seen_since=seen,
            repaired_at=self.repaired_at,
        )

    # ------------------------------------------------------------------ the console

    def watch(self, key: int, t: float) -> None:
        """From ``t`` on, who checks in: the first check-in of every client at or after ``t`` by its heartbeat
        phase now (a change does not move the phase; only a check-in that teaches a new heartbeat does, and
        that one is played). Draws made for the prediction are given back (the stream is rewound), so the run
        is the one without the condition until the condition ends a wait."""
        n = self.fleet.n
        t = t + EPS if t == self.flushed else t  # the check-ins at t came before a step that follows a condition
        saved = self.streams.counter.copy()
        nc = np.where(self.deferred, np.nan, self.next_ci)
        pred = nc.copy()
        need = np.flatnonzero(~(nc >= t))
        anchor = np.where(nc < t, nc, self.hb_last)  # a check-in that fell between changes anchors the phase
        h = heartbeat_hours(self.fleet, self.hb_tab, self.state, need)
        pred[need] = first_checkin(self.fleet, need, np.full(len(need), t), anchor[need], h, self.streams.uniform)
        self.streams.counter[:] = saved
        pred[self.gone | self.orphaned | np.isnan(pred)] = np.inf
        self.watched[key] = (pred, np.full(n, np.inf), np.full(n, np.inf))

    def _note_seen(self, good: np.ndarray, gw: np.ndarray, failed: np.ndarray, fw: np.ndarray) -> None:
        for _, seen, fail in self.watched.values():
            seen[good] = np.minimum(seen[good], gw)
            fail[failed] = np.minimum(fail[failed], fw)

    def _catch_up(self, now: float) -> None:
        """Everything up to ``now``, the world's changes at ``now`` included (the console is read after them)."""
        self.advance_to(now)
        if self.dirty:
            self._world_changed(self.now)
            self.dirty = False

    def first_seen(self, key: int, now: float) -> np.ndarray:
        """Per client, the first successful check-in since the watched step: played, or predicted by its phase
        unless a played check-in failed first or it was orphaned first. Exact without jitter: between the
        played check-ins, a client's check-ins follow its heartbeat grid, and every one of them is accepted
        (it is settled) or played."""
        self._catch_up(now)
        pred, seen, fail = self.watched[key]
        orphaned_at = np.where(self.orphaned, self.orphaned_at, np.inf)
        valid = (pred < fail) & (pred < orphaned_at)
        return np.minimum(seen, np.where(valid, pred, np.inf))

    def arm(self, key: int, members: np.ndarray, k: int) -> None:
        """Nothing to do: ``first_seen`` already predicts, and the world asks again after every change."""

    def orphans(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        self._catch_up(now)
        return self.orphaned.copy(), np.where(self.orphaned, self.detected_at, np.nan)

    def repair(self, idx: np.ndarray, t: float) -> None:
        """A new sylink.xml: the client holds what the console's site (the first) knows for its group, is no
        longer an orphan, and checks in at once if online, else on coming online (a fresh heartbeat cycle)."""
        self._catch_up(t)
        if len(idx) == 0:
            return
        self.orphaned[idx] = False
        self.repaired_at[idx] = t
        self.detected_at[idx] = np.nan
        self.state[idx] = self.vs[0, self.fleet.group[idx]]
        new = self.state[idx]
        self.new_cert_at[idx] = np.where(self.trusts[new], t, np.nan)
        first = self.has_new[new] & np.isnan(self.learnt_at[idx])
        self.learnt_at[idx[first]] = t
        self.pending_since[idx] = np.nan
        pres = self.fleet.presence
        on = pres.online_at(idx, t)
        s, _ = pres.next_spell(idx, np.full(len(idx), t))
        nxt = np.full(len(idx), np.inf)
        back = ~on & np.isfinite(s)
        nxt[on] = t
        nxt[back] = s[back] + self.fleet.online_delay(idx[back], s[back])
        self.hb_last[idx] = np.nan
        self.next_ci[idx] = nxt
        self.deferred[idx] = False
        self.active[idx] = True
        all_h = heartbeat_hours(self.fleet, self.hb_tab, self.state, idx)
        self.assignments.append((idx.copy(), np.full(len(idx), t), self.lu[idx].copy(), all_h))

    def flush(self, now: float) -> None:
        """Play the check-ins at ``now`` (the console is read after them); a change at ``now`` comes after."""
        self._catch_up(now)
        self._play_until(float(np.nextafter(now, np.inf)))
        self.flushed = now

    # ------------------------------------------------------------------ tables per world

    def _tables(self) -> None:
        """Per-state facts in the current world, as arrays indexed by state."""
        S = len(self.table)
        ws = self.ws
        self.orphan_tab = np.array([self.table.is_orphaned(s, ws) for s in range(S)], bool)
        self.closed_tab = np.array([self.table.closed_entries(s, ws) for s in range(S)], bool).reshape(S, -1)
        self.trusts = np.array([self.table.trusts(s, self.final_cert, self.final_retired) for s in range(S)], bool)
        self.has_new = np.array([bool((self.table.certs[s] > 0).any()) for s in range(S)], bool)
        self.hb_tab = self.table.heartbeat_array()
        if self.probe is not None:
            cert, retired = self.world.hypothetical(self.probe)
            hypo = WorldStatus(cert=cert, unreachable=retired, retired=retired)
            self.orphan_hypo = np.array([self.table.is_orphaned(s, hypo) for s in range(S)], bool)
            self.closed_hypo = np.array([self.table.closed_entries(s, hypo) for s in range(S)], bool).reshape(S, -1)

    def _world_changed(self, t: float) -> None:
        """A new world from ``t``: record orphans, then wake whoever could learn something."""
        self.prev_ws, self.prev_vs = self.ws, self.vs
        self.ws = world_status(self.world)
        self.vs = view_states(self.world, self.table)
        self._tables()
        # after a condition was read at t, every check-in at t came before this change: the next is after t
        tn = t + EPS if t == self.flushed else t
        if self.world.has_restores:
            self._revive()
        alive = ~self.orphaned & ~self.gone
        newly = np.flatnonzero(alive & self.orphan_tab[self.state])
        if len(newly):
            self._record_orphans(newly, t, tn)
        alive[newly] = False
        lost = np.flatnonzero(alive & self._losing_unsupported())
        if len(lost):
            self._record_unsupported(lost, t, tn)
        alive[lost] = False
        idx = np.flatnonzero(alive)
        self._track_survival(idx, np.full(len(idx), t), at_change=True)
        behind = self.state[idx] != self.vs[self.topo.manager_site[self.lu[idx]], self.fleet.group[idx]]
        ps = self.pending_since[idx]
        self.pending_since[idx] = np.where(behind, np.where(np.isnan(ps), t, ps), np.nan)
        settled = self._settled(idx)
        unsettled = idx[~settled]
        self.active[:] = False
        self.active[unsettled] = True
        self._schedule(unsettled, tn)
        self._wait_for_failback(idx[settled], tn)
        self._push(unsettled, t)

    def _push(self, idx: np.ndarray, t: float) -> None:
        """Push mode (fact 8): the open connection delivers a change at once, on top of the heartbeat cycle:
        a client online now checks in now, and keeps its heartbeat phase unless its heartbeat changed."""
        push = idx[self.fleet.push[idx]]
        if len(push) == 0:
            return
        on = push[self.fleet.presence.online_at(push, t)]
        if len(on) == 0:
            return
        saved_next, saved_last = self.next_ci[on].copy(), self.hb_last[on].copy()
        h_before = heartbeat_hours(self.fleet, self.hb_tab, self.state, on)
        self._checkin(on, np.full(len(on), t))
        same = (heartbeat_hours(self.fleet, self.hb_tab, self.state, on) == h_before) & ~self.orphaned[on]
        self.next_ci[on[same]] = saved_next[same]
        self.hb_last[on[same]] = saved_last[same]

    def _wait_for_failback(self, idx: np.ndarray, t: np.ndarray | float) -> None:
        """A settled client on a lower tier still has one thing coming: failing back to the top tier after
        ``failback_hours`` of contact (fact 14). Play its first check-in once that is due, not every heartbeat;
        that check-in re-checks the clock (a reboot or a failed connect resets it) and waits again if need be."""
        if not (self.fleet.use_last_server and np.isfinite(self.fleet.failback_hours)) or len(idx) == 0:
            return
        tt = np.broadcast_to(np.asarray(t, dtype=float), idx.shape)
        lower = ~self._in_top_tier(idx)
        low, tt = idx[lower], tt[lower]
        if len(low) == 0:
            return
        s, _ = self.fleet.presence.next_spell(low, tt)  # the clock starts again when it comes online
        since = np.maximum(np.maximum(self.switch_time[low], self.fail_time[low]), s)
        due = np.maximum(since + self.fleet.failback_hours, tt)
        self.next_ci[low] = self._first_checkin(low, due)
        self.deferred[low] = True  # not its next heartbeat: recompute that if the world changes first
        self.active[low] = True

    # ------------------------------------------------------------------ the planning probe

    def _survival(self, idx: np.ndarray) -> np.ndarray:
        """Would each client survive the decisive step landing now? Its cache must leave it a manager (the
        orphan rule in the hypothetical world) and, for an unsupported version, its last server must not
        refuse it there (it goes there first and cannot fail over; without UseLastServer: no entry may)."""
        s = self.state[idx]
        ok = ~self.orphan_hypo[s]
        uns = self.fleet.unsupported[idx]
        if uns.any():
            if self.fleet.use_last_server:
                refused = self.closed_hypo[s, self.lu[idx]]
            else:
                refused = self.closed_hypo[s].any(axis=1)
            ok &= ~(uns & refused)
        return ok

    def _track_survival(self, idx: np.ndarray, when: np.ndarray, at_change: bool = False) -> None:
        if self.probe is None or len(idx) == 0:
            return
        new = self._survival(idx)
        changed = new != self.survives[idx]
        if changed.any():
            self.survives[idx[changed]] = new[changed]
            k = int(changed.sum())
            self.survival_log.append((idx[changed], when[changed].copy(), new[changed], np.full(k, at_change)))

    def _survival_changes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        if self.probe is None:
            return None
        if not self.survival_log:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool), np.zeros(0, bool)
        c, t, v, w = (np.concatenate([part[i] for part in self.survival_log]) for i in range(4))
        return c, t, v, w

    def _losing_unsupported(self) -> np.ndarray:
        """Per client: an unsupported version whose last server now refuses it. By the KB's reading it will go
        there at its next check-in and cannot fail over: it is orphaned now, whatever the restart timing
        (with the restart-timing reading its check-in decides, see ``_checkin``)."""
        if self.topo.restart_saves_unsupported or not self.fleet.use_last_server:
            return np.zeros(self.fleet.n, bool)
        return self.fleet.unsupported & self.closed_tab[self.state, self.lu]

    def _revive(self) -> None:
        """A restored certificate can make an orphan's cache good again (docs/model.md, "Restoring a
        certificate"): it was still trying on its heartbeat cycle, so its next attempt succeeds; an unsupported
        version only if its last server accepts it again."""
        dead = np.flatnonzero(self.orphaned & ~self.gone)
        if len(dead) == 0:
            return
        s = self.state[dead]
        ok = ~self.orphan_tab[s]
        uns = self.fleet.unsupported[dead]
        ok &= ~(uns & self.closed_tab[s, self.lu[dead]])
        back = dead[ok]
        if len(back) == 0:
            return
        self.orphaned[back] = False
        self.orphaned_at[back] = np.nan
        self.detected_at[back] = np.nan
        f = self.facts
        f.unsupported_hit[back], f.rescue_ok[back] = False, True
        f.online_in_window[back], f.other_available[back] = False, False
        self.next_ci[back] = np.nan  # its next check-in follows its heartbeat cycle (from its last one)
        self.deferred[back] = False

    def _record_unsupported(self, idx: np.ndarray, t: float, tn: float) -> None:
        self.orphaned[idx] = True
        self.orphaned_at[idx] = t
        self.facts.unsupported_hit[idx] = True
        self.detected_at[idx] = self._first_checkin(idx, np.full(len(idx), tn))

    def _record_orphans(self, idx: np.ndarray, t: float, tn: float) -> None:
        self.orphaned[idx] = True
        self.orphaned_at[idx] = t
        g = self.fleet.group[idx]
        rescue = self.prev_vs[self.topo.manager_site[self.lu[idx]], g]
        self.facts.rescue_ok[idx] = ~self.orphan_tab[rescue]
        other = np.array([self.table.other_available(s, self.prev_ws.cert) for s in range(len(self.table))], bool)
        self.facts.other_available[idx] = other[self.state[idx]]
        ps = self.pending_since[idx]
        has = ~np.isnan(ps)
        win = np.zeros(len(idx), bool)
        if has.any():
            win[has] = self.fleet.presence.online_between(idx[has], ps[has], np.full(int(has.sum()), t))
        self.facts.online_in_window[idx] = win
        self.detected_at[idx] = self._first_checkin(idx, np.full(len(idx), tn))

    # ------------------------------------------------------------------ who could learn something

    def _choices(self, keys: np.ndarray, ws: WorldStatus) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Choice per (state, last used, unsupported, failback) key, as (servers, orphaning flags) arrays."""
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        M = self.topo.n_managers
        for k in _distinct(keys):
            kk = int(k)
            fb, rest = kk % 2, kk // 2
            unsupported, rest = rest % 2, rest // 2
            lu, s = rest % M, rest // M
            c = choose_server(
                self.table,
                s,
                lu,
                bool(unsupported),
                ws,
                top_tier_only=bool(fb),
                restart_saves_unsupported=self.topo.restart_saves_unsupported,
            )
            out[kk] = (np.array(c.servers, np.int64), np.array(c.orphaning, bool))
        return out

    def _key(self, idx: np.ndarray, failback: np.ndarray | None = None) -> np.ndarray:
        M = self.topo.n_managers
        lu = self.lu[idx] if self.fleet.use_last_server else np.zeros(len(idx), np.int64)
        fb = np.zeros(len(idx), np.int64) if failback is None else failback.astype(np.int64)
        if not self.fleet.use_last_server:
            fb = np.ones(len(idx), np.int64)  # every check-in walks from the top tier
        return ((self.state[idx] * M + lu) * 2 + self.fleet.unsupported[idx]) * 2 + fb

    def _settled(self, idx: np.ndarray) -> np.ndarray:
        """True where every server the next check-in could reach accepts the client and would teach it
        nothing new: it would change neither its cache nor the server it uses."""
        keys = self._key(idx)
        choices = self._choices(keys, self.ws)
        out = np.zeros(len(idx), bool)
        g = self.fleet.group[idx]
        for k, (servers, orphaning) in choices.items():
            sel = np.flatnonzero(keys == k)
            if len(servers) == 0 or orphaning.any():
                continue  # fails (retry at the next change) or may be orphaned: play it
            ok = np.ones(len(sel), bool)
            for m in servers:
                ok &= self.vs[self.topo.manager_site[m], g[sel]] == self.state[idx[sel]]
            if self.fleet.use_last_server:
                ok &= servers[0] == self.lu[idx[sel]]
            out[sel] = ok
        return out

    # ------------------------------------------------------------------ time

    def _first_checkin(self, idx: np.ndarray, t: np.ndarray) -> np.ndarray:
        h = heartbeat_hours(self.fleet, self.hb_tab, self.state, idx)
        return first_checkin(self.fleet, idx, t, self.hb_last[idx], h, self.streams.uniform)

    def _schedule(self, idx: np.ndarray, t: float) -> None:
        """Next check-in at or after ``t`` for newly woken clients, keeping a pending one if still ahead."""
        nc = np.where(self.deferred[idx], np.nan, self.next_ci[idx])
        self.deferred[idx] = False
        passed = nc < t
        # a check-in that fell between changes happened (and taught nothing): it anchors the phase
        self.hb_last[idx[passed]] = nc[passed]
        keep = nc >= t
        need = idx[~keep]
        if len(need):
            self.next_ci[need] = self._first_checkin(need, np.full(len(need), t))

    def _play_until(self, t_end: float) -> None:
        while True:
            idx = np.flatnonzero(self.active & (self.next_ci < t_end))
            if len(idx) == 0:
                return
            self._checkin(idx, self.next_ci[idx].copy())

    def _checkin(self, idx: np.ndarray, when: np.ndarray) -> None:
        """Play one check-in for each client ``idx`` at its time ``when``, all in the current world."""
        self.checkins += len(idx)
        fleet, topo = self.fleet, self.topo
        fb = np.zeros(len(idx), bool)
        if np.isfinite(fleet.failback_hours):
            cand = ~self._in_top_tier(idx)
            if cand.any():
                s, _ = fleet.presence.next_spell(idx[cand], when[cand])
                since = np.maximum(np.maximum(self.switch_time[idx[cand]], self.fail_time[idx[cand]]), s)
                fb[cand] = when[cand] - since >= fleet.failback_hours
        keys = self._key(idx, fb)
        choices = self._choices(keys, self.ws)
        server = np.full(len(idx), -1, np.int64)
        orphaning = np.zeros(len(idx), bool)
        for k, (servers, orph) in choices.items():
            sel = np.flatnonzero(keys == k)
            if len(servers) == 0:
                continue
            u = self.streams.uniform(idx[sel])
            pick = np.minimum((u * len(servers)).astype(np.int64), len(servers) - 1)
            server[sel] = servers[pick]
            orphaning[sel] = orph[pick]
        timed_out = self._overload(idx, when, server)
        server[timed_out] = -1
        orphaning[timed_out] = False
        # an unsupported version met a mismatch: orphaned there and then
        hit = idx[orphaning]
        if len(hit):
            self.orphaned[hit] = True
            self.active[hit] = False
            self.orphaned_at[hit] = when[orphaning]
            self.detected_at[hit] = when[orphaning]
            self.facts.unsupported_hit[hit] = True
        failed = idx[server < 0]
        self.fail_time[failed] = when[server < 0]
        ok = (server >= 0) & ~orphaning
        good, gw, gs = idx[ok], when[ok], server[ok]
        if self.watched:
            self._note_seen(good, gw, failed, when[server < 0])
        switched = gs != self.lu[good]
        self.switch_time[good[switched]] = gw[switched]
        self.lu[good] = gs
        old = self.state[good]
        new = self.vs[topo.manager_site[gs], fleet.group[good]]
        h_old = heartbeat_hours(fleet, self.hb_tab, self.state, good)
        self.state[good] = new
        h_new = heartbeat_hours(fleet, self.hb_tab, self.state, good)
        moved = switched | (h_new != h_old)
        if self.record_assignments and moved.any():
            self.assignments.append((good[moved], gw[moved], gs[moved], h_new[moved]))
        self.pending_since[good] = np.nan
        self._track_survival(good, gw)
        gained = self.trusts[new] & ~self.trusts[old]
        lost = ~self.trusts[new] & self.trusts[old]
        self.new_cert_at[good[gained]] = gw[gained]
        first = self.has_new[new] & np.isnan(self.learnt_at[good])
        self.learnt_at[good[first]] = gw[first]
        self.new_cert_at[good[lost]] = np.nan
        # next heartbeat, and whether it can still teach anything before the world changes
        live = idx[~orphaning]
        lw = when[~orphaning]
        self.deferred[idx] = False
        self.hb_last[live] = lw
        self.next_ci[live] = self._first_checkin(live, lw + EPS)
        # refused by every manager: the same world refuses it again, wait for the next change;
        # timed out on an overloaded manager: try again at the next heartbeat
        # (with failback, every failed connect resets its clock (fact 14): keep playing them)
        if not np.isfinite(fleet.failback_hours):
            self.active[idx[(server < 0) & ~timed_out]] = False
        if len(good):
            settled = self._settled(good)
            self.active[good] = ~settled
            self._wait_for_failback(good[settled], gw[settled] + EPS)

    def _timeout_events(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        if not self.timeout_log:
            return None
        c, t, m = (np.concatenate([part[i] for part in self.timeout_log]) for i in range(3))
        return c, t, m

    def _overload(self, idx: np.ndarray, when: np.ndarray, server: np.ndarray) -> np.ndarray:
        """Check-ins that time out on an overloaded manager (a probability per manager and load bin)."""
        out = np.zeros(len(idx), bool)
        if self.fail_prob is None:
            return out
        sel = np.flatnonzero(server >= 0)
        sel = sel[~self.ws.unreachable[server[sel]]]  # a restarting manager met by an unsupported version
        if len(sel) == 0:
            return out
        b = np.minimum((when[sel] / self.bin_hours).astype(np.int64), self.fail_prob.shape[1] - 1)
        p = self.fail_prob[server[sel], b]
        risky = sel[p > 0]
        if len(risky):
            # its own stream: testing for a time-out must not move the client's heartbeats
            u = self.timeout_streams.uniform(idx[risky])
            out[risky] = u < p[p > 0]
            self.timeouts += int(out.sum())
            hit = np.flatnonzero(out)
            if len(hit):
                self.timeout_log.append((idx[hit], when[hit], server[hit]))
        return out

    def _in_top_tier(self, idx: np.ndarray) -> np.ndarray:
        M = self.topo.n_managers
        S = len(self.table)
        top = np.zeros((S, M), bool)
        for s in _distinct(self.state[idx]):
            for m, _ in self.topo.variants[self.table.msl[int(s)]].tiers[0]:
                top[int(s), m] = True
        return top[self.state[idx], self.lu[idx]]


def _distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values of small non-negative integers (keys, states), ascending as ``np.unique`` gives
    them, by counting (a hash or a sort of a million clients' keys cost more than the work they key)."""
    if len(values) == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.bincount(values))


def run_fast(
    topo: Topology,
    fleet: Fleet,
    world: World,
    streams: ClientStreams,
    horizon: float,
    fail_prob: np.ndarray | None = None,
    bin_hours: float = 1.0,
    timeout_streams: ClientStreams | None = None,
    probe: Step | None = None,
    record_assignments: bool = True,
    initial: InitialState | None = None,
) -> EngineOutput:
    """Run the world with the fast engine to ``horizon``. ``probe``: the decisive step of a planning probe
    (it is not in the runbook the world runs): record when each client would survive it.
    ``record_assignments``: keep the log of who used which manager when (the load model's input).
    ``initial``: start from an observed fleet at its time; the world runs to that moment without the fleet."""
    world.start()
    if initial is not None and initial.at > 0:
        world.env.run(until=initial.at)
    engine = FastEngine(
        topo,
        fleet,
        world,
        streams,
        fail_prob,
        bin_hours,
        timeout_streams,
        probe,
        record_assignments=record_assignments,
        initial=initial,
    )
    world.listeners.append(engine)
    try:
        world.env.run(until=horizon)
        return engine.finish(horizon)
    finally:
        # the world outlives the run (its records make the result): unhooked, the engine and its per-client
        # arrays are freed at once, not when a garbage collection finds the world-engine cycle
        world.listeners.remove(engine)
