"""Pure figure builders for the whole test set: the confusion matrix, thumbnail mosaics, the embedding map and
the channels' strength. NumPy in, Figure out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.colors
import plotly.graph_objects as go

from dashboard.figures import (
    ACCENT,
    GREY,
    GRID,
    IMAGE_AXES,
    INK,
    MUTED,
    SEQUENTIAL,
    _colorbar,
    axis,
    axis_title,
    figure_from,
    message_figure,
    tile_origin,
)


def cell_frame(row: int, column: int) -> dict:
    """Return the frame drawn round the confusion cell whose images the gallery shows (the browser draws the same
    one on a click: clientside markCell)."""
    return dict(type="rect", xref="x", yref="y", x0=column - 0.5, x1=column + 0.5, y0=row - 0.5, y1=row + 0.5,
                line=dict(color="#111827", width=3), fillcolor="rgba(0,0,0,0)")


def confusion_heatmap(counts: np.ndarray, shares: np.ndarray, *, class_names: Sequence[str], normalised: bool,
                      height: int = 420, marked: tuple[int, int] | None = None) -> go.Figure:
    """Return a confusion matrix (rows: true class, columns: predicted) as a heatmap: the counts, or each row's
    shares; hover gives both (customdata [count, share]); a click names its cell by the axes' class names;
    `marked` (true, predicted) is framed."""
    counts, shares = np.asarray(counts, np.int64), np.asarray(shares, np.float64)
    classes = counts.shape[0]
    customdata = [[[int(counts[r, c]), float(shares[r, c])] for c in range(classes)] for r in range(classes)]
    names = [str(n) for n in class_names]
    trace = dict(type="heatmap", z=shares if normalised else counts, x=names, y=names, customdata=customdata,
                 colorscale=SEQUENTIAL, zmin=0, zmax=1.0 if normalised else None, xgap=1, ygap=1,
                 colorbar=_colorbar("share of the row" if normalised else "images"),
                 hovertemplate=("true %{y}, predicted %{x}<br>%{customdata[0]} images, "
                                "%{customdata[1]:.1%} of true %{y}<br>click: show them<extra></extra>"))
    if classes <= 12:
        # Each non-empty cell's number, drawn by the heatmap itself in a colour that contrasts with the cell: a
        # hundred layout annotations took ~100 ms of the matrix's first draw, this ~10.
        trace.update(text=[[(f"{shares[r, c]:.0%}" if normalised else str(counts[r, c])) if counts[r, c] else ""
                            for c in range(classes)] for r in range(classes)],
                     texttemplate="%{text}", textfont=dict(size=10))
    return figure_from([trace], height=height,
                       shapes=[] if marked is None else [cell_frame(*marked)],
                       xaxis=axis(title=axis_title("predicted class"), type="category", side="bottom"),
                       yaxis=axis(title=axis_title("true class"), type="category", autorange="reversed"))


def thumbnail_mosaic(pictures: np.ndarray, indices: Sequence[int], *, columns: int = 10, ink: bool = True,
                     height: int = 300, boxes: Sequence[tuple | None] | None = None,
                     box_scale: int | None = None) -> go.Figure:
    """Return test images (N, H, W[, C], values in [0, 1]) as ONE mosaic with white gutters: greyscale as a
    heatmap (ink or brightness), colour as an image; each cell's customdata is its test index, which a click
    picks. `boxes` (top, left, bottom, right, in pixels of images `box_scale` high) are drawn as red frames."""
    pictures = np.asarray(pictures, np.float32)
    if pictures.ndim == 4 and pictures.shape[-1] == 1:
        pictures = pictures[..., 0]
    count, size_h, size_w = pictures.shape[:3]
    if count == 0:
        return message_figure("No test images here.", height=height)
    colour = pictures.ndim == 4
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    mosaic_h, mosaic_w = rows * size_h + (rows - 1), columns * size_w + (columns - 1)
    # Gutters: white in a colour image; NaN (drawn as the white page, no hover) in a heatmap.
    mosaic = np.full((mosaic_h, mosaic_w, 3) if colour else (mosaic_h, mosaic_w), 1.0 if colour else np.nan,
                     np.float32)
    which = np.full((mosaic_h, mosaic_w), -1, np.int32)
    for position, (picture, index) in enumerate(zip(pictures, indices)):
        top, left = tile_origin(position, columns, size_h, size_w)
        mosaic[top:top + size_h, left:left + size_w] = picture
        which[top:top + size_h, left:left + size_w] = index
    hover = "test image #%{customdata}<br>click: show it in every panel<extra></extra>"
    trace: dict[str, Any]
    if colour:
        trace = dict(type="image", z=np.clip(mosaic * 255.0, 0, 255), colormodel="rgb", customdata=which,
                     zmin=[0, 0, 0], zmax=[255, 255, 255], hovertemplate=hover)
    else:
        trace = dict(type="heatmap", z=mosaic, colorscale=INK if ink else GREY, zmin=0.0, zmax=1.0, showscale=False,
                     customdata=which, hoverongaps=False, hovertemplate=hover)
    # Where each thumbnail sits, for the browser to turn a click's row and column into a test index (a click
    # does not carry a heatmap's customdata).
    trace["meta"] = dict(indices=[int(i) for i in indices], columns=columns, tile=[size_h, size_w])
    shapes = []
    for position, box in enumerate(boxes or []):
        if box is None:
            continue
        top, left = tile_origin(position, columns, size_h, size_w)
        (r0, c0, r1, c1), scale = box, size_h / box_scale if box_scale else 1.0
        shapes.append(dict(type="rect", xref="x", yref="y", line=dict(color="#dc2626", width=2),
                           x0=left + c0 * scale - 0.5, x1=left + (c1 + 1) * scale - 0.5,
                           y0=top + r0 * scale - 0.5, y1=top + (r1 + 1) * scale - 0.5))
    return figure_from([trace], height=height, shapes=shapes, **IMAGE_AXES)


def channel_strength_bars(channels: Sequence[int], means: np.ndarray, dead: Sequence[bool], *, chosen: int | None,
                          height: int = 300, value_name: str = "mean activation over the test set",
                          order_name: str = "strongest first") -> go.Figure:
    """Return channels as bars of a value each (by default their mean activation over the test set), in the
    order given; dead channels grey, the chosen one outlined; a click on a bar names its channel (the x
    category)."""
    labels = [str(int(c)) for c in channels]
    colours = [MUTED if d else ACCENT for d in dead]
    outline = ["#111827" if int(c) == chosen else "rgba(0,0,0,0)" for c in channels]
    trace = dict(type="bar", x=labels, y=np.asarray(means, np.float64).tolist(),
                 marker=dict(color=colours, line=dict(color=outline, width=2)),
                 customdata=["never active on the test set (dead)" if d else "" for d in dead],
                 hovertemplate=(f"channel %{{x}}<br>{value_name} %{{y:.4g}}<br>%{{customdata}}"
                                "<extra>click: its strongest images</extra>"))
    return figure_from([trace], height=height, bargap=0.15,
                       xaxis=axis(type="category", title=axis_title(f"channel ({order_name})"), showgrid=False),
                       yaxis=axis(title=axis_title(value_name.split(",")[0].split(" over ")[0]), gridcolor=GRID,
                                  zerolinecolor=MUTED))


CLASS_COLOURS = plotly.colors.qualitative.D3 + plotly.colors.qualitative.Pastel


def embedding_scatter(coordinates: np.ndarray, indices: np.ndarray, colour_class: np.ndarray,
                      other_class: np.ndarray, confidence: np.ndarray, wrong: np.ndarray, *,
                      class_names: Sequence[str], colour_by: str, other: str, picked: int | None,
                      height: int = 460) -> go.Figure:
    """Return test images as points of a 2-D map (SVG: WebGL is missing in many headless and remote browsers),
    one trace (colour) per class of `colour_class`, mistakes drawn as crosses; hover names the image, its
    classes and confidence; each point's customdata [index, confidence] is what a click picks. The last trace
    rings the picked image (the browser moves it: clientside markPicked)."""
    coordinates = np.asarray(coordinates, np.float64)
    traces = []
    for c, name in enumerate(class_names):
        members = np.flatnonzero(np.asarray(colour_class) == c)
        if not len(members):
            continue
        members = members[np.argsort(wrong[members], kind="stable")]  # right ones first: the legend shows a dot
        traces.append(dict(
            type="scatter", mode="markers", name=f"{colour_by} {name}",
            x=coordinates[members, 0].tolist(), y=coordinates[members, 1].tolist(),
            customdata=[[int(indices[i]), round(float(confidence[i]), 4)] for i in members],
            text=[f"{other} {class_names[int(other_class[i])]}" for i in members],
            marker=dict(size=np.where(wrong[members], 8, 5).tolist(), color=CLASS_COLOURS[c % len(CLASS_COLOURS)],
                        symbol=np.where(wrong[members], "x", "circle").tolist(), opacity=0.8, line=dict(width=0)),
            hovertemplate=(f"test image #%{{customdata[0]}}<br>{colour_by} {name}, %{{text}} "
                           "(%{customdata[1]:.1%})<br>click: show it in every panel<extra></extra>")))
    at = np.flatnonzero(np.asarray(indices) == picked) if picked is not None else np.array([], np.int64)
    ring_x = [float(coordinates[at[0], 0])] if len(at) else []
    ring_y = [float(coordinates[at[0], 1])] if len(at) else []
    traces.append(dict(type="scatter", mode="markers", name="the picked image", x=ring_x, y=ring_y,
                       hoverinfo="skip", showlegend=False,
                       marker=dict(size=18, symbol="circle-open", color="#111827", line=dict(width=2.5))))
    return figure_from(traces, height=height, legend=dict(font=dict(size=11), itemsizing="constant"),
                       margin=dict(l=8, r=8, t=8, b=8), hovermode="closest",
                       xaxis=axis(showgrid=False, zeroline=False, showticklabels=False),
                       yaxis=axis(showgrid=False, zeroline=False, showticklabels=False))
