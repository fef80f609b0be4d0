"""The monitoring report's pages (lib/monitoring/report.py): sections as Markdown and as one
self-contained HTML page, every value escaped."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

# The Markdown goes into Dagster's metadata too: a screenful per section, the HTML holds more.
MARKDOWN_ROWS = 20


@dataclass
class Section:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]]
    total: int  # rows the query found; `rows` may hold fewer
    note: str = ""
    empty: str = "None."
    marked: list[bool] = field(default_factory=list)  # rows to highlight (anomalies)


def _stamp(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="minutes")


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(
    title: str, summary: str, sections: list[Section], generated_at: datetime
) -> str:
    lines = [f"# {title}", "", summary, ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.note:
            lines += [section.note, ""]
        if not section.rows:
            lines += [section.empty, ""]
            continue
        lines.append("| " + " | ".join(section.columns) + " |")
        lines.append("|" + " --- |" * len(section.columns))
        for row in section.rows[:MARKDOWN_ROWS]:
            lines.append("| " + " | ".join(_markdown_cell(cell) for cell in row) + " |")
        if section.total > MARKDOWN_ROWS:
            lines.append(f"\n... and {section.total - MARKDOWN_ROWS} more (see the HTML report).")
        lines.append("")
    lines.append(f"Generated {_stamp(generated_at)}.")
    return "\n".join(lines) + "\n"


# Inline, no CDN: the report opens offline and from a mail attachment as it looks here.
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;
  margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1f2328;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.25rem}
h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.25rem}
p.summary{font-size:1.05rem;background:#f6f8fa;border-left:4px solid #0969da;padding:.6rem 1rem}
p.note,p.generated{color:#57606a;font-size:.9rem}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}
tr.anomaly td{background:#fff1e5;font-weight:600}
p.empty{font-style:italic;color:#57606a}
"""


def render_html(title: str, summary: str, sections: list[Section], generated_at: datetime) -> str:
    escape = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="summary">{escape(summary)}</p>',
    ]
    for section in sections:
        parts.append(f"<section><h2>{escape(section.title)}</h2>")
        if section.note:
            parts.append(f'<p class="note">{escape(section.note)}</p>')
        if not section.rows:
            parts.append(f'<p class="empty">{escape(section.empty)}</p></section>')
            continue
        parts.append("<table><thead><tr>")
        parts += [f"<th>{escape(column)}</th>" for column in section.columns]
        parts.append("</tr></thead><tbody>")
        for index, row in enumerate(section.rows):
            marked = index < len(section.marked) and section.marked[index]
            parts.append('<tr class="anomaly">' if marked else "<tr>")
            parts += [f"<td>{escape(cell)}</td>" for cell in row]
            parts.append("</tr>")
        parts.append("</tbody></table>")
        if section.total > len(section.rows):
            parts.append(
                f'<p class="note">... and {section.total - len(section.rows)} more: query the '
                "monitoring tables for the rest.</p>"
            )
        parts.append("</section>")
    parts.append(f'<p class="generated">Generated {escape(_stamp(generated_at))}.</p>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def atomic_write(path: Path, text: str) -> None:
    """Readers (a browser, a mail job) never see half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
