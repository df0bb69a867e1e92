"""Where replications run: in this process, a local process pool, or a Dask cluster.

Every task carries its own seed (root seed and replication index), so the answer does not depend on where
or in which order tasks run; results are always returned in task order.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sim.errors import InputError
from sim.experiments.options import RunOptions
from sim.experiments.shared import base_key, keep
from sim.model.fleet import FleetBase, fleet_base
from sim.model.topology import compile_topology
from sim.scenario.document import Scenario

T = TypeVar("T")


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def run_tasks(
    fn: Callable[..., T],
    tasks: Sequence[tuple[Any, ...]],
    *,
    workers: int | None = None,
    dask: str | None = None,
    progress: bool | None = None,
    label: str = "replications",
) -> list[T]:
    """Run ``fn(*task)`` for every task; ``workers=1`` runs serially here, ``dask`` is an address or 'local'."""
    if progress is None:
        progress = sys.stderr.isatty() and len(tasks) > 1
    if dask is not None:
        return _run_dask(fn, tasks, dask, progress, label)
    workers = default_workers() if workers is None else workers
    bar = _bar(progress, len(tasks), label)
    if workers <= 1 or len(tasks) <= 1:
        out = [_tick(fn(*t), bar) for t in tasks]
        _close(bar)
        return out
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
        futures = [pool.submit(fn, *t) for t in tasks]
        out = [_tick(f.result(), bar) for f in futures]
    _close(bar)
    return out


def _run_dask(
    fn: Callable[..., T], tasks: Sequence[tuple[Any, ...]], address: str, progress: bool, label: str
) -> list[T]:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--dask", "", "Dask is not installed: pip install 'dask[distributed]'") from None
    cluster = None
    try:
        if address == "local":
            cluster = LocalCluster(
                n_workers=default_workers(), threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
        else:
            client = Client(address, timeout=30)
    except OSError as exc:
        raise InputError("--dask", address, f"cannot reach the Dask scheduler ({exc})") from None
    try:
        bar = _bar(progress, len(tasks), label)
        futures = [client.submit(_shipped, fn, *t, pure=False) for t in _ship_once(client, tasks)]
        out = [_tick(f.result(), bar) for f in futures]
        _close(bar)
        return out
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass(frozen=True)
class ShippedBase:
    """A fleet base and its cache key, scattered as one object (``sim.experiments.shared``)."""

    key: str
    base: FleetBase


def base_request(scenario: Scenario, clients: int | None, horizon_days: float | None) -> ShippedBase:
    """The fleet base a replication task of ``scenario`` would build, built here (as ``prepare`` would)."""
    sc = RunOptions(clients=clients, horizon_days=horizon_days).applied(scenario)
    return ShippedBase(base_key(sc, clients), fleet_base(sc, compile_topology(sc), clients))


def _ship_once(client: Any, tasks: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The tasks with their scenario, and its fleet base, shipped to every worker once, not with each task.

    Replication tasks take ``(scenario, seed, replication, engine, clients, horizon_days, ...)``
    (``sim.experiments.digest``, ``sim.analysis.sampling``): each distinct scenario is scattered once to all
    workers (``broadcast=True``), and so is the fleet base of each distinct (scenario, clients, horizon), built
    here once; a task then carries references only, and its worker puts the base in its cache before running
    (``_shipped``). Tasks of any other shape travel as they are."""
    scattered: dict[int, Any] = {}
    bases: dict[str, Any] = {}
    out: list[tuple[Any, ...]] = []
    for t in tasks:
        if len(t) < 6 or not isinstance(t[0], Scenario):
            out.append((None, *t))
            continue
        sc = t[0]
        if id(sc) not in scattered:
            scattered[id(sc)] = client.scatter(sc, broadcast=True, hash=False)
        key = base_key(RunOptions(clients=t[4], horizon_days=t[5]).applied(sc), t[4])
        if key not in bases:
            bases[key] = client.scatter(base_request(sc, t[4], t[5]), broadcast=True, hash=False)
        out.append((bases[key], scattered[id(sc)], *t[1:]))
    return out


def _shipped(fn: Callable[..., T], base: ShippedBase | None, *args: Any) -> T:
    """Run on a worker: the shipped fleet base into this worker's cache, then the task."""
    if base is not None:
        keep(base.key, base.base)
    return fn(*args)


class _Bar:
    def __init__(self, total: int, label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
        )
        self.task = self.progress.add_task(label, total=total)
        self.progress.start()

    def advance(self) -> None:
        self.progress.advance(self.task)

    def close(self) -> None:
        self.progress.stop()


def _bar(progress: bool, total: int, label: str) -> _Bar | None:
    return _Bar(total, label) if progress else None


def _tick(value: T, bar: _Bar | None) -> T:
    if bar is not None:
        bar.advance()
    return value


def _close(bar: _Bar | None) -> None:
    if bar is not None:
        bar.close()
