"""Where each scenario parameter's value comes from: the command line, the scenario file or the default; what
backs it (a numbered domain fact, KB 187099, an assumption); and the section of docs/model.md that explains it.
The report's assumptions table is built from this."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from sim.model.topology import compile_topology
from sim.scenario.document import Scenario

MODEL_DOC = "docs/model.md"


_FACT = re.compile(r"\bfacts?\s+(\d+(?:\s*(?:,|and)\s*\d+)*)", re.I)


_ASSUMED = re.compile(r"(?:\(A\)|,\s*A\)|\bA\))")


def field_source(description: str, set_in_file: bool, override: str | None = None, doc: str | None = None) -> str:
    """Where a parameter's value comes from: the command line, the scenario file or the default; what backs
    it as its description cites it (a numbered domain fact, KB 187099, an assumption); and the section of
    docs/model.md that explains it (``doc``: an anchor), or the file itself for an assumption."""
    origin = override or ("scenario file" if set_in_file else "default")
    cites = []
    for m in _FACT.finditer(description or ""):
        nums = re.findall(r"\d+", m.group(1))
        cites.append("domain fact " + ", ".join(nums))
    if "KB" in (description or ""):
        cites.append("KB 187099")
    assumed = bool(_ASSUMED.search(description or ""))
    if assumed:
        cites.append("assumption")
    if doc is not None:
        cites.append(f"{MODEL_DOC}#{doc}")
    elif assumed:
        cites.append(MODEL_DOC)
    return origin + (f"; {'; '.join(cites)}" if cites else "")


def _anchor(title: str) -> str:
    """The anchor a Markdown renderer (GitHub's rule) gives a heading."""
    t = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return t.replace(" ", "-")


_DOC_FIELD = re.compile(r"`([A-Za-z_][A-Za-z0-9_.\[\]<>]*)`")


@functools.lru_cache(maxsize=4)
def model_doc_index(path: str | None = None) -> dict[str, str]:
    """Field path (list entries as ``[]``, dict keys as ``*``) -> anchor of the first docs/model.md section that
    names it. Read from the source tree (``docs/model.md`` beside the package); empty when not there (an
    installed wheel), and the sources then cite the file without a section."""
    # sim/analysis/provenance.py: the source tree is three folders up
    p = Path(path) if path is not None else Path(__file__).resolve().parents[2] / MODEL_DOC
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    index: dict[str, str] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## ") or line.startswith("### "):
            section = _anchor(line.lstrip("#"))
            continue
        if not section:
            continue
        for tok in _DOC_FIELD.findall(line):
            index.setdefault(re.sub(r"<[^>]+>", "*", tok), section)
    return index


def doc_section(key: str, index: Mapping[str, str]) -> str | None:
    """The docs/model.md section for a field (``key`` as ``model_doc_index`` spells paths): the full path,
    else its longest dotted suffix the document names, else its last part when specific enough (has '_')."""
    parts = key.split(".")
    for i in range(len(parts) - 1):
        hit = index.get(".".join(parts[i:]))
        if hit is not None:
            return hit
    last = parts[-1]
    return index.get(last) if "_" in last else None


def assumptions_table(
    sc: Scenario, overrides: Mapping[str, Any] | None = None, doc_index: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Every scenario parameter (nested sections and lists walked to their leaves) with its value, its
    description (the pydantic field's) and its source (see ``field_source``)."""
    overrides = dict(overrides or {})
    index = model_doc_index() if doc_index is None else doc_index
    rows: list[dict[str, str]] = []

    def walk(
        model: BaseModel, prefix: str, key_prefix: str, parent_desc: str, parent_set: bool, parent_doc: str | None
    ) -> None:
        fields_set = model.model_fields_set
        for name, info in type(model).model_fields.items():
            if info.exclude:
                continue
            value = getattr(model, name)
            path = f"{prefix}{name}"
            key = f"{key_prefix}{name}"
            desc = info.description or parent_desc  # a distribution's fields: described by the parent field
            is_set = parent_set and name in fields_set
            doc = doc_section(key, index) or parent_doc
            if isinstance(value, BaseModel):
                walk(value, path + ".", key + ".", desc, is_set, doc)
                continue
            if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
                for i, v in enumerate(value):
                    walk(v, f"{path}[{i}].", f"{key}[].", desc, is_set, doc)
                continue
            if isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
                for k, v in value.items():
                    walk(v, f"{path}.{k}.", f"{key}.*.", desc, is_set, doc)
                continue
            over = overrides.get(path)
            shown = over[0] if over is not None else value
            rows.append(
                {
                    "parameter": path,
                    "value": _value_text(shown),
                    "description": desc or "",
                    "source": field_source(desc or "", is_set, over[1] if over is not None else None, doc),
                }
            )

    walk(sc, "", "", "", True, None)
    effective = group_settings(sc)
    for row in rows:
        if row["value"] == "none" and row["parameter"] in effective:
            row["value"] = effective[row["parameter"]]
    return pd.DataFrame(rows, columns=["parameter", "value", "description", "source"])


def group_settings(sc: Scenario) -> dict[str, str]:
    """What a group's left-out ``msl``, ``secure_comms`` and ``heartbeat_minutes`` stand for, as the model
    resolves them (``compile_topology``: inherited from the parent, the root's defaults): ``groups[1].secure_comms``
    -> ``inherited (true)``, the root's ``default (5)``. "none" would read as "secure communications off"."""
    topo = compile_topology(sc)
    out: dict[str, str] = {}
    for g, spec in enumerate(sc.groups):
        how = "default" if spec.parent is None else "inherited"
        values = {
            "msl": topo.msl_names[topo.variants[int(topo.init_msl[g])].base],
            "secure_comms": _value_text(bool(topo.init_secure[g])),
            "heartbeat_minutes": _value_text(float(topo.init_heartbeat[g])),
        }
        for name, text in values.items():
            if getattr(spec, name) is None:
                out[f"groups[{g}].{name}"] = f"{how} ({text})"
    return out


def _value_text(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, str | int):
        return str(v)
    return json.dumps(v, default=str, separators=(", ", ": "))
