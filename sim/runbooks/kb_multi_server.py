"""KB 187099's multi-server procedure: one manager at a time, one kept on the old certificate for a while."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from sim.runbooks.base import Axis, Gate, Landing, Template, step_row
from sim.scenario.runbook import KbMultiServer, Retire, Step, Until, UpdateCertificate, Wait

if TYPE_CHECKING:  # tables are only annotated here: `rotasim validate` need not import pandas
    import pandas as pd


class KbMultiServerTemplate(Template):
    """One manager at a time with N heartbeats between, one manager kept on the old certificate for
    ``retention_days`` from the first update, then updated or retired. The axis is the retention."""

    tag = "kb-multi-server"
    axis = Axis("retention_days", "days", "retention", 0.01, "retired-before-return")
    spec: KbMultiServer

    def _order(self, managers: list[str]) -> tuple[list[str], str]:
        order = list(self.spec.order or managers)
        retain = self.spec.retain or order[-1]
        return [m for m in order if m != retain], retain

    def expand(self, managers: list[str]) -> list[Step]:
        rb = self.spec
        rotate, retain = self._order(managers)
        steps: list[Step] = []
        for i, m in enumerate(rotate):
            steps.append(
                UpdateCertificate(
                    kind="update-certificate", name=f"update-{m}", managers=[m], operator_minutes=rb.operator_minutes
                )
            )
            if i < len(rotate) - 1:
                steps.append(Wait(kind="wait", name=f"wait-after-{m}", heartbeats=rb.wait_heartbeats))
        first = f"update-{rotate[0]}"
        if rb.retention_until_share is None:
            steps.append(Wait(kind="wait", name=f"retain-{retain}", hours=rb.retention_days * 24.0, after_step=first))
        else:
            until = Until(checked_in_share=rb.retention_until_share, since=first)
            cap = rb.retention_days * 24.0
            steps.append(Wait(kind="wait", name=f"retain-{retain}", until=until, max_hours=cap, after_step=first))
        steps.append(self._end(retain))
        return steps

    def _end(self, retain: str) -> Step:
        if self.spec.retention_end == "retire":
            return Retire(kind="retire", name=f"retire-{retain}", managers=[retain])
        return UpdateCertificate(
            kind="update-certificate",
            name=f"update-{retain}",
            managers=[retain],
            operator_minutes=self.spec.operator_minutes,
        )

    def describe(self, setting: float | None) -> str:
        rb = self.spec
        if rb.retention_until_share is not None:
            return (
                f"kb-multi-server, old certificate kept until {rb.retention_until_share * 100:g}% have checked in "
                f"since the first update, or {rb.retention_days:g} days, whichever comes first"
            )
        return f"kb-multi-server, old certificate kept {rb.retention_days:g} days after the first update"

    def gate(self, managers: list[str]) -> Gate | None:
        share = self.spec.retention_until_share
        return None if share is None else self.gate_at(managers, share)

    def gate_at(self, managers: list[str], share: float) -> Gate | None:
        rotate, _ = self._order(managers)
        return Gate(f"update-{rotate[0]}", share)

    def gate_phrase(self, managers: list[str], share: float, cap: str) -> str:
        _, retain = self._order(managers)
        return (
            f"keep {retain} on the old certificate until {share * 100:g}% of the clients have checked in since the "
            f"first update, or {cap}, whichever comes first"
        )

    def setting(self, steps: pd.DataFrame) -> float | None:
        return float(self.spec.retention_days)

    def decisive_step(self, managers: list[str]) -> str | None:
        _, retain = self._order(managers)
        return self._end(retain).name

    def landing(self, steps: pd.DataFrame, managers: list[str]) -> Landing | None:
        rotate, retain = self._order(managers)
        first = step_row(steps, f"update-{rotate[0]}")
        wait = step_row(steps, f"retain-{retain}")
        if first is None or wait is None:
            return None
        op = self.spec.operator_minutes / 60.0 if self.spec.retention_end == "update" else 0.0
        return Landing(float(first["end_hours"]), 24.0, float(wait["start_hours"]), op)

    def decisive_label(self, name: str, start_hours: float) -> str | None:
        return f"retention ends: {name} ({start_hours / 24:.0f} d)"

    def probe(self, horizon_days: float) -> KbMultiServer:
        return self.spec.model_copy(update={"retention_days": float(horizon_days) + 1.0, "retention_until_share": None})

    def grid(self, horizon_days: float) -> np.ndarray:
        return np.arange(0.0, math.floor(horizon_days) + 1.0, 1.0)
