"""Shipped runbooks (KB 187099's two procedures and the naive baseline) written out as lists of steps.

A runbook is data: these functions only expand a template's parameters into the same step records a
scenario can spell out itself, and one interpreter (``sim.world``) runs them.
"""

from __future__ import annotations

from sim.scenario.document import Scenario
from sim.scenario.runbook import (
    CustomRunbook,
    KbMultiServer,
    KbSingleServer,
    MslProtocol,
    Naive,
    Retire,
    SecureComms,
    Step,
    UpdateCertificate,
    Wait,
)


def expand_runbook(sc: Scenario) -> list[Step]:
    rb = sc.runbook
    if isinstance(rb, CustomRunbook):
        return list(rb.steps)
    if isinstance(rb, KbSingleServer):
        return kb_single_server(rb, [m.name for m in sc.managers])
    if isinstance(rb, KbMultiServer):
        return kb_multi_server(rb, [m.name for m in sc.managers])
    if isinstance(rb, Naive):
        return [UpdateCertificate(kind="update-certificate", name="update-all", managers=rb.managers)]
    raise TypeError(f"unknown runbook {type(rb).__name__}")


def kb_single_server(rb: KbSingleServer, managers: list[str]) -> list[Step]:
    """KB 187099, single management server site: HTTP list and secure communications off, wait, update,
    wait, then secure communications on and the original list back."""
    inh = rb.include_non_inheriting
    op = rb.operator_minutes
    first_wait = (
        Wait(kind="wait", name="wait-before-update", hours=rb.wait_hours)
        if rb.wait_hours is not None
        else Wait(kind="wait", name="wait-before-update", heartbeats=rb.wait_heartbeats)
    )
    return [
        MslProtocol(
            kind="msl-protocol",
            name="assign-http-msl",
            protocol="http",
            port=8014,
            include_non_inheriting=inh,
            operator_minutes=op,
        ),
        SecureComms(
            kind="secure-comms",
            name="disable-secure-comms",
            enabled=False,
            include_non_inheriting=inh,
            operator_minutes=op,
        ),
        first_wait,
        UpdateCertificate(
            kind="update-certificate", name="update-certificate", managers=rb.managers, operator_minutes=op
        ),
        Wait(kind="wait", name="wait-before-reenable", heartbeats=rb.reenable_wait_heartbeats),
        SecureComms(
            kind="secure-comms",
            name="enable-secure-comms",
            enabled=True,
            include_non_inheriting=inh,
            operator_minutes=op,
        ),
        MslProtocol(
            kind="msl-protocol",
            name="restore-msl",
            protocol="original",
            include_non_inheriting=inh,
            operator_minutes=op,
        ),
    ]


def kb_multi_server(rb: KbMultiServer, managers: list[str]) -> list[Step]:
    """KB 187099, multi-server site: one manager at a time with N heartbeats between, one manager kept on the
    old certificate for ``retention_days`` from the first update, then updated or retired."""
    order = list(rb.order or managers)
    retain = rb.retain or order[-1]
    rotate = [m for m in order if m != retain]
    steps: list[Step] = []
    for i, m in enumerate(rotate):
        steps.append(
            UpdateCertificate(
                kind="update-certificate", name=f"update-{m}", managers=[m], operator_minutes=rb.operator_minutes
            )
        )
        if i < len(rotate) - 1:
            steps.append(Wait(kind="wait", name=f"wait-after-{m}", heartbeats=rb.wait_heartbeats))
    steps.append(
        Wait(kind="wait", name=f"retain-{retain}", hours=rb.retention_days * 24.0, after_step=f"update-{rotate[0]}")
    )
    if rb.retention_end == "retire":
        steps.append(Retire(kind="retire", name=f"retire-{retain}", managers=[retain]))
    else:
        steps.append(
            UpdateCertificate(
                kind="update-certificate",
                name=f"update-{retain}",
                managers=[retain],
                operator_minutes=rb.operator_minutes,
            )
        )
    return steps
