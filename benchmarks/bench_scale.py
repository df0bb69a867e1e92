"""Scale benchmark of one replication against the bare numpy bound (run on demand, never in the test suite).

    .venv/bin/python benchmarks/bench_scale.py                  # 10^4, 10^5, 10^6, 2x10^6 (a few minutes)
    .venv/bin/python benchmarks/bench_scale.py --sizes 1000000 --repeats 5
    .venv/bin/python benchmarks/bench_scale.py --profile 1000000  # where the time goes (cProfile, top entries)

One replication of the shipped ``scenarios/three-manager-failover.yaml`` (kb-multi-server, 5-minute
heartbeats) with the fast engine over 180 days, each size in a fresh process so that its peak memory
(``resource.getrusage(...).ru_maxrss``: tracemalloc is far too slow at this size) is that run's own. Wall time
is ``sim.simulate`` from the loaded scenario to the ``Result`` (fleet, world, engine, first contact, tables);
``--digest`` also times what a planning replication costs (the run, its planning probe and its digest,
``sim.experiments.digest._digest``).

The **bare numpy bound**, run in the same process after the replication: the least any engine of this model
must do, the first online check-in after each change of the world for all clients at once (as in
``../shared/docs/performance-notes.md``): the same number of clients with the scenario's presence shares
(60% working-hours laptops in two time zones, 40% always on, leave spells at 3 a year), and at each of the
run's change times (from its ``events`` table) the first online check-in at or after it: the start of the
next online spell, or, for a client online then, a forward-recurrence draw of its jittered heartbeat. No
caches, no failover, no orphan rule: a floor, not a competitor. The ratio ``replication / bound`` is printed
beside it.

The machine is shared: every figure comes with the load average (1 minute) read just before it, and each
size is run ``--repeats`` times (best and median printed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "three-manager-failover.yaml"
DAYS = 180.0
WEEK = 168.0


def bare_bound(n: int, change_times: np.ndarray, seed: int = 0) -> float:
    """Seconds for the first online check-in after each change, all clients at once (see module doc)."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    laptop = rng.random(n) < 0.6
    tz = np.where(rng.random(n) < 0.3, 1.0, 0.0)
    h = 5.0 / 60.0
    # one leave spell per client at most (rate 3 a year over the horizon, lognormal median 5 days)
    has_leave = rng.random(n) < 1.0 - np.exp(-3.0 * DAYS / 365.0)
    leave_s = np.where(has_leave, rng.uniform(0.0, DAYS * 24.0, n), np.inf)
    leave_e = leave_s + rng.lognormal(np.log(5.0), 1.0, n) * 24.0
    u = rng.random((len(change_times), n))
    total = 0.0
    for k, t in enumerate(change_times):
        # local week-hour; laptops online Mon-Fri 08-18
        w = np.mod(t + tz, WEEK)
        day, hour = np.floor(w / 24.0), np.mod(w, 24.0)
        weekday = day < 5
        in_window = weekday & (hour >= 8.0) & (hour < 18.0)
        # next opening: today at 08 if before it on a weekday, else the next weekday's 08
        next_day = np.where(weekday & (hour < 8.0), day, np.where(day >= 4, 7.0, day + 1.0))
        opens = t - w + next_day * 24.0 + 8.0
        online = ~laptop | in_window
        start = np.where(online, t, opens)
        on_leave = (start >= leave_s) & (start < leave_e)
        start = np.where(on_leave, leave_e, start)
        nxt = np.where(online & ~on_leave, t + u[k] * h, start)
        total += float(nxt[np.isfinite(nxt)].mean())
    elapsed = time.perf_counter() - t0
    assert np.isfinite(total)
    return elapsed


def _cpu() -> float:
    """CPU seconds of this process (user + system): less sensitive than wall time to other agents' load."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def one(clients: int, repeats: int, digest: bool) -> dict[str, Any]:
    """Run in this (fresh) process and report; called in a child process."""
    import sim

    sc = sim.load_scenario(SCENARIO)
    rows: list[dict[str, float]] = []
    r = None
    for k in range(repeats):
        load = os.getloadavg()[0]
        c0, t0 = _cpu(), time.perf_counter()
        r = sim.simulate(sc, seed=k, clients=clients, horizon_days=DAYS)
        rows.append({"seconds": time.perf_counter() - t0, "cpu": _cpu() - c0, "load": load})
        del r
        r = None
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    r = sim.simulate(sc, seed=0, clients=1000, horizon_days=DAYS)  # change times, cheaply (same world)
    changes = np.unique(r.events["time_hours"].to_numpy(float))
    bound = [bare_bound(clients, changes, seed=k) for k in range(max(repeats, 3))]
    out: dict[str, Any] = {
        "clients": clients,
        "seconds": [x["seconds"] for x in rows],
        "cpu": [x["cpu"] for x in rows],
        "load": [x["load"] for x in rows],
        "rss_mib": rss_mib,
        "bound_seconds": min(bound),
        "changes": len(changes),
    }
    if digest:
        from sim.experiments.digest import _digest

        t0 = time.perf_counter()
        _digest(sc, 0, 0, "fast", clients, DAYS, False)
        out["digest_seconds"] = time.perf_counter() - t0
    return out


def child(clients: int, repeats: int, digest: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--one", str(clients), str(repeats)] + (["--digest"] if digest else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def profile(clients: int) -> None:
    """cProfile of one replication at ``clients``: the entries with the most time, inclusive and own."""
    import cProfile
    import pstats

    import sim

    sc = sim.load_scenario(SCENARIO)
    sim.simulate(sc, seed=0, clients=1000, horizon_days=DAYS)  # imports and first-call costs out of the way
    pr = cProfile.Profile()
    t0 = time.perf_counter()
    pr.enable()
    sim.simulate(sc, seed=0, clients=clients, horizon_days=DAYS)
    pr.disable()
    print(f"{clients:,} clients x {DAYS:g} days under cProfile: {time.perf_counter() - t0:.2f} s")
    st = pstats.Stats(pr)
    st.sort_stats("cumulative").print_stats(r"sim/", 30)
    st.sort_stats("tottime").print_stats(25)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--one", nargs=2, metavar=("CLIENTS", "REPEATS"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 2_000_000])
    ap.add_argument("--repeats", type=int, default=3, help="runs per size, in one fresh process (default 3)")
    ap.add_argument("--digest", action="store_true", help="also time one planning replication (run + probe)")
    ap.add_argument("--profile", type=int, metavar="CLIENTS", help="profile one replication instead")
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(int(a.one[0]), int(a.one[1]), a.digest)))
        return
    if a.profile:
        profile(a.profile)
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"scenario: {SCENARIO.relative_to(ROOT)}, fast engine, {DAYS:g} days, {a.repeats} runs per size")
    head = (
        f"{'clients':>10}{'best s':>9}{'median s':>10}{'cpu s':>8}{'load':>6}{'peak RSS':>11}{'bound s':>9}{'ratio':>7}"
        f"{'us/client':>11}" + (f"{'digest s':>10}" if a.digest else "")
    )
    print(head)
    rows = []
    for n in a.sizes:
        r = child(n, a.repeats, a.digest)
        rows.append(r)
        best, med = min(r["seconds"]), statistics.median(r["seconds"])
        print(
            f"{n:>10,}{best:>9.2f}{med:>10.2f}{min(r['cpu']):>8.2f}{statistics.median(r['load']):>6.1f}"
            f"{r['rss_mib']:>7.0f} MiB"
            f"{r['bound_seconds']:>9.3f}{best / r['bound_seconds']:>7.1f}{best / n * 1e6:>11.2f}"
            + (f"{r['digest_seconds']:>10.2f}" if a.digest else ""),
            flush=True,
        )
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        growth = (min(last["seconds"]) / last["clients"]) / (min(first["seconds"]) / first["clients"])
        print(f"cost per client, {last['clients']:,} vs {first['clients']:,} clients: {growth:.2f}x (1.00: linear)")
    print(f"load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
