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


class CheckedIn(Strict):
    """What the console shows about one set of clients: who has checked in since a moment (the end of a named
    step, or of the last step that changed something before this one). Clients that never check in again (away,
    orphaned, decommissioned) stay "not checked in" on the console: they count in the total."""

    since: str = Field(
        "last-change",
        description="A step name (checked in since that step ended), or 'last-change': the last step before this "
        "one that is not a wait or a condition.",
    )
    groups: GroupTarget = Field(
        "all", description="'all' (every client) or group names (their clients and those of their subgroups)."
    )

    def check(self, refs: References, where: str) -> None:
        check_groups(refs, where, self.groups)

    def check_since(self, where: str, earlier: list[str], changes: list[str]) -> None:
        check_since(where, self.since, earlier, changes)


def check_groups(refs: References, where: str, groups: GroupTarget) -> None:
    if isinstance(groups, list):
        for g in groups:
            if g not in refs.groups:
                raise ValueError(f"runbook.{where}.groups: unknown group {g!r}")


def check_since(where: str, since: str, earlier: list[str], changes: list[str]) -> None:
    """``since`` names an earlier step, or is 'last-change' with a step that changes something before."""
    if since == "last-change":
        if not changes:
            raise ValueError(f"runbook.{where}.since: 'last-change' needs a step that changes something before it")
    elif since not in earlier:
        raise ValueError(f"runbook.{where}.since: no earlier step named {since!r}")


class Until(CheckedIn):
    """A gate: the share of the clients that checked in since ``since`` is at least ``checked_in_share``."""

    checked_in_share: float = Field(gt=0, le=1, description="Share of the clients that must have checked in.")


class Wait(StepBase):
    kind: Literal["wait"]
    hours: float | None = Field(None, ge=0, description="Wait this many hours.")
    heartbeats: float | None = Field(
        None, ge=0, description="Wait this many heartbeat cycles of the slowest group named in 'groups'."
    )
    until: Until | None = Field(None, description="Wait until the console shows this share checked in (a gate).")
    max_hours: float | None = Field(
        None, gt=0, description="With 'until': the gate's cap, hours from the wait's start (or from 'after_step')."
    )
    groups: GroupTarget = "all"
    after_step: str | None = Field(
        None,
        description="With 'hours' (or 'until' with 'max_hours'): count from the end of the named step instead.",
    )

    @model_validator(mode="after")
    def _one(self) -> Wait:
        if sum(x is not None for x in (self.hours, self.heartbeats, self.until)) != 1:
            raise ValueError(
                "a wait needs exactly one of 'hours' or 'heartbeats', or 'until' (a gate) with 'max_hours'"
            )
        if self.until is not None and self.max_hours is None:
            raise ValueError("a wait with 'until' needs 'max_hours' (the cap: a gate that never opens must end)")
        if self.max_hours is not None and self.until is None:
            raise ValueError("'max_hours' goes with 'until'")
        if self.after_step is not None and self.heartbeats is not None:
            raise ValueError("'after_step' goes with 'hours' or 'until'")
        if self.operator_minutes:
            raise ValueError("a wait has no hands-on time: leave out operator_minutes")
        return self

    def check(self, refs: References, where: str, earlier: set[str]) -> None:
        check_groups(refs, where, self.groups)
        if self.until is not None:
            self.until.check(refs, where + ".until")
        if self.after_step is not None and self.after_step not in earlier:
            raise ValueError(f"runbook.{where}.after_step: no earlier step named {self.after_step!r}")

    def check_order(self, where: str, earlier: list[str], changes: list[str]) -> None:
        """``earlier``: names of the steps before this one; ``changes``: those of them that change something."""
        if self.until is not None:
            self.until.check_since(where + ".until", earlier, changes)


class HoldIf(StepBase):
    """A stop condition, evaluated when the next step is due: if more than ``not_checked_in_above`` of the clients
    have not checked in since ``since``, the runbook stops here (``then: stop``) or goes on at the named step (a
    rollback sequence written after an ``end`` step)."""

    kind: Literal["hold-if"]
    not_checked_in_above: int = Field(ge=0, description="Hold when more than this many have not checked in.")
    since: str = Field("last-change", description="A step name, or 'last-change' (see 'until').")
    groups: GroupTarget = "all"
    then: str = Field("stop", description="'stop' (the runbook ends here) or the name of a later step to go on at.")

    @model_validator(mode="after")
    def _no_hands_on(self) -> HoldIf:
        if self.operator_minutes:
            raise ValueError("a hold-if has no hands-on time: leave out operator_minutes")
        return self

    def check(self, refs: References, where: str, earlier: set[str]) -> None:
        check_groups(refs, where, self.groups)

    def check_order(self, where: str, earlier: list[str], changes: list[str]) -> None:
        check_since(where, self.since, earlier, changes)


class Repair(StepBase):
    """Hands-on recovery of orphans (fact 4: a Communication Update Package or a new sylink.xml), in daily waves:
    ``per_day`` clients a day, each repair working with probability ``success_share``."""

    kind: Literal["repair"]
    clients: Literal["detected"] | list[str] = Field(
        "detected",
        description="'detected': the orphans the help desk has heard of (a failed check-in) by each wave, oldest "
        "first; or a list of client ids (repaired if orphaned at their wave).",
    )
    per_day: int = Field(gt=0, description="Clients repaired per day (one wave at the end of each day).")
    days: float | None = Field(
        None, gt=0, description="How long the repair campaign runs (required with 'detected'); default: the list."
    )
    success_share: float = Field(1.0, ge=0, le=1, description="Share of repairs that work (A).")

    @model_validator(mode="after")
    def _campaign(self) -> Repair:
        if self.clients == "detected" and self.days is None:
            raise ValueError("a repair of the detected orphans needs 'days' (how long the campaign runs)")
        if self.operator_minutes:
            raise ValueError("a repair's hands-on time is the scenario's repair_minutes per client")
        return self


class End(StepBase):
    """The end of the runbook's normal course: the steps after it run only when a hold-if branches to them."""

    kind: Literal["end"]

    @model_validator(mode="after")
    def _no_hands_on(self) -> End:
        if self.operator_minutes:
            raise ValueError("an end has no hands-on time: leave out operator_minutes")
        return self


class UpdateCertificate(StepBase):
    kind: Literal["update-certificate"]
    managers: list[str] | Literal["all"] = Field(min_length=1)

    def check(self, refs: References, where: str, earlier: set[str]) -> None:
        refs.check_managers(where + ".managers", self.managers)


class RestoreCertificate(StepBase):
    """The KB's "restore a server certificate": each manager goes back to the certificate it had before its last
    update (its keystore backup), restarting its services as for an update."""

    kind: Literal["restore-certificate"]
    managers: list[str] | Literal["all"] = Field(min_length=1)

    def check(self, refs: References, where: str, earlier: set[str]) -> None:
        refs.check_managers(where + ".managers", self.managers)


class Retire(StepBase):
    kind: Literal["retire"]
    managers: list[str] = Field(min_length=1)

    def check(self, refs: References, where: str, earlier: set[str]) -> None:
        refs.check_managers(where + ".managers", self.managers)


Step = Annotated[
    AssignMsl
    | MslProtocol
    | SecureComms
    | SetHeartbeat
    | Wait
    | UpdateCertificate
    | RestoreCertificate
    | Retire
    | HoldIf
    | Repair
    | End,
    Field(discriminator="kind"),
]


class KbSingleServer(Strict):
    template: Literal["kb-single-server"]
    wait_heartbeats: float = Field(3.0, ge=0, description="Wait after disabling (KB step 8: at least 3).")
    wait_hours: float | None = Field(None, ge=0, description="Overrides wait_heartbeats when set.")
    wait_until_share: float | None = Field(
        None,
        gt=0,
        le=1,
        description="A gate: update as soon as this share of the clients has checked in since secure communications "
        "were turned off; wait_hours is then its cap (whichever comes first).",
    )
    reenable_wait_heartbeats: float = Field(3.0, ge=0, description="Wait before re-enabling (KB: at least 3).")
    include_non_inheriting: bool = Field(True, description="Also change groups with inheritance off.")
    managers: list[str] | Literal["all"] = "all"
    operator_minutes: float = Field(5.0, ge=0, description="Hands-on time per console step (A).")

    def check(self, refs: References) -> None:
        if self.wait_until_share is not None and not self.wait_hours:
            raise ValueError("runbook.wait_hours: a gated wait (wait_until_share) needs its cap, more than 0 hours")
        refs.check_managers("managers", self.managers)


class KbMultiServer(Strict):
    template: Literal["kb-multi-server"]
    order: list[str] | None = Field(None, description="Managers in update order; default: scenario order.")
    wait_heartbeats: float = Field(3.0, ge=0, description="Wait between managers (KB step 3: at least 3).")
    retain: str | None = Field(None, description="Manager kept on the old certificate; default: last in order.")
    retention_days: float = Field(30.0, ge=0, description="Counted from the first certificate update (KB: 30-90).")
    retention_end: Literal["update", "retire"] = "update"
    retention_until_share: float | None = Field(
        None,
        gt=0,
        le=1,
        description="A gate: end the retention as soon as this share of the clients has checked in since the first "
        "update; retention_days is then its cap (whichever comes first).",
    )
    operator_minutes: float = Field(5.0, ge=0)

    def check(self, refs: References) -> None:
        if self.retention_until_share is not None and self.retention_days <= 0:
            raise ValueError("runbook.retention_days: the cap of a gated retention must be more than 0 days")
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
        earlier: list[str] = []
        changes: list[str] = []
        for i, st in enumerate(self.steps):
            where = f"steps[{i}]"
            st.check(refs, where, names)  # before adding its own name: a wait cannot wait for itself
            if isinstance(st, Wait | HoldIf):
                st.check_order(where, earlier, changes)
            if st.name is not None:
                if st.name in names:
                    raise ValueError(f"runbook.{where}.name: duplicate step name {st.name!r}")
                names.add(st.name)
            name = step_name(st, i)
            earlier.append(name)
            if st.kind not in NOT_CHANGES:
                changes.append(name)
        self._check_branches()
        self._check_restores(refs)

    def _check_restores(self, refs: References) -> None:
        """A restore needs an earlier update of that manager, not yet restored (its backup)."""
        updates = dict.fromkeys(refs.managers, 0)
        for i, st in enumerate(self.steps):
            if isinstance(st, UpdateCertificate | RestoreCertificate):
                names = refs.managers if st.managers == "all" else st.managers
                for m in names:
                    if isinstance(st, UpdateCertificate):
                        updates[m] += 1
                    elif updates[m] == 0:
                        raise ValueError(f"runbook.steps[{i}].managers: {m!r} has no earlier update to restore from")
                    else:
                        updates[m] -= 1

    def _check_branches(self) -> None:
        """A hold-if goes on at a later step (forward only: a runbook cannot loop)."""
        names = [step_name(st, i) for i, st in enumerate(self.steps)]
        for i, st in enumerate(self.steps):
            if isinstance(st, HoldIf) and st.then != "stop":
                if st.then not in names:
                    raise ValueError(f"runbook.steps[{i}].then: no step named {st.then!r} (or 'stop')")
                if names.index(st.then) <= i:
                    raise ValueError(f"runbook.steps[{i}].then: {st.then!r} is not a later step (no loops)")


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
    "hold-if",
    "repair",
    "restore-certificate",
    "end",
}

# steps that change nothing the clients could learn: a condition's "last-change" skips them
NOT_CHANGES = ("wait", "hold-if", "repair", "end")


def step_name(step: Step, i: int) -> str:
    return step.name or f"{step.kind}-{i + 1}"
