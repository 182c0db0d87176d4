"""A branched model's layers as a graph: where each node goes, and the one Plotly figure that draws them.

A model whose layers form one chain is shown as the strip of cards; one with branches (residual blocks,
concatenations) is drawn as a graph, flowing left to right: a layer's column is its longest path from the
input, layers sharing a column are stacked, and an edge that skips columns arcs over the ones between.
Clicking a node selects its layer exactly like clicking a card (assets/clientside.js, selectLayer).

Plotly rather than dash-cytoscape: its last release (1.0.2, July 2024) predates Dash 3 and 4, and one
scatter trace of nodes is what the page's other panels are made of.
"""

from __future__ import annotations

import dataclasses

import plotly.graph_objects as go

from dashboard import figures, views
from dashboard.graph import INPUT
from dashboard.tensors import LayerInfo

COLUMN_PX = 78  # horizontal distance between columns
ROW_PX = 46  # vertical distance between stacked nodes
MARGIN_PX = 24
# Node colours by what a layer does, so the eye finds the convolutions, the merges and the classifier.
FAMILIES = {
    "conv": ({"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"}, "#2563eb"),
    "normalise": ({"BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
                   "Rescaling", "Normalization"}, "#9333ea"),
    "activation": ({"Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax"}, "#ea580c"),
    "pool": ({"MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D"}, "#059669"),
    "merge": ({"Add", "Subtract", "Concatenate", "Multiply", "Average", "Maximum", "Minimum"}, "#dc2626"),
    "dense": ({"Dense"}, "#0891b2"),
}
OTHER_COLOUR = "#6b7280"
SELECTED_COLOUR = "#111827"


def is_branched(layers: list[LayerInfo]) -> bool:
    """Return whether the layers are more than one chain: a layer with several inputs, or an output used twice."""
    used: dict[str, int] = {}
    for info in layers:
        if len(info.inputs) > 1:
            return True
        for source in info.inputs:
            used[source] = used.get(source, 0) + 1
    return any(count > 1 for count in used.values())


def shows_input(layers: list[LayerInfo], input_shape: tuple[int, ...]) -> bool:
    """Return whether the page offers the input as a layer to select (its channels one by one): on the graph
    of a branched model, and as the first card of a chain over colour (or other multi-channel) images."""
    return is_branched(layers) or (len(input_shape) == 3 and input_shape[-1] > 1)


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where every node sits (column, row) and the edges between them, by name ("input" included)."""

    positions: dict[str, tuple[int, int]]
    edges: list[tuple[str, str]]

    @property
    def columns(self) -> int:
        return 1 + max(column for column, _ in self.positions.values())

    @property
    def rows(self) -> int:
        return 1 + max(row for _, row in self.positions.values())


def place(layers: list[LayerInfo]) -> Placement:
    """Return each node's column (its longest path from the input) and row (stacked in its column, in
    the order of the rows of what feeds it); `layers` come with their inputs first."""
    column: dict[str, int] = {INPUT: 0}
    edges = []
    for info in layers:
        sources = [s for s in info.inputs if s in column] or [INPUT]
        column[info.name] = 1 + max(column[s] for s in sources)
        edges += [(s, info.name) for s in sources]
    rows: dict[str, int] = {INPUT: 0}
    taken: dict[int, int] = {0: 1}
    feeders = {info.name: [s for s in info.inputs if s in column] or [INPUT] for info in layers}
    for info in sorted(layers, key=lambda i: (column[i.name], min(rows.get(s, 0) for s in feeders[i.name]))):
        rows[info.name] = taken.get(column[info.name], 0)
        taken[column[info.name]] = rows[info.name] + 1
    return Placement({name: (column[name], rows[name]) for name in column}, edges)


def family_colour(kind: str) -> str:
    return next((colour for kinds, colour in FAMILIES.values() if kind in kinds), OTHER_COLOUR)


def _edge_points(start: tuple[int, int], end: tuple[int, int]) -> tuple[list[float], list[float]]:
    """Return an edge's points in px: straight between neighbouring columns, else an arc over the columns
    between, higher the further it reaches, so skips do not run through the nodes they skip."""
    (c0, r0), (c1, r1) = start, end
    x0, y0 = c0 * COLUMN_PX, r0 * ROW_PX
    x1, y1 = c1 * COLUMN_PX, r1 * ROW_PX
    if c1 - c0 <= 1:
        return [x0, x1], [y0, y1]
    lift = min(ROW_PX * 0.45 + 4 * (c1 - c0), ROW_PX * 0.9)
    top = min(y0, y1) - lift
    return [x0, x0 + COLUMN_PX * 0.4, x1 - COLUMN_PX * 0.4, x1], [y0, top, top, y1]


def _short(name: str, width: int = 11) -> str:
    tail = name.split("/")[-1]
    return tail if len(tail) <= width else tail[:width - 1] + "…"


def layer_graph_figure(layers: list[LayerInfo], input_shape: tuple[int, ...], selected: str) -> go.Figure:
    """Return the graph of a model's layers: one trace of edges, one of nodes (customdata: the layer's name,
    which a click selects), one ring marking the selected layer. The figure is as wide as its columns."""
    placement = place(layers)
    by_name = {info.name: info for info in layers}
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    for source, target in placement.edges:
        xs, ys = _edge_points(placement.positions[source], placement.positions[target])
        edge_x += [*xs, None]
        edge_y += [*ys, None]
    names = [INPUT] + [info.name for info in layers]
    x = [placement.positions[n][0] * COLUMN_PX for n in names]
    y = [placement.positions[n][1] * ROW_PX for n in names]
    hover = [f"<b>input</b><br>{views.shape_text(input_shape)}<br>click: its channels"] + [
        f"<b>{info.name}</b><br>{info.kind}<br>output {views.shape_text(info.output_shape)}<br>"
        f"{info.parameters:,} params" for info in layers]
    colours = [OTHER_COLOUR] + [family_colour(info.kind) for info in layers]
    nodes = dict(type="scatter", mode="markers+text", x=x, y=y, customdata=names, text=[_short(n) for n in names],
                 textposition="bottom center", textfont=dict(size=10, color="#374151"), hovertext=hover,
                 meta={"hover": hover},  # the hover before the browser adds dead-channel counts (deadCountsInGraph)
                 hovertemplate="%{hovertext}<extra></extra>", cliponaxis=False,
                 marker=dict(size=16, symbol="square", color=colours, line=dict(width=1, color="white")))
    ring_at = placement.positions.get(selected if selected in by_name else layers[0].name, (0, 0))
    ring = dict(type="scatter", mode="markers", x=[ring_at[0] * COLUMN_PX], y=[ring_at[1] * ROW_PX],
                hoverinfo="skip", marker=dict(size=26, symbol="square-open", color=SELECTED_COLOUR,
                                              line=dict(width=2.5, color=SELECTED_COLOUR)))
    edges = dict(type="scatter", mode="lines", x=edge_x, y=edge_y, hoverinfo="skip",
                 line=dict(color="#cbd5e1", width=1.5, shape="spline", smoothing=0.6))
    # Room above the first row for the highest arc, below the last for the names under the nodes.
    top = min([0.0, *(v for v in edge_y if v is not None)]) - 14
    bottom = (placement.rows - 1) * ROW_PX + 26
    width = (placement.columns - 1) * COLUMN_PX + 2 * MARGIN_PX + 40
    height = int(bottom - top) + 8
    span_x = [-MARGIN_PX, (placement.columns - 1) * COLUMN_PX + MARGIN_PX + 20]
    span_y = [bottom, top]
    return figures.figure_from(
        [edges, nodes, ring], height=height, width=width, showlegend=False, hovermode="closest", dragmode=False,
        margin=dict(l=4, r=4, t=4, b=4),
        xaxis=dict(visible=False, range=span_x, fixedrange=True),
        yaxis=dict(visible=False, range=span_y, fixedrange=True))
