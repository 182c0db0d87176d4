"""The whole view as one self-contained HTML report: live Plotly figures that open offline, with no server.

Plotly in, a string out. plotly.js is embedded once, inline, and every figure is drawn from its own JSON by
``Plotly.newPlot``, so the report keeps the hover (true values), zoom and the toolbar's PNG download.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Sequence
from datetime import datetime, timezone

import plotly.graph_objects as go
import plotly.io
import plotly.offline

FOOTER_NAME = "CNN Lens"
MAX_FILENAME_LENGTH = 120
# The toolbar stays (its camera button downloads a PNG), without the Plotly logo; figures follow the page width.
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;background:#fff;
 max-width:1200px;margin:0 auto;padding:1rem 1.5rem}
h1{margin:.5rem 0 .2rem;font-size:1.6rem}.subtitle{margin:0 0 1rem;color:#4b5563}
.facts{border-collapse:collapse;margin:0 0 1rem}
.facts th,.facts td{text-align:left;padding:.25rem .9rem .25rem 0;border-bottom:1px solid #e5e7eb}
.facts th{color:#4b5563;font-weight:600}.link{overflow-wrap:anywhere;color:#4b5563}
.figures{display:grid;grid-template-columns:minmax(0,1fr);gap:1.5rem}
@media (min-width:1000px){.figures{grid-template-columns:repeat(2,minmax(0,1fr))}}
figure{margin:0}figure h2{font-size:1.05rem;margin:0 0 .3rem}.plot{overflow-x:auto}
figcaption{color:#4b5563;font-size:.9rem;margin-top:.3rem}
footer{margin-top:2rem;padding-top:.5rem;border-top:1px solid #e5e7eb;color:#6b7280;font-size:.85rem}
"""
# Draws every figure from the JSON beside its div; the PNG keeps the figure's title as its file name.
DRAW_FIGURES = """
document.querySelectorAll("div.plot[data-figure-index]").forEach(function (div) {
  var figure = JSON.parse(document.getElementById(div.id + "-json").textContent);
  var config = Object.assign({toImageButtonOptions: {format: "png", filename: div.dataset.imageName}}, CONFIG);
  Plotly.newPlot(div, figure.data, figure.layout || {}, config);
});
"""


@dataclasses.dataclass(frozen=True)
class ReportFigure:
    """One figure of a report: a heading above it, a caption below."""

    title: str
    figure: go.Figure | dict  # a go.Figure, or a figure dict as Dash holds it (numpy arrays or bdata encodings)
    caption: str = ""


def safe_filename_part(text: str) -> str:
    """Return text with every run of characters other than [A-Za-z0-9._] (dashes too) replaced by one "-"."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-")


def report_filename(model_key: str, image: str) -> str:
    """Return a safe file name for a report, like "cnn-lens-report-seed-digit-42.html"."""
    stem = safe_filename_part(f"cnn-lens-report-{model_key}-{image}")
    return stem[: MAX_FILENAME_LENGTH - len(".html")] + ".html"


def figure_json(figure: go.Figure | dict) -> str:
    """Return a figure's JSON, safe inside a <script> element (plotly.io escapes "<", ">" and "/")."""
    # Not validated, as the app's own builders skip validation: the report draws exactly what the page drew.
    # A dict's numpy arrays become typed-array encodings ({"dtype", "bdata"}), which plotly.js 3+ decodes.
    if isinstance(figure, dict):
        figure = go.Figure(figure, _validate=False)
    return plotly.io.to_json(figure)


def link_html(link: str) -> str:
    """Return the link as an <a> if it is an http(s) URL, otherwise as plain text, escaped either way."""
    text = html.escape(link)
    if link.lower().startswith(("http://", "https://")):
        return f'<a href="{text}" rel="noopener">{text}</a>'
    return text


def facts_html(facts: Sequence[tuple[str, str]]) -> str:
    """Return the facts as a two-column table, or "" when there are none."""
    rows = "".join(f'<tr><th scope="row">{html.escape(name)}</th><td>{html.escape(value)}</td></tr>'
                   for name, value in facts)
    return f'<table class="facts">{rows}</table>' if rows else ""


def figure_html(index: int, item: ReportFigure) -> str:
    """Return one figure's heading, empty plot div, caption and JSON."""
    div_id = f"figure-{index}"
    image_name = safe_filename_part(item.title) or div_id
    caption = f"<figcaption>{html.escape(item.caption)}</figcaption>" if item.caption else ""
    return (f'<figure class="report-figure"><h2>{html.escape(item.title)}</h2>'
            f'<div class="plot" id="{div_id}" data-figure-index="{index}" data-image-name="{image_name}"></div>'
            f'{caption}<script type="application/json" id="{div_id}-json">{figure_json(item.figure)}</script>'
            "</figure>")


def build_report(title: str, subtitle: str, figures: Sequence[ReportFigure], *,
                 facts: Sequence[tuple[str, str]] = (), link: str | None = None,
                 generated_at: datetime | None = None) -> str:
    """Return one HTML document that opens offline and draws every figure live (hover, zoom, PNG download)."""
    if not figures:
        raise ValueError("A report needs at least one figure; got none.")
    generated = (generated_at or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    link_part = f'<p class="link">Reopen this view: {link_html(link)}</p>' if link else ""
    body = "\n".join(figure_html(index, item) for index, item in enumerate(figures))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="icon" href="data:,">
<style>{STYLE}</style>
<script>{plotly.offline.get_plotlyjs()}</script>
</head>
<body>
<header><h1>{html.escape(title)}</h1><p class="subtitle">{html.escape(subtitle)}</p></header>
{facts_html(facts)}
{link_part}
<main class="figures">
{body}
</main>
<footer>Generated {html.escape(generated)} by {FOOTER_NAME}</footer>
<script>var CONFIG = {json.dumps(PLOT_CONFIG)};{DRAW_FIGURES}</script>
</body>
</html>
"""
