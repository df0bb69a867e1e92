"""Notebook benchmark (run on demand, never in the test suite).

    .venv/bin/python benchmarks/bench_notebooks.py                 # every notebook once
    .venv/bin/python benchmarks/bench_notebooks.py --repeats 3 04-sensitivity

Runs each notebook of ``notebooks/`` top to bottom in a fresh Jupyter kernel of this interpreter, from
``notebooks/`` as Jupyter would (what tests/test_notebooks.py does, without its checks), and prints the
median wall time per notebook against the target of a minute each. The test suite runs the notebooks too but
asserts no time: on a busy machine a notebook is slower without anything being wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbclient
import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TARGET_SECONDS = 60.0


def kernel_folder(tmp: Path) -> Path:
    """A Jupyter data folder whose ``python3`` kernel is this interpreter (put first on JUPYTER_PATH)."""
    spec = tmp / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "rotasim bench", "language": "python"}))
    return tmp


def run_once(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=1800, startup_timeout=120, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    t0 = time.perf_counter()
    client.execute()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="notebooks to run (file names or stems; default: all)")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    paths = sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.names:
        paths = [p for p in paths if p.name in args.names or p.stem in args.names]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JUPYTER_PATH"] = str(kernel_folder(Path(tmp)))
        os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
        print(
            f"notebooks, median of {args.repeats} (Python {platform.python_version()}, {platform.machine()}, "
            f"{os.cpu_count()} cores); target {TARGET_SECONDS:g} s each\n"
        )
        width = max(len(p.name) for p in paths)
        print(f"| {'notebook':<{width}} | wall time |")
        print(f"|{'-' * (width + 2)}|----------:|")
        for p in paths:
            med = statistics.median(run_once(p) for _ in range(args.repeats))
            mark = "" if med <= TARGET_SECONDS else " (over target)"
            print(f"| {p.name:<{width}} | {med:7.1f} s |{mark}")


if __name__ == "__main__":
    main()
