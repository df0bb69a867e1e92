"""One replication of a scenario: build the world and the fleet from seeded streams, run an engine.

Seeds: one root seed; replication k uses ``SeedSequence(root, spawn_key=(k,))``, split into one stream for
the fleet (who is where, when) and one for the engine (choices and jitter). The fleet stream is the same for
both engines, so the fast and the reference engine replay the very same fleet.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import simpy

from sim.engines.initial import InitialState
from sim.engines.outcome import EngineOutput
from sim.engines.registry import engine as engine_named
from sim.errors import InputError
from sim.experiments.options import REFERENCE_MAX_CLIENTS, Engine, RunOptions, merge_options
from sim.experiments.progress import start_ticker
from sim.experiments.result import Result, build_result
from sim.model.contact import first_contact, procedure_window
from sim.model.fleet import Fleet, generate_fleet
from sim.model.load import LoadOutcome, fail_probability, load_table
from sim.model.streams import ClientStreams
from sim.model.topology import Topology, compile_topology
from sim.model.world import World
from sim.runbooks import expand_runbook
from sim.scenario.document import Scenario
from sim.scenario.runbook import Step


def seed_sequences(seed: int, replication: int = 0) -> tuple[np.random.SeedSequence, np.random.SeedSequence]:
    """(fleet, engine) seed sequences of replication ``replication`` under root ``seed``."""
    ss = np.random.SeedSequence(seed, spawn_key=(replication,))
    fleet_ss, engine_ss = ss.spawn(2)
    return fleet_ss, engine_ss


def streams(seed: int, replication: int = 0) -> tuple[np.random.Generator, np.random.Generator]:
    """(fleet, engine) generators of replication ``replication`` under root ``seed``."""
    fleet_ss, engine_ss = seed_sequences(seed, replication)
    return np.random.default_rng(fleet_ss), np.random.default_rng(engine_ss)


def simulate(
    scenario: Scenario,
    seed: int | None = None,
    *,
    engine: Engine = "fast",
    replication: int = 0,
    clients: int | None = None,
    horizon_days: float | None = None,
    options: RunOptions | None = None,
) -> Result:
    """Replay the scenario's runbook against its fleet once; returns tables (see ``sim.experiments.result``).

    ``clients`` and ``horizon_days`` resize a generated fleet and the horizon without editing the scenario.
    ``options`` gives the same choices as one ``RunOptions`` (its ``workers``, ``dask`` and ``progress``
    do not apply to one replication).
    """
    opts = merge_options(options, seed=seed, engine=engine, clients=clients, horizon_days=horizon_days)
    return execute(prepare(scenario, opts, replication)).result


@dataclass
class Prepared:
    """One replication ready to run: the scenario as resized, its compiled shape, steps and fleet, and the
    engine's seed sequence. A planning probe reuses it, so it replays the very same fleet and streams."""

    sc: Scenario
    topo: Topology
    steps: list[Step]
    fleet: Fleet
    engine_ss: np.random.SeedSequence
    horizon: float
    seed: int
    replication: int
    engine: Engine
    progress: bool = False  # show the reference engine's progress on stderr (one replication, on a terminal)
    initial: InitialState | None = None  # start from an observed fleet (rotasim track), else from t = 0


@dataclass
class Executed:
    """A replication's result, and the time-out probabilities its last pass ran with (None: no overload)."""

    result: Result
    fail: np.ndarray | None


def prepare(
    scenario: Scenario, opts: RunOptions, replication: int = 0, initial_state: InitialState | None = None
) -> Prepared:
    """Replication ``replication`` of ``scenario`` under the run options, its fleet drawn. ``initial_state``:
    the engines start from that observed fleet at its time (``sim.engines.initial``)."""
    sc = opts.applied(scenario)
    seed, engine = opts.root_seed(sc), opts.engine
    topo = compile_topology(sc)
    fleet_ss, engine_ss = seed_sequences(seed, replication)
    fleet = generate_fleet(sc, topo, np.random.default_rng(fleet_ss), n=opts.clients)
    if engine == "reference" and fleet.n > REFERENCE_MAX_CLIENTS:
        raise InputError("--engine", "", f"the reference engine is for at most {REFERENCE_MAX_CLIENTS} clients")
    horizon = sc.horizon_days * 24.0
    shown = opts.progress is True and engine == "reference"  # only when asked: replications have their own bar
    steps = expand_runbook(sc)
    return Prepared(sc, topo, steps, fleet, engine_ss, horizon, seed, replication, engine, shown, initial_state)


def execute(run: Prepared) -> Executed:
    """Run the replication's world and engine, with the load fixed point when the scenario models load."""
    sc, topo, steps, fleet, engine_ss, horizon = run.sc, run.topo, run.steps, run.fleet, run.engine_ss, run.horizon
    load: LoadOutcome | None = None
    fail: np.ndarray | None = None
    with _no_gc():
        if sc.load.enabled and run.initial is None:  # an observed start replays no load fixed point
            world, out, load, fail = _run_with_load(sc, topo, steps, fleet, engine_ss, horizon, engine=run.engine)
        else:
            world = _world(sc, topo, steps)
            out = _run_engine(run, world, None)
    window, first_update = procedure_window(world.step_records)
    contact = (
        first_contact(fleet, topo, window, ClientStreams(fleet.keys, engine_ss, 1).uniform)
        if window is not None
        else np.full(fleet.n, np.nan)
    )
    result = build_result(
        sc,
        topo,
        fleet,
        world,
        out,
        seed=run.seed,
        replication=run.replication,
        engine=run.engine,
        horizon=horizon,
        first_contact=contact,
        window=(window, first_update),
        load=load,
    )
    return Executed(result, fail)


def probe(run: Prepared, steps: list[Step], decisive: Step, fail: np.ndarray | None) -> tuple[World, EngineOutput]:
    """The planning probe: the same fleet, streams and time-out probabilities, the runbook ``steps`` whose
    setting lies beyond the horizon, and the engine recording when each client would survive ``decisive``.
    Until the decisive step would land, the probe and the real run are the same run (common random numbers),
    so a client's survival at that moment is its fate had the setting been that long."""
    world = _world(run.sc, run.topo, steps)
    with _no_gc():
        out = _run_engine(run, world, fail, probe=decisive)
    return world, out


def _run_engine(run: Prepared, world: World, fail: np.ndarray | None, probe: Step | None = None) -> EngineOutput:
    bin_h = run.sc.load.bin_minutes / 60.0
    runner = engine_named(run.engine)
    if run.progress and runner.plays_every_checkin:
        what = "planning probe" if probe is not None else "simulating"
        start_ticker(world.env, run.horizon, f"{runner.name} engine, {run.fleet.n:,} clients, {what}")
    return runner.run(
        run.topo, run.fleet, world, run.engine_ss, run.horizon, fail, bin_h, probe=probe, initial=run.initial
    )


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Many short-lived objects and no cycles worth collecting: the collector only costs time here."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _world(sc: Scenario, topo: Topology, steps: list[Step]) -> World:
    return World(simpy.Environment(), topo, steps, sc.replication_interval_hours)


def _run_with_load(
    sc: Scenario,
    topo: Topology,
    steps: list[Step],
    fleet: Fleet,
    engine_ss: np.random.SeedSequence,
    horizon: float,
    engine: Engine = "fast",
) -> tuple[World, EngineOutput, LoadOutcome, np.ndarray | None]:
    """The load/overload fixed point: run, compute the load, let overloaded managers time check-ins out,
    run again (same random streams), ... ``load.iterations`` times. The first pass has no overload, so the
    learning delay the overload adds is the difference between the last pass and the first.

    The fast engine's load is the offered load computed from its log of assignments (``offered_checkins``,
    from a sample above ``load.max_exact_clients``); the reference engine's is its literal count of the
    check-ins it played, never sampled (it runs at most ``REFERENCE_MAX_CLIENTS`` clients). Every reference
    pass starts a generator from the same seed sequence, so passes share their random streams as the fast
    engine's do (``sim.engines.registry``)."""
    spec = sc.load
    bin_h = spec.bin_minutes / 60.0
    capacity = np.array([m.capacity_per_second or spec.capacity_per_second for m in sc.managers], float)
    runner = engine_named(engine)
    sample = runner.load_sample(fleet, spec.max_exact_clients, engine_ss)
    fail: np.ndarray | None = None
    used: np.ndarray | None = None
    first: EngineOutput | None = None
    for _ in range(spec.iterations + 1):
        used = fail
        world = _world(sc, topo, steps)
        out, offered = runner.run_offering(topo, fleet, world, engine_ss, horizon, fail, bin_h, sample)
        first = first or out
        fail = fail_probability(offered / (bin_h * 3600.0), capacity, spec)
    assert first is not None and fail is not None
    table = load_table(offered, capacity, fail, bin_h, topo.manager_names)
    assert first.learnt_at is not None and out.learnt_at is not None
    outcome = LoadOutcome(table, bin_h, first.learnt_at, out.learnt_at, out.timeouts, sample is not None)
    return world, out, outcome, used
