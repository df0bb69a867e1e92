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
from sim.experiments.simulate import execute, prepare
from sim.experiments.result import Result
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

    def held_at(self, t: float) -> dict[str, tuple[float, int, dict[int, int]]]:
        """client id -> (last check-in, server, certificates held) at or before ``t``."""
        out: dict[str, tuple[float, int, dict[int, int]]] = {}
        for c, tc, m, certs in self.log:
            if tc <= t:
                out[str(self.ids[c])] = (tc, m, certs)
        return out

    def write_export(self, path: Path, t: float, group_path: dict[str, str], server_column: bool = True) -> Path:
        held = self.held_at(t)
        before = (-24.0, -1, {})  # never seen since the start: last seen the day before, server unknown
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(
                ["Computer Name", "Group", "Version", "Last Check-in"] + (["Server Name"] if server_column else [])
            )
            for i, cid in enumerate(self.ids):
                tc, m, _ = held.get(str(cid), before)
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
    )
