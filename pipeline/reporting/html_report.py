"""The whole report as one page a person opens from the file system, in two forms:

- reports/report.html shows the figures from reports/figures/ beside it: small, kept in git, so
  a fresh clone reads the report without a run;
- reports/report-standalone.html has each figure inlined as a data URI, so the file stands alone
  (mail it, attach it to an MLflow run); ~14 MB, kept in DVC's cache.

Both are the markdown pages of reports/ (the summary, the published numbers, one page per
study) rendered to HTML. The markdown already lays the figures out for comparison: the figures
of one dataset form one paragraph, which the page shows as one row.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import markdown

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d1d1f; }
nav { position: sticky; top: 0; background: #f4f4f6; border-bottom: 1px solid #ddd; padding: .4em 1em;
      font-size: 13px; z-index: 1; }
nav a { margin-right: .9em; white-space: nowrap; }
main { padding: 0 1.5em 3em; }
section { border-bottom: 2px solid #e5e5ea; padding-bottom: 1em; }
table { border-collapse: collapse; font-size: 13px; margin: .6em 0; }
th, td { border: 1px solid #d2d2d7; padding: 2px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f6; }
img { max-width: 100%; }
p.row { display: flex; flex-wrap: wrap; gap: 6px; align-items: flex-start; }
p.row img { width: 460px; border: 1px solid #eee; }
p.row img.wide, p.curves img { width: auto; max-width: 100%; }  /* as drawn, never wider than the page */
details summary { cursor: pointer; color: #0645ad; }
.verdict strong { padding: 0 .3em; border-radius: 3px; background: #ffe9a8; }
"""


def _inline_images(page: str, base: Path) -> str:
    """Every <img src="relative.png"> as a data URI; a missing file stays a broken link (the
    browser test looks for those)."""
    def inline(match: re.Match) -> str:
        src = html.unescape(match.group(2))
        path = base / src
        if "://" in src or src.startswith("data:") or not path.is_file():
            return match.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f'{match.group(1)}data:image/png;base64,{data}"'
    return re.sub(r'(<img[^>]*?src=")([^"]+)"', inline, page)


def _rows(page: str) -> str:
    """A paragraph of images only is a row of figures; a figure of many panels spans the row."""
    def row(match: re.Match) -> str:
        body = match.group(1)
        if re.sub(r"<img[^>]*>|\s", "", body):
            return match.group(0)
        body = re.sub(r'<img([^>]*?)alt="((?:comparison|factor)[^"]*)"', r'<img class="wide"\1alt="\2"', body)
        if 'alt="curves-' in body:  # every curve of every model: there on demand, full size
            return f'<details><summary>show them</summary><p class="row curves">{body}</p></details>'
        return f'<p class="row">{body}</p>'
    return re.sub(r"<p>((?:\s*<img[^>]*>\s*)+)</p>", row, page)


def _section(anchor: str, text: str, base: Path, inline: bool) -> str:
    body = _rows(markdown.markdown(text, extensions=["tables"]))
    body = body.replace("<p><strong>Verdict.</strong>", '<p class="verdict"><strong>Verdict.</strong>')
    return f'<section id="{anchor}">\n{_inline_images(body, base) if inline else body}\n</section>'


def write(reports_dir: Path, pages: dict[str, Path], out: Path, inline: bool = True) -> Path:
    """`pages`: anchor -> markdown file under reports_dir, in the order shown; with `inline`, every
    figure inside the page, else read from beside it (`out` must then be in reports_dir)."""
    nav = " ".join(f'<a href="#{a}">{html.escape(a)}</a>' for a in pages)
    sections = "\n".join(_section(a, p.read_text(), reports_dir, inline) for a, p in pages.items())
    # study pages link each other as `<study>.md`; on this page they are anchors
    sections = re.sub(r'href="([a-z0-9_]+)\.md"', r'href="#\1"', sections)
    page = (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>pm2gan report</title>'
            f"<style>{STYLE}</style></head>\n<body><nav>{nav}</nav><main>\n{sections}\n</main></body></html>\n")
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(page)
    tmp.replace(out)
    return out
