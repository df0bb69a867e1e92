"""The runbook section of a scenario: the step kinds an operator performs and the shipped templates'
parameters. A template here is only its parameters; ``sim.runbooks`` expands it into steps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from sim.scenario.fields import Strict

GroupTarget = Literal["all"] | list[str]


@dataclass(frozen=True)
class References:
    """The names a runbook may refer to, from the rest of the scenario: each spec checks its own."""

    managers: list[str]
    groups: set[str]
    sites: set[str]
    msls: set[str]

    def check_managers(self, where: str, names: list[str] | str | None) -> None:
        if isinstance(names, list):
            for n in names:
                if n not in self.managers:
                    raise ValueError(f"runbook.{where}: unknown manager {n!r}")


class StepBase(Strict):
    name: str | None = Field(None, description="Step name shown in outputs; default: kind and number.")
    operator_minutes: float = Field(0.0, ge=0, description="Hands-on time; the change lands at the end of it.")

    def check(self, refs: References, where: str, earlier: set[str]) -> None:
        """Refuse names the scenario does not have (``earlier``: names of the steps before this one)."""


class GroupStep(StepBase):
    groups: GroupTarget = Field("all", description="'all' (root and inheriting groups) or group names.")
    include_non_inheriting: bool = Field(
        False, description="Also reach groups with inheritance off (KB 187099 step 8 note)."
    )
    site: str | None = Field(None, description="Site whose console makes the change; default: the first.")

    def check(self, refs: References, where: str, earlier: set[str]) -> None:
        if isinstance(self.groups, list):
            for g in self.groups:
                if g not in refs.groups:
                    raise ValueError(f"runbook.{where}.groups: unknown group {g!r}")
        if self.site is not None and self.site not in refs.sites:
            raise ValueError(f"runbook.{where}.site: unknown site {self.site!r}")


class AssignMsl(GroupStep):
    kind: Literal["assign-msl"]
    msl: str

    def check(self, refs: References, where: str, earlier: set[str]) -> None:
        super().check(refs, where, earlier)
        if self.msl not in refs.msls:
            raise ValueError(f"runbook.{where}.msl: unknown msl {self.msl!r}")


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

    def check(self, refs: References, where: str, earlier: set[str]) -> None:
        if isinstance(self.groups, list):
            for g in self.groups:
                if g not in refs.groups:
                    raise ValueError(f"runbook.{where}.groups: unknown group {g!r}")
        if self.after_step is not None and self.after_step not in earlier:
            raise ValueError(f"runbook.{where}.after_step: no earlier step named {self.after_step!r}")


class UpdateCertificate(StepBase):
    kind: Literal["update-certificate"]
    managers: list[str] | Literal["all"] = Field(min_length=1)

    def check(self, refs: References, where: str, earlier: set[str]) -> None:
        refs.check_managers(where + ".managers", self.managers)


class Retire(StepBase):
    kind: Literal["retire"]
    managers: list[str] = Field(min_length=1)

    def check(self, refs: References, where: str, earlier: set[str]) -> None:
        refs.check_managers(where + ".managers", self.managers)


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

    def check(self, refs: References) -> None:
        refs.check_managers("managers", self.managers)


class KbMultiServer(Strict):
    template: Literal["kb-multi-server"]
    order: list[str] | None = Field(None, description="Managers in update order; default: scenario order.")
    wait_heartbeats: float = Field(3.0, ge=0, description="Wait between managers (KB step 3: at least 3).")
    retain: str | None = Field(None, description="Manager kept on the old certificate; default: last in order.")
    retention_days: float = Field(30.0, ge=0, description="Counted from the first certificate update (KB: 30-90).")
    retention_end: Literal["update", "retire"] = "update"
    operator_minutes: float = Field(5.0, ge=0)

    def check(self, refs: References) -> None:
        refs.check_managers("order", self.order)
        if self.order is not None and len(set(self.order)) != len(self.order):
            raise ValueError("runbook.order: a manager is listed twice")
        if self.retain is not None:
            refs.check_managers("retain", [self.retain])
            if self.order is not None and self.retain not in self.order:
                raise ValueError("runbook.retain: the retained manager must be in 'order'")
        if len(self.order or refs.managers) < 2:
            raise ValueError("runbook: kb-multi-server needs at least two managers")


class Naive(Strict):
    template: Literal["naive"]
    managers: list[str] | Literal["all"] = "all"

    def check(self, refs: References) -> None:
        refs.check_managers("managers", self.managers)


class CustomRunbook(Strict):
    steps: list[Step] = Field(min_length=1)

    def check(self, refs: References) -> None:
        names: set[str] = set()
        for i, st in enumerate(self.steps):
            where = f"steps[{i}]"
            st.check(refs, where, names)  # before adding its own name: a wait cannot wait for itself
            if st.name is not None:
                if st.name in names:
                    raise ValueError(f"runbook.{where}.name: duplicate step name {st.name!r}")
                names.add(st.name)


def runbook_tag(v: Any) -> str | None:
    """Which runbook form a value is: a template by its name, or the operator's own steps."""
    if isinstance(v, dict):
        return "custom" if "steps" in v else v.get("template")
    return "custom" if isinstance(v, CustomRunbook) else getattr(v, "template", None)


Runbook = Annotated[
    Annotated[KbSingleServer, Tag("kb-single-server")]
    | Annotated[KbMultiServer, Tag("kb-multi-server")]
    | Annotated[Naive, Tag("naive")]
    | Annotated[CustomRunbook, Tag("custom")],
    Discriminator(runbook_tag),
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
