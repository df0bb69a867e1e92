"""Client versions to capabilities: one rule table (the scenario's ``versions``) for the simulator and the importer.

Why one table: consoles export four-field builds (``14.2.5323.2000``), planners write release names (``14.2
RU1``), and the KB names ``14.2/14.2.1``. Before, the simulator matched two names exactly and the importer its
own prefix, so a build number was silently a version that fails over. Now every version string goes through
``VersionTable.match``: an exact rule wins, then the most specific pattern (``*`` matches any text); a version
no rule matches is reported (``sim.errors.warn``) and treated as failing over, never silently
(docs/model.md, "Client versions").
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from sim.errors import warn
from sim.scenario.fields import VersionSpec, version_key


@dataclass(frozen=True)
class Match:
    """What a version string resolves to: the rule (None: no rule matched) and its capabilities."""

    version: str
    rule: str | None
    spec: VersionSpec

    @property
    def unsupported(self) -> bool:
        """It cannot use the multi-server method: a certificate mismatch orphans it (KB 187099)."""
        return not self.spec.fails_over_on_cert_mismatch

    @property
    def release(self) -> str:
        return self.spec.release or (self.rule or self.version)


class VersionTable:
    """The rules of a scenario's ``versions``, ready to match version strings."""

    def __init__(self, rules: Mapping[str, VersionSpec]) -> None:
        self.exact: dict[str, tuple[str, VersionSpec]] = {}
        self.patterns: list[tuple[int, str, str, VersionSpec]] = []  # (specificity, key, rule, spec)
        for rule, spec in rules.items():
            key = version_key(rule)
            if "*" in key or "?" in key or "[" in key:
                self.patterns.append((len(key.replace("*", "")), key, rule, spec))
            else:
                self.exact[key] = (rule, spec)
        self.patterns.sort(key=lambda p: -p[0])

    def match(self, version: str) -> Match:
        key = version_key(version)
        hit = self.exact.get(key)
        if hit is not None:
            return Match(version, hit[0], hit[1])
        for _, pat, rule, spec in self.patterns:
            if fnmatch.fnmatchcase(key, pat):
                return Match(version, rule, spec)
        return Match(version, None, VersionSpec())

    def unsupported(self, versions: Sequence[str]) -> np.ndarray:
        """Per version string: it cannot use the multi-server method."""
        return np.array([self.match(v).unsupported for v in versions], bool)

    def unmatched(self, versions: Iterable[str]) -> list[str]:
        return sorted({v for v in versions if self.match(v).rule is None})


def warn_unmatched(table: VersionTable, counts: Mapping[str, int], source: str, location: str) -> None:
    """One warning naming the versions no rule matches, with how many clients have each."""
    missing = table.unmatched(counts)
    if not missing:
        return
    listed = ", ".join(f"{v!r} ({counts[v]} client{'s' if counts[v] != 1 else ''})" for v in missing[:8])
    more = f" and {len(missing) - 8} more" if len(missing) > 8 else ""
    warn(
        source,
        location,
        f"no version rule matches {listed}{more}: treated as failing over on a certificate mismatch; "
        "add them to `versions` (docs/model.md, Client versions)",
    )
