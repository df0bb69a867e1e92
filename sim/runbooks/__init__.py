"""Runbook templates: each expands its parameters into steps and knows its planning axis.

``template_for(scenario.runbook)`` is the one way to ask anything of a runbook; ``expand_runbook(scenario)``
its steps. A new template is a class here (``sim.runbooks.base.Template``) and a spec in
``sim.scenario.runbook``.
"""

from __future__ import annotations

from typing import Any

from sim.runbooks.base import Axis, Gate, Landing, Template
from sim.runbooks.kb_multi_server import KbMultiServerTemplate
from sim.runbooks.kb_single_server import KbSingleServerTemplate
from sim.runbooks.others import CustomTemplate, NaiveTemplate
from sim.scenario.document import Scenario
from sim.scenario.runbook import Step, runbook_tag

TEMPLATES: dict[str, type[Template]] = {
    t.tag: t for t in (KbSingleServerTemplate, KbMultiServerTemplate, NaiveTemplate, CustomTemplate)
}


def template_for(spec: Any) -> Template:
    """The template object of a scenario's ``runbook`` spec."""
    tag = runbook_tag(spec)
    if tag not in TEMPLATES:  # pragma: no cover - the scenario schema refuses unknown templates
        raise ValueError(f"unknown runbook template {tag!r}")
    return TEMPLATES[tag](spec)


def expand_runbook(sc: Scenario) -> list[Step]:
    return template_for(sc.runbook).expand([m.name for m in sc.managers])


__all__ = ["TEMPLATES", "Axis", "Gate", "Landing", "Template", "expand_runbook", "template_for"]
