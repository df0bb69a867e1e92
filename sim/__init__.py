"""rotasim: replay a server-certificate rotation runbook against a model of an endpoint fleet.

The stable public API (see ``sim.api`` and docs/api.md):

- ``load_scenario(path)`` -> ``Scenario`` (``scenario.with_(**{"runbook.retention_days": 90})`` changes it in code)
- ``simulate(scenario, seed)`` -> ``Result``: tables ``clients``, ``steps``, ``events``, ``trust`` (and ``load``)
- ``replicate(scenario, n, seed)`` -> ``Replications``: ``runs``, ``summary()``, ``curve()``, ``orphans_by(...)``
- ``plan(replications_or_scenario, max_orphans=...)`` -> ``Plan``: the retention or wait that meets a target
- ``sweep(scenario, {field: values})`` -> ``Sweep``: ``runs``, ``table()``
- ``compare([scenario, ...])`` -> ``Comparison``: ``table()``, and the files of ``rotasim compare``
- ``report(scenario, out)`` -> ``Report``: the files of ``rotasim report`` and its ``verdict``
- ``import_inventory(export_csv, out)``: ``rotasim fleet import``; then ``load_scenario(out / "scenario.yaml")``
Result objects have ``plot_*`` methods returning matplotlib Figures. Errors in input: ``InputError``.
"""

from ._version import __version__  # first: modules below read it while the package initialises
from .api import compare, import_inventory, plan, report
from .comparison import Comparison
from .errors import InputError
from .planning import Plan, Replications, replicate
from .reporting import Report
from .results import Result
from .scenario import Scenario, load_scenario
from .simulate import simulate
from .sweeps import Sweep, sweep

__all__ = [
    "Comparison",
    "InputError",
    "Plan",
    "Replications",
    "Report",
    "Result",
    "Scenario",
    "Sweep",
    "__version__",
    "compare",
    "import_inventory",
    "load_scenario",
    "plan",
    "replicate",
    "report",
    "simulate",
    "sweep",
]
