"""The runbook section of a scenario: the step kinds an operator performs and the shipped templates'
parameters. A template here is only its parameters; ``sim.runbooks`` expands it into steps."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from sim.scenario.fields import Strict

GroupTarget = Literal["all"] | list[str]


class StepBase(Strict):
    name: str | None = Field(None, description="Step name shown in outputs; default: kind and number.")
    operator_minutes: float = Field(0.0, ge=0, description="Hands-on time; the change lands at the end of it.")


class GroupStep(StepBase):
    groups: GroupTarget = Field("all", description="'all' (root and inheriting groups) or group names.")
    include_non_inheriting: bool = Field(
        False, description="Also reach groups with inheritance off (KB 187099 step 8 note)."
    )
    site: str | None = Field(None, description="Site whose console makes the change; default: the first.")


class AssignMsl(GroupStep):
    kind: Literal["assign-msl"]
    msl: str


class MslProtocol(GroupStep):
    kind: Literal["msl-protocol"]
    protocol: Literal["http", "https", "original"] = Field(
        description="Switch the groups' current list to this protocol; 'original' restores the list's own."
    )
    port: int | None = Field(None, ge=1, le=65535, description="Port; http default 8014 (KB 187099).")


class SecureComms(GroupStep):
    kind: Literal["secure-comms"]
    enabled: bool


class SetHeartbeat(GroupStep):
    kind: Literal["set-heartbeat"]
    minutes: float = Field(gt=0, le=24 * 60)


class Wait(StepBase):
    kind: Literal["wait"]
    hours: float | None = Field(None, ge=0, description="Wait this many hours.")
    heartbeats: float | None = Field(
        None, ge=0, description="Wait this many heartbeat cycles of the slowest group named in 'groups'."
    )
    groups: GroupTarget = "all"
    after_step: str | None = Field(
        None, description="With 'hours': wait until that many hours after the named step's change landed."
    )

    @model_validator(mode="after")
    def _one(self) -> Wait:
        if (self.hours is None) == (self.heartbeats is None):
            raise ValueError("a wait needs exactly one of 'hours' or 'heartbeats'")
        if self.after_step is not None and self.hours is None:
            raise ValueError("'after_step' goes with 'hours'")
        if self.operator_minutes:
            raise ValueError("a wait has no hands-on time: leave out operator_minutes")
        return self


class UpdateCertificate(StepBase):
    kind: Literal["update-certificate"]
    managers: list[str] | Literal["all"] = Field(min_length=1)


class Retire(StepBase):
    kind: Literal["retire"]
    managers: list[str] = Field(min_length=1)


Step = Annotated[
    AssignMsl | MslProtocol | SecureComms | SetHeartbeat | Wait | UpdateCertificate | Retire,
    Field(discriminator="kind"),
]


class KbSingleServer(Strict):
    template: Literal["kb-single-server"]
    wait_heartbeats: float = Field(3.0, ge=0, description="Wait after disabling (KB step 8: at least 3).")
    wait_hours: float | None = Field(None, ge=0, description="Overrides wait_heartbeats when set.")
    reenable_wait_heartbeats: float = Field(3.0, ge=0, description="Wait before re-enabling (KB: at least 3).")
    include_non_inheriting: bool = Field(True, description="Also change groups with inheritance off.")
    managers: list[str] | Literal["all"] = "all"
    operator_minutes: float = Field(5.0, ge=0, description="Hands-on time per console step (A).")


class KbMultiServer(Strict):
    template: Literal["kb-multi-server"]
    order: list[str] | None = Field(None, description="Managers in update order; default: scenario order.")
    wait_heartbeats: float = Field(3.0, ge=0, description="Wait between managers (KB step 3: at least 3).")
    retain: str | None = Field(None, description="Manager kept on the old certificate; default: last in order.")
    retention_days: float = Field(30.0, ge=0, description="Counted from the first certificate update (KB: 30-90).")
    retention_end: Literal["update", "retire"] = "update"
    operator_minutes: float = Field(5.0, ge=0)


class Naive(Strict):
    template: Literal["naive"]
    managers: list[str] | Literal["all"] = "all"


class CustomRunbook(Strict):
    steps: list[Step] = Field(min_length=1)


def _runbook_tag(v: Any) -> str | None:
    """Which runbook form a value is: a template by its name, or the operator's own steps."""
    if isinstance(v, dict):
        return "custom" if "steps" in v else v.get("template")
    return "custom" if isinstance(v, CustomRunbook) else getattr(v, "template", None)


Runbook = Annotated[
    Annotated[KbSingleServer, Tag("kb-single-server")]
    | Annotated[KbMultiServer, Tag("kb-multi-server")]
    | Annotated[Naive, Tag("naive")]
    | Annotated[CustomRunbook, Tag("custom")],
    Discriminator(_runbook_tag),
]


TAGS = {
    "kb-single-server",
    "kb-multi-server",
    "naive",
    "custom",
    "exponential",
    "lognormal",
    "pareto",
    "fixed",
    "uniform",
    "assign-msl",
    "msl-protocol",
    "secure-comms",
    "set-heartbeat",
    "wait",
    "update-certificate",
    "retire",
}


def step_name(step: Step, i: int) -> str:
    return step.name or f"{step.kind}-{i + 1}"
