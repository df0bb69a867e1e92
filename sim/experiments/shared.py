"""The fleet base a scenario's replications share: built once per scenario in each process that runs them.

Why: before any draw, a fleet is the same in every replication (the client ids and stream keys of a
generated fleet; everything read from clients.csv and absences.csv), and at 10^6 clients building it is a
visible share of a replication (ids, keys; for files, parsing and hashing every id). What is drawn (groups,
versions, presence, per-client uniforms) stays per replication, from the replication's own streams, so a
replication gives the same bytes whether or not its base was shared (tests/experiments/test_shared_fleet.py).

The cache is per process and small (the last two bases): a pool worker builds the base on its first task
and reuses it for the next ones; a Dask worker receives it once (``sim.experiments.execution``). Its key
is everything the base depends on: the scenario without its runbook and seed, its folder, the resize, and
for files their size and modification time (an edited file is read again).
"""

from __future__ import annotations

from collections import OrderedDict

from sim.model.fleet import FleetBase, fleet_base
from sim.model.topology import Topology
from sim.scenario.document import Scenario

_KEEP = 2
_cache: OrderedDict[str, FleetBase] = OrderedDict()


def base_key(sc: Scenario, clients: int | None) -> str:
    """What a scenario's fleet base depends on, as one string."""
    parts = [sc.model_dump_json(exclude={"runbook", "seed", "name", "description"}), str(sc.base_dir), str(clients)]
    files = sc.fleet.files
    if files is not None:
        for rel in (files.clients, files.absences):
            if rel is None:
                continue
            path = (sc.base_dir / rel).resolve()
            st = path.stat() if path.is_file() else None
            parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}" if st else f"{path}:missing")
    return "\n".join(parts)


def shared_base(sc: Scenario, topo: Topology, clients: int | None) -> FleetBase:
    """The scenario's fleet base, from this process' cache or built (and kept) now."""
    key = base_key(sc, clients)
    base = _cache.get(key)
    if base is None:
        base = fleet_base(sc, topo, clients)
        keep(key, base)
    else:
        _cache.move_to_end(key)
    return base


def keep(key: str, base: FleetBase) -> None:
    """Put a base in this process' cache (a Dask worker is handed the base the client built)."""
    _cache[key] = base
    _cache.move_to_end(key)
    while len(_cache) > _KEEP:
        _cache.popitem(last=False)


def clear() -> None:
    _cache.clear()


__all__ = ["base_key", "clear", "keep", "shared_base"]
