"""Inventory import benchmark (run on demand, never in the test suite).

    .venv/bin/python benchmarks/bench_inventory_import.py              # 100,000 rows, 3 repeats
    .venv/bin/python benchmarks/bench_inventory_import.py --rows 20000 --repeats 1

Writes a synthetic SEPM computer-status export (``sim.calibration.synthetic.synthetic_export``: a fleet drawn from a
known presence model, snapshot on a Wednesday evening) to a temporary folder, then times
``rotasim fleet import``'s work (``sim.calibration.importer.run_import``) on it: reading and checking the rows, the
fit (three families), rendering fit.png and writing and checking the outputs. Prints the median of each
phase and the fitted parameters against the true ones.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.calibration.importer import run_import  # noqa: E402
from sim.calibration.synthetic import synthetic_export  # noqa: E402
from sim.presentation.fit_figure import plot_fit  # noqa: E402
from sim.scenario.fields import PresenceSpec  # noqa: E402

TRUTH = {
    "patterns": [{"name": "always-on", "share": 0.35, "schedule": "always"}, {"name": "laptop", "share": 0.65}],
    "leave": {
        "rate_per_year": 5,
        "duration_days": {"distribution": "lognormal", "median": 6, "sigma": 0.8},
        "max_days": 30,
    },
    "gone_share": 0.04,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    spec = PresenceSpec.model_validate(TRUTH)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "inventory.csv"
        t0 = time.perf_counter()
        synthetic_export(spec, args.rows, np.random.default_rng(1)).to_csv(src, index=False)
        print(
            f"wrote a {args.rows:,}-row export ({src.stat().st_size / 2**20:.1f} MiB) in "
            f"{time.perf_counter() - t0:.2f} s"
        )
        runs = []
        for k in range(args.repeats):
            r = run_import(src, Path(tmp) / f"out{k}", render=plot_fit)
            runs.append(r.seconds)
        print(
            f"rotasim fleet import, {args.rows:,} rows, median of {args.repeats} "
            f"(Python {platform.python_version()}, {platform.machine()}):"
        )
        for phase in ("read", "fit", "render", "write_and_check", "total"):
            print(f"  {phase:<16} {statistics.median(s[phase] for s in runs):6.2f} s")
        print(f"fitted ({r.fit.best}) against the truth:")
        truth = {
            "always_on_share": 0.35,
            "leave_rate_per_year": 5.0,
            "duration_median": 6.0,
            "duration_sigma": 0.8,
            "gone_share": 0.04,
        }
        for e in r.fit.families["lognormal"].estimates + [r.fit.estimates()[-1]]:
            se = f"{e.stderr:.3g}" if e.stderr is not None else "-"
            print(f"  {e.name:<20} {e.value:8.4g} ± {se:<8} true {truth[e.name]:g}")


if __name__ == "__main__":
    main()
