"""The document model of the report and the comparison: sections of paragraphs, bullets, tables, figures and
code, built once and rendered twice (``sim.presentation.html``, ``sim.presentation.markdown``), so that both
carry the same content in the same order. Text is plain here; each renderer escapes it for its format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.format import n1, n2, pct


@dataclass
class Para:
    """A paragraph; ``strong`` for the sentence a reader must not miss (the verdict, the plan)."""

    text: str
    strong: bool = False


@dataclass
class Bullets:
    """A list of short facts."""

    items: list[str]


@dataclass
class Table:
    """A table; ``formats`` names how a numeric column is written (see ``cell_text``)."""

    df: pd.DataFrame
    caption: str = ""
    formats: dict[str, str] = field(default_factory=dict)  # column -> "pct" | "n1" | "n2" | "h"


@dataclass
class Fig:
    """A figure by name (a key of ``Document.figures``), with its caption; a missing figure is skipped."""

    name: str  # key into the document's figures
    caption: str


@dataclass
class Code:
    """Text shown verbatim: the command that reproduces the document."""

    text: str


@dataclass
class Details:
    """A table folded away under a one-line summary (HTML ``<details>``): there for whoever needs it, not in
    the way of whoever reads the page (the report's full parameter table)."""

    summary: str
    table: Table


Block = Para | Bullets | Table | Fig | Code | Details


@dataclass
class Section:
    """A titled section; ``anchor`` is its id in the HTML page (the table of contents links to it)."""

    title: str
    anchor: str
    blocks: list[Block]


@dataclass
class Document:
    """A report or a comparison before rendering: text is plain (escaped when rendered)."""

    title: str
    subtitle: str
    badge: str | None  # GO / NO-GO / INCONCLUSIVE
    headline: str
    sections: list[Section]
    figures: dict[str, tuple[bytes, str, str]]  # name -> (png, file name, alt text)


def cell_text(v: Any, kind: str | None) -> tuple[str, bool]:
    """(text, is-number) of one table cell, formatted by its column's kind (``Table.formats``); both renderers
    write cells with it, so HTML and Markdown show the same digits."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "", False
    if kind == "pct":
        return pct(float(v)), True
    if kind in ("n1", "n2"):
        return (n1 if kind == "n1" else n2)(float(v)), True
    if kind == "h":
        return f"{float(v):.2f}", True
    if isinstance(v, bool | np.bool_):
        return ("true" if v else "false"), False
    if isinstance(v, int | np.integer):
        return str(int(v)), True
    if isinstance(v, float | np.floating):
        return f"{float(v):.4g}", True
    return str(v), False
