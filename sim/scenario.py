"""The scenario file: what a planner writes down about their sites, groups, fleet and runbook.

Validated with pydantic so that a typo is refused with the field and what is expected, instead of silently
becoming a default. Every default comes from ``../shared/docs/domain-facts.md`` (cited as "fact N") or is an
assumption listed in ``docs/model.md``. Units are in the field names (``_minutes``, ``_hours``, ``_days``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import InputError

MAX_CLIENTS = 5_000_000
MAX_HORIZON_DAYS = 3 * 365

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class Strict(BaseModel):
    """Base for every scenario section: unknown keys are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------------------------- topology


class ManagerSpec(Strict):
    name: str = Field(description="Unique manager (SEPM) name, used in MSLs and runbook steps.")
    restart_minutes: float = Field(
        10.0, ge=0, description="Downtime while the manager's services restart for a new certificate (fact 18, A)."
    )
    capacity_per_second: float | None = Field(
        None, gt=0, le=10_000, description="Check-ins per second it serves; default: load.capacity_per_second."
    )


class SiteSpec(Strict):
    name: str = Field(description="Site name; each site has its own database (fact 16).")
    managers: list[ManagerSpec] = Field(min_length=1, description="Managers of this site.")


class MslSpec(Strict):
    name: str = Field(description="Management server list name.")
    protocol: Literal["https", "http"] = Field("https", description="Protocol of every entry (fact 4).")
    port: int | None = Field(None, ge=1, le=65535, description="Port of every entry; default 443 (https), 8014 (http).")
    tiers: list[list[str]] = Field(
        min_length=1, description="Priority tiers, highest first; each a list of manager names (fact 13)."
    )

    @field_validator("tiers")
    @classmethod
    def _tiers_not_empty(cls, v: list[list[str]]) -> list[list[str]]:
        if any(len(t) == 0 for t in v):
            raise ValueError("every tier needs at least one manager")
        flat = [m for t in v for m in t]
        if len(flat) != len(set(flat)):
            raise ValueError("a manager may appear only once in a list")
        return v


class GroupSpec(Strict):
    name: str = Field(description="Group name, unique in the scenario.")
    parent: str | None = Field(None, description="Parent group; exactly one group (the root) has none.")
    inherit: bool = Field(True, description="Inherit the parent's policy and MSL (fact 15).")
    msl: str | None = Field(None, description="MSL assigned to this group (required on the root).")
    secure_comms: bool | None = Field(None, description="Secure communications on (fact 3). Root default: on.")
    heartbeat_minutes: float | None = Field(
        None, gt=0, le=24 * 60, description="Heartbeat interval (fact 7). Root default: 5 minutes."
    )


class VersionSpec(Strict):
    fails_over_on_cert_mismatch: bool = Field(
        True,
        description="False: a certificate mismatch is fatal, the client does not try another manager (fact 6, A).",
    )


DEFAULT_VERSIONS = {
    "14.2": VersionSpec(fails_over_on_cert_mismatch=False),
    "14.2.1": VersionSpec(fails_over_on_cert_mismatch=False),
}

# --------------------------------------------------------------------------------------------- distributions


class Exponential(Strict):
    distribution: Literal["exponential"]
    mean: float = Field(gt=0)


class LogNormal(Strict):
    distribution: Literal["lognormal"]
    median: float = Field(gt=0)
    sigma: float = Field(gt=0, le=5)


class Pareto(Strict):
    distribution: Literal["pareto"]
    minimum: float = Field(gt=0, description="Scale: the smallest value.")
    alpha: float = Field(gt=0.5, le=10, description="Tail index; smaller is heavier.")


class Fixed(Strict):
    distribution: Literal["fixed"]
    value: float = Field(ge=0)


class Uniform(Strict):
    distribution: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be at least low")
        return self


Distribution = Annotated[Exponential | LogNormal | Pareto | Fixed | Uniform, Field(discriminator="distribution")]


# --------------------------------------------------------------------------------------------- presence


class PatternSpec(Strict):
    name: str
    share: float = Field(ge=0, le=1, description="Share of clients with this pattern.")
    schedule: Literal["always", "weekly"] = Field("weekly", description="always: on day and night.")
    days: list[Weekday] = Field(default_factory=lambda: list(WORKDAYS))
    start_hour: float = Field(8.0, ge=0, lt=24, description="Local time the machine comes online.")
    end_hour: float = Field(18.0, gt=0, le=24, description="Local time it goes offline.")
    start_spread_hours: float = Field(
        1.0, ge=0, le=12, description="Std. dev. of a per-client fixed shift of the working window (A)."
    )

    @model_validator(mode="after")
    def _window(self) -> PatternSpec:
        if self.schedule == "weekly" and self.end_hour <= self.start_hour:
            raise ValueError("end_hour must be after start_hour")
        if self.schedule == "weekly" and not self.days:
            raise ValueError("a weekly pattern needs at least one day")
        return self


class LeaveSpec(Strict):
    rate_per_year: float = Field(0.0, ge=0, le=52, description="Leave spells started per client per year (A).")
    duration_days: Distribution = Field(
        default_factory=lambda: LogNormal(distribution="lognormal", median=5.0, sigma=1.0),
        description="Length of a leave spell; heavy-tailed by default (fact 12, A).",
    )
    max_days: float = Field(365.0, gt=0, le=3 * 365, description="Longest spell; longer draws are cut.")


class AwayAtStartSpec(Strict):
    share: float = Field(0.0, ge=0, le=1, description="Share of clients away when the runbook starts.")
    remaining_days: Distribution = Field(
        default_factory=lambda: Exponential(distribution="exponential", mean=14.0),
        description="Time until they come back.",
    )


class PresenceSpec(Strict):
    patterns: list[PatternSpec] = Field(
        default_factory=lambda: [PatternSpec(name="always-on", share=1.0, schedule="always")]
    )
    timezones: dict[float, float] = Field(
        default_factory=lambda: {0.0: 1.0}, description="UTC offset in hours -> share of clients."
    )
    leave: LeaveSpec = Field(default_factory=LeaveSpec)
    away_at_start: AwayAtStartSpec = Field(default_factory=AwayAtStartSpec)
    gone_share: float = Field(
        0.0, ge=0, le=1, description="Share of listed clients that never come back (decommissioned)."
    )
    start_weekday: Weekday = Field("mon", description="UTC weekday on which the runbook starts.")
    start_hour_utc: float = Field(9.0, ge=0, lt=24, description="UTC hour at which the runbook starts.")
    online_checkin_delay_seconds: float = Field(
        30.0, ge=0, le=600, description="Mean of the U(0, 2x) delay of the check-in on coming online (fact 9)."
    )

    @field_validator("patterns")
    @classmethod
    def _shares(cls, v: list[PatternSpec]) -> list[PatternSpec]:
        if not v:
            raise ValueError("at least one pattern")
        _check_shares({p.name: p.share for p in v})
        return v

    @field_validator("timezones")
    @classmethod
    def _tz(cls, v: dict[float, float]) -> dict[float, float]:
        for off in v:
            if not -12 <= off <= 14:
                raise ValueError(f"UTC offset {off} is outside -12..14")
        _check_shares({str(k): s for k, s in v.items()})
        return v


def _check_shares(shares: dict[str, float]) -> None:
    total = sum(shares.values())
    if any(s < 0 for s in shares.values()):
        raise ValueError("shares must not be negative")
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"shares must add up to 1 (they add up to {total:g})")


# --------------------------------------------------------------------------------------------- fleet


class FleetFiles(Strict):
    clients: str = Field(description="clients.csv: client_id,group,version[,heartbeat_minutes,mode,timezone].")
    absences: str | None = Field(
        None, description="absences.csv: client_id,offline_from,offline_until (ISO time or hours)."
    )
    start_time: str | None = Field(
        None, description="ISO time of the runbook start; needed when absences use ISO times."
    )
    background_presence: bool = Field(
        False, description="Apply the presence model on top of the listed absences (else: online throughout)."
    )


class FleetSpec(Strict):
    clients: int = Field(1000, ge=1, le=MAX_CLIENTS, description="Number of generated clients.")
    groups: dict[str, float] | None = Field(
        None, description="Group -> share of generated clients. Default: even over leaf groups."
    )
    versions: dict[str, float] = Field(default_factory=lambda: {"14.3": 1.0}, description="Version -> share.")
    push_share: float = Field(0.0, ge=0, le=1, description="Share of clients in push mode (fact 8).")
    jitter: float = Field(
        0.0, ge=0, lt=1, description="Heartbeat interval is U(h(1-j), h(1+j)); none documented (fact 10, A)."
    )
    use_last_server: bool = Field(True, description="Return to the last server that worked (fact 14).")
    failback_hours: float | None = Field(
        24.0, ge=0, description="Fail back to the top tier after this long in contact (fact 14); null: never."
    )
    presence: PresenceSpec = Field(default_factory=PresenceSpec)
    presence_file: str | None = Field(
        None, description="YAML presence model (as `rotasim fleet import` writes it); replaces `presence`."
    )
    files: FleetFiles | None = Field(None, description="Read the fleet from files instead of generating it.")

    @field_validator("groups", "versions")
    @classmethod
    def _shares(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None:
            if not v:
                raise ValueError("at least one entry")
            _check_shares(v)
        return v


# --------------------------------------------------------------------------------------------- runbook

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


# --------------------------------------------------------------------------------------------- load


class LoadSpec(Strict):
    """Manager load and overload (issue: failover surges against capacity). Off unless enabled."""

    enabled: bool = Field(False, description="Compute the check-in load on each manager and apply overload.")
    capacity_per_second: float = Field(
        3.5, gt=0, le=10_000, description="Check-ins per second a manager serves (fact 19: 50,000 clients at 4 h)."
    )
    overload: Literal["fluid", "erlang-b"] = Field(
        "fluid",
        description="fluid: the share of check-ins beyond capacity times out; erlang-b: a loss system with "
        "capacity x session_seconds sessions (A).",
    )
    session_seconds: float = Field(
        2.0, gt=0, le=30, description="How long a check-in holds a session (erlang-b only) (A)."
    )
    timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=600,
        description="A check-in that gets no session this long fails until the next heartbeat (fact 11).",
    )
    bin_minutes: float = Field(5.0, ge=1, le=240, description="Resolution of the load table.")
    iterations: int = Field(
        2, ge=1, le=10, description="Passes of the load/overload fixed point (load moves who learns when)."
    )
    max_exact_clients: int = Field(
        200_000, ge=1000, description="Above this many clients the load is estimated from a random sample."
    )


# --------------------------------------------------------------------------------------------- scenario


class Scenario(Strict):
    """One world to replay a runbook in. Paths in it are relative to the scenario file."""

    name: str = "scenario"
    description: str = ""
    horizon_days: float = Field(
        120.0, gt=0, le=MAX_HORIZON_DAYS, description="Simulated time after the runbook starts."
    )
    seed: int = Field(0, ge=0, description="Root seed used when none is given on the command line.")
    replication_interval_hours: float = Field(
        1.0, gt=0, le=24 * 7, description="Database replication between sites (fact 16, A)."
    )
    repair_minutes: float = Field(30.0, ge=0, description="Hands-on time to repair one orphan (A).")
    load: LoadSpec = Field(default_factory=LoadSpec)
    sites: list[SiteSpec] = Field(min_length=1)
    msls: list[MslSpec] = Field(min_length=1)
    groups: list[GroupSpec] = Field(min_length=1)
    versions: dict[str, VersionSpec] = Field(
        default_factory=lambda: dict(DEFAULT_VERSIONS),
        description="Capabilities by client version, merged over the defaults (14.2 and 14.2.1 do not fail over "
        "on a certificate mismatch); unlisted versions fail over normally.",
    )
    fleet: FleetSpec = Field(default_factory=FleetSpec)
    runbook: Runbook
    base_dir: Path = Field(Path("."), exclude=True, description="Folder the scenario was read from.")
    source: str = Field("<scenario>", exclude=True)

    @field_validator("versions", mode="after")
    @classmethod
    def _keep_default_versions(cls, v: dict[str, VersionSpec]) -> dict[str, VersionSpec]:
        """Listing one version does not forget what the KB says of 14.2 and 14.2.1."""
        return {**DEFAULT_VERSIONS, **v}

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        managers = [m.name for s in self.sites for m in s.managers]
        _unique("sites", [s.name for s in self.sites])
        _unique("managers", managers)
        _unique("msls", [m.name for m in self.msls])
        _unique("groups", [g.name for g in self.groups])
        known = set(managers)
        for m in self.msls:
            for t in m.tiers:
                for name in t:
                    if name not in known:
                        raise ValueError(f"msls: list {m.name!r} names unknown manager {name!r}")
        groups = {g.name: g for g in self.groups}
        roots = [g.name for g in self.groups if g.parent is None]
        if len(roots) != 1:
            raise ValueError(f"groups: exactly one group must have no parent (found {len(roots)})")
        msl_names = {m.name for m in self.msls}
        for g in self.groups:
            if g.parent is not None and g.parent not in groups:
                raise ValueError(f"groups: {g.name!r} has unknown parent {g.parent!r}")
            if g.msl is not None and g.msl not in msl_names:
                raise ValueError(f"groups: {g.name!r} uses unknown msl {g.msl!r}")
            own = [f for f in ("msl", "secure_comms", "heartbeat_minutes") if getattr(g, f) is not None]
            if g.parent is not None and g.inherit and own:
                raise ValueError(
                    f"groups: {g.name!r} inherits from its parent, so it cannot set {own[0]}; "
                    "set inherit: false to give it its own"
                )
        for g in self.groups:  # cycles
            seen = {g.name}
            p = g.parent
            while p is not None:
                if p in seen:
                    raise ValueError(f"groups: parent chain of {g.name!r} loops")
                seen.add(p)
                p = groups[p].parent
        if groups[roots[0]].msl is None:
            raise ValueError(f"groups: the root group {roots[0]!r} needs an msl")
        if self.fleet.groups is not None:
            for name in self.fleet.groups:
                if name not in groups:
                    raise ValueError(f"fleet.groups: unknown group {name!r}")
        self._check_runbook(set(groups), known, [s.name for s in self.sites])
        return self

    def _check_runbook(self, groups: set[str], managers: set[str], sites: list[str]) -> None:
        rb = self.runbook

        def _mgrs(where: str, names: list[str] | str | None) -> None:
            if isinstance(names, list):
                for n in names:
                    if n not in managers:
                        raise ValueError(f"runbook.{where}: unknown manager {n!r}")

        if isinstance(rb, KbMultiServer):
            _mgrs("order", rb.order)
            if rb.order is not None and len(set(rb.order)) != len(rb.order):
                raise ValueError("runbook.order: a manager is listed twice")
            if rb.retain is not None:
                _mgrs("retain", [rb.retain])
                if rb.order is not None and rb.retain not in rb.order:
                    raise ValueError("runbook.retain: the retained manager must be in 'order'")
            if len(rb.order or managers) < 2:
                raise ValueError("runbook: kb-multi-server needs at least two managers")
        elif isinstance(rb, KbSingleServer | Naive):
            _mgrs("managers", rb.managers)
        else:
            names: set[str] = set()
            for i, st in enumerate(rb.steps):
                where = f"steps[{i}]"
                if st.name is not None:
                    if st.name in names:
                        raise ValueError(f"runbook.{where}.name: duplicate step name {st.name!r}")
                    names.add(st.name)
                if isinstance(st, UpdateCertificate | Retire):
                    _mgrs(where + ".managers", st.managers)
                tg = getattr(st, "groups", "all")
                if isinstance(tg, list):
                    for g in tg:
                        if g not in groups:
                            raise ValueError(f"runbook.{where}.groups: unknown group {g!r}")
                site = getattr(st, "site", None)
                if site is not None and site not in sites:
                    raise ValueError(f"runbook.{where}.site: unknown site {site!r}")
                if isinstance(st, AssignMsl) and st.msl not in {m.name for m in self.msls}:
                    raise ValueError(f"runbook.{where}.msl: unknown msl {st.msl!r}")
                if isinstance(st, Wait) and st.after_step is not None and st.after_step not in names:
                    raise ValueError(f"runbook.{where}.after_step: no earlier step named {st.after_step!r}")

    # ---- conveniences for planners in code

    def with_(self, **changes: Any) -> Scenario:
        """A copy with fields changed; dotted keys reach nested fields: ``s.with_(**{"fleet.clients": 500})``."""
        data = self.model_dump(mode="python", exclude_none=False)
        if "fleet.presence_file" in changes:
            data["fleet"].pop("presence")  # to be read from the new file
        else:
            data["fleet"]["presence_file"] = None  # already read into fleet.presence
        for key, value in changes.items():
            set_dotted(data, key, value)
        return build_scenario(data, source=self.source, base_dir=self.base_dir)

    @property
    def managers(self) -> list[ManagerSpec]:
        return [m for s in self.sites for m in s.managers]


def _unique(what: str, names: list[str]) -> None:
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{what}: duplicate names {dup}")


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """Set ``data["a"]["b"] = value`` for ``key == "a.b"``, refusing keys that do not exist."""
    parts = key.split(".")
    cur: Any = data
    for p in parts[:-1]:
        if isinstance(cur, list):
            cur = cur[int(p)]
        elif isinstance(cur, dict) and p in cur and cur[p] is not None:
            cur = cur[p]
        else:
            raise InputError("scenario", key, f"no field {p!r} to change")
    last = parts[-1]
    if isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value


def _format_validation(exc: ValidationError) -> tuple[str, str]:
    """The first problem as (dotted field path, what is expected), without pydantic's union bookkeeping."""
    err = exc.errors()[0]
    parts = [str(p) for p in err["loc"] if not str(p).startswith("function-") and str(p) not in TAGS]
    etype = err["type"]
    msg = err["msg"]
    if etype in ("union_tag_invalid", "union_tag_not_found"):
        field = "template" if parts == ["runbook"] else "kind" if parts[:2] == ["runbook", "steps"] else ""
        if field == "template":
            msg = "expected template: kb-single-server, kb-multi-server or naive, or steps: [...] (a list of steps)"
        elif field == "kind":
            msg = (
                "expected kind: assign-msl, msl-protocol, secure-comms, set-heartbeat, wait, "
                "update-certificate or retire"
            )
        else:
            msg = "expected " + ", ".join(str(t) for t in (err.get("ctx") or {}).get("expected_tags", "").split(","))
        tag = (err.get("ctx") or {}).get("tag")
        if tag is not None:
            msg += f" (got {tag!r})"
        if field == "template":
            parts.append(field)
        loc = ".".join(parts)
        return loc, msg
    if etype == "extra_forbidden":
        msg = "unknown field (check the spelling; see docs/model.md for the fields)"
    elif etype == "missing":
        msg = "required field is missing"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    inp = err.get("input")
    if etype not in ("missing", "extra_forbidden") and isinstance(inp, str | int | float) and len(str(inp)) < 60:
        msg += f" (got {inp!r})"
    more = len(exc.errors()) - 1
    if more > 0:
        msg += f" [and {more} more problem{'s' if more > 1 else ''}]"
    return ".".join(parts), msg


def build_scenario(data: Any, source: str = "<scenario>", base_dir: Path = Path(".")) -> Scenario:
    """Validate parsed data into a Scenario, turning pydantic's report into one readable InputError."""
    if not isinstance(data, dict):
        raise InputError(source, "", "expected a mapping of scenario fields at the top level")
    data = dict(data)
    data.pop("base_dir", None)
    data.pop("source", None)
    fleet = data.get("fleet")
    if isinstance(fleet, dict) and isinstance(fleet.get("presence_file"), str):
        if "presence" in fleet:
            raise InputError(source, "fleet.presence_file", "give either presence or presence_file, not both")
        data["fleet"] = {**fleet, "presence": load_presence(base_dir / fleet["presence_file"])}
    try:
        sc = Scenario.model_validate({**data, "base_dir": base_dir, "source": source})
    except ValidationError as exc:
        loc, msg = _format_validation(exc)
        raise InputError(source, loc, msg) from None
    return sc


def load_presence(path: Path) -> PresenceSpec:
    """A presence model from its own YAML file (fields of ``fleet.presence``)."""
    data = _read_yaml(path, "no such presence file")
    try:
        return PresenceSpec.model_validate(data)
    except ValidationError as exc:
        loc, msg = _format_validation(exc)
        raise InputError(str(path), loc, msg) from None


def _read_yaml(p: Path, missing: str) -> Any:
    if not p.is_file():
        raise InputError(str(p), "", missing)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(str(p), "", f"cannot read the file ({exc.__class__.__name__})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise InputError(str(p), where, f"not valid YAML ({getattr(exc, 'problem', None) or exc})") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file (safe loader: nothing in a scenario is executed)."""
    p = Path(path)
    data = _read_yaml(p, "no such scenario file")
    return build_scenario(data, source=str(p), base_dir=p.resolve().parent)
