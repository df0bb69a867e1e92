"""How long `rotasim track` takes on a large fleet: a synthetic console export of N clients of the shipped
three-manager-failover scenario, a week into its rotation (sepm1 and sepm2 done), 20 replications.

    .venv/bin/python benchmarks/bench_track.py [N ...]

Prints, per N: reading the log and the export and deriving who holds what, then the forecast (each
replication: one run from the observed state and one planning probe), in seconds.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sim.analysis.verdict import Threshold
from sim.scenario.document import load_scenario
from sim.tracking.forecast import forecast, track_inputs
from sim.tracking.observed import ExportSpec

ROOT = Path(__file__).resolve().parent.parent


def bench(n: int, folder: Path) -> tuple[float, float]:
    sc = load_scenario(ROOT / "scenarios" / "three-manager-failover.yaml").with_(
        **{"start_time": "2026-11-02T09:00:00+00:00"}
    )
    (folder / "log.yaml").write_text(
        "steps:\n  - {step: update-sepm1, done_at: '2026-11-02T09:05:00Z'}\n"
        "  - {step: update-sepm2, done_at: '2026-11-02T09:25:00Z'}\n"
    )
    rng = np.random.default_rng(1)
    now = np.datetime64("2026-11-09T09:00:00")
    age_min = np.where(rng.random(n) < 0.9, rng.exponential(30, n), rng.exponential(60 * 24 * 8, n))
    times = now - age_min.astype("timedelta64[m]")
    groups = np.where(rng.random(n) < 0.6, "My Company\\Laptops", "My Company\\Desktops")
    rows = [
        f"pc{i:07d},{g},14.3.RU8,{str(t).replace('T', ' ')}+00:00"
        for i, (g, t) in enumerate(zip(groups, times, strict=True))
    ]
    (folder / "e.csv").write_text("Computer Name,Group,Version,Last Check-in\n" + "\n".join(rows) + "\n")
    t0 = time.perf_counter()
    tr = track_inputs(sc, folder / "log.yaml", [ExportSpec(folder / "e.csv")])
    t1 = time.perf_counter()
    forecast(tr, Threshold(max_orphans=10), replications=20, max_replications=20)
    return t1 - t0, time.perf_counter() - t1


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [5000, 20000]
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            read, fc = bench(n, Path(d))
            print(f"{n:>8} clients: observed state {read:.2f} s, forecast (20 replications) {fc:.2f} s")
