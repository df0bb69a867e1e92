"""Signals at any moment, start-up included, through the installed console script (subprocesses, tiny worlds).

What a stop must leave: the signal's exit code and line (130 ``interrupted``, 143 ``terminated``), no
traceback, no temporary file or staging folder, and the previous output as it was (or the new one, whole).
Workers end with their parent, even when the parent is killed with SIGKILL. The moments are drawn from a
fixed seed so that a failure can be replayed; together they cover the import, the run and the writing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "scenarios" / "three-manager-failover.yaml"
EXE = Path(sys.executable).parent / "rotasim"

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
    pytest.mark.skipif(not EXE.exists(), reason="the rotasim console script is not installed"),
]

CODES = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}


def start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "ROTASIM_DEBUG": "", "NO_COLOR": "1"}
    return subprocess.Popen(
        [str(EXE), *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(d.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_at(proc: subprocess.Popen[str], delay: float, sig: signal.Signals) -> tuple[int | None, str]:
    """Send ``sig`` after ``delay`` seconds (if still running); the exit code (None: it had finished) and stderr."""
    try:
        proc.wait(timeout=delay)
        finished = True
    except subprocess.TimeoutExpired:
        finished = False
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return (None if finished else proc.returncode), err


def before_rotasim(err: str, sig: signal.Signals, returncode: int) -> bool:
    """Stopped before ``sim.cli.main`` could install its handlers: in the interpreter's own start (the
    kernel's default, Python's fatal error in its ``site`` import) or while the console script imports the
    entry module (Python's KeyboardInterrupt traceback through importlib only). That window is the
    interpreter's start-up, about 0.1 s on a loaded machine; everything after it is rotasim's."""
    if (returncode == -sig and err == "") or "init_import_site" in err:
        return True
    frames = [ln for ln in err.splitlines() if ln.startswith("  File ")]
    return (
        err.rstrip().endswith("KeyboardInterrupt")
        and bool(frames)
        and frames[0].endswith("in <module>")
        and all("<frozen importlib" in f for f in frames[1:])
    )


def assert_stopped(code: int | None, err: str, sig: signal.Signals, returncode: int) -> bool:
    """The stop's code and line, or (the command finished first) a success; True if it was stopped."""
    assert "Traceback" not in err, err
    if code is None or returncode in (0, 3, 4):
        assert returncode in (0, 3, 4), err
        return False
    want_code, want_line = CODES[sig]
    assert returncode == want_code, err
    assert err.splitlines()[-1] == want_line, err
    return True


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_start_up_is_one_line_and_its_code(tmp_path: Path, sig: signal.Signals) -> None:
    """While the package imports (the first fraction of a second): no traceback of the import machinery."""
    rng = random.Random(int(sig))
    ours = 0
    for delay in [0.15, 0.3, rng.uniform(0.4, 0.8)]:
        proc = start(["run", str(SHIPPED), "--clients", "300"], tmp_path)
        code, err = stop_at(proc, delay, sig)
        if code is not None and before_rotasim(err, sig, proc.returncode):
            continue
        ours += assert_stopped(code, err, sig, proc.returncode)
    assert ours >= 1, "no signal landed while rotasim started"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_pool_workers_end_with_their_parent(tmp_path: Path, sig: signal.Signals) -> None:
    """A sweep on two workers, stopped (SIGTERM) or killed (SIGKILL) while they work: no worker outlives it."""
    proc = start(
        [
            "sweep",
            str(SHIPPED),
            "--clients",
            "400",
            "--set",
            "runbook.retention_days=1:200:1",
            "--replications",
            "2",
            "--workers",
            "2",
            "--quiet",
        ],
        tmp_path,
    )
    deadline = time.monotonic() + 30
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2 and proc.poll() is None:
        time.sleep(0.05)
        workers = children(proc.pid)
    assert len(workers) == 2, "the pool did not start"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err
    if sig == signal.SIGTERM:
        assert proc.returncode == 143 and err.splitlines()[-1] == "terminated"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(alive(w) for w in workers)


def _commands(tmp: Path) -> dict[str, tuple[list[str], Path]]:
    """Each command with a small world, and the output it writes (a file, or a report's folder)."""
    small = ["--clients", "300", "--quiet"]
    return {
        "run": (["run", str(SHIPPED), *small, "--clients-out", str(tmp / "clients.csv")], tmp / "clients.csv"),
        "sweep": (
            [
                "sweep",
                str(SHIPPED),
                *small,
                "--set",
                "runbook.retention_days=10:60:10",
                "--replications",
                "2",
                "--workers",
                "2",
                "--out",
                str(tmp / "sweep.csv"),
            ],
            tmp / "sweep.csv",
        ),
        "report": (
            [
                "report",
                str(SHIPPED),
                *small,
                "--replications",
                "2",
                "--max-replications",
                "2",
                "--workers",
                "2",
                "--out",
                str(tmp / "rep"),
            ],
            tmp / "rep",
        ),
    }


def _snapshot(out: Path) -> dict[str, bytes]:
    if out.is_dir():
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}
    return {out.name: out.read_bytes()}


@pytest.mark.parametrize("command", ["run", "sweep", "report"])
def test_a_signal_at_a_random_moment_leaves_the_previous_output_or_the_new_one_whole(
    tmp_path: Path, command: str
) -> None:
    """SIGINT and SIGTERM at moments drawn over the command's life (import, run, writing): the signal's code
    and line, no traceback, no temporary file or staging folder, and the output as it was before, or the
    new one complete (when the command finished first)."""
    args, out = _commands(tmp_path)[command]
    first = start(args, tmp_path)
    t0 = time.monotonic()
    _, err = first.communicate(timeout=120)
    took = time.monotonic() - t0
    assert first.returncode in (0, 3, 4), err
    before = _snapshot(out)
    rng = random.Random(f"{command}-18")
    stopped = 0
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc = start(args, tmp_path)
        code, err = stop_at(proc, rng.uniform(0.3, max(0.4, took * 0.9)), sig)
        if code is not None and before_rotasim(err, sig, proc.returncode):
            continue
        stopped += assert_stopped(code, err, sig, proc.returncode)
        assert leftovers(tmp_path) == [], leftovers(tmp_path)
        after = _snapshot(out)
        assert set(after) == set(before)
        if proc.returncode in (130, 143):
            assert after == before or command == "report"  # a report commits file by file, each whole
            if command == "report":
                assert after["report.json"] == before["report.json"]  # the verdict is renamed last
    assert stopped >= 1
