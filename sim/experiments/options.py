"""The run options: how a scenario is run, as opposed to what it describes.

``RunOptions`` is one frozen record of the seven choices every run, replication, sweep, plan, report and
comparison takes (seed, clients, horizon, engine, workers, Dask, progress). Why one record: these used to be
copied into some twenty signatures, and the copies drifted (two commands lost ``--engine`` and ``--dask``).
Now the limits are checked here, once, with the messages the command line prints; the CLI builds one
``RunOptions`` from one shared set of options, and the API functions accept ``options=RunOptions(...)``
next to their keyword arguments (``merge_options``).
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sim.errors import InputError
from sim.experiments.dask_address import parse_dask_address
from sim.scenario.fields import MAX_CLIENTS, MAX_HORIZON_DAYS

if TYPE_CHECKING:
    from sim.scenario.document import Scenario

Engine = Literal["fast", "reference"]


ENGINES: tuple[Engine, ...] = ("fast", "reference")


# The limits (MAX_CLIENTS and MAX_HORIZON_DAYS are the scenario schema's: a run cannot exceed what a file may say)
REFERENCE_MAX_CLIENTS = 20_000  # the per-client reference engine is for checking, not for fleets


MAX_WORKERS = 1024  # processes on one machine; more is a typo (a Dask cluster is the way to go wider)


MAX_REPLICATIONS = 10_000


@dataclass(frozen=True)
class RunOptions:
    """How to run a scenario; every field's default keeps the scenario as written.

    ``seed``: root seed (default: the scenario's); ``clients``: resize a generated fleet (1 to 5,000,000;
    not a fleet read from files); ``horizon_days``: simulated days after the first step (over 0, at most
    1,095); ``engine``: ``"fast"`` or the per-client ``"reference"`` engine (at most 20,000 clients);
    ``workers``: processes for replications (default all cores, 1 runs in this process, at most 1,024);
    ``dask``: run replications on Dask (``"local"`` or a scheduler address); ``progress``: a progress bar
    (``None``: only on a terminal). Bad values raise ``InputError`` when the record is made.
    """

    seed: int | None = None
    clients: int | None = None
    horizon_days: float | None = None
    engine: Engine = "fast"
    workers: int | None = None
    dask: str | None = None
    progress: bool | None = None

    def __post_init__(self) -> None:
        if self.seed is not None and (not _is_int(self.seed) or self.seed < 0):
            raise InputError("--seed", "", f"expected a whole number, 0 or more (got {self.seed!r})")
        if self.clients is not None and (not _is_int(self.clients) or not 1 <= self.clients <= MAX_CLIENTS):
            raise InputError("--clients", "", f"expected 1 to {MAX_CLIENTS} clients (got {self.clients})")
        if self.horizon_days is not None and (
            not isinstance(self.horizon_days, numbers.Real) or not 0 < self.horizon_days <= MAX_HORIZON_DAYS
        ):
            raise InputError("--horizon-days", "", f"expected more than 0 and at most {MAX_HORIZON_DAYS} days")
        if self.engine not in ENGINES:
            raise InputError("--engine", "", f"expected fast or reference (got {self.engine!r})")
        if self.engine == "reference" and self.clients is not None and self.clients > REFERENCE_MAX_CLIENTS:
            raise InputError("--engine", "", f"the reference engine is for at most {REFERENCE_MAX_CLIENTS} clients")
        if self.workers is not None and (not _is_int(self.workers) or not 1 <= self.workers <= MAX_WORKERS):
            raise InputError("--workers", "", f"expected 1 to {MAX_WORKERS} processes (got {self.workers})")
        if self.dask is not None and (not isinstance(self.dask, str) or not self.dask.strip()):
            raise InputError("--dask", "", f"expected 'local' or a scheduler address (got {self.dask!r})")
        if self.dask is not None:
            parse_dask_address(self.dask)

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with some options changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def root_seed(self, scenario: Scenario) -> int:
        """The root seed a run of ``scenario`` uses: this one, or the scenario's own."""
        return scenario.seed if self.seed is None else self.seed

    def check(self, scenario: Scenario) -> None:
        """Refuse options that do not fit ``scenario``: resizing a fleet that is read from files."""
        if self.clients is not None and scenario.fleet.files is not None:
            raise InputError("--clients", "", "the scenario reads its fleet from files; it cannot be resized")

    def applied(self, scenario: Scenario) -> Scenario:
        """``scenario`` as these options run it: checked, and with the horizon changed if one is given."""
        self.check(scenario)
        return scenario if self.horizon_days is None else scenario.with_(horizon_days=self.horizon_days)


DEFAULTS = RunOptions()


def merge_options(options: RunOptions | None, **given: Any) -> RunOptions:
    """The run options of an API call that takes both keyword arguments and ``options=``.

    Keywords left at their defaults change nothing; the others are applied on top of ``options``. The same
    option given both ways with different values is refused rather than one silently winning.
    """
    base = DEFAULTS if options is None else options
    if not isinstance(base, RunOptions):
        raise InputError("options", "", f"expected a RunOptions (got {type(base).__name__})")
    changes = {k: v for k, v in given.items() if v != getattr(DEFAULTS, k)}
    for k, v in changes.items():
        mine = getattr(base, k)
        if mine != getattr(DEFAULTS, k) and mine != v:
            raise InputError("options", k, f"given twice, as {k}={v!r} and in options ({mine!r}); give it once")
    return base.replace(**changes) if changes else base


def check_replications(n: int, minimum: int = 1, option: str = "--replications") -> None:
    """The one bound on replication counts: ``minimum`` (2 where an interval is needed) to 10,000."""
    if not _is_int(n) or not minimum <= n <= MAX_REPLICATIONS:
        raise InputError(option, "", f"expected {minimum} to {MAX_REPLICATIONS} (got {n})")


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)  # numpy integers too
