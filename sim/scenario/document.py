"""The scenario document: the top-level schema with its cross-references, and how a file becomes one.

Why one place: every way a scenario comes to exist (a YAML file, ``Scenario.with_`` in a notebook, a
``--set`` override, a written import) goes through ``build_scenario``, which turns pydantic's report into one
``InputError`` naming the file, the field and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.errors import InputError, warn
from sim.scenario.fields import (
    DEFAULT_VERSIONS,
    MAX_HORIZON_DAYS,
    FleetSpec,
    GroupSpec,
    LoadSpec,
    ManagerSpec,
    MslSpec,
    PresenceSpec,
    SiteSpec,
    Strict,
    VersionSpec,
    version_key,
)
from sim.scenario.runbook import TAGS, References, Runbook


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
    start_time: str | None = Field(
        None, description="ISO time with zone at which the runbook starts (hour 0): rotasim track's calendar dates."
    )
    load: LoadSpec = Field(default_factory=LoadSpec)
    sites: list[SiteSpec] = Field(min_length=1)
    msls: list[MslSpec] = Field(min_length=1)
    groups: list[GroupSpec] = Field(min_length=1)
    versions: dict[str, VersionSpec] = Field(
        default_factory=lambda: dict(DEFAULT_VERSIONS),
        description="Version rules: a console version string or pattern (* matches any text) -> its release and "
        "capabilities, merged over the defaults (14.2 and 14.2.1 and their builds do not fail over on a certificate "
        "mismatch, KB 187099); a version no rule matches is a warning and fails over.",
    )
    fleet: FleetSpec = Field(default_factory=FleetSpec)
    runbook: Runbook
    base_dir: Path = Field(Path("."), exclude=True, description="Folder the scenario was read from.")
    source: str = Field("<scenario>", exclude=True)

    @field_validator("versions", mode="after")
    @classmethod
    def _keep_default_versions(cls, v: dict[str, VersionSpec]) -> dict[str, VersionSpec]:
        """Listing one version does not forget what the KB says of 14.2 and 14.2.1: a rule given here replaces
        the default rule with the same key (compared as ``version_key`` does), the other defaults stay."""
        given = {version_key(k) for k in v}
        return {**{k: d for k, d in DEFAULT_VERSIONS.items() if version_key(k) not in given}, **v}

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
        self.runbook.check(References(managers, set(groups), {s.name for s in self.sites}, msl_names))
        return self

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


PLACEHOLDER = "PLACEHOLDER"


def warn_placeholders(path: Path) -> None:
    """One warning while a scenario still holds ``PLACEHOLDER`` marks (``rotasim fleet import`` writes one for
    each value an export cannot tell): the numbers rest on made-up values until they are replaced."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return
    at = [i + 1 for i, line in enumerate(lines) if PLACEHOLDER in line]
    if not at:
        return
    shown = ", ".join(str(i) for i in at[:8]) + (" ..." if len(at) > 8 else "")
    warn(
        str(path),
        f"line {at[0]}",
        f"{len(at)} {PLACEHOLDER} mark{'s' if len(at) != 1 else ''} left (line{'s' if len(at) != 1 else ''} "
        f"{shown}): values an import could not know; replace them and delete the marks",
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file (safe loader: nothing in a scenario is executed). A file with
    ``PLACEHOLDER`` marks left in it loads, with a warning."""
    p = Path(path)
    data = _read_yaml(p, "no such scenario file")
    sc = build_scenario(data, source=str(p), base_dir=p.resolve().parent)
    warn_placeholders(p)
    return sc
