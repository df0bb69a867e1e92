"""The sections of a scenario file: sites and managers, lists, groups, versions, presence, fleet, load.

Validated with pydantic so that a typo is refused with the field and what is expected, instead of silently
becoming a default. Every default comes from ``../shared/docs/domain-facts.md`` (cited as "fact N") or is an
assumption listed in ``docs/model.md``. Units are in the field names (``_minutes``, ``_hours``, ``_days``).
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sim.errors import printable

MAX_CLIENTS = 5_000_000


MAX_HORIZON_DAYS = 3 * 365


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


WORKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")


class Strict(BaseModel):
    """Base for every scenario section: unknown keys are refused, not ignored; so are ``true``/``false``
    where a number is meant (pydantic would read ``heartbeat_minutes: true`` as 1) and infinities or NaN
    (``retention_days: .inf``: every number here is finite). Text has its control characters made visible
    (``sim.errors.printable``): names are printed on terminals."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _plain_values(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name, field in cls.model_fields.items():
            key = field.alias or name
            if key in data and _bool_for_number(field.annotation, data[key]):
                v = data[key]
                raise ValueError(
                    f"{key}: expected a number, not {str(v).lower()}"
                    if isinstance(v, bool)
                    else f"{key}: expected numbers, not true/false"
                )
        return {k: printable(v) if isinstance(v, str) else v for k, v in data.items()}


def _leaves(annotation: Any) -> list[Any]:
    """The types a (possibly Annotated, optional or union) annotation admits."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _leaves(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        return [leaf for a in typing.get_args(annotation) for leaf in _leaves(a)]
    return [annotation]


def _bool_for_number(annotation: Any, v: Any) -> bool:
    """Whether ``v`` holds a boolean where ``annotation`` wants a number (also inside lists and mappings)."""
    leaves = _leaves(annotation)
    if isinstance(v, bool):
        return any(leaf in (int, float) for leaf in leaves) and bool not in leaves
    for leaf in leaves:
        origin, args = typing.get_origin(leaf), typing.get_args(leaf)
        if origin is dict and isinstance(v, dict) and len(args) == 2:
            return any(_bool_for_number(args[1], x) for x in v.values())
        if origin is list and isinstance(v, list) and args:
            return any(_bool_for_number(args[0], x) for x in v)
    return False


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
    """What a client version can do, for every console version string a rule (a key of ``versions``) matches."""

    release: str | None = Field(
        None, description="The release the rule names, as consoles and the KB call it (14.2, 14.2 RU1 ...)."
    )
    fails_over_on_cert_mismatch: bool = Field(
        True,
        description="False: the version cannot use the multi-server procedure (KB 187099: 14.2/14.2.1): a "
        "certificate mismatch at its manager orphans it instead of sending it to another manager (fact 6).",
    )


def version_key(text: str) -> str:
    """A version string or rule as compared: case and runs of spaces do not matter (``14.2 ru1`` = ``14.2 RU1``)."""
    return " ".join(str(text).split()).casefold()


def _unsupported(release: str) -> VersionSpec:
    return VersionSpec(release=release, fails_over_on_cert_mismatch=False)


def _supported(release: str) -> VersionSpec:
    return VersionSpec(release=release, fails_over_on_cert_mismatch=True)


# The version rules (docs/model.md, "Client versions"): release names as the KB and consoles write them, and
# the four-field builds consoles export (fact 26). KB 187099 names 14.2 and 14.2.1 (= 14.2 RU1) as the
# versions that cannot use the multi-server method; which builds those are is our reading (A): the builds of
# 14.2, 14.2 MP1, 14.2 RU1 and 14.2 RU1 MP1. A `*` matches any text; an exact key wins over a pattern, a longer
# pattern over a shorter one. A version no rule matches is a warning, then treated as failing over.
DEFAULT_VERSIONS: dict[str, VersionSpec] = {
    "14.2": _unsupported("14.2"),
    "14.2.0": _unsupported("14.2"),
    "14.2 MP1": _unsupported("14.2 MP1"),
    "14.2.758.*": _unsupported("14.2"),
    "14.2.1015.*": _unsupported("14.2 MP1"),
    "14.2.1": _unsupported("14.2 RU1"),
    "14.2 RU1": _unsupported("14.2 RU1"),
    "14.2 RU1 MP1": _unsupported("14.2 RU1 MP1"),
    "14.2.1.*": _unsupported("14.2 RU1"),
    "14.2.3335.*": _unsupported("14.2 RU1"),
    "14.2.3357.*": _unsupported("14.2 RU1 MP1"),
    "14.2 RU2": _supported("14.2 RU2"),
    "14.2 RU2 MP1": _supported("14.2 RU2 MP1"),
    "14.2.2": _supported("14.2 RU2"),
    "14.2.5323.*": _supported("14.2 RU2"),
    "14.2.5569.*": _supported("14.2 RU2 MP1"),
    "14.3*": _supported("14.3"),
    "14.1*": _supported("14.1"),
    "14.0*": _supported("14.0"),
    "14": _supported("14.0"),
    "12.1*": _supported("12.1"),
}


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


class ShareRange(Strict):
    """A share drawn once per replication, uniform between ``low`` and ``high`` (both from 0 to 1)."""

    distribution: Literal["uniform"]
    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> ShareRange:
        if self.high < self.low:
            raise ValueError("high must be at least low")
        return self


def _share_number(v: Any) -> float | None:
    """``v`` as a share (a number from 0 to 1), else None."""
    if isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1:
        return float(v)
    return None


class AwayAtStartSpec(Strict):
    share: float | ShareRange = Field(
        0.0,
        description="Share of clients away when the runbook starts; or {distribution: uniform, low, high}: drawn "
        "once per replication (how many are away depends on the week the rotation falls in).",
    )
    remaining_days: Distribution = Field(
        default_factory=lambda: Exponential(distribution="exponential", mean=14.0),
        description="Time until they come back.",
    )

    @field_validator("share", mode="before")
    @classmethod
    def _share(cls, v: Any) -> float | ShareRange:
        """One message for either form (a union would report both branches' complaints)."""
        expected = "expected a share from 0 to 1, or {distribution: uniform, low: L, high: H} with 0 <= L <= H <= 1"
        if isinstance(v, ShareRange):
            return v
        if isinstance(v, dict):
            ok = set(v) == {"distribution", "low", "high"} and v["distribution"] == "uniform"
            low, high = (_share_number(v.get(k)) for k in ("low", "high"))
            if ok and low is not None and high is not None and low <= high:
                return ShareRange(distribution="uniform", low=low, high=high)
            raise ValueError(expected)
        share = _share_number(v)
        if share is None:
            raise ValueError(expected)
        return share


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
    seen_within_days: float | None = Field(
        None,
        gt=0,
        le=MAX_HORIZON_DAYS,
        description="The listed clients were all seen within this many days before the runbook starts (a "
        "console purges older ones): no background leave spell of theirs began earlier. Clients away longer "
        "are listed as such (rotasim fleet import: the invisible clients). None: no such bound.",
    )
    always_on_groups: list[str] = Field(
        default_factory=list,
        description="Groups whose listed clients are online throughout, without background presence (servers).",
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
    restart_saves_unsupported: bool = Field(
        False,
        description="How a version that cannot use the multi-server method meets its manager restarting for a "
        "new certificate: false (KB 187099, 'cannot use this method'): lost whatever the restart timing; true "
        "(A, the restart-timing reading): a restarting manager does not answer, so the client fails over.",
    )
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

    @model_validator(mode="after")
    def _files_or_shares(self) -> FleetSpec:
        """A fleet read from files takes its size, groups, versions and modes from them: the fields that
        would describe a generated fleet would be ignored, so they are refused (``fleet.clients`` given with
        ``fleet.files`` used to be dropped silently)."""
        if self.files is None:
            return self
        ignored = [
            name
            for name in ("clients", "groups", "versions", "push_share")
            if getattr(self, name) != FleetSpec.model_fields[name].get_default(call_default_factory=True)
        ]
        if ignored:
            raise ValueError(
                f"{ignored[0]}: the fleet is read from fleet.files, which lists every client with its group, "
                f"version and mode; leave out {', '.join(ignored)}"
            )
        return self


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
