"""``rotasim validate``: check a scenario and the files it names without running it.

Prints ``OK: <name>: N groups, M managers in S sites, runbook <template or custom> (K steps), <fleet>,
horizon D days``. It imports neither the analysis nor the presentation layer: checking a file should take
the time of reading it.
"""

from __future__ import annotations

import typer

from sim.cli.options import ScenarioPath
from sim.errors import printable


def validate_command(scenario: ScenarioPath) -> None:
    """Check SCENARIO and the files it names (clients.csv, absences.csv) without running it."""
    from sim.experiments.check import check_scenario
    from sim.scenario.document import load_scenario

    typer.echo(printable(f"OK: {check_scenario(load_scenario(scenario)).describe()}"))
