"""Replications on Dask: scaling from one worker process to two, and the same bytes as serial (run on demand).

    .venv/bin/python benchmarks/bench_dask_scale.py                          # 2x10^5 clients, 8 replications
    .venv/bin/python benchmarks/bench_dask_scale.py --clients 1000000 --replications 8

Runs ``sim.replicate`` of the shipped ``three-manager-failover`` scenario (its planning probe included)
serially in this process, then on a ``LocalCluster`` of 1 and of 2 worker processes (one thread each),
reached by its scheduler address as an existing cluster would be (``dask=tcp://...``). Prints each wall
time, the scaling efficiency ``T(1 worker) / (2 x T(2 workers))`` (1.0: perfect), and whether the
replications' summaries and orphan curves are byte-identical to serial. Cluster start-up is not timed; the
scenario and its fleet base are shipped to the workers once per run (``sim.experiments.execution``), which
is timed. The machine is shared: the load average is printed beside each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "three-manager-failover.yaml"


def _fingerprint(reps: Any) -> bytes:
    """The replications' answers as bytes: summary JSON and every orphan curve."""
    parts = [json.dumps(reps.summary(), sort_keys=True).encode()]
    for d in reps.digests:
        parts.append(json.dumps([d.replication, d.summary, d.never_saved, d.setting], sort_keys=True).encode())
        if d.curve is not None:
            c = d.curve
            parts.append(json.dumps([c.resolution, c.floor, c.at_floor, c.never]).encode() + c.counts.tobytes())
    return b"\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=200_000)
    ap.add_argument("--replications", type=int, default=8)
    a = ap.parse_args()

    from dask.distributed import LocalCluster

    import sim
    from sim.experiments.execution import worker_environment

    sc = sim.load_scenario(SCENARIO)
    opts = sim.RunOptions(clients=a.clients, progress=False)
    print(f"{os.cpu_count()} cores; {a.clients:,} clients x {a.replications} replications; {SCENARIO.name}")
    sim.replicate(sc, n=2, options=opts.replace(clients=20_000, workers=1))  # imports and kernels loaded

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    serial = sim.replicate(sc, n=a.replications, options=opts.replace(workers=1))
    t_serial = time.perf_counter() - t0
    print(f"serial     {t_serial:7.1f} s   load {load:.1f}", flush=True)
    want = _fingerprint(serial)

    times: dict[int, float] = {}
    for workers in (1, 2):
        with (
            worker_environment(),
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        ):
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            reps = sim.replicate(sc, n=a.replications, options=opts.replace(dask=cluster.scheduler_address))
            times[workers] = time.perf_counter() - t0
            same = _fingerprint(reps) == want
            print(
                f"dask x{workers}    {times[workers]:7.1f} s   load {load:.1f}   byte-identical to serial: {same}",
                flush=True,
            )
    print(f"scaling efficiency 2 workers vs 1: {times[1] / (2 * times[2]):.2f} (1.00: perfect)")
    print(f"load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
