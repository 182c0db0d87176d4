"""Figures a person draws on: the drawing pad, and strokes read back from what Plotly's drawing tools recorded.

The pad is an empty plot the size of its pixels (one unit = one screen pixel, y down), in Plotly's
"drawopenpath" mode: each stroke becomes a layout shape whose SVG path ("M x,y L x,y …") Dash reports in
relayoutData. No canvas widget of our own: Plotly's own drawing, which works with a mouse, a pen or a finger.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import plotly.graph_objects as go

from dashboard import image_keys

PAD_SIZE = 192  # px: leaves room for the pad's buttons beside it in the sidebar
STROKE_WIDTH = 16  # px on the pad: ~2 px once a digit drawn across the pad is fitted into MNIST's 20×20 box
MAX_STROKES, MAX_POINTS = image_keys.MAX_STROKES, image_keys.MAX_POINTS
_NUMBER = r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_POINT = re.compile(rf"[ML]\s*({_NUMBER})\s*,\s*({_NUMBER})")
_PATH = re.compile(rf"^(?:\s*[ML]\s*{_NUMBER}\s*,\s*{_NUMBER})+\s*Z?\s*$")


def stroke_shape(path: str) -> dict:
    """Return one stroke as the pad draws it: a white, round, non-editable open path."""
    return dict(type="path", path=path, editable=False, layer="above",
                line=dict(color="white", width=STROKE_WIDTH), opacity=1)


def drawing_pad(paths: Sequence[str] = ()) -> go.Figure:
    """Return the pad: black, PAD_SIZE square, no axes, drawing open paths in white; `paths` drawn already."""
    hidden = dict(visible=False, fixedrange=True, range=[0, PAD_SIZE])
    layout = dict(
        template="none", width=PAD_SIZE, height=PAD_SIZE, margin=dict(l=0, r=0, t=0, b=0),
        paper_bgcolor="black", plot_bgcolor="black", dragmode="drawopenpath",
        newshape=dict(line=dict(color="white", width=STROKE_WIDTH), opacity=1, layer="above"),
        xaxis=hidden, yaxis={**hidden, "range": [PAD_SIZE, 0]}, shapes=[stroke_shape(p) for p in paths],
        showlegend=False,
    )
    # Plotly keeps what the person drew across updates of the same figure only with a fixed uirevision.
    return go.Figure(data=[], layout={**layout, "uirevision": "pad"})


def strokes_from_paths(paths: Sequence[str]) -> list[list[tuple[float, float]]]:
    """Return each SVG path's points [(x, y), …] in pad pixels; raise ValueError for anything that is not a
    path the pad draws (only M and L commands with numbers), or too many strokes or points."""
    if len(paths) > MAX_STROKES:
        raise ValueError(f"at most {MAX_STROKES} strokes, got {len(paths)}")
    strokes, total = [], 0
    for path in paths:
        if not isinstance(path, str) or len(path) > 200_000 or not _PATH.match(path):
            raise ValueError("a stroke must be an SVG path of M and L commands")
        points = [(float(x), float(y)) for x, y in _POINT.findall(path)]
        total += len(points)
        if total > MAX_POINTS:
            raise ValueError(f"at most {MAX_POINTS} points in all")
        strokes.append(points)
    return strokes

