"""Small building blocks shared by the page's layouts: a graph with its loading indicator, a panel, a number field."""

from __future__ import annotations

from typing import Any

from dash import dcc, html
from dash.development.base_component import Component

from dashboard import ids

# The toolbar keeps what a heatmap needs: save as PNG, zoom, pan, reset. Fewer buttons also redraw faster
# (the toolbar is rebuilt with every figure: 3-8 ms a graph with all of them). No "share to Plotly Cloud":
# nothing here uploads data.
GRAPH_CONFIG: dcc.Graph.Config = {
    "displaylogo": False, "scrollZoom": False,
    "modeBarButtonsToRemove": ["lasso2d", "select2d", "sendChartToCloud", "zoomIn2d", "zoomOut2d", "autoScale2d"],
}


def html_attributes(attributes: dict[str, str]) -> dict[str, Any]:
    """Return aria-* and data-* attributes, typed to unpack into an html component's keywords.

    The components take any such keyword, but Dash 4's typed signatures would match a dict[str, str] against
    their named props (n_clicks, hidden…) when it is unpacked.
    """
    return attributes


def graph(graph_id: str, figure_store: str | None = None, *, fill: bool = False, figure: Any = None) -> dcc.Loading:
    """Return a graph with its loading indicator. `fill`: the graph takes its height from the page's CSS
    (which sizes the lens's panels to the window), not from the figure; `figure`: what it shows first."""
    # A panel whose figure the browser recolours gets it from a store inside the same Loading,
    # so the spinner still shows while the server computes.
    children: list[Component] = [
        dcc.Graph(id=graph_id, config=GRAPH_CONFIG, className="panel-graph fill" if fill else "panel-graph",
                  responsive=True if fill else "auto", **({} if figure is None else {"figure": figure}))]
    if figure_store:
        children.insert(0, dcc.Store(id=figure_store))
    return dcc.Loading(children, type="circle", delay_show=250, color="#2563eb")


def panel(title, graph_id: str, caption, *, caption_id: str | None = None, controls=None,
          title_id: str | None = None, figure_store: str | None = None, class_name: str = "",
          fill: bool = False) -> html.Section:
    """Return one panel: a title, optional controls, a graph with a loading indicator, a caption."""
    heading = html.H2(title, id=title_id) if title_id else html.H2(title)
    caption_props: dict[str, Any] = {"id": caption_id} if caption_id else {}
    return html.Section(
        [html.Div([heading, controls] if controls is not None else [heading], className="panel-head"),
         graph(graph_id, figure_store, fill=fill),
         html.P(caption, className="caption", **caption_props)],
        className=f"panel {class_name}".strip(),
    )


def number_field(label: str, component_id: str, value, low, high, step) -> html.Div:
    return html.Div([html.Label(label, htmlFor=component_id),
                     dcc.Input(id=component_id, type="number", value=value, min=low, max=high, step=step,
                               debounce=True, className="number-input")], className="field")


def section_id(name: str) -> str:
    """Return the id of a section below the lens (the header links scroll to it)."""
    return f"{name}-section"


SECTION_OPEN, SECTION_CLOSED = "open", "closed"


def section(name: str, title: str, children: list) -> html.Section:
    """Return a section below the lens: a header that opens and closes it, and a body hidden until opened.

    The body's contents are in the page's layout (so every callback's ids exist) but not in the document
    while the section is closed: a dcc.Tabs with its tab headers hidden shows only its selected tab, and the
    closed tab is empty. Dash's renderer does work for every component in the document on every change
    of its store (~0.2 ms a component a click here), so a closed section costs nothing.
    """
    chevron = html.Span("▸", className="chevron", **html_attributes({"aria-hidden": "true"}))
    switch = dcc.Tabs([dcc.Tab(children, value=SECTION_OPEN), dcc.Tab(value=SECTION_CLOSED)],
                      id=ids.section_switch(name), value=SECTION_CLOSED, style={"display": "none"},
                      parent_className="section-switch", content_className="section-content")
    return html.Section([
        html.H2(html.Button([chevron, title], id=ids.section_toggle(name), n_clicks=0, className="section-toggle",
                            **html_attributes({"aria-expanded": "false"}))),
        html.Div(switch, id=ids.section_body(name), className="section-body closed"),
    ], id=section_id(name), className="panel section")
