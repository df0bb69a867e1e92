"""The document as one self-contained HTML page: inline CSS, figures as data: URIs, no script.

Safe HTML: every string that came from an input file (names of scenarios, groups, versions, clients, steps,
descriptions) is escaped; the page carries a Content-Security-Policy that allows nothing but its inline CSS
and its embedded images.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from sim.presentation.document import Block, Bullets, Code, Details, Document, Fig, Para, cell_text

CSS = """
:root { --fg:#1a1a1a; --muted:#555; --line:#d0d0d0; --go:#009E73; --nogo:#D55E00; --inc:#E69F00; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg);
  margin: 0; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.7em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
.subtitle { color: var(--muted); margin: 0 0 16px; }
.badge { display: inline-block; font-weight: 700; font-size: 1.4em; padding: 4px 16px; border-radius: 6px;
  color: #fff; letter-spacing: .04em; margin-right: 12px; }
.badge.GO { background: var(--go); } .badge.NO-GO { background: var(--nogo); }
.badge.INCONCLUSIVE { background: var(--inc); color: #000; }
.headline { display: flex; align-items: center; flex-wrap: wrap; gap: 8px; padding: 12px 16px;
  border: 1px solid var(--line); border-radius: 8px; background: #fafafa; }
.headline p { margin: 0; font-weight: 600; }
nav ol { columns: 2; margin: 12px 0; padding-left: 20px; }
p.strong { font-weight: 600; }
figure { margin: 16px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: .9em; margin-top: 4px; }
.table-wrap { overflow-x: auto; margin: 12px 0; }
table { border-collapse: collapse; font-size: .88em; min-width: 40%; }
caption { caption-side: top; text-align: left; color: var(--muted); padding: 4px 0; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.nw { white-space: nowrap; }
details { margin: 12px 0; } summary { cursor: pointer; color: var(--muted); font-weight: 600; }
.next { border-left: 4px solid var(--line); padding: 4px 14px; margin: 16px 0; }
tbody tr:nth-child(even) { background: #fafafa; }
pre { background: #f4f4f4; padding: 10px 12px; border-radius: 6px; overflow-x: auto; white-space: pre-wrap;
  word-break: break-all; }
@media print { main { max-width: none; } h2 { break-after: avoid; } figure, table { break-inside: avoid; } }
"""


CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def esc(text: Any) -> str:
    """HTML-escape any value (quotes too: safe in attributes)."""
    return html.escape(str(text), quote=True)


def render_html(doc: Document) -> str:
    """One self-contained page: inline CSS, figures as data: URIs, every text escaped, no script."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(doc.title)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>{esc(doc.title)}</h1>",
        f'<p class="subtitle">{esc(doc.subtitle)}</p>',
    ]
    if doc.badge is not None:
        out.append(
            f'<div class="headline" role="status"><span class="badge {esc(doc.badge)}">{esc(doc.badge)}</span>'
            f"<p>{esc(doc.headline)}</p></div>"
        )
    else:
        out.append(f'<div class="headline"><p>{esc(doc.headline)}</p></div>')
    out.append("<nav><ol>" + "".join(f'<li><a href="#{esc(s.anchor)}">{esc(s.title)}</a></li>' for s in doc.sections))
    out.append("</ol></nav>")
    for s in doc.sections:
        out.append(f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>')
        for blk in s.blocks:
            out.append(_html_block(blk, doc))
        out.append("</section>")
    out.append("</main></body></html>")
    return "\n".join(out) + "\n"


def _html_block(blk: Block, doc: Document) -> str:
    if isinstance(blk, Para):
        return f'<p class="strong">{esc(blk.text)}</p>' if blk.strong else f"<p>{esc(blk.text)}</p>"
    if isinstance(blk, Bullets):
        return "<ul>" + "".join(f"<li>{esc(i)}</li>" for i in blk.items) + "</ul>"
    if isinstance(blk, Code):
        return f"<pre><code>{esc(blk.text)}</code></pre>"
    if isinstance(blk, Details):
        return f"<details><summary>{esc(blk.summary)}</summary>{_html_block(blk.table, doc)}</details>"
    if isinstance(blk, Fig):
        if blk.name not in doc.figures:
            return ""
        png, _name, alt = doc.figures[blk.name]
        data = base64.b64encode(png).decode("ascii")
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{esc(alt)}">'
            f"<figcaption>{esc(blk.caption)}</figcaption></figure>"
        )
    df = blk.df
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for col, v in zip(df.columns, rec, strict=True):
            text, num = cell_text(v, blk.formats.get(str(col)))
            if num:
                cells.append(f'<td class="num">{esc(text)}</td>')
            else:  # short labels (names, causes) stay on one line; long text wraps
                cells.append(f'<td class="nw">{esc(text)}</td>' if len(text) <= 24 else f"<td>{esc(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{esc(blk.caption)}</caption>" if blk.caption else ""
    body = "".join(rows)
    return f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
