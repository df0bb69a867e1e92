"""The document as Markdown: the same sections as the HTML page; figures referenced as the PNG files written
beside it; every text escaped (HTML special characters, and the characters that start Markdown syntax)."""

from __future__ import annotations

import html
import re
from typing import Any

import pandas as pd

from sim.presentation.document import Block, Bullets, Code, Details, Document, Fig, Para, cell_text


def md_text(text: Any) -> str:
    """Markdown-safe text: HTML special characters escaped (Markdown viewers pass raw HTML through) and the
    characters that would start emphasis, links or tables backslash-escaped."""
    s = html.escape(str(text), quote=False)
    return re.sub(r"([\\`*_\[\]|#])", r"\\\1", s).replace("\n", " ")


def render_markdown(doc: Document) -> str:
    """The same document as Markdown; figures are referenced as the PNG files written beside it."""
    out = [f"# {md_text(doc.title)}", "", f"_{md_text(doc.subtitle)}_", ""]
    out += [f"**{md_text(doc.headline)}**", ""]
    for i, s in enumerate(doc.sections, 1):
        out += [f"## {i}. {md_text(s.title)}", ""]
        for blk in s.blocks:
            out += _md_block(blk, doc) + [""]
    return "\n".join(out).rstrip() + "\n"


def _md_block(blk: Block, doc: Document) -> list[str]:
    if isinstance(blk, Para):
        return [f"**{md_text(blk.text)}**" if blk.strong else md_text(blk.text)]
    if isinstance(blk, Bullets):
        return [f"- {md_text(i)}" for i in blk.items]
    if isinstance(blk, Code):
        fence = "~~~" if "```" in blk.text else "```"
        return [fence + "bash", blk.text, fence]
    if isinstance(blk, Details):  # GitHub and most viewers fold it too; plain readers see a table
        return [
            "<details>",
            f"<summary>{md_text(blk.summary)}</summary>",
            "",
            *_md_block(blk.table, doc),
            "",
            "</details>",
        ]
    if isinstance(blk, Fig):
        if blk.name not in doc.figures:
            return []
        _png, name, alt = doc.figures[blk.name]
        return [f"![{md_text(alt)}]({name})", "", f"_{md_text(blk.caption)}_"]
    df = blk.df
    lines = [f"_{md_text(blk.caption)}_", ""] if blk.caption else []
    lines.append("| " + " | ".join(md_text(c) for c in df.columns) + " |")
    lines.append("|" + "|".join("---:" if _numeric(df[c]) else "---" for c in df.columns) + "|")
    for rec in df.itertuples(index=False):
        cells = (md_text(cell_text(v, blk.formats.get(str(c)))[0]) for c, v in zip(df.columns, rec, strict=True))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s)) and not pd.api.types.is_bool_dtype(s)
