"""The engines by name, behind one protocol, so that callers never switch on an engine's name.

Both engines take the same world, fleet and seed sequence and differ only in how they walk time: ``fast``
batches clients between world changes, ``reference`` plays every check-in (docs/architecture.md, "Why two
engines"). Each also knows how it measures the load it offered to the managers: the fast engine computes it
from its log of assignments (a sample above ``load.max_exact_clients``), the reference engine counts the
check-ins it played.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sim.engines.fast import run_fast
from sim.engines.initial import InitialState
from sim.engines.outcome import EngineOutput
from sim.engines.reference import run_reference
from sim.model.fleet import Fleet
from sim.model.load import offered_checkins
from sim.model.streams import ClientStreams
from sim.model.topology import Topology
from sim.model.world import World
from sim.scenario.runbook import Step


class EngineRunner(Protocol):
    """One engine: run a world to the horizon; run it and measure the load it offered (per manager and bin)."""

    @property
    def name(self) -> str: ...

    @property
    def plays_every_checkin(self) -> bool:
        """True for an engine slow enough (per check-in) that one replication shows a progress ticker."""
        ...

    def run(
        self,
        topo: Topology,
        fleet: Fleet,
        world: World,
        engine_ss: np.random.SeedSequence,
        horizon: float,
        fail: np.ndarray | None,
        bin_h: float,
        *,
        probe: Step | None = None,
        initial: InitialState | None = None,
    ) -> EngineOutput: ...

    def run_offering(
        self,
        topo: Topology,
        fleet: Fleet,
        world: World,
        engine_ss: np.random.SeedSequence,
        horizon: float,
        fail: np.ndarray | None,
        bin_h: float,
        sample: np.ndarray | None,
    ) -> tuple[EngineOutput, np.ndarray]: ...

    def load_sample(self, fleet: Fleet, max_exact: int, engine_ss: np.random.SeedSequence) -> np.ndarray | None: ...


@dataclass(frozen=True)
class Fast:
    name: str = "fast"
    plays_every_checkin: bool = False

    def run(
        self,
        topo: Topology,
        fleet: Fleet,
        world: World,
        engine_ss: np.random.SeedSequence,
        horizon: float,
        fail: np.ndarray | None,
        bin_h: float,
        *,
        probe: Step | None = None,
        initial: InitialState | None = None,
    ) -> EngineOutput:
        timeouts = ClientStreams(fleet.keys, engine_ss, 2) if fail is not None else None
        streams = ClientStreams(fleet.keys, engine_ss, 0)
        return run_fast(
            topo, fleet, world, streams, horizon, fail, bin_h, timeout_streams=timeouts, probe=probe, initial=initial
        )

    def run_offering(
        self,
        topo: Topology,
        fleet: Fleet,
        world: World,
        engine_ss: np.random.SeedSequence,
        horizon: float,
        fail: np.ndarray | None,
        bin_h: float,
        sample: np.ndarray | None,
    ) -> tuple[EngineOutput, np.ndarray]:
        streams = ClientStreams(fleet.keys, engine_ss, 0)
        timeouts = ClientStreams(fleet.keys, engine_ss, 2)
        out = run_fast(topo, fleet, world, streams, horizon, fail, bin_h, timeout_streams=timeouts)
        assert out.assignments is not None
        n_managers = topo.n_managers
        offered = offered_checkins(fleet, out.assignments, n_managers, horizon, bin_h, sample, out.timeout_events)
        return out, offered

    def load_sample(self, fleet: Fleet, max_exact: int, engine_ss: np.random.SeedSequence) -> np.ndarray | None:
        """Above ``max_exact`` clients the offered load is computed from a sample of them."""
        if fleet.n <= max_exact:
            return None
        return np.random.default_rng(engine_ss.spawn(1)[0]).choice(fleet.n, max_exact, replace=False)


@dataclass(frozen=True)
class Reference:
    name: str = "reference"
    plays_every_checkin: bool = True

    def run(
        self,
        topo: Topology,
        fleet: Fleet,
        world: World,
        engine_ss: np.random.SeedSequence,
        horizon: float,
        fail: np.ndarray | None,
        bin_h: float,
        *,
        probe: Step | None = None,
        initial: InitialState | None = None,
    ) -> EngineOutput:
        rng = np.random.default_rng(engine_ss)
        return run_reference(topo, fleet, world, rng, horizon, fail, bin_h, probe=probe, initial=initial)

    def run_offering(
        self,
        topo: Topology,
        fleet: Fleet,
        world: World,
        engine_ss: np.random.SeedSequence,
        horizon: float,
        fail: np.ndarray | None,
        bin_h: float,
        sample: np.ndarray | None,
    ) -> tuple[EngineOutput, np.ndarray]:
        """Every pass starts a generator from the same seed sequence, so passes share their random streams."""
        rng = np.random.default_rng(engine_ss)
        out = run_reference(topo, fleet, world, rng, horizon, fail, bin_h, count_load=True)
        assert out.counted_load is not None
        return out, out.counted_load

    def load_sample(self, fleet: Fleet, max_exact: int, engine_ss: np.random.SeedSequence) -> np.ndarray | None:
        """The literal count of the check-ins it played, never sampled (it runs few clients)."""
        return None


ENGINES: dict[str, EngineRunner] = {e.name: e for e in (Fast(), Reference())}


def engine(name: str) -> EngineRunner:
    """The engine called ``name`` (``sim.experiments.options`` checks the name first, with one line)."""
    return ENGINES[name]
