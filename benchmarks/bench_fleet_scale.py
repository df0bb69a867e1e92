"""Fleet-scale benchmark (run on demand, never in the test suite).

    .venv/bin/python benchmarks/bench_fleet_scale.py            # the full table (about a minute)
    .venv/bin/python benchmarks/bench_fleet_scale.py --quick    # 10^4 and 10^5 only

Shipped three-manager scenario under kb-multi-server, 5-minute heartbeats: the fast engine over 180 days at
10^4, 10^5 and 10^6 clients, and the per-heartbeat reference engine at 10^3 clients over 14 days, each in a
fresh process so that peak RSS is that run's own. Reports wall time of ``simulate`` (fleet generation,
world, engine and result tables), peak RSS, check-ins evaluated, and the speed-up per client-day.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "three-manager-failover.yaml"


def one(engine: str, clients: int, days: float, repeats: int) -> dict[str, float]:
    """Run in this process and report; called in a child process."""
    import sim

    sc = sim.load_scenario(SCENARIO)
    assert sc.runbook.template == "kb-multi-server"  # type: ignore[union-attr]
    times = []
    for k in range(repeats):
        t0 = time.perf_counter()
        r = sim.simulate(sc, seed=k, engine=engine, clients=clients, horizon_days=days)  # type: ignore[arg-type]
        times.append(time.perf_counter() - t0)
    times.sort()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return {
        "engine": engine,
        "clients": clients,
        "days": days,
        "seconds": times[len(times) // 2],
        "rss_mib": rss_mib,
        "checkins": r.checkins,
        "orphaned": r.orphaned,
        "heartbeats": clients * days * 24 * 12,
    }


def child(engine: str, clients: int, days: float, repeats: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--one", engine, str(clients), str(days), str(repeats)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", nargs=4, metavar=("ENGINE", "CLIENTS", "DAYS", "REPEATS"))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if a.one:
        e, n, d, k = a.one
        print(json.dumps(one(e, int(n), float(d), int(k))))
        return
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"scenario: {SCENARIO.relative_to(ROOT)} (kb-multi-server, 5-minute heartbeats); median of repeats")
    sizes = [(10_000, 3), (100_000, 3)] + ([] if a.quick else [(1_000_000, 1)])
    rows = [child("fast", n, 180, k) for n, k in sizes]
    ref = child("reference", 1_000, 14, 1)
    print(
        f"{'engine':<10}{'clients':>10}{'days':>6}{'seconds':>10}{'peak RSS':>11}{'check-ins':>12}"
        f"{'heartbeats':>16}{'us/client-day':>15}"
    )
    for r in rows + [ref]:
        per = r["seconds"] / (r["clients"] * r["days"]) * 1e6
        print(
            f"{r['engine']:<10}{r['clients']:>10,}{r['days']:>6g}{r['seconds']:>10.2f}{r['rss_mib']:>8.0f} MiB"
            f"{r['checkins']:>12,} {r['heartbeats']:>15,.0f}{per:>15.3f}"
        )
    ref_per = ref["seconds"] / (ref["clients"] * ref["days"])
    for r in rows:
        fast_per = r["seconds"] / (r["clients"] * r["days"])
        print(f"speed-up per client-day at {r['clients']:,} clients: {ref_per / fast_per:,.0f}x")
    if len(rows) >= 2:
        a0, a1 = rows[-2], rows[-1]
        ratio = (a1["seconds"] / a0["seconds"]) / (a1["clients"] / a0["clients"])
        print(f"cost growth {a0['clients']:,} -> {a1['clients']:,} clients, relative to linear: {ratio:.2f}")


if __name__ == "__main__":
    main()
