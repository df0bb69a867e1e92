"""rotasim: replay a server-certificate rotation runbook against a model of an endpoint fleet.

Public API (stable): ``load_scenario``, ``simulate``, ``Result``, ``Scenario``, ``InputError``.
"""

from .errors import InputError
from .results import Result
from .scenario import Scenario, load_scenario
from .simulate import simulate

__version__ = "0.1.0"

__all__ = ["InputError", "Result", "Scenario", "load_scenario", "simulate", "__version__"]
