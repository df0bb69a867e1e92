"""What every runbook template is: one object that expands its parameters into steps and knows its timing
question (the planning axis), the setting a run used, its default grid and its description.

Why one object per template (the shape of Ciw's distributions): before, knowledge of the templates was spread
over six modules as ``isinstance`` switches, with the step name ``retain-...`` a contract between three of
them. A new template is now a new class registered in ``sim.runbooks``; no other module changes.

The planning axis is answered by a *probe* (docs/model.md, "Planning answers"): the same runbook with its
setting beyond the horizon, so that the change the setting delays (the *decisive* step: the retained manager's
update under kb-multi-server, the certificate update under kb-single-server) never lands; the engines then
record, per client, when it would have survived that change. Whether a longer setting saves a client is thus
decided by what the client held, including what its site knew at the time, not by a heuristic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sim.scenario.runbook import Step

if TYPE_CHECKING:  # tables are only annotated here: `rotasim validate` need not import pandas
    import pandas as pd


@dataclass(frozen=True)
class Axis:
    """The setting a template's timing question is about."""

    parameter: str  # the template's field: retention_days, wait_hours
    unit: str  # days, hours
    noun: str  # retention, wait
    step: float  # the resolution of curves and recommendations (0.01 day, 0.05 hour)
    # the cause given to orphans of the decisive change a longer setting would have saved (None: the usual
    # rules, whose causes the setting cures anyway: wait-too-short, offline-through-window)
    decisive_cause: str | None


@dataclass(frozen=True)
class Gate:
    """A template's gated wait before its decisive step: the share of ``groups`` that must have checked in since
    step ``since`` (its cap is the setting)."""

    since: str
    share: float
    groups: list[str] | str = "all"


@dataclass(frozen=True)
class Landing:
    """When the decisive change lands for a setting x: ``max(anchor + scale * x, floor) + offset`` hours.

    ``floor``: a shorter setting acts as this one (the retained manager cannot change before the rotation of
    the others is done); ``offset``: the decisive step's hands-on time."""

    anchor: float
    scale: float
    floor: float
    offset: float
    ceiling: float = np.inf  # a gate: the wait ends then whatever the setting (its cap)

    def time(self, x: np.ndarray | float) -> np.ndarray:
        lin = np.maximum(self.anchor + self.scale * np.asarray(x, float), self.floor)
        return np.minimum(lin, self.ceiling) + self.offset

    def setting(self, t: np.ndarray | float) -> np.ndarray:
        """The setting whose change lands at ``t``, ignoring the floor (it may be below it, or below 0)."""
        return (np.asarray(t, float) - self.offset - self.anchor) / self.scale


def step_row(steps: pd.DataFrame, name: str) -> pd.Series | None:
    """The steps table's row of the step named ``name`` (None when the runbook has none)."""
    rows = steps[steps["name"] == name]
    return None if len(rows) == 0 else rows.iloc[0]


class Template(ABC):
    """A runbook as the scenario gives it (``spec``), with what the rest of rotasim needs to know about it."""

    tag: ClassVar[str]
    axis: ClassVar[Axis | None] = None

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    @abstractmethod
    def expand(self, managers: list[str]) -> list[Step]:
        """The steps the operator performs, in order (``managers``: every manager, in scenario order)."""

    @abstractmethod
    def describe(self, setting: float | None) -> str:
        """The runbook in a few words, with the setting the timing question is about."""

    def setting(self, steps: pd.DataFrame) -> float | None:
        """The run's own value of the axis, from its steps table (None: no axis)."""
        return None

    def decisive_step(self, managers: list[str]) -> str | None:
        """The name of the step whose landing the axis moves (None: no axis)."""
        return None

    def landing(self, steps: pd.DataFrame, managers: list[str]) -> Landing | None:
        """How the decisive change's landing time depends on the setting, read off a run's steps table."""
        return None

    def gate(self, managers: list[str]) -> Gate | None:
        """The gate on the decisive step (None: a fixed wait); the planning probe watches its anchor."""
        return None

    def gate_at(self, managers: list[str], share: float) -> Gate | None:
        """The gate this template would put on its decisive step at ``share``, whether the runbook has one or
        not (None: the template has no gate): planning several shares from one probe watches its anchor."""
        return None

    def gate_phrase(self, managers: list[str], share: float, cap: str) -> str:
        """The gate at ``share`` with its cap (as an operator sets it: ``63 days``) as an instruction."""
        raise NotImplementedError(f"{self.tag} has no gate")

    def decisive_label(self, name: str, start_hours: float) -> str | None:
        """How figures label the decisive step's change (None: by its name)."""
        return None

    def probe(self, horizon_days: float) -> Any:
        """The runbook spec with the setting beyond the horizon (the decisive change never lands)."""
        raise NotImplementedError(f"{self.tag} has no planning axis")

    def grid(self, horizon_days: float) -> np.ndarray:
        """The settings a curve is drawn at by default."""
        return np.zeros(0)
