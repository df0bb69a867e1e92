"""The runbooks without a timing question: the naive baseline and the operator's own steps."""

from __future__ import annotations

from sim.runbooks.base import Template
from sim.scenario.runbook import CustomRunbook, Naive, Step, UpdateCertificate


class NaiveTemplate(Template):
    """The baseline "just do it": every certificate updated at once, no preparation."""

    tag = "naive"
    spec: Naive

    def expand(self, managers: list[str]) -> list[Step]:
        return [UpdateCertificate(kind="update-certificate", name="update-all", managers=self.spec.managers)]

    def describe(self, setting: float | None) -> str:
        return "naive: every certificate updated at once"


class CustomTemplate(Template):
    """The operator's own list of steps, run as written."""

    tag = "custom"
    spec: CustomRunbook

    def expand(self, managers: list[str]) -> list[Step]:
        return list(self.spec.steps)

    def describe(self, setting: float | None) -> str:
        return f"custom runbook of {len(self.spec.steps)} steps"
