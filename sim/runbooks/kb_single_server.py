"""KB 187099's single-server procedure: relax the policy, wait, update, wait, restore."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from sim.runbooks.base import Axis, Gate, Landing, Template, step_row
from sim.scenario.runbook import KbSingleServer, MslProtocol, SecureComms, Step, Until, UpdateCertificate, Wait

if TYPE_CHECKING:  # tables are only annotated here: `rotasim validate` need not import pandas
    import pandas as pd

WAIT = "wait-before-update"
DISABLE = "disable-secure-comms"
UPDATE = "update-certificate"
GRID_HOURS = (0, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 36, 48, 72, 96, 120, 144, 168, 240, 336, 504, 720)


class KbSingleServerTemplate(Template):
    """HTTP list and secure communications off, wait, update, wait, then secure communications on and the
    original list back. The axis is the wait before the update."""

    tag = "kb-single-server"
    axis = Axis("wait_hours", "hours", "wait", 0.05, None)
    spec: KbSingleServer

    def expand(self, managers: list[str]) -> list[Step]:
        rb = self.spec
        inh, op = rb.include_non_inheriting, rb.operator_minutes
        if rb.wait_until_share is not None:
            until = Until(checked_in_share=rb.wait_until_share, since=DISABLE)
            first_wait = Wait(kind="wait", name=WAIT, until=until, max_hours=rb.wait_hours)
        elif rb.wait_hours is not None:
            first_wait = Wait(kind="wait", name=WAIT, hours=rb.wait_hours)
        else:
            first_wait = Wait(kind="wait", name=WAIT, heartbeats=rb.wait_heartbeats)

        def group_step(cls: type, name: str, **kw: object) -> Step:
            step: Step = cls(name=name, include_non_inheriting=inh, operator_minutes=op, **kw)
            return step

        return [
            group_step(MslProtocol, "assign-http-msl", kind="msl-protocol", protocol="http", port=8014),
            group_step(SecureComms, DISABLE, kind="secure-comms", enabled=False),
            first_wait,
            UpdateCertificate(kind="update-certificate", name=UPDATE, managers=rb.managers, operator_minutes=op),
            Wait(kind="wait", name="wait-before-reenable", heartbeats=rb.reenable_wait_heartbeats),
            group_step(SecureComms, "enable-secure-comms", kind="secure-comms", enabled=True),
            group_step(MslProtocol, "restore-msl", kind="msl-protocol", protocol="original"),
        ]

    def describe(self, setting: float | None) -> str:
        rb = self.spec
        if rb.wait_until_share is not None:
            return (
                f"kb-single-server, update once {rb.wait_until_share * 100:g}% have checked in since secure "
                f"communications were turned off, or after {rb.wait_hours:g} h, whichever comes first"
            )
        wait = f"{rb.wait_hours:g} h" if rb.wait_hours is not None else f"{rb.wait_heartbeats:g} heartbeats"
        got = f" = {setting:g} h" if setting is not None and rb.wait_hours is None else ""
        return f"kb-single-server, wait {wait}{got} before the certificate update"

    def gate(self, managers: list[str]) -> Gate | None:
        share = self.spec.wait_until_share
        return None if share is None else self.gate_at(managers, share)

    def gate_at(self, managers: list[str], share: float) -> Gate | None:
        return Gate(DISABLE, share)

    def gate_phrase(self, managers: list[str], share: float, cap: str) -> str:
        return (
            f"update the certificate once {share * 100:g}% of the clients have checked in since secure "
            f"communications were turned off, or after {cap}, whichever comes first"
        )

    def setting(self, steps: pd.DataFrame) -> float | None:
        if self.spec.wait_until_share is not None:
            return self.spec.wait_hours  # the cap: the setting a gated wait's planning question is about
        wait = step_row(steps, WAIT)
        return None if wait is None else float(wait["end_hours"] - wait["start_hours"])

    def decisive_step(self, managers: list[str]) -> str | None:
        return UPDATE

    def landing(self, steps: pd.DataFrame, managers: list[str]) -> Landing | None:
        wait = step_row(steps, WAIT)
        if wait is None:
            return None
        start = float(wait["start_hours"])
        return Landing(start, 1.0, start, self.spec.operator_minutes / 60.0)

    def probe(self, horizon_days: float) -> KbSingleServer:
        return self.spec.model_copy(update={"wait_hours": float(horizon_days) * 24.0 + 1.0, "wait_until_share": None})

    def grid(self, horizon_days: float) -> np.ndarray:
        return np.array([h for h in GRID_HOURS if h <= horizon_days * 24.0], dtype=float)
