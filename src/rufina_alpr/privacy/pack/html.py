"""A pack document as a printable, self-contained HTML page (inline CSS, A4): a browser prints it
to PDF. Markdown goes through markdown-it with raw HTML off (the configuration's text is escaped);
a horizontal rule is a page break (one sign per page in the notices), and every missing
particular is highlighted."""

from __future__ import annotations

import html
import re
from functools import cache
from typing import Final

from markdown_it import MarkdownIt

_PLACEHOLDER: Final = re.compile(r"\[(?:DA COMPLETARE|TO BE COMPLETED): [^\]<]*\]")

STYLE: Final = """
@page { size: A4; margin: 18mm 16mm; }
html { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 10.5pt;
       color: #111; line-height: 1.4; }
body { max-width: 190mm; margin: 0 auto; padding: 8mm 4mm; }
h1 { font-size: 17pt; border-bottom: 2px solid #1d4e89; padding-bottom: 2mm; color: #1d4e89; }
h2 { font-size: 13pt; color: #1d4e89; margin-top: 7mm; break-after: avoid; }
h3 { font-size: 11pt; margin-top: 5mm; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: 3mm 0; font-size: 9pt;
        break-inside: auto; }
tr { break-inside: avoid; }
th, td { border: 1px solid #999; padding: 1.2mm 1.8mm; vertical-align: top; text-align: left;
         overflow-wrap: break-word; hyphens: auto; }
th { background: #e8eef6; }
/* A wide table (stations, lists, measures): room for its last column, the purpose. */
table:has(th:nth-child(5)) { table-layout: fixed; font-size: 8.5pt; }
th:last-child:nth-child(n+5) { width: 32%; }
th:first-child:nth-last-child(n+5) { width: 18%; }
td code { overflow-wrap: anywhere; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; background: #f3f3f3;
       padding: 0 1mm; }
mark.todo { background: #ffe08a; padding: 0 1mm; }
hr { break-after: page; page-break-after: always; border: 0; border-top: 1px dashed #888;
     margin: 10mm 0; }
blockquote { border-left: 3mm solid #1d4e89; margin: 4mm 0; padding: 2mm 5mm;
             background: #f5f8fc; font-size: 12pt; }
@media print { body { padding: 0; } hr { border: 0; margin: 0; } }
"""


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")


def to_html(markdown: str, *, title: str, lang: str) -> str:
    """The Markdown document as a whole HTML page."""
    body = _markdown().render(markdown)
    body = _PLACEHOLDER.sub(lambda found: f'<mark class="todo">{found[0]}</mark>', body)
    return (
        f'<!DOCTYPE html>\n<html lang="{html.escape(lang)}">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )
