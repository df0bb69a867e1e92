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

from sim._version import __version__  # first: modules below read it while the package initialises
from sim.analysis.comparison import Comparison
from sim.analysis.planning import Plan
from sim.analysis.replications import Replications, replicate
from sim.analysis.report import Report
from sim.analysis.sweeps import Sweep, sweep
from sim.api import compare, import_inventory, plan, report
from sim.errors import InputError
from sim.experiments.options import RunOptions
from sim.experiments.result import Result
from sim.experiments.simulate import simulate
from sim.scenario.document import Scenario, load_scenario

__all__ = [
    "Comparison",
    "InputError",
    "Plan",
    "Replications",
    "Report",
    "Result",
    "RunOptions",
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
