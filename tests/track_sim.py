"""A rotation simulated end to end, with console exports cut from it at known dates (for the track tests).

The reference engine plays every check-in; its successful ones (``_learn``) are recorded, so an export at T
lists each client's last check-in at or before T and the server it used, as a console's computer-status
export would (columns as ``sim.calibration.inventory`` reads them), and what each client held then.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from sim.engines import reference
from sim.experiments.options import RunOptions
from sim.experiments.result import Result
from sim.experiments.simulate import execute, prepare
from sim.scenario.document import Scenario

START = datetime.fromisoformat("2026-11-02T09:00:00+00:00")


@dataclass
class Truth:
    result: Result
    ids: np.ndarray
    groups: np.ndarray
    versions: np.ndarray
    managers: list[str]
    log: list[tuple[int, float, int, dict[int, int]]]  # client, time, server, certificates after the check-in
    seen_before: np.ndarray  # hours: for a client away at the start, when its absence began (its last check-in)

    def held_at(self, t: float) -> dict[str, tuple[float, int, dict[int, int]]]:
        """client id -> (last check-in, server, certificates held) at or before ``t``."""
        out: dict[str, tuple[float, int, dict[int, int]]] = {}
        for c, tc, m, certs in self.log:
            if tc <= t:
                out[str(self.ids[c])] = (tc, m, certs)
        return out

    def write_export(self, path: Path, t: float, group_path: dict[str, str], server_column: bool = True) -> Path:
        held = self.held_at(t)
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(
                ["Computer Name", "Group", "Version", "Last Check-in"] + (["Server Name"] if server_column else [])
            )
            for i, cid in enumerate(self.ids):
                # never seen since the start: last seen when its absence began, server unknown
                tc, m, _ = held.get(str(cid), (float(self.seen_before[i]), -1, {}))
                when = (START + timedelta(hours=tc)).strftime("%Y-%m-%d %H:%M:%S") + "+00:00"
                row = [str(cid), group_path[str(self.groups[i])], str(self.versions[i]), when]
                w.writerow(row + ([self.managers[m] if m >= 0 else ""] if server_column else []))
        return path

    def write_log(self, path: Path, until: float) -> Path:
        steps = self.result.steps
        lines = ["steps:"]
        for _, r in steps.iterrows():
            if r["kind"] != "wait" and r["end_hours"] <= until:
                when = (START + timedelta(hours=float(r["end_hours"]))).isoformat()
                lines.append(f"  - {{step: {r['name']}, done_at: '{when}'}}")
        if len(lines) == 1:
            lines = ["steps: []"]
        path.write_text("\n".join(lines) + "\n")
        return path


@contextmanager
def recording() -> Iterator[list[tuple[int, float, int, dict[int, int]]]]:
    log: list[tuple[int, float, int, dict[int, int]]] = []
    original = reference.ReferenceEngine._learn

    def learn(self: Any, cl: Any, m: int, t: float, snap: Any) -> None:
        original(self, cl, m, t, snap)
        log.append((cl.c, t, m, dict(cl.cache.certs)))

    reference.ReferenceEngine._learn = learn  # type: ignore[method-assign]
    try:
        yield log
    finally:
        reference.ReferenceEngine._learn = original  # type: ignore[method-assign]


def simulate_truth(sc: Scenario, seed: int = 3) -> Truth:
    with recording() as log:
        run = prepare(sc, RunOptions(seed=seed, engine="reference"))
        res = execute(run).result
    f = run.fleet
    return Truth(
        res,
        f.client_id,
        np.array(run.topo.group_names, dtype=object)[f.group],
        np.array(f.version_names, dtype=object)[f.version],
        list(run.topo.manager_names),
        sorted(log, key=lambda r: r[1]),
        _seen_before(f.presence.abs_start, f.presence.abs_end, f.presence.gone),
    )


def _seen_before(A: np.ndarray, B: np.ndarray, gone: np.ndarray) -> np.ndarray:
    """The start of the absence covering hour 0 (at least 60 days back: a console's purge), or 60 days back."""
    cover = (A <= 0) & (B > 0)
    start = np.where(cover, A, np.inf).min(axis=1) if A.shape[1] else np.full(len(gone), np.inf)
    out = np.where(np.isfinite(start), np.maximum(start, -60 * 24.0), -24.0)
    return np.where(gone, -60 * 24.0, out)


GROUP_PATH = {"Laptops": "My Company\\Laptops", "Desktops": "My Company\\Desktops", "My Company": "My Company"}


def main() -> None:
    """Write the shipped example (scenarios/tracking): the log on day 8 and when finished, the exports of days
    3, 8, 15 and 30 (the last one after the rotation, for --backtest)."""
    from sim.scenario.document import load_scenario

    folder = Path(__file__).resolve().parent.parent / "scenarios" / "tracking"
    truth = simulate_truth(load_scenario(folder / "rotation.yaml"))
    truth.write_log(folder / "log.yaml", 8 * 24.0)
    truth.write_log(folder / "log-finished.yaml", 40 * 24.0)
    for day in (3, 8, 15, 30):
        truth.write_export(folder / f"export-day{day}.csv", day * 24.0, GROUP_PATH)
    print("orphans in the simulated rotation:", int((truth.result.clients["outcome"] == "orphaned").sum()))


if __name__ == "__main__":
    main()
