"""Checking a scenario without running it (``rotasim validate``): build every part a run would build first.

A scenario that loads can still fail later: a list naming a manager of another site, a runbook step for a
group that does not exist, a bad row in ``clients.csv``. ``check_scenario`` compiles the topology, expands
the runbook and reads the fleet files, so that each of those fails here, with its one-line ``InputError``,
instead of minutes into a run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.topology import compile_topology
from sim.runbooks import expand_runbook, template_for
from sim.scenario.document import Scenario


@dataclass(frozen=True)
class CheckedScenario:
    """What a valid scenario holds, counted: the parts ``rotasim validate`` reports."""

    name: str
    groups: int
    managers: int
    sites: int
    runbook: str  # the template's name, or "custom"
    steps: int
    fleet: str  # "N generated clients" or "N clients from clients.csv [and absences.csv]"
    horizon_days: float

    def describe(self) -> str:
        """One line: ``<name>: 3 groups, 3 managers in 1 site, runbook kb-multi-server (5 steps), ...``."""
        return (
            f"{self.name}: {_n(self.groups, 'group')}, {_n(self.managers, 'manager')} in "
            f"{_n(self.sites, 'site')}, runbook {self.runbook} ({_n(self.steps, 'step')}), {self.fleet}, "
            f"horizon {self.horizon_days:g} days"
        )


def check_scenario(sc: Scenario) -> CheckedScenario:
    """Build the topology, the runbook's steps and a fleet read from files; raise ``InputError`` if one fails."""
    topo = compile_topology(sc)
    steps = expand_runbook(sc)
    files = sc.fleet.files
    if files is not None:
        # imported here, not at the top: reading files needs pandas, and `rotasim validate` on a generated
        # fleet should not wait for it (docs/architecture.md, "Start-up")
        from sim.model.fleet import generate_fleet

        n = generate_fleet(sc, topo, np.random.default_rng(0)).n
        fleet = f"{n} clients from {files.clients}" + (f" and {files.absences}" if files.absences else "")
    else:
        fleet = f"{sc.fleet.clients} generated clients"
    return CheckedScenario(
        name=sc.name,
        groups=topo.n_groups,
        managers=topo.n_managers,
        sites=len(topo.site_names),
        runbook=template_for(sc.runbook).tag,
        steps=len(steps),
        fleet=fleet,
        horizon_days=sc.horizon_days,
    )


def _n(k: int, what: str) -> str:
    return f"{k} {what}{'' if k == 1 else 's'}"
