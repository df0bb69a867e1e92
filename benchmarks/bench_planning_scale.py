"""Planning at fleet scale: ``rotasim plan`` with 40 replications and ``rotasim report`` to a verdict, at
10^6 clients each (run on demand, never in the test suite).

    .venv/bin/python benchmarks/bench_planning_scale.py                   # 10^6 clients, both commands
    .venv/bin/python benchmarks/bench_planning_scale.py --clients 100000  # a quicker look
    .venv/bin/python benchmarks/bench_planning_scale.py --only plan

Each command runs as the ``rotasim`` command line (``python -m sim.cli.app``) on all cores (a process
pool), as a planner would type it, on the shipped ``three-manager-failover`` scenario over its own
horizon (120 days). Measured:
wall time, and the peak of the summed resident memory of the command and every process under it (sampled
from /proc every 0.2 s: the workers' memory counts, which ``ru_maxrss`` of one process would not show).
The parent keeps only each replication's digest (its summary and orphan curve; for the report also the
orphaned clients' rows and small per-profile counts), so its memory stays flat in the number of
replications: the script prints the parent's own peak too.

The report samples sequentially (20 replications, doubled while INCONCLUSIVE): how many it runs depends on
its threshold. A GO needs the chance of exceeding shown under 5%, which takes at least 59 replications with
none over the threshold (it stops at 80); the default threshold here is a clear NO-GO, decided by the first
20. ``--report-max-orphans`` picks another.

Targets (issue 17): each within 3 minutes on 2 cores, all processes within 4 GiB. The machine is shared:
the load average is printed before each command, and beside the wall time the CPU time of the command and
all its processes (``RUSAGE_CHILDREN``): on an idle machine with 2 workers the wall time is about half of it
plus the serial part (start-up, the report's tables and figures).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "three-manager-failover.yaml"
# ``python -m sim.cli.app`` from the checkout's root is the ``rotasim`` console script on this checkout's code
ROTASIM = [sys.executable, "-m", "sim.cli.app"]


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_rss(root: int) -> tuple[float, float]:
    """(summed RSS of ``root`` and all its descendants, RSS of ``root`` alone), MiB."""
    kids = _children()
    total, todo = 0.0, [root]
    while todo:
        p = todo.pop()
        total += _rss_mib(p)
        todo.extend(kids.get(p, []))
    return total, _rss_mib(root)


def _children_cpu() -> float:
    """CPU seconds (user + system) of every finished descendant: a command, its pool workers and theirs."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def measure(cmd: list[str]) -> dict[str, float]:
    load = os.getloadavg()[0]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak_all = peak_parent = 0.0
    while proc.poll() is None:
        total, parent = tree_rss(proc.pid)
        peak_all, peak_parent = max(peak_all, total), max(peak_parent, parent)
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0
    out = proc.stdout.read() if proc.stdout else ""
    tail = [line for line in out.strip().splitlines() if line.strip()][-3:]
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "peak_all_mib": peak_all,
        "peak_parent_mib": peak_parent,
        "load": load,
        "exit": proc.returncode,
        "tail": " | ".join(tail),  # type: ignore[dict-item]
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=1_000_000)
    ap.add_argument("--replications", type=int, default=40, help="plan's replications (default 40)")
    ap.add_argument("--only", choices=["plan", "report"])
    ap.add_argument(
        "--report-max-orphans",
        type=float,
        default=100.0,
        help="the report's threshold (default 100: a NO-GO decided by the first 20 replications; a GO needs at "
        "least 59 replications with none over it, so it takes 80)",
    )
    ap.add_argument(
        "--report-replications",
        type=int,
        default=None,
        help="run the report with exactly this many replications (--replications N --max-replications N), to "
        "see the parent's memory against the number of replications",
    )
    ap.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    a = ap.parse_args()
    common = ["--clients", str(a.clients), "--quiet"] + ([] if a.workers is None else ["--workers", str(a.workers)])
    n = a.replications
    runs = {
        "plan": [*ROTASIM, "plan", str(SCENARIO), "--max-orphan-rate", "0.01", "--replications", str(n),
                 "--max-replications", str(n), "--keep-horizon", *common],
        "report": [*ROTASIM, "report", str(SCENARIO), "--max-orphans", str(a.report_max_orphans),
                   "--out", tempfile.mkdtemp(prefix="rotasim-bench-report-"), *common]
        + ([] if a.report_replications is None else ["--replications", str(a.report_replications),
                                                     "--max-replications", str(a.report_replications)]),
    }  # fmt: skip
    print(f"{os.cpu_count()} cores; {a.clients:,} clients; scenario {SCENARIO.relative_to(ROOT)}")
    for name, cmd in runs.items():
        if a.only and name != a.only:
            continue
        r = measure(cmd)
        print(
            f"{name:<7} {r['seconds']:7.1f} s  CPU {r['cpu_seconds']:7.1f} s (all processes)"
            f"  peak RSS all processes {r['peak_all_mib']:6.0f} MiB"
            f"  parent {r['peak_parent_mib']:5.0f} MiB  load {r['load']:.1f}  exit {r['exit']}",
            flush=True,
        )
        print(f"        {r['tail']}")
    print(f"load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
