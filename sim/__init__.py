"""rotasim: replay a server-certificate rotation runbook against a model of an endpoint fleet.

The stable public API (docs/api.md has a section for every name in ``__all__``):

- Scenarios: ``load_scenario(path)`` -> ``Scenario`` (``scenario.with_(**{"runbook.retention_days": 90})``)
- Runs: ``simulate(scenario, seed)`` -> ``Result`` (tables ``clients``, ``steps``, ``events``, ``trust``, ``load``);
  ``replicate(scenario, n, seed)`` -> ``Replications``; ``RunOptions``: the run options every call takes
- Planning: ``plan(replications_or_scenario, max_orphans=...)`` -> ``Plan``; ``sweep(scenario, {field: values})``
  -> ``Sweep``
- Reports: ``report(scenario, out)`` -> ``Report``; ``compare([scenario, ...])`` -> ``Comparison``
- Fleet import: ``import_inventory(export_csv, out)``, then ``load_scenario(out / "scenario.yaml")``
- Errors: ``InputError`` (bad input), ``InputWarning`` (input worth a look)

Result objects have ``plot_*`` methods returning matplotlib Figures.

Why the names are loaded lazily (PEP 562): ``import sim`` is what every ``rotasim`` command pays before it
prints a line, and the modules behind the names pull numpy, pandas, scipy and matplotlib. Each name is
imported on first use (``sim.simulate``, ``from sim import plan``); ``__all__``, ``dir(sim)`` and type
checkers (the ``TYPE_CHECKING`` imports below) see them all as if imported eagerly, and a submodule reached
as an attribute (``sim.io``) is imported then.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from sim._version import __version__
from sim.errors import InputError, InputWarning

if TYPE_CHECKING:
    from sim.analysis.comparison import Comparison
    from sim.analysis.planning import Plan
    from sim.analysis.replications import Replications, replicate
    from sim.analysis.report import Report
    from sim.analysis.sweeps import Sweep, sweep
    from sim.api import compare, import_inventory, plan, report
    from sim.experiments.options import RunOptions
    from sim.experiments.result import Result
    from sim.experiments.simulate import simulate
    from sim.scenario.document import Scenario, load_scenario

__all__ = [
    # Scenarios
    "Scenario",
    "load_scenario",
    # Runs
    "Replications",
    "Result",
    "RunOptions",
    "replicate",
    "simulate",
    # Planning
    "Plan",
    "Sweep",
    "plan",
    "sweep",
    # Reports
    "Comparison",
    "Report",
    "compare",
    "report",
    # Fleet import
    "import_inventory",
    # Tracking a rotation
    "Tracking",
    "track",
    "backtest",
    # Errors
    "InputError",
    "InputWarning",
    # Version
    "__version__",
]

# name -> the module that defines it; imported on first access
_LAZY = {
    "Scenario": "sim.scenario.document",
    "load_scenario": "sim.scenario.document",
    "Replications": "sim.analysis.replications",
    "Result": "sim.experiments.result",
    "RunOptions": "sim.experiments.options",
    "replicate": "sim.analysis.replications",
    "simulate": "sim.experiments.simulate",
    "Plan": "sim.analysis.planning",
    "Sweep": "sim.analysis.sweeps",
    "plan": "sim.api",
    "sweep": "sim.analysis.sweeps",
    "Comparison": "sim.analysis.comparison",
    "Report": "sim.analysis.report",
    "compare": "sim.api",
    "report": "sim.api",
    "import_inventory": "sim.api",
    "Tracking": "sim.tracking.summary",
    "track": "sim.api",
    "backtest": "sim.api",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # later look-ups find it directly
        return value
    if not name.startswith("__") and importlib.util.find_spec(f"sim.{name}") is not None:
        return importlib.import_module(f"sim.{name}")  # a submodule (``sim.io``), as an eager package had it
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
