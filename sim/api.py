"""The stable Python API for planners (what notebooks use). Everything here returns tables or Figures.

    import sim
    sc = sim.load_scenario("scenarios/three-manager-failover.yaml")
    r = sim.simulate(sc, seed=1)                       # one replication: r.clients, r.steps, r.trust, ...
    reps = sim.replicate(sc, n=30)                      # many: reps.runs, reps.summary(), reps.curve()
    p = sim.plan(reps, max_orphans=3)                   # the retention or wait that meets a target
    sw = sim.sweep(sc, {"runbook.retention_days": [30, 60, 90]}, replications=10)
    cmp = sim.compare([sc, sc.with_(**{"runbook.retention_days": 90})], replications=10)
    rep = sim.report(sc, "out/report", max_orphans=3)   # the files `rotasim report` writes
    imp = sim.import_inventory("export.csv", "fleet/")  # a scenario from your own fleet: fleet/scenario.yaml
    t = sim.track(sc, "log.yaml", ["export.csv"], max_orphans=3)  # a rotation under way: t.lines, t.at_risk

Names exported from ``sim`` are stable: their arguments keep their meaning, new arguments are keyword-only
with defaults. Everything else in the package may change.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sim.analysis import planning
from sim.analysis.comparison import Comparison, Variant, run_variants
from sim.analysis.planning import Plan
from sim.analysis.replications import Replications
from sim.analysis.report import Report
from sim.analysis.verdict import Threshold
from sim.calibration.importer import ImportOptions, ImportResult, run_import
from sim.errors import InputError
from sim.experiments.options import RunOptions, merge_options
from sim.presentation.compare import write_comparison
from sim.presentation.fit_figure import plot_fit
from sim.presentation.report import generate_report
from sim.scenario.document import Scenario, load_scenario
from sim.tracking.backtest import backtest as run_backtest
from sim.tracking.forecast import forecast, track_inputs
from sim.tracking.observed import ExportSpec
from sim.tracking.summary import Tracking, tracking


def _scenario(s: Scenario | str | Path) -> Scenario:
    return s if isinstance(s, Scenario) else load_scenario(s)


def _run_options(options: RunOptions | None, **given: Any) -> RunOptions:
    """The run options of a call: the keywords on top of ``options``. Without ``options`` no progress bar
    is drawn (as before ``RunOptions``); with them, their ``progress`` applies (``None``: on a terminal)."""
    return merge_options(options if options is not None else RunOptions(progress=False), **given)


def plan(
    target: Replications | Scenario | str | Path,
    *,
    max_orphans: float | None = None,
    max_orphan_rate: float | None = None,
    confidence: float = 0.95,
    replications: int = 30,
    max_replications: int = 320,
    extend_horizon: bool = True,
    seed: int | None = None,
    clients: int | None = None,
    horizon_days: float | None = None,
    workers: int | None = None,
    options: RunOptions | None = None,
    gate_shares: Sequence[float | str] | None = None,
) -> Plan:
    """The smallest retention (kb-multi-server) or wait (kb-single-server) at which the chance that one rotation
    exceeds the target is shown to be below ``1 - confidence`` (docs/model.md, "Risk and the verdict"). Give
    replications you already ran (planned as they are), or a scenario: then ``replications`` are run with the run
    options (the keywords, or ``options``) and, as ``rotasim plan`` does, doubled while too few to show that
    chance (up to ``max_replications``), and the horizon doubled while clients are still away at its end
    (``Plan.notes`` says so; ``extend_horizon=False`` keeps the horizon and answers "beyond-horizon" instead).
    Default target: no orphans. With a gate (``retention_until_share``, ``wait_until_share``) or ``gate_shares``,
    each share is planned with its cap from the same replications: ``Plan.gates`` is that table (a DataFrame:
    share, smallest GO cap, mean days or hours in service, mean orphans, exceeding, verdict) and ``Plan.gate``
    the recommended pair (replications you ran plan the shares given to ``replicate(gate_shares=...)``, and
    ``gate_shares`` picks among them)."""
    if isinstance(target, Replications):
        return planning.plan(
            target,
            max_orphans=max_orphans,
            max_orphan_rate=max_orphan_rate,
            confidence=confidence,
            gate_shares=gate_shares,
        )
    o = _run_options(options, seed=seed, clients=clients, horizon_days=horizon_days, workers=workers)
    p, _ = planning.plan_scenario(
        _scenario(target),
        o,
        max_orphans=max_orphans,
        max_orphan_rate=max_orphan_rate,
        confidence=confidence,
        replications=replications,
        max_replications=max_replications,
        extend_horizon=extend_horizon,
        gate_shares=gate_shares,
    )
    return p


def compare(
    scenarios: Sequence[Scenario | str | Path],
    *,
    labels: Sequence[str] | None = None,
    max_orphans: float | None = None,
    max_orphan_rate: float | None = None,
    replications: int = 20,
    seed: int | None = None,
    clients: int | None = None,
    horizon_days: float | None = None,
    workers: int | None = None,
    out: str | Path | None = None,
    options: RunOptions | None = None,
) -> Comparison:
    """The same replications (one root seed: the same clients) of several scenarios, side by side.
    ``comparison.table()`` is the side-by-side DataFrame; ``out`` also writes the files of ``rotasim compare``.
    ``options`` gives the run options as one ``RunOptions`` (engine and Dask too) on top of the keywords."""
    o = _run_options(options, seed=seed, clients=clients, horizon_days=horizon_days, workers=workers)
    if len(scenarios) < 2:
        raise InputError("compare", "", "give at least two scenarios to compare")
    scs = [_scenario(s) for s in scenarios]
    names = list(labels) if labels is not None else [s.name for s in scs]
    if len(names) != len(scs):
        raise InputError("compare", "labels", "give one label per scenario")
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        seen[n] = seen.get(n, 0) + 1
        if seen[n] > 1:
            names[i] = f"{n} #{seen[n]}"
    variants = [Variant(n, Path(s.source), {}, s, n) for n, s in zip(names, scs, strict=True)]
    threshold = Threshold.given(max_orphans, max_orphan_rate)
    comp = run_variants(variants, threshold=threshold, replications=replications, options=o)
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        write_comparison(comp, Path(out))
    return comp


def report(
    scenario: Scenario | str | Path,
    out: str | Path,
    *,
    max_orphans: float | None = None,
    max_orphan_rate: float | None = None,
    replications: int = 20,
    max_replications: int = 320,
    seed: int | None = None,
    clients: int | None = None,
    horizon_days: float | None = None,
    workers: int | None = None,
    options: RunOptions | None = None,
) -> Report:
    """Write the risk report of ``rotasim report`` into ``out`` and return it (``.verdict`` and its tables).
    ``options`` gives the run options as one ``RunOptions`` (engine and Dask too) on top of the keywords."""
    o = _run_options(options, seed=seed, clients=clients, horizon_days=horizon_days, workers=workers)
    sc = _scenario(scenario)
    threshold = Threshold.given(max_orphans, max_orphan_rate)
    return generate_report(
        sc,
        Path(out),
        source=sc.source,
        threshold=threshold,
        replications=replications,
        max_replications=max_replications,
        options=o,
    )


def import_inventory(inventory: str | Path, out: str | Path, **options: Any) -> ImportResult:
    """``rotasim fleet import`` as a function: read an SEPM computer-status export, fit the presence model to
    the ages of the last check-ins, and write ``clients.csv``, ``presence.yaml``, ``groups.yaml``,
    ``scenario.yaml``, ``fit.json`` and ``fit.png`` into ``out``. ``options`` are the fields of
    ``sim.calibration.importer.ImportOptions`` (``snapshot``, ``purge_days``, ``managers``, ``absences`` ...;
    docs/fleet-import.md). The scenario it writes is ``Path(out) / "scenario.yaml"``."""
    try:
        opts = ImportOptions(**options)
    except TypeError as exc:
        raise InputError("import_inventory", "", str(exc)) from None
    return run_import(Path(inventory), Path(out), opts, render=plot_fit)


def track(
    scenario: Scenario | str | Path,
    log: str | Path,
    exports: Sequence[str | Path],
    *,
    max_orphans: float | None = None,
    max_orphan_rate: float | None = None,
    confidence: float = 0.95,
    replications: int = 20,
    max_replications: int = 160,
    seed: int | None = None,
    engine: str = "fast",
) -> Tracking:
    """A rotation under way (``rotasim track``): the rotation log and one or more console exports (``FILE`` or
    ``FILE@TIME``, any order) against the plan; the forecast from the observed state and its tables."""
    sc = _scenario(scenario)
    tr = track_inputs(sc, Path(log), [ExportSpec.parse(str(e)) for e in exports])
    threshold = Threshold.given(max_orphans, max_orphan_rate)
    fc = forecast(
        tr,
        threshold,
        seed=seed,
        replications=replications,
        max_replications=max_replications,
        engine=RunOptions(engine=engine).engine,  # type: ignore[arg-type]
        confidence=confidence,
    )
    return tracking(fc)


def backtest(
    scenario: Scenario | str | Path,
    log: str | Path,
    exports: Sequence[str | Path],
    *,
    max_orphans: float | None = None,
    max_orphan_rate: float | None = None,
    replications: int = 20,
    seed: int | None = None,
) -> pd.DataFrame:
    """A finished rotation (``rotasim track --backtest``): at each export but the last, what the forecast said,
    scored against what the last export shows."""
    sc = _scenario(scenario)
    threshold = Threshold.given(max_orphans, max_orphan_rate)
    specs = [ExportSpec.parse(str(e)) for e in exports]
    return run_backtest(sc, Path(log), specs, threshold, seed=seed, replications=replications)
