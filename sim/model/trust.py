"""What a client holds and whether a manager accepts it: the two gates, failover, and the orphan rule.

A client's trust cache (its list, its secure-communications setting, its heartbeat and the certificate it
holds for each manager on the list) is interned as a small integer "state": every client of a group that
checked in at the same site in the same world holds the same state, so a fleet of a million clients holds a
few dozen distinct states and every rule below is evaluated once per state, not once per client.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.model.topology import Topology

# status of one list entry for one state in one world
VIABLE, MISMATCH, UNREACHABLE = 0, 1, 2


@dataclass
class WorldStatus:
    """The part of the world a check-in meets: real certificates and who answers."""

    cert: np.ndarray  # generation each manager presents
    unreachable: np.ndarray  # bool: down (restart) or retired
    retired: np.ndarray  # bool: gone for good


@dataclass
class StateTable:
    """Interned client trust states: (list variant, secure on, heartbeat minutes, cert per manager)."""

    topo: Topology
    msl: list[int] = field(default_factory=list)
    secure: list[bool] = field(default_factory=list)
    heartbeat: list[float] = field(default_factory=list)
    certs: list[np.ndarray] = field(default_factory=list)  # full length M, -1 where not on the list
    _index: dict[tuple[int, bool, float, bytes], int] = field(default_factory=dict)

    def intern(self, msl: int, secure: bool, heartbeat: float, cert_all: np.ndarray) -> int:
        """The state a client holds after learning a group's settings and the certificates of its list."""
        certs = np.full(self.topo.n_managers, -1, np.int64)
        members = list(self.topo.variants[msl].managers)
        certs[members] = cert_all[members]
        key = (int(msl), bool(secure), float(heartbeat), certs.tobytes())
        idx = self._index.get(key)
        if idx is None:
            idx = len(self.msl)
            self._index[key] = idx
            self.msl.append(int(msl))
            self.secure.append(bool(secure))
            self.heartbeat.append(float(heartbeat))
            self.certs.append(certs)
        return idx

    def __len__(self) -> int:
        return len(self.msl)

    def heartbeat_array(self) -> np.ndarray:
        return np.asarray(self.heartbeat, dtype=float)

    # ---- the gates

    def entry_status(
        self, s: int, world: WorldStatus, restarting_mismatch: bool = False
    ) -> list[list[tuple[int, int]]]:
        """Per tier, (manager, status) for every entry of the state's list.

        Transport gate: an https entry needs the cached certificate to match the manager's.
        Signature gate: with secure communications on, so does every entry (KB 187099 step 7: "even if you
        normally do not use HTTPS"). A manager that is down or retired does not answer; with
        ``restarting_mismatch`` (an unsupported version under the KB's reading) a manager restarting for a
        certificate the client does not hold counts as that mismatch, not as silence.
        """
        out: list[list[tuple[int, int]]] = []
        certs = self.certs[s]
        for tier in self.topo.variants[self.msl[s]].tiers:
            row = []
            for m, https in tier:
                closed = certs[m] != world.cert[m] and (https or self.secure[s])
                if world.retired[m] or (world.unreachable[m] and not (restarting_mismatch and closed)):
                    st = UNREACHABLE
                elif closed:
                    st = MISMATCH
                else:
                    st = VIABLE
                row.append((m, st))
            out.append(row)
        return out

    def is_orphaned(self, s: int, world: WorldStatus) -> bool:
        """Orphan rule: no manager on the list can ever accept this cache again without repair by hand.

        Certificates only move forward and a retired manager never returns, so a closed gate on every entry
        (or retirement) is permanent; a manager that is only down is not.
        """
        certs = self.certs[s]
        for tier in self.topo.variants[self.msl[s]].tiers:
            for m, https in tier:
                if world.retired[m]:
                    continue
                if certs[m] != world.cert[m] and (https or self.secure[s]):
                    continue
                return False
        return True

    def closed_entries(self, s: int, world: WorldStatus) -> np.ndarray:
        """Per manager: on the list, not retired, and refusing this cache (a gate closed on a certificate it does
        not hold). An unsupported version whose last server is such a manager is lost there (KB 187099)."""
        out = np.zeros(self.topo.n_managers, bool)
        certs = self.certs[s]
        for tier in self.topo.variants[self.msl[s]].tiers:
            for m, https in tier:
                out[m] = not world.retired[m] and certs[m] != world.cert[m] and (https or self.secure[s])
        return out

    def trusts(self, s: int, cert: np.ndarray, retired: np.ndarray) -> bool:
        """The cache holds ``cert`` for every manager on its list that is not retired."""
        certs = self.certs[s]
        return all(certs[m] == cert[m] for m in self.topo.variants[self.msl[s]].managers if not retired[m])

    def other_available(self, s: int, cert: np.ndarray) -> bool:
        """Some manager on the list already presents a certificate other than the one the cache holds, which the
        client could have learnt by failing over (docs/model.md, "Causes", row 5): a newer one, or after a
        restore an older one (a generation below the cached one; "newer" alone missed those)."""
        certs = self.certs[s]
        return any(cert[m] != certs[m] for m in self.topo.variants[self.msl[s]].managers)

    def members(self, s: int) -> tuple[int, ...]:
        return self.topo.variants[self.msl[s]].managers


@dataclass(frozen=True)
class Choice:
    """Where a check-in ends, as a distribution: a uniform pick among ``servers``; ``orphaning[i]`` marks a
    pick that meets a certificate mismatch on an unsupported version, which orphans it. No servers: it fails."""

    servers: tuple[int, ...]
    orphaning: tuple[bool, ...]


def choose_server(
    table: StateTable,
    s: int,
    last_used: int,
    unsupported: bool,
    world: WorldStatus,
    top_tier_only: bool = False,
    restart_saves_unsupported: bool = False,
) -> Choice:
    """The analytic form of fact 13 and 14: the last server that worked first (if it is on the list), then the
    tiers in order, random within a tier. In a uniformly random order of a tier the first of any subset is
    uniform over that subset, so the walk reduces to a uniform pick among the first tier that has a server
    that answers. ``last_used = -1`` (or ``top_tier_only``, a failback) starts from the top tier.

    An ``unsupported`` version (it cannot use the multi-server method) stops at the first mismatch instead of
    failing over; unless ``restart_saves_unsupported``, a manager restarting for a new certificate is that
    mismatch (KB 187099's reading, docs/model.md "Client versions")."""
    tiers = table.entry_status(s, world, restarting_mismatch=unsupported and not restart_saves_unsupported)
    if last_used >= 0 and not top_tier_only:
        for tier in tiers:
            for m, st in tier:
                if m == last_used:
                    if st == VIABLE:
                        return Choice((m,), (False,))
                    if st == MISMATCH and unsupported:
                        return Choice((m,), (True,))
    for tier in tiers:
        picks = [
            (m, st == MISMATCH)
            for m, st in tier
            if m != last_used or top_tier_only
            if st == VIABLE or (st == MISMATCH and unsupported)
        ]
        if picks:
            return Choice(tuple(m for m, _ in picks), tuple(f for _, f in picks))
    return Choice((), ())
