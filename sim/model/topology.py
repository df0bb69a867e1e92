"""The static shape of a scenario, compiled to integer indices: managers, sites, groups, lists, versions.

Both engines and the world read this; nothing in it changes during a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.model.versions import VersionTable
from sim.scenario.document import Scenario

HTTP_DEFAULT_PORT = 8014


ROOT_DEFAULT_HEARTBEAT_MINUTES = 5.0


@dataclass(frozen=True)
class MslVariant:
    """A management server list as a client holds it: tiers of (manager index, uses https)."""

    base: int
    protocol: str | None  # None: the list's own protocol
    port: int
    tiers: tuple[tuple[tuple[int, bool], ...], ...]

    @property
    def managers(self) -> tuple[int, ...]:
        return tuple(m for t in self.tiers for m, _ in t)


@dataclass
class Topology:
    manager_names: list[str]
    manager_site: np.ndarray  # int per manager
    restart_hours: np.ndarray  # float per manager
    site_names: list[str]
    group_names: list[str]
    group_parent: np.ndarray  # int per group, -1 for the root
    group_inherit: np.ndarray  # bool per group
    msl_names: list[str]
    msl_defs: list[tuple[str, int, tuple[tuple[int, ...], ...]]]  # (protocol, port, tiers) per base list
    versions: VersionTable = field(default_factory=lambda: VersionTable({}))
    restart_saves_unsupported: bool = False
    variants: list[MslVariant] = field(default_factory=list)
    _variant_index: dict[tuple[int, str | None, int], int] = field(default_factory=dict)
    init_msl: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    init_secure: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    init_heartbeat: np.ndarray = field(default_factory=lambda: np.zeros(0))

    # ---- lists

    def variant(self, base: int, protocol: str | None, port: int | None = None) -> int:
        """Index of the list ``base`` switched to ``protocol`` (None: its own), interned."""
        own_proto, own_port, tiers = self.msl_defs[base]
        if protocol is None or protocol == own_proto:
            protocol, port = None, own_port
        elif port is None:
            port = HTTP_DEFAULT_PORT if protocol == "http" else 443
        key = (base, protocol, int(port))
        if key not in self._variant_index:
            https = (protocol or own_proto) == "https"
            self._variant_index[key] = len(self.variants)
            self.variants.append(
                MslVariant(base, protocol, int(port), tuple(tuple((m, https) for m in t) for t in tiers))
            )
        return self._variant_index[key]

    # ---- groups

    @property
    def n_groups(self) -> int:
        return len(self.group_names)

    @property
    def n_managers(self) -> int:
        return len(self.manager_names)

    def children(self, g: int) -> list[int]:
        return [int(c) for c in np.flatnonzero(self.group_parent == g)]

    def reach(self, targets: list[int] | None, include_non_inheriting: bool) -> tuple[set[int], set[int]]:
        """Groups a console change reaches, and the non-inheriting groups it did not reach.

        A change made on a group flows down to descendants that inherit; a group with inheritance off stops
        it (fact 15) unless the step says it covers such groups. ``targets=None`` means "all groups": the root.
        """
        roots = [self.root] if targets is None else targets
        reached: set[int] = set()
        stack = list(roots)
        while stack:
            g = stack.pop()
            if g in reached:
                continue
            reached.add(g)
            for c in self.children(g):
                if self.group_inherit[c] or include_non_inheriting:
                    stack.append(c)
        missed: set[int] = set()
        if targets is None:
            missed = set(range(self.n_groups)) - reached
        return reached, missed

    @property
    def root(self) -> int:
        return int(np.flatnonzero(self.group_parent < 0)[0])

    def slowest_heartbeat_hours(self, heartbeat_minutes: np.ndarray, groups: list[int] | None) -> float:
        sel = heartbeat_minutes if groups is None else heartbeat_minutes[groups]
        return float(np.max(sel)) / 60.0

    def group_index(self, name: str) -> int:
        return self.group_names.index(name)

    def manager_index(self, name: str) -> int:
        return self.manager_names.index(name)


def compile_topology(sc: Scenario) -> Topology:
    managers = sc.managers
    site_of = {m.name: i for i, s in enumerate(sc.sites) for m in s.managers}
    names = [m.name for m in managers]
    idx = {n: i for i, n in enumerate(names)}
    gnames = [g.name for g in sc.groups]
    gidx = {n: i for i, n in enumerate(gnames)}
    parent = np.array([gidx[g.parent] if g.parent is not None else -1 for g in sc.groups], dtype=np.int32)
    inherit = np.array([g.inherit for g in sc.groups], dtype=bool)
    inherit[parent < 0] = False
    msl_defs: list[tuple[str, int, tuple[tuple[int, ...], ...]]] = [
        (
            str(m.protocol),
            m.port if m.port is not None else (HTTP_DEFAULT_PORT if m.protocol == "http" else 443),
            tuple(tuple(idx[x] for x in t) for t in m.tiers),
        )
        for m in sc.msls
    ]
    topo = Topology(
        manager_names=names,
        manager_site=np.array([site_of[n] for n in names], dtype=np.int32),
        restart_hours=np.array([m.restart_minutes / 60.0 for m in managers]),
        site_names=[s.name for s in sc.sites],
        group_names=gnames,
        group_parent=parent,
        group_inherit=inherit,
        msl_names=[m.name for m in sc.msls],
        msl_defs=msl_defs,
        versions=VersionTable(sc.versions),
        restart_saves_unsupported=sc.fleet.restart_saves_unsupported,
    )
    mslidx = {n: i for i, n in enumerate(topo.msl_names)}
    # initial effective settings: top-down, inheriting groups take the parent's, others their own
    # (falling back to the parent's for fields they leave out).
    n = len(gnames)
    msl = np.full(n, -1, np.int32)
    sec = np.zeros(n, bool)
    hb = np.zeros(n)
    order = _top_down(parent)
    for g in order:
        spec = sc.groups[g]
        p = parent[g]
        if p < 0:
            assert spec.msl is not None
            msl[g] = topo.variant(mslidx[spec.msl], None)
            sec[g] = True if spec.secure_comms is None else spec.secure_comms
            hb[g] = ROOT_DEFAULT_HEARTBEAT_MINUTES if spec.heartbeat_minutes is None else spec.heartbeat_minutes
        elif inherit[g]:
            msl[g], sec[g], hb[g] = msl[p], sec[p], hb[p]
        else:
            msl[g] = topo.variant(mslidx[spec.msl], None) if spec.msl is not None else msl[p]
            sec[g] = sec[p] if spec.secure_comms is None else spec.secure_comms
            hb[g] = hb[p] if spec.heartbeat_minutes is None else spec.heartbeat_minutes
    topo.init_msl, topo.init_secure, topo.init_heartbeat = msl, sec, hb
    return topo


def _top_down(parent: np.ndarray) -> list[int]:
    order: list[int] = []
    frontier = [int(g) for g in np.flatnonzero(parent < 0)]
    while frontier:
        order.extend(frontier)
        frontier = [int(c) for g in frontier for c in np.flatnonzero(parent == g)]
    return order
