"""CLI start-up benchmark (run on demand, never in the test suite).

    .venv/bin/python benchmarks/bench_cli_start.py               # 7 runs of each command
    .venv/bin/python benchmarks/bench_cli_start.py --repeats 15 --importtime

Times the commands that should answer at once (``rotasim --version``, ``rotasim --help``, ``rotasim validate``
on a shipped scenario, and a bare ``python -c "import sim"``), each in a fresh process through the installed
console script, and prints the median, minimum and maximum wall time as a table. The target (issue 13) is
1 s for each on the project's machine (2 cores). ``--importtime`` adds, per command, the packages that took
longest to import (``python -X importtime``, self time summed by top-level package), which says what to
look at when a figure moves.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "scenarios" / "three-manager-failover.yaml"
TARGET_SECONDS = 1.0
# run from outside the repository, so that ``python -c 'import sim'`` imports the installed package of the
# interpreter running this script (its editable checkout), not whatever ``sim/`` the current folder holds
CWD = tempfile.gettempdir()


def commands() -> list[tuple[str, list[str]]]:
    exe = Path(sys.executable).parent / "rotasim"
    rotasim = str(exe) if exe.exists() else (shutil.which("rotasim") or "rotasim")
    rel = SCENARIO.relative_to(ROOT)
    return [
        ("python -c 'import sim'", [sys.executable, "-c", "import sim"]),
        ("rotasim --version", [rotasim, "--version"]),
        ("rotasim --help", [rotasim, "--help"]),
        (f"rotasim validate {rel}", [rotasim, "validate", str(SCENARIO)]),
    ]


def wall(argv: list[str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(argv, capture_output=True, cwd=CWD, env={**os.environ, "COLUMNS": "100"})
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {res.stderr.decode()[-500:]}")
    return elapsed


def import_profile(argv: list[str], top: int = 6) -> str:
    """The packages with the largest import self time, for the same command run as ``python -X importtime``."""
    if argv[0] == sys.executable:
        py = [sys.executable, "-X", "importtime", *argv[1:]]
    else:
        py = [sys.executable, "-X", "importtime", "-c", "import sys; from sim.cli.app import app; app(sys.argv[1:])"]
        py += argv[1:]
    res = subprocess.run(py, capture_output=True, text=True, cwd=CWD)
    self_us: dict[str, int] = defaultdict(int)
    for line in res.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if m:
            self_us[m.group(2).split(".")[0]] += int(m.group(1))
    total = sum(self_us.values())
    best = sorted(self_us.items(), key=lambda kv: -kv[1])[:top]
    return f"imports {total / 1e6:.2f} s: " + ", ".join(f"{k} {v / 1e6:.2f}" for k, v in best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--importtime", action="store_true", help="also show what the imports spent their time on")
    args = ap.parse_args()
    print(
        f"CLI start-up, median of {args.repeats} fresh processes (Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} cores); target {TARGET_SECONDS:g} s each\n"
    )
    rows = [("command", "median", "min", "max", "")]
    profiles = []
    for name, argv in commands():
        wall(argv)  # warm the file cache: the first run after an install reads the files from disk
        times = [wall(argv) for _ in range(args.repeats)]
        med = statistics.median(times)
        rows.append((name, f"{med:.2f} s", f"{min(times):.2f} s", f"{max(times):.2f} s", _mark(med)))
        if args.importtime:
            profiles.append(f"{name}: {import_profile(argv)}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for k, r in enumerate(rows):
        print(
            "| "
            + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            + " |"
        )
        if k == 0:
            print("|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|")
    if profiles:
        print()
        print("\n".join(profiles))


def _mark(seconds: float) -> str:
    return "ok" if seconds <= TARGET_SECONDS else "over target"


if __name__ == "__main__":
    main()
