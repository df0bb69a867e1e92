"""One replication of a scenario: build the world and the fleet from seeded streams, run an engine.

Seeds: one root seed; replication k uses ``SeedSequence(root, spawn_key=(k,))``, split into one stream for
the fleet (who is where, when) and one for the engine (choices and jitter). The fleet stream is the same for
both engines, so the fast and the reference engine replay the very same fleet.
"""

from __future__ import annotations

import gc

import numpy as np
import simpy

from sim.engines.fast import run_fast
from sim.engines.outcome import EngineOutput
from sim.errors import InputError
from sim.experiments.options import REFERENCE_MAX_CLIENTS, Engine, RunOptions, merge_options
from sim.experiments.result import Result, build_result
from sim.model.contact import first_contact, procedure_window
from sim.model.fleet import Fleet, generate_fleet
from sim.model.load import LoadOutcome, fail_probability, load_table, offered_checkins
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
    sc = opts.applied(scenario)
    seed, engine, clients = opts.root_seed(sc), opts.engine, opts.clients
    horizon = sc.horizon_days * 24.0
    topo = compile_topology(sc)
    steps = expand_runbook(sc)
    fleet_ss, engine_ss = seed_sequences(seed, replication)
    fleet = generate_fleet(sc, topo, np.random.default_rng(fleet_ss), n=clients)
    engine_rng = np.random.default_rng(engine_ss)
    if engine == "reference" and fleet.n > REFERENCE_MAX_CLIENTS:
        raise InputError("--engine", "", f"the reference engine is for at most {REFERENCE_MAX_CLIENTS} clients")
    load: LoadOutcome | None = None
    # Many short-lived objects and no cycles worth collecting: the collector only costs time here.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if engine == "reference" and sc.load.enabled:
            world, out, load = _run_with_load(sc, topo, steps, fleet, engine_ss, horizon, engine="reference")
        elif engine == "reference":
            from sim.engines.reference import run_reference

            world = _world(sc, topo, steps)
            out = run_reference(topo, fleet, world, engine_rng, horizon)
        elif sc.load.enabled:
            world, out, load = _run_with_load(sc, topo, steps, fleet, engine_ss, horizon)
        else:
            world = _world(sc, topo, steps)
            out = run_fast(topo, fleet, world, ClientStreams(fleet.keys, engine_ss, 0), horizon)
    finally:
        if was_enabled:
            gc.enable()
    window, first_update = procedure_window(world.step_records)
    contact = (
        first_contact(fleet, topo, window, ClientStreams(fleet.keys, engine_ss, 1).uniform)
        if window is not None
        else np.full(fleet.n, np.nan)
    )
    return build_result(
        sc,
        topo,
        fleet,
        world,
        out,
        seed=seed,
        replication=replication,
        engine=engine,
        horizon=horizon,
        first_contact=contact,
        window=(window, first_update),
        load=load,
    )


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
) -> tuple[World, EngineOutput, LoadOutcome]:
    """The load/overload fixed point: run, compute the load, let overloaded managers time check-ins out,
    run again (same random streams), ... ``load.iterations`` times. The first pass has no overload, so the
    learning delay the overload adds is the difference between the last pass and the first.

    The fast engine's load is the offered load computed from its log of assignments (``offered_checkins``,
    from a sample above ``load.max_exact_clients``); the reference engine's is its literal count of the
    check-ins it played, never sampled (it runs at most ``REFERENCE_MAX_CLIENTS`` clients). Every reference
    pass starts a generator from the same seed sequence, so passes share their random streams as the fast
    engine's do."""
    spec = sc.load
    bin_h = spec.bin_minutes / 60.0
    capacity = np.array([m.capacity_per_second or spec.capacity_per_second for m in sc.managers], float)
    sample = None
    if engine == "fast" and fleet.n > spec.max_exact_clients:
        sample = np.random.default_rng(engine_ss.spawn(1)[0]).choice(fleet.n, spec.max_exact_clients, replace=False)
    fail: np.ndarray | None = None
    first: EngineOutput | None = None
    for _ in range(spec.iterations + 1):
        world = _world(sc, topo, steps)
        if engine == "reference":
            from sim.engines.reference import run_reference

            rng = np.random.default_rng(engine_ss)
            out = run_reference(topo, fleet, world, rng, horizon, fail, bin_h, count_load=True)
            assert out.counted_load is not None
            offered = out.counted_load
        else:
            out = run_fast(
                topo,
                fleet,
                world,
                ClientStreams(fleet.keys, engine_ss, 0),
                horizon,
                fail,
                bin_h,
                timeout_streams=ClientStreams(fleet.keys, engine_ss, 2),
            )
            assert out.assignments is not None
            offered = offered_checkins(
                fleet, out.assignments, topo.n_managers, horizon, bin_h, sample, timeouts=out.timeout_events
            )
        first = first or out
        fail = fail_probability(offered / (bin_h * 3600.0), capacity, spec)
    assert first is not None and fail is not None
    table = load_table(offered, capacity, fail, bin_h, topo.manager_names)
    assert first.learnt_at is not None and out.learnt_at is not None
    return world, out, LoadOutcome(table, bin_h, first.learnt_at, out.learnt_at, out.timeouts, sample is not None)
