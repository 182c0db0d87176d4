"""Pure figure builders for the cell explanations: a row of small maps side by side, each with its true
values on hover, and rectangles marking a window or a receptive field. NumPy in, one go.Figure out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from dashboard import figures

HEIGHT = 230
WIDTH = 410  # px: the drawer's inside; a fixed size spares Plotly measuring the drawer on every redraw
FIELD_COLOUR = "#f59e0b"  # the receptive field / window outline: amber, visible on ink and on viridis
WINNER_COLOUR = "#dc2626"
FRAME_COLOUR = "#cbd5e1"


def _axis_pair(k: int, count: int, gap: float = 0.06) -> tuple[dict, dict]:
    """Return the k-th of `count` image axes side by side (x domain, y reversed, square pixels)."""
    width = (1.0 - gap * (count - 1)) / count
    left = k * (width + gap)
    suffix = "" if k == 0 else str(k + 1)
    x = dict(visible=False, constrain="domain", domain=[left, left + width], anchor=f"y{suffix}")
    y = dict(visible=False, autorange="reversed", scaleanchor=f"x{suffix}", constrain="domain", anchor=f"x{suffix}")
    return x, y


def box_shape(box: Sequence[int], k: int, colour: str = FIELD_COLOUR, dash: str = "solid") -> dict:
    """Return a rectangle around cells top..bottom, left..right (inclusive) on the k-th map."""
    top, left, bottom, right = box
    suffix = "" if k == 0 else str(k + 1)
    return dict(type="rect", xref=f"x{suffix}", yref=f"y{suffix}", x0=left - 0.5, x1=right + 0.5, y0=top - 0.5,
                y1=bottom + 0.5, line=dict(color=colour, width=2, dash=dash), fillcolor="rgba(0,0,0,0)")


def maps_side_by_side(maps: Sequence[dict], *, height: int | None = None) -> go.Figure:
    """Return small heatmaps in a row. Each map is a dict: "z" (H, W), "title", "value_name", "signed" (a
    diverging scale centred on 0) or "ink" (a picture: white paper, black ink), optional "boxes" [(box,
    colour)] to outline (in the map's coordinates) and "offset" (row, col) of its first cell (a crop of a larger
    map: hover and boxes then use the larger map's rows and columns)."""
    if not maps:
        raise ValueError("no maps to draw")
    if height is None:  # square maps in a drawer ~420 px wide, plus a line for their titles
        height = {1: HEIGHT, 2: 210}.get(len(maps), 160)
    traces: list[dict] = []
    shapes: list[dict] = []
    annotations: list[dict] = []
    layout: dict[str, Any] = {}
    count = len(maps)
    for k, spec in enumerate(maps):
        values = np.asarray(spec["z"], np.float32)
        if values.ndim != 2:
            raise ValueError(f"map {k} must be 2-D, got shape {values.shape}")
        suffix = "" if k == 0 else str(k + 1)
        x_axis, y_axis = _axis_pair(k, count)
        layout[f"xaxis{suffix}"], layout[f"yaxis{suffix}"] = x_axis, y_axis
        row0, col0 = spec.get("offset", (0, 0))
        name = spec.get("value_name", "value")
        trace = dict(type="heatmap", z=values, x0=col0, y0=row0, xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                     showscale=False, hoverongaps=False,
                     hovertemplate=f"row %{{y}}, col %{{x}}<br>{name} %{{z:.4g}}<extra></extra>")
        limit = float(np.nanmax(np.abs(values))) if values.size and np.isfinite(values).any() else 0.0
        if spec.get("ink"):
            trace.update(colorscale=figures.INK, zmin=0.0, zmax=1.0)
        elif spec.get("signed"):
            trace.update(colorscale=figures.DIVERGING, zmid=0.0, zmin=-(limit or 1.0), zmax=limit or 1.0)
        else:
            trace.update(colorscale=figures.SEQUENTIAL, zmin=0.0, zmax=limit or 1.0)
        traces.append(trace)
        if spec.get("ink"):  # white paper on a white page: a frame shows where the picture ends
            height_k, width_k = values.shape
            shapes.append(box_shape((row0, col0, row0 + height_k - 1, col0 + width_k - 1), k, FRAME_COLOUR))
        shapes += [box_shape(box, k, colour) for box, colour in spec.get("boxes", ())]
        annotations.append(dict(text=spec.get("title", ""), x=(x_axis["domain"][0] + x_axis["domain"][1]) / 2,
                                y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False,
                                font=dict(size=10.5)))
    return figures.figure_from(traces, height=height, width=WIDTH, autosize=False, shapes=shapes,
                               annotations=annotations,
                               margin=dict(l=4, r=4, t=22, b=4), **layout)


def contribution_mosaic(contributions: np.ndarray, *, unit: int) -> go.Figure:
    """Return a dense unit's input × weight products drawn back on the maps its input was flattened from."""
    contributions = np.asarray(contributions, np.float32)
    shape = "×".join(str(n) for n in contributions.shape)
    return figures.channel_mosaic(contributions, value_name="input × weight", signed=True,
                                  title=f"Unit {unit}: input × weight on the {shape} maps before the Flatten",
                                  height=HEIGHT, aspect=3.0)
