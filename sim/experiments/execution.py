"""Where replications run: in this process, a local process pool, or a Dask cluster.

Every task carries its own seed (root seed and replication index), so the answer does not depend on where
or in which order tasks run; results are always returned in task order.

Workers end with their parent: a pool worker ignores Ctrl-C (the terminal sends it to the whole process
group; the parent decides and kills the pool) and takes the default action on SIGTERM; on Linux it asks the
kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), and everywhere a thread checks once a second
that its parent is still there. A parent stopped by an exception (Ctrl-C, SIGTERM, a bug) kills its pool
instead of waiting for the replications in flight. The workers of ``--dask local`` get the same watch; the
workers of a remote cluster are not ours, so their tasks are cancelled and the client closed.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from sim.errors import InputError, InputWarning, printable, warn
from sim.experiments.dask_address import DASK_TIMEOUT_SECONDS, reach_scheduler, unreachable_reason
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
    with _pool(min(workers, len(tasks))) as pool:
        futures = [pool.submit(fn, *t) for t in tasks]
        out = [_tick(f.result(), bar) for f in futures]
    _close(bar)
    return out


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers end with this process; on any exception it is killed, not awaited."""
    pool = ProcessPoolExecutor(max_workers=workers, initializer=worker_setup, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        kill_pool(pool)
        raise
    pool.shutdown(wait=True)


def kill_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: queued tasks cancelled, workers killed (SIGKILL), nothing awaited."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        with contextlib.suppress(Exception):
            p.kill()
    # a stop signal may have landed inside the pool's own code, holding one of its locks: shut it down from
    # a thread that may block, never from here
    closer = threading.Thread(
        target=lambda: pool.shutdown(wait=False, cancel_futures=True), name="rotasim-pool-kill", daemon=True
    )
    closer.start()
    closer.join(timeout=2.0)
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(timeout=2)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worker_setup(parent: int) -> None:
    """Run first in every pool worker: the signals as the module docstring says, and end with ``parent``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    warnings.showwarning = _one_line_warning
    die_with_parent(parent)


_shown: set[Any] = set()


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """A worker's warnings as the CLI shows the parent's (``sim.cli.app``): one line each, no internal path,
    an ``InputWarning`` once per file and field in this worker (Python's own form names the module and line
    that warned)."""
    text = str(message) if isinstance(message, InputWarning) else f"{category.__name__}: {message}"
    text = "warning: " + printable(" ".join(text.split()))
    key = (message.source, message.location) if isinstance(message, InputWarning) else text
    if key not in _shown:
        _shown.add(key)
        sys.stderr.write(text + "\n")


def die_with_parent(parent: int) -> None:
    """End this process when ``parent`` (its parent process) ends, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it ended before the request stood
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="rotasim-parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _adopt_dask_worker() -> None:
    """Run in each worker of ``--dask local``: end with the process that started the cluster."""
    die_with_parent(os.getppid())


@contextlib.contextmanager
def worker_environment() -> Iterator[None]:
    """Dask configuration for the worker processes a ``LocalCluster`` spawns here: without the nanny's
    ``MALLOC_TRIM_THRESHOLD_``. Setting it (Dask sets 65536 to hand memory back to the system) turns off glibc's
    adaptive mmap threshold, so every large numpy array is a fresh mmap and page-faulted anew: a replication
    took twice as long in a Dask worker as in this process (0.61 against 1.34 s at 2x10^5 clients, measured).
    Workers of an existing cluster need the same (README, "On a Dask cluster")."""
    import dask

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        yield


def _trim_threshold() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def _check_trim(client: Any, address: str) -> None:
    """Warn (once) when an existing cluster's workers run with ``MALLOC_TRIM_THRESHOLD_`` set (``worker_environment``):
    the answers are the same, the time about double."""
    with contextlib.suppress(Exception):
        if any(v is not None for v in client.run(_trim_threshold).values()):
            warn(
                "--dask",
                address,
                "the cluster's workers run with MALLOC_TRIM_THRESHOLD_ set (Dask's default), which makes each "
                "replication about twice as slow; start them without it (README, On a Dask cluster)",
            )


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
            with warnings.catch_warnings(), worker_environment():
                warnings.filterwarnings("ignore", message="Port .* is already in use")  # nothing a user asked for
                cluster = LocalCluster(
                    n_workers=default_workers(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,  # the nannies' log lines (workers killed on the way out)
                )
            client = Client(cluster)
            client.run(_adopt_dask_worker)
        else:
            reach_scheduler(address)
            client = Client(address, timeout=DASK_TIMEOUT_SECONDS)
            _check_trim(client, address)
    except (OSError, TimeoutError) as exc:
        raise InputError("--dask", address, f"cannot reach the Dask scheduler ({unreachable_reason(exc)})") from None
    futures: list[Any] = []
    try:
        bar = _bar(progress, len(tasks), label)
        futures = [client.submit(_shipped, fn, *t, pure=False) for t in _ship_once(client, tasks)]
        out = [_tick(f.result(), bar) for f in futures]
        _close(bar)
        return out
    except BaseException:
        with contextlib.suppress(Exception):
            client.cancel(futures)
        raise
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=DASK_TIMEOUT_SECONDS)
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close(timeout=DASK_TIMEOUT_SECONDS)


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
