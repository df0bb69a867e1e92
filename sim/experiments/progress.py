"""Progress of one long replication on a terminal: the reference engine's simulated time, with an estimate.

Why: the per-heartbeat reference engine takes minutes for a few thousand clients over months (README,
"Performance"), and ``rotasim run --engine reference`` used to sit silent through them. Replications already
show a bar with the time left (``sim.experiments.execution``); one replication shows how far its simulated
time has got and how long the rest should take at the pace so far, on one line of stderr that it rewrites.
Only when asked (``RunOptions.progress is True``, which ``rotasim run`` sets on a terminal): piped output and
tests see nothing.

The ticker is a SimPy process of its own that only wakes and prints: it schedules no event the model sees
and draws no random number, so the run's answer is the same with it or without it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from typing import Any, TextIO

import simpy

TICKS = 200  # wake-ups over the horizon; the line is rewritten at most every half second


def start_ticker(env: simpy.Environment, horizon: float, label: str, out: TextIO | None = None) -> None:
    """Print ``label: day d of D simulated (p%), s elapsed, about t left`` as the engine walks to ``horizon``."""
    stream = out if out is not None else sys.stderr
    started = time.perf_counter()
    shown = [0.0]

    def tick() -> Generator[Any, Any, None]:
        step = horizon / TICKS
        while env.now + step < horizon:
            yield env.timeout(step)
            now = time.perf_counter()
            if now - shown[0] < 0.5:
                continue
            shown[0] = now
            stream.write("\r" + progress_line(label, env.now, horizon, now - started) + "\x1b[K")
            stream.flush()
        stream.write("\r\x1b[K")
        stream.flush()

    env.process(tick())


def progress_line(label: str, at_hours: float, horizon: float, elapsed: float) -> str:
    """One progress line; the estimate assumes the pace so far (the busiest days come first, so it errs long)."""
    share = min(max(at_hours / horizon, 1e-9), 1.0)
    left = elapsed * (1 - share) / share
    return (
        f"{label}: day {at_hours / 24:.0f} of {horizon / 24:.0f} simulated ({100 * share:.0f}%), "
        f"{_clock(elapsed)} elapsed, about {_clock(left)} left"
    )


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"
