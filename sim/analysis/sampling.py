"""Sequential sampling for the report: run replications until the verdict is decided, keeping only what
the report shows.

- **Sequential.** One replication is an anecdote and a fixed count either wastes runs or leaves the answer
  open, so the report starts with ``replications`` and, while the interval straddles the threshold, doubles
  the count (replications n..2n-1 are new runs under the same root seed, so nothing is re-run) up to
  ``max_replications``. ``Sampling.batches`` records the verdict after each batch.
- **Frugal with memory.** Each replication runs in a worker that keeps only what the report shows
  (``RepExtra``): the orphaned clients' rows (compact, ``sim.analysis.orphan_rows``), the hourly share of
  clients trusting the new certificates, the runbook steps, the live clients per (group, version, presence)
  profile. Full per-client tables are never gathered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.format import pct
from sim.analysis.orphan_rows import OrphanRows
from sim.analysis.replications import Replications
from sim.analysis.verdict import Threshold, judge
from sim.errors import InputError
from sim.experiments.digest import Digest, _digest
from sim.experiments.execution import run_tasks
from sim.experiments.options import RunOptions, merge_options
from sim.experiments.simulate import Engine
from sim.scenario.document import Scenario

DEFAULT_REPLICATIONS = 20


DEFAULT_MAX_REPLICATIONS = 320


@dataclass
class RepExtra:
    """What one replication keeps for the report beyond its ``Digest`` (small, whatever the fleet size)."""

    replication: int
    orphans: OrphanRows  # one compact row per orphaned client (about 20 bytes)
    profiles: pd.DataFrame  # live clients per (group, version, presence): columns ..., clients
    trust_time: np.ndarray
    trust_share: np.ndarray  # float32 share of live clients trusting the new certificates, per hour
    steps: pd.DataFrame
    setting: float | None  # the run's own retention (days) or wait (hours); None: not a planning runbook
    load: pd.DataFrame | None = None  # the load table (time_hours, manager, offered/capacity per second): first run
    load_summary: list[dict[str, Any]] | None = None  # per manager: peak, hours over capacity, failed check-ins
    # float32 share of live clients that checked in since the procedure's window opened, per hour: the
    # observed progress (under kb-multi-server the share the retention could end now without orphaning)
    contact_share: np.ndarray | None = None


ORPHAN_COLUMNS = ["client_id", "group", "version", "presence", "cause", "orphaned_at_hours", "first_contact_hours"]


PROFILE = ["group", "version", "presence"]


def _report_task(
    sc: Scenario, seed: int, k: int, engine: Engine, clients: int | None, horizon_days: float | None
) -> tuple[Digest, RepExtra]:
    """One replication: its digest (for the curves and plan) and the report's extras; the full result is
    dropped here, in the worker, so that only small tables travel back."""
    d = _digest(sc, seed, k, engine, clients, horizon_days, True)
    r = d.result
    assert r is not None
    d.result = None
    c = r.clients
    outcome = c["outcome"].to_numpy()
    orphans = OrphanRows.from_frame(c.loc[outcome == "orphaned", ORPHAN_COLUMNS])
    live = c.loc[outcome != "gone", PROFILE]  # only the profile's columns: the whole table is 1 GB at 10^6
    profiles = live.groupby(PROFILE, sort=True, dropna=False).size().rename("clients").reset_index()
    setting = d.setting
    load = getattr(r, "load", None)  # present when the scenario models manager capacity (load.enabled)
    info = getattr(r, "load_info", None)
    return d, RepExtra(
        replication=k,
        orphans=orphans,
        profiles=profiles,
        trust_time=r.trust["time_hours"].to_numpy(dtype=float),
        trust_share=r.trust["share_trusting_new"].to_numpy(dtype=np.float32),
        steps=r.steps.copy(),
        setting=None if setting is None else float(setting),
        # the full table is large (one row per manager and bin): only the first replication's travels back
        load=load if isinstance(load, pd.DataFrame) and k == 0 else None,
        load_summary=list(info["managers"]) if isinstance(info, dict) and info.get("managers") else None,
        contact_share=r.trust["share_contacted"].to_numpy(dtype=np.float32),
    )


@dataclass
class Sampling:
    """Replications run for a report, with the verdict after each batch of the sequential sampling."""

    reps: Replications
    extras: list[RepExtra]
    threshold: Threshold
    initial: int
    cap: int
    batches: list[dict[str, Any]] = field(default_factory=list)
    clients: int | None = None
    horizon_days: float | None = None

    @property
    def n(self) -> int:
        return self.reps.n

    def metric(self) -> np.ndarray:
        """Per replication: orphans, or orphans over clients not gone (the threshold's measure)."""
        orphaned = np.array([d.summary["orphaned"] for d in self.reps.digests], float)
        if not self.threshold.is_rate:
            return orphaned
        live = np.array([max(d.live, 1) for d in self.reps.digests], float)
        return orphaned / live

    def judge(self) -> dict[str, Any]:
        """The verdict at the runbook's own setting. With a planning axis, the replications that exceed come
        from the probes (``Replications.exceeding``), as ``plan`` counts them, so a GO report and its "what would
        reach GO" cannot disagree."""
        th, reps = self.threshold, self.reps
        exceeding = None
        setting = reps.digests[0].setting if reps.digests else None
        if setting is not None and all(d.curve is not None for d in reps.digests):
            mo, rate = (None, th.value) if th.is_rate else (th.value, None)
            exceeding = reps.exceeding(mo, rate, setting=setting)
        return judge(self.metric(), th.value, exceeding=exceeding)


Log = Callable[[str], None]


def run_sequential(
    scenario: Scenario,
    threshold: Threshold,
    *,
    replications: int = DEFAULT_REPLICATIONS,
    max_replications: int = DEFAULT_MAX_REPLICATIONS,
    seed: int | None = None,
    engine: Engine = "fast",
    clients: int | None = None,
    horizon_days: float | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    log: Log | None = None,
    options: RunOptions | None = None,
) -> Sampling:
    """Run ``replications``, then double while the verdict is INCONCLUSIVE, up to ``max_replications``.
    ``options`` gives the run options as one ``RunOptions`` (with Dask) instead of (or with) the keywords."""
    check_counts(replications, max_replications)
    o = merge_options(
        options,
        seed=seed,
        engine=engine,
        clients=clients,
        horizon_days=horizon_days,
        workers=workers,
        progress=progress,
    )
    o.check(scenario)
    seed, engine, clients, horizon_days = o.root_seed(scenario), o.engine, o.clients, o.horizon_days
    say = log or (lambda _msg: None)
    digests: list[Digest] = []
    extras: list[RepExtra] = []
    sampling = Sampling(
        Replications(scenario, seed, engine, digests),
        extras,
        threshold,
        replications,
        max_replications,
        clients=clients,
        horizon_days=horizon_days,
    )
    target = replications
    while True:
        start = len(digests)
        say(f"running replications {start + 1} to {target} of {scenario.name} (seed {seed})")
        tasks = [(scenario, seed, k, engine, clients, horizon_days) for k in range(start, target)]
        for d, x in run_tasks(
            _report_task, tasks, workers=o.workers, dask=o.dask, progress=o.progress, label="replications"
        ):
            digests.append(d)
            extras.append(x)
        j = sampling.judge()
        j["replications"] = len(digests)
        sampling.batches.append(j)
        say(f"after {len(digests)} replications: {_judgement_line(j, threshold)}")
        if j["verdict"] != "INCONCLUSIVE" or target >= max_replications:
            break
        target = min(2 * target, max_replications)
    return sampling


def check_counts(replications: int, max_replications: int) -> None:
    if replications < 2:
        raise InputError("--replications", "", f"need at least 2 for an interval (got {replications})")
    if max_replications < replications:
        raise InputError(
            "--max-replications", "", f"must be at least --replications ({max_replications} < {replications})"
        )
    if max_replications > 10_000:
        raise InputError("--max-replications", "", f"expected at most 10000 (got {max_replications})")


def _judgement_line(j: dict[str, Any], threshold: Threshold) -> str:
    return f"{j['verdict']}: {chance_text(j)}; threshold {threshold.describe()}"


def chance_text(j: dict[str, Any]) -> str:
    """'3 of 40 replications exceed the threshold (chance 7.5%, 95% interval 1.6% to 20.4%; GO below 5%)'."""
    lo, hi = j["chance_ci"]
    return (
        f"{j['exceeding']} of {j['n']} replications exceed the threshold (chance {pct(j['chance'])}, 95% interval "
        f"{pct(lo)} to {pct(hi)}; GO below {pct(j['limit'])})"
    )
