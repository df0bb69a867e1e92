"""The override grammar shared by ``--set``, ``rotasim sweep`` and ``rotasim compare``: dotted fields and
values (``a.b=1``, a range ``0:90:10`` with both ends included, a list ``1,2,4``), values read as YAML; a
compared scenario is ``FILE.yaml:a.b=1,c=2`` (``parse_variant``)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from sim.errors import InputError

MAX_POINTS = 10_000  # values of one --set, and (times 10) runs of one sweep


_ARG = re.compile(r"^(?P<path>.+?\.ya?ml)(?::(?P<over>.*))?$", re.I)


def parse_values(spec: str) -> list[Any]:
    """'0:120:10' (a range, both ends included), '1,2,4' (a list) or one value; each parsed as YAML."""
    spec = spec.strip()
    if not spec:
        raise InputError("--set", spec, "expected values after '='")
    if spec.count(":") in (1, 2) and "," not in spec:
        parts = spec.split(":")
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise InputError("--set", spec, "a range is START:STOP[:STEP] with numbers") from None
        start, stop = nums[0], nums[1]
        step = nums[2] if len(nums) == 3 else 1.0
        if step <= 0 or stop < start:
            raise InputError("--set", spec, "a range needs STOP >= START and a positive STEP")
        count = int(math.floor((stop - start) / step + 1e-9)) + 1
        if count > MAX_POINTS:
            raise InputError("--set", spec, f"more than {MAX_POINTS} values")
        vals = [start + i * step for i in range(count)]
        return [int(v) if all(float(p).is_integer() for p in nums) else round(v, 10) for v in vals]
    return [_scalar(v.strip(), spec) for v in spec.split(",")]


def _scalar(text: str, spec: str) -> Any:
    """One value of a ``--set``, read as YAML: a number, a word, true/false or null. A mapping or a list
    cannot be a column of the sweep's table (``--set fleet={}`` was an internal error)."""
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        raise InputError("--set", spec, f"cannot read the value {text!r}") from None
    if isinstance(v, dict | list) or not (v is None or isinstance(v, str | int | float | bool)):
        raise InputError("--set", spec, "each value must be a number, a word, true/false or null, not a mapping")
    return v


def parse_set(items: list[str]) -> dict[str, list[Any]]:
    """['runbook.retention_days=0:90:30', 'fleet.jitter=0,0.2'] -> {field: values}."""
    out: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise InputError("--set", item, "expected FIELD=VALUES, for example runbook.retention_days=0:90:10")
        key, spec = item.split("=", 1)
        out[key.strip()] = parse_values(spec)
    return out


def parse_variant(arg: str) -> tuple[Path, dict[str, Any]]:
    """``FILE.yaml[:field=value,field=value]`` -> (path, overrides)."""
    m = _ARG.match(arg.strip())
    if m is None:
        return Path(arg), {}
    over: dict[str, Any] = {}
    text = m.group("over")
    if text is not None:
        if not text.strip():
            raise InputError(arg, "", "expected field=value after ':'")
        for item in text.split(","):
            if "=" not in item:
                raise InputError(arg, item, "expected field=value, for example runbook.retention_days=90")
            key, value = item.split("=", 1)
            try:
                over[key.strip()] = yaml.safe_load(value.strip())
            except yaml.YAMLError:
                raise InputError(arg, key.strip(), f"cannot read the value {value.strip()!r}") from None
    return Path(m.group("path")), over
