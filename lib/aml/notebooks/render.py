"""HTML for the local runner's report: tables, markdown, figures, and the page around them.

Deliberately small: the report is for reading results, not a notebook front end. Markdown covers
what the notebooks use (headings, paragraphs, lists, ``code``, **bold**, *italics*, links);
tables are escaped pandas HTML; figures are PNG files saved next to the report and embedded as
data URIs, so the page is one self-contained file that can be mailed or archived.
"""

from __future__ import annotations

import base64
import html
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
section.cell { border-left: 3px solid #ddd; margin: 1em 0; padding: 0.2em 1em; }
section.cell.error { border-left-color: #c00; }
h1.notebook { border-bottom: 2px solid #444; margin-top: 2em; }
.cell-title { font-size: 0.8em; color: #777; }
table.dataframe { border-collapse: collapse; font-size: 0.8em; }
table.dataframe td, table.dataframe th { border: 1px solid #ccc; padding: 2px 6px; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; font-size: 0.8em; }
.error pre.traceback { background: #fee; }
details summary { cursor: pointer; color: #555; font-size: 0.8em; }
img { max-width: 100%; }
"""

_INLINE = (
    (re.compile(r"`([^`]+)`"), r"<code>\1</code>"),
    (re.compile(r"\*\*([^*]+)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"\*([^*]+)\*"), r"<em>\1</em>"),
    (re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)"), r'<a href="\2">\1</a>'),
)


def inline(text: str) -> str:
    out = html.escape(text, quote=False)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    return out


def markdown(text: str) -> str:
    """The subset of markdown the notebooks' ``%md`` cells use, as HTML."""
    out: list[str] = []
    paragraph: list[str] = []
    list_tag = ""

    def flush() -> None:
        nonlocal list_tag
        if paragraph:
            out.append("<p>" + inline(" ".join(paragraph)) + "</p>")
            paragraph.clear()
        if list_tag:
            out.append(f"</{list_tag}>")
            list_tag = ""

    for raw in text.splitlines():
        line = raw.strip()
        heading = re.match(r"(#{1,6})\s+(.*)", line)
        item = re.match(r"(?:[-*]|(\d+)\.)\s+(.*)", line)
        if not line:
            flush()
        elif heading:
            flush()
            level = len(heading.group(1))
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif item:
            tag = "ol" if item.group(1) else "ul"
            if paragraph or list_tag != tag:
                flush()
                out.append(f"<{tag}>")
                list_tag = tag
            out.append(f"<li>{inline(item.group(2))}</li>")
        elif list_tag and raw.startswith("  "):
            out[-1] = out[-1][: -len("</li>")] + " " + inline(line) + "</li>"
        else:
            if list_tag:
                flush()
            paragraph.append(line)
    flush()
    return "\n".join(out)


def table(df: pd.DataFrame, total: int | None = None) -> str:
    """An escaped HTML table, with a note when only the first rows are shown."""
    note = ""
    if total is not None and total > len(df):
        note = f"<p class='cell-title'>showing the first {len(df)} rows</p>"
    body = df.to_html(index=False, escape=True, na_rep="null", border=0, max_cols=40)
    return body + note + f"<p class='cell-title'>{len(df)} row(s)</p>"


def preformatted(text: str, css: str = "") -> str:
    return f"<pre class='{css}'>{html.escape(text)}</pre>"


def image(png: bytes, name: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<img alt='{html.escape(name)}' src='data:image/png;base64,{data}'/>"


def page(title: str, header: str, toc: list[tuple[str, str, bool]], body: str) -> str:
    """The report: a header, a table of contents (anchor, name, ok) and the notebooks."""
    items = "".join(
        f"<li><a href='#{a}'>{html.escape(n)}</a> {'ok' if ok else '<b>FAILED</b>'}</li>"
        for a, n, ok in toc
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{header}"
        f"<ul>{items}</ul>{body}</body></html>\n"
    )
