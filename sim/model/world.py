"""The server side as SimPy processes: the operator working through the runbook, managers restarting,
site databases replicating. The fleet is not in here: engines listen for changes of the world.

Every change of what a client could learn or of who answers goes through ``World._changing``, which tells
the listeners (the engines) just before and just after, so a fleet engine can catch up to the moment of the
change in one batch and then see the new world.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from heapq import heappush
from typing import Any, Protocol

import numpy as np
import simpy
from simpy.events import EventPriority

from sim.errors import InputError
from sim.model.fleet import Fleet
from sim.model.streams import splitmix64, to_unit
from sim.model.topology import Topology
from sim.scenario.runbook import (
    NOT_CHANGES,
    AssignMsl,
    End,
    GroupStep,
    HoldIf,
    MslProtocol,
    Repair,
    RestoreCertificate,
    Retire,
    SecureComms,
    SetHeartbeat,
    Step,
    UpdateCertificate,
    Wait,
    step_name,
)

FIELDS = ("msl", "secure", "heartbeat")


LOOK = EventPriority(4)  # after every change, evaluation and check-in at the same moment (engines use 0 to 3)


class WorldListener(Protocol):
    def before_change(self, t: float) -> None: ...

    def after_change(self, t: float) -> None: ...


class Console(Protocol):
    """What the operator's console shows about check-ins, as an engine knows it (docs/model.md, "Conditions").

    ``watch(key, t)``: from now (the end of step ``key``) record each client's first successful check-in.
    ``first_seen(key, now)``: per client, that time as known at ``now`` (inf: not yet); the fast engine also
    gives the times it predicts after ``now`` from each client's heartbeat phase, valid until the world next
    changes (the world asks again after every change). ``arm(key, members, k)``: nudge the world
    (``World.nudge``) at the check-in that makes ``k`` of ``members`` seen (the reference engine, which knows
    only the past; the fast engine, which predicts, need not). ``flush(now)``: play every check-in at ``now``
    before the world goes on (a condition is read after the check-ins of its moment)."""

    def watch(self, key: int, t: float) -> None: ...

    def first_seen(self, key: int, now: float) -> np.ndarray: ...

    def arm(self, key: int, members: np.ndarray, k: int) -> None: ...

    def flush(self, now: float) -> None: ...

    def orphans(self, now: float) -> tuple[np.ndarray, np.ndarray]:
        """(orphaned now, per client; when the help desk could hear of it: its first failed check-in after its
        orphaning, NaN if none yet known)."""
        ...

    def repair(self, idx: np.ndarray, t: float) -> None:
        """Clients ``idx`` get the console's current settings and certificates now (a new sylink.xml)."""
        ...


def _wake(ev: simpy.Event) -> None:
    if not ev.triggered:
        ev.succeed()


def at(env: simpy.Environment, t: float, priority: EventPriority) -> simpy.Event:
    """A triggered event processed at the absolute time ``t`` (``now + delay`` would round a computed check-in
    time a second time)."""
    ev = simpy.Event(env)
    ev._ok = True
    ev._value = None
    heappush(env._queue, (t, priority, next(env._eid), ev))
    return ev


@dataclass
class SiteView:
    """What one site's database says: each group's effective list, secure setting and heartbeat, and the
    certificate generation of every manager. Last writer wins by the time the change was made."""

    msl: np.ndarray
    secure: np.ndarray
    heartbeat: np.ndarray  # minutes
    cert: np.ndarray  # generation per manager; 0 is the certificate every client holds at the start
    stamp: dict[str, np.ndarray] = field(default_factory=dict)

    def copy_settings(self, fld: str) -> np.ndarray:
        return {"msl": self.msl, "secure": self.secure, "heartbeat": self.heartbeat}[fld]


@dataclass
class StepRecord:
    index: int
    name: str
    kind: str
    start_hours: float
    end_hours: float
    detail: str


@dataclass
class Change:
    time: float
    origin: int
    kind: str  # a field of FIELDS, or "cert"
    values: dict[int, Any]  # group -> value, or manager -> generation


class World:
    """Sites, managers and the runbook interpreter, driven by a SimPy environment."""

    def __init__(
        self,
        env: simpy.Environment,
        topo: Topology,
        steps: list[Step],
        replication_hours: float,
        watch: str | None = None,
    ):
        """``watch``: a step whose check-ins since its end the engine reports at the end of the run (the
        planning probe of a gated template reads its gate off them)."""
        self.env = env
        self.topo = topo
        self.steps = steps
        self.replication_hours = replication_hours
        G, M = topo.n_groups, topo.n_managers
        self.views = [
            SiteView(
                msl=topo.init_msl.copy(),
                secure=topo.init_secure.copy(),
                heartbeat=topo.init_heartbeat.copy(),
                cert=np.zeros(M, np.int64),
                stamp={f: np.full(G, -math.inf) for f in FIELDS} | {"cert": np.full(M, -math.inf)},
            )
            for _ in topo.site_names
        ]
        self.down = np.zeros(M, bool)
        self.retired = np.zeros(M, bool)
        self.listeners: list[WorldListener] = []
        self.step_records: list[StepRecord] = []
        self.events: list[dict[str, Any]] = []
        self.version = 0  # bumped on every change: engines cache per-version tables
        # reach bookkeeping for "missed-group": ((kind, value), group, time, "reach" | "miss")
        self._reach_events: list[tuple[tuple[str, str], int, float, str]] = []
        self.step_done: dict[str, float] = {}
        self.first_cert_update: float | None = None
        self.first_change: dict[int, float] = {}  # manager -> when it first stopped presenting its first cert
        # certificate generations as identities: an update issues a new one (1, 2, ...), a restore goes back to
        # the one before (a stack per manager: its keystore backups)
        self._issued = np.zeros(topo.n_managers, np.int64)
        self._stack: list[list[int]] = [[0] for _ in range(topo.n_managers)]
        self.has_restores = any(isinstance(st, RestoreCertificate) for st in steps)
        self.console: Console | None = None  # the engine, when the runbook has conditions
        self.names = [step_name(st, i) for i, st in enumerate(steps)]
        self.anchors = self._anchors()  # steps whose end a condition counts check-ins from
        self.watch = None if watch is None else self.names.index(watch)
        if self.watch is not None:
            self.anchors.add(self.watch)
        self._wake: simpy.Event | None = None
        self._nudged = False
        self.stopped_at: str | None = None  # the hold-if that stopped the runbook
        self.client_group = np.zeros(0, np.int64)
        self.fleet: Fleet | None = None
        self._listed: dict[int, np.ndarray] = {}
        self.repair_attempts = 0  # hands-on repairs tried (each costs the scenario's repair_minutes)

    @property
    def has_conditions(self) -> bool:
        """Whether the runbook needs the console: a condition, a repair, or a watched step."""
        return bool(self.anchors) or any(isinstance(st, Repair) for st in self.steps)

    def attach_console(self, console: Console, fleet: Fleet) -> None:
        """The engine that answers the runbook's conditions and repairs, and the fleet it moves."""
        self.console, self.client_group, self.fleet = console, fleet.group, fleet
        # the clients each listed repair names, checked now (an error inside the simulation would be SimPy's)
        self._listed = {
            i: self._client_indices(st.clients, i)
            for i, st in enumerate(self.steps)
            if isinstance(st, Repair) and st.clients != "detected"
        }

    def _anchors(self) -> set[int]:
        """Indices of the steps a condition may count from: named ones, and every change for 'last-change'."""
        out: set[int] = set()
        for st in self.steps:
            cond = st.until if isinstance(st, Wait) else st if isinstance(st, HoldIf) else None
            if cond is None:
                continue
            if cond.since == "last-change":
                out |= {i for i, s in enumerate(self.steps) if s.kind not in NOT_CHANGES}
            else:
                out.add(self.names.index(cond.since))
        return out

    # ------------------------------------------------------------------ state as the fleet sees it

    @property
    def cert_actual(self) -> np.ndarray:
        """The certificate each manager really presents: the one in its own site's database."""
        site = self.topo.manager_site
        return np.array([self.views[site[m]].cert[m] for m in range(self.topo.n_managers)], np.int64)

    @property
    def course(self) -> list[Step]:
        """The runbook's normal course: its steps up to the first ``end`` (a rollback after it runs only when a
        hold-if branches to it)."""
        out: list[Step] = []
        for st in self.steps:
            if isinstance(st, End):
                break
            out.append(st)
        return out

    @property
    def final_cert(self) -> np.ndarray:
        """Certificate generation each manager will have when the runbook's normal course is done."""
        stacks: list[list[int]] = [[0] for _ in range(self.topo.n_managers)]
        issued = np.zeros(self.topo.n_managers, np.int64)
        for st in self.course:
            if isinstance(st, UpdateCertificate | RestoreCertificate):
                for m in self._managers(st.managers):
                    if isinstance(st, UpdateCertificate):
                        issued[m] += 1
                        stacks[m].append(int(issued[m]))
                    elif len(stacks[m]) > 1:
                        stacks[m].pop()
        return np.array([s[-1] for s in stacks], np.int64)

    @property
    def final_retired(self) -> np.ndarray:
        out = np.zeros(self.topo.n_managers, bool)
        for st in self.course:
            if isinstance(st, Retire):
                out[self._managers(st.managers)] = True
        return out

    def hypothetical(self, step: Step) -> tuple[np.ndarray, np.ndarray]:
        """(certificate each manager would present, retired) if ``step`` (an update or a retirement) landed now:
        what the planning probe asks each client's cache about (docs/model.md, "Planning answers")."""
        cert = self.cert_actual.copy()
        retired = self.retired.copy()
        if isinstance(step, UpdateCertificate):
            cert[self._managers(step.managers)] += 1
        elif isinstance(step, Retire):
            retired[self._managers(step.managers)] = True
        return cert, retired

    def missed_groups(self) -> set[int]:
        """Groups an all-groups step missed, at any time (see ``missed_intervals``)."""
        return set(self.missed_intervals())

    def missed_intervals(self) -> dict[int, list[tuple[float, float]]]:
        """Per group, when it was missed: from an all-groups step that did not reach it, and would have
        changed it, until a step of the same kind and value reached it (or for ever). A miss of a change the
        group already had (it was reached earlier, or already held that value) is no miss."""
        out: dict[int, list[tuple[float, float]]] = {}
        events = sorted(self._reach_events, key=lambda e: (e[2], e[3]))
        state: dict[tuple[tuple[str, str], int], float] = {}  # (key, group) -> missed since
        reached: set[tuple[tuple[str, str], int]] = set()
        for key, g, t, kind in events:
            k = (key, g)
            if kind == "reach":
                reached.add(k)
                if k in state:
                    out.setdefault(g, []).append((state.pop(k), t))
            elif k not in reached and k not in state:
                state[k] = t
        for (_, g), t0 in state.items():
            out.setdefault(g, []).append((t0, math.inf))
        return out

    # ------------------------------------------------------------------ processes

    def start(self) -> None:
        self.env.process(self.run_runbook())

    def run_runbook(self) -> Generator[simpy.Event, Any, None]:
        """The operator: one step after the other, each landing its change at the end of its hands-on time; a
        hold-if may stop the runbook or send it on to a later step, an ``end`` closes its normal course."""
        i = 0
        while i < len(self.steps):
            step, name, start = self.steps[i], self.names[i], self.env.now
            nxt = i + 1
            if isinstance(step, End):
                self._record(i, start, "end of the runbook's course")
                return
            if isinstance(step, Wait) and step.until is not None:
                detail = yield from self._wait_until(i, step)
            elif isinstance(step, Wait):
                yield self.env.timeout(self._wait_hours(step))
                detail = f"waited {self.env.now - start:.2f} h"
            elif isinstance(step, HoldIf):
                detail, nxt = yield from self._hold_if(i, step)
            elif isinstance(step, Repair):
                detail = yield from self._repair(i, step)
            else:
                if step.operator_minutes > 0:
                    yield self.env.timeout(step.operator_minutes / 60.0)
                detail = self._apply_step(step, name)
            self._record(i, start, detail)
            if nxt < 0:
                self.stopped_at = name
                return
            i = nxt

    def _record(self, i: int, start: float, detail: str) -> None:
        name = self.names[i]
        self.step_done[name] = self.env.now
        self.step_records.append(StepRecord(i, name, self.steps[i].kind, start, self.env.now, detail))
        self._log("step", "", name, detail)
        if i in self.anchors and self.console is not None:
            self.console.watch(i, self.env.now)

    # ------------------------------------------------------------------ conditions on what the console shows

    def _members(self, groups: list[str] | str) -> np.ndarray:
        """The groups a condition counts: every group for 'all', else the named ones and all their subgroups."""
        if groups == "all":
            return np.ones(self.topo.n_groups, bool)
        reached, _ = self.topo.reach([self.topo.group_index(g) for g in groups], True)
        out = np.zeros(self.topo.n_groups, bool)
        out[sorted(reached)] = True
        return out

    def _anchor(self, since: str, i: int) -> tuple[int, str]:
        """The step a condition counts from: the named one, or the last change that ran before step ``i``."""
        if since != "last-change":
            return self.names.index(since), since
        done = [r.index for r in self.step_records if r.index < i and self.steps[r.index].kind not in NOT_CHANGES]
        return done[-1], self.names[done[-1]]

    def _look(self) -> Generator[simpy.Event, Any, None]:
        """The console is read after every change and check-in of this moment."""
        yield at(self.env, self.env.now, LOOK)
        assert self.console is not None
        self.console.flush(self.env.now)

    def _seen(self, key: int, client_group: np.ndarray, groups: list[str] | str) -> tuple[np.ndarray, np.ndarray]:
        """(first successful check-in since the anchor, per member client; the member mask over clients)."""
        assert self.console is not None
        members = self._members(groups)[client_group]
        return self.console.first_seen(key, self.env.now)[members], members

    def _wait_until(self, i: int, step: Wait) -> Generator[simpy.Event, Any, str]:
        """A gate: until the k-th of the members has checked in since the anchor (k = ceil(share x members)),
        or the cap. The engine's answer holds until the world changes; after a change the world asks again."""
        assert step.until is not None and step.max_hours is not None and self.console is not None
        cond = step.until
        key, since = self._anchor(cond.since, i)
        base = self.env.now if step.after_step is None else self.step_done[step.after_step]
        deadline = base + step.max_hours
        start = self.env.now
        yield from self._look()
        client_group = self.client_group
        while True:
            seen, members = self._seen(key, client_group, cond.groups)
            n = len(seen)
            k = max(1, math.ceil(cond.checked_in_share * n - 1e-9))
            t = float(np.partition(seen, k - 1)[k - 1]) if n >= k else math.inf
            now = self.env.now
            share = float(np.mean(seen <= now)) if n else 1.0
            if t <= now or n == 0:
                return (
                    f"until {cond.checked_in_share * 100:g}% checked in since {since}: held at {min(t, now):.2f} h "
                    f"({share:.1%} of {n}), after {now - start:.2f} h"
                )
            if now >= deadline:
                return (
                    f"until {cond.checked_in_share * 100:g}% checked in since {since}: cap of {step.max_hours:g} h "
                    f"ended it at {now:.2f} h with {share:.1%} of {n} checked in"
                )
            self.console.arm(key, np.flatnonzero(members), k)
            yield self._sleep(min(t, deadline))
            self.console.flush(self.env.now)

    def _hold_if(self, i: int, step: HoldIf) -> Generator[simpy.Event, Any, tuple[str, int]]:
        """A stop condition, read when the next step is due: more than K members not checked in since the anchor."""
        key, since = self._anchor(step.since, i)
        yield from self._look()
        seen, _ = self._seen(key, self.client_group, step.groups)
        missing = int(np.sum(seen > self.env.now))
        head = f"{missing} of {len(seen)} not checked in since {since} (hold above {step.not_checked_in_above})"
        if missing <= step.not_checked_in_above:
            return f"{head}: passed", i + 1
        if step.then == "stop":
            return f"{head}: held, runbook stopped", -1
        return f"{head}: held, going on at {step.then}", self.names.index(step.then)

    # ------------------------------------------------------------------ repairs

    def _repair(self, i: int, step: Repair) -> Generator[simpy.Event, Any, str]:
        """Daily waves of hands-on repairs (docs/model.md, "Repairs"): wave j lands j days after the step began
        (the last one when the campaign ends), before the check-ins of that moment."""
        assert self.console is not None and self.fleet is not None
        start = self.env.now
        listed = self._listed.get(i)
        days = step.days if listed is None else math.ceil(len(listed) / step.per_day)
        assert days is not None
        waves = max(1, math.ceil(days - 1e-9))
        tried = fixed = 0
        for j in range(1, waves + 1):
            yield at(self.env, start + 24.0 * min(j, days), EventPriority(1))
            now = self.env.now
            orphaned, detected = self.console.orphans(now)
            if listed is None:
                cand = np.flatnonzero(orphaned & (detected < now))  # heard of before this moment
                batch = cand[np.lexsort((cand, detected[cand]))][: step.per_day]
            else:
                wave = listed[(j - 1) * step.per_day : j * step.per_day]
                batch = wave[orphaned[wave]]
            ok = self._repair_draws(batch, i, tried) < step.success_share
            self.console.repair(batch[ok], now)
            tried += len(batch)
            fixed += int(ok.sum())
            self._log("repair", "", self.names[i], f"{int(ok.sum())} of {len(batch)} repaired")
        self.repair_attempts += tried
        left = int(np.sum(self.console.orphans(self.env.now)[0]))
        return (
            f"repaired {fixed} of {tried} tried in {waves} wave(s) of up to {step.per_day} over "
            f"{self.env.now - start:.2f} h; {left} orphan(s) left"
        )

    def _client_indices(self, ids: list[str] | str, i: int) -> np.ndarray:
        assert self.fleet is not None
        where = {str(c): k for k, c in enumerate(self.fleet.client_id)}
        missing = [c for c in ids if c not in where]
        if missing:
            raise InputError("runbook", f"steps[{i}].clients", f"no client with id {missing[0]!r} in the fleet")
        return np.array([where[c] for c in ids], np.int64)

    def _repair_draws(self, idx: np.ndarray, i: int, tried: int) -> np.ndarray:
        """A uniform per repair, from the client's key, the step and the attempt: the same in both engines."""
        assert self.fleet is not None
        salt = np.uint64((i * 1_000_003 + tried) % (2**63))
        return to_unit(splitmix64(self.fleet.keys[idx] ^ splitmix64(np.full(len(idx), salt, np.uint64))))

    def _sleep(self, end: float) -> simpy.Event:
        """Sleep until ``end`` (after the check-ins of that moment) or until ``nudge``."""
        ev = simpy.Event(self.env)
        self._wake, self._nudged = ev, False
        at(self.env, end, LOOK).callbacks.append(lambda _e: _wake(ev))
        return ev

    def nudge(self) -> None:
        """Something the console shows may have changed now: a gate looks again after this moment."""
        ev = self._wake
        if ev is not None and not ev.triggered and not self._nudged:
            self._nudged = True
            at(self.env, self.env.now, LOOK).callbacks.append(lambda _e: _wake(ev))

    def _wait_hours(self, step: Wait) -> float:
        if step.hours is not None:
            if step.after_step is not None:
                return max(0.0, self.step_done[step.after_step] + step.hours - self.env.now)
            return step.hours
        assert step.heartbeats is not None
        groups = None if step.groups == "all" else [self.topo.group_index(g) for g in step.groups]
        view = self.views[0]
        return step.heartbeats * self.topo.slowest_heartbeat_hours(view.heartbeat, groups)

    def restart_manager(self, m: int) -> Generator[simpy.Event, Any, None]:
        """A certificate update restarts the manager's services: it answers no one for a while (fact 18)."""
        hours = float(self.topo.restart_hours[m])
        if hours <= 0:
            return
        self._changing()
        self.down[m] = True
        self._log("down", self.topo.site_names[self.topo.manager_site[m]], self.topo.manager_names[m], "restart")
        self._changed()
        yield self.env.timeout(hours)
        self._changing()
        self.down[m] = False
        self._log("up", self.topo.site_names[self.topo.manager_site[m]], self.topo.manager_names[m], "")
        self._changed()

    def deliver(self, change: Change, site: int) -> Generator[simpy.Event, Any, None]:
        """Replication: another site learns the change at the first replication tick after it was made."""
        tick = (math.floor(change.time / self.replication_hours) + 1) * self.replication_hours
        yield self.env.timeout(tick - self.env.now)
        self._changing()
        self._write(site, change)
        self._log("replicate", self.topo.site_names[site], change.kind, f"from {self.topo.site_names[change.origin]}")
        self._changed()

    # ------------------------------------------------------------------ applying steps

    def _managers(self, names: list[str] | str) -> list[int]:
        if names == "all":
            return list(range(self.topo.n_managers))
        return [self.topo.manager_index(n) for n in names]

    def _apply_step(self, step: Step, name: str) -> str:
        if isinstance(step, RestoreCertificate):
            ms = self._managers(step.managers)
            self._changing()
            for m in ms:
                self._stack[m].pop()
                site = int(self.topo.manager_site[m])
                self._make(Change(self.env.now, site, "cert", {m: self._stack[m][-1]}))
            self._changed()
            for m in ms:
                self.env.process(self.restart_manager(m))
            return "previous certificate restored on " + ", ".join(self.topo.manager_names[m] for m in ms)
        if isinstance(step, UpdateCertificate):
            ms = self._managers(step.managers)
            self._changing()
            for m in ms:
                site = int(self.topo.manager_site[m])
                self._issued[m] += 1
                gen = int(self._issued[m])
                self._stack[m].append(gen)
                self._make(Change(self.env.now, site, "cert", {m: gen}))
            if self.first_cert_update is None:
                self.first_cert_update = self.env.now
            for m in ms:
                self.first_change.setdefault(m, self.env.now)
            self._changed()
            for m in ms:
                self.env.process(self.restart_manager(m))
            return "new certificate on " + ", ".join(self.topo.manager_names[m] for m in ms)
        if isinstance(step, Retire):
            ms = self._managers(step.managers)
            self._changing()
            self.retired[ms] = True
            for m in ms:
                self.first_change.setdefault(m, self.env.now)
            for m in ms:
                self._log("retire", "", self.topo.manager_names[m], "")
            self._changed()
            return "retired " + ", ".join(self.topo.manager_names[m] for m in ms)
        assert isinstance(step, GroupStep)
        site = 0 if step.site is None else self.topo.site_names.index(step.site)
        targets = None if step.groups == "all" else [self.topo.group_index(g) for g in step.groups]
        reached, missed = self.topo.reach(targets, step.include_non_inheriting)
        view = self.views[site]
        fld, key, values = self._group_values(step, view, reached)
        now = self.env.now
        self._reach_events += [(key, g, now, "reach") for g in reached]
        if missed:
            _, _, would = self._group_values(step, view, missed)
            current = view.copy_settings(fld)
            self._reach_events += [(key, g, now, "miss") for g in missed if current[g] != would[g]]
        self._changing()
        self._make(Change(self.env.now, site, fld, values))
        self._changed()
        detail = f"{key[0]}={key[1]} on {len(reached)} group(s)"
        if missed:
            detail += "; not reached: " + ", ".join(sorted(self.topo.group_names[g] for g in missed))
        return detail

    def _group_values(
        self, step: GroupStep, view: SiteView, reached: set[int]
    ) -> tuple[str, tuple[str, str], dict[int, Any]]:
        if isinstance(step, SecureComms):
            return "secure", ("secure-comms", str(step.enabled)), {g: step.enabled for g in reached}
        if isinstance(step, SetHeartbeat):
            return "heartbeat", ("heartbeat", f"{step.minutes:g}"), {g: step.minutes for g in reached}
        if isinstance(step, AssignMsl):
            base = self.topo.msl_names.index(step.msl)
            v = self.topo.variant(base, None)
            return "msl", ("msl", step.msl), {g: v for g in reached}
        if isinstance(step, MslProtocol):
            proto = None if step.protocol == "original" else step.protocol
            vals = {g: self.topo.variant(self.topo.variants[int(view.msl[g])].base, proto, step.port) for g in reached}
            return "msl", ("msl-protocol", step.protocol), vals
        raise TypeError(type(step).__name__)

    # ------------------------------------------------------------------ the change log

    def _make(self, change: Change) -> None:
        """A change made at its origin site now; the other sites get it at the next replication."""
        self._write(change.origin, change)
        target = ", ".join(
            (self.topo.manager_names if change.kind == "cert" else self.topo.group_names)[k] for k in change.values
        )
        self._log(
            change.kind, self.topo.site_names[change.origin], target, str(sorted(set(map(str, change.values.values()))))
        )
        for s in range(len(self.views)):
            if s != change.origin:
                self.env.process(self.deliver(change, s))

    def _write(self, site: int, change: Change) -> None:
        view = self.views[site]
        stamp = view.stamp[change.kind]
        arr = view.cert if change.kind == "cert" else view.copy_settings(change.kind)
        for k, v in change.values.items():
            if change.time >= stamp[k]:
                arr[k] = v
                stamp[k] = change.time
        self.version += 1

    def _changing(self) -> None:
        for listener in self.listeners:
            listener.before_change(self.env.now)

    def _changed(self) -> None:
        self.version += 1
        for listener in self.listeners:
            listener.after_change(self.env.now)
        self.nudge()  # the fast engine's predictions hold only until the world changes

    def _log(self, kind: str, site: str, target: str, detail: str) -> None:
        self.events.append(
            {"time_hours": self.env.now, "event": kind, "site": site, "target": target, "detail": detail}
        )
