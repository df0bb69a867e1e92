"""The scenario file: its schema, how a file becomes a ``Scenario``, and the override grammar.

The front door of the layer: ``from sim.scenario import Scenario, load_scenario``.
"""

from sim.scenario.document import Scenario, build_scenario, load_presence, load_scenario

__all__ = ["Scenario", "build_scenario", "load_presence", "load_scenario"]
