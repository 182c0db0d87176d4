"""Compare A and B: one layer's outputs for two inputs (or one input at two checkpoints) side by side, with
A − B on a diverging scale, and the two predictions. Arrays and LayerInfo in; figures and a caption out.

A and B share one colour scale, so the same colour is the same number in both; A − B is red where A is larger
and blue where B is. With more channels than one page shows, the page is ranked by A and B shows the same
channels, so a tile in one mosaic is the same channel in the other two.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import plotly.graph_objects as go

from dashboard import figures, views
from dashboard.tensors import LayerInfo

HEIGHT = 330
ASPECT = 1.0  # each of the three mosaics is about as wide as it is tall at 1280×800
B_COLOUR = "#f59e0b"


@dataclasses.dataclass(frozen=True)
class Side:
    """One side of the comparison: the layer's output, the class probabilities, and its name in words."""

    values: np.ndarray
    probabilities: np.ndarray
    name: str


def _same_scale(figure_a: go.Figure, figure_b: go.Figure, low: float, high: float) -> None:
    for figure in (figure_a, figure_b):
        figure.data[0].update(zmin=low, zmax=high)
        if low < 0:
            figure.data[0].update(zmid=0.0)


def _strongest(difference: np.ndarray) -> tuple[int, float]:
    """Return the channel whose map changes most (mean |A − B|) and that mean."""
    change = np.mean(np.abs(difference), axis=(0, 1))
    channel = int(np.argmax(change))
    return channel, float(change[channel])


def layer_views(info: LayerInfo, a: Side, b: Side, page: int = 0) -> tuple[go.Figure, go.Figure, go.Figure, str]:
    """Return (A's figure, B's figure, the A − B figure, a caption) for the layer's outputs on both sides."""
    values_a, values_b = np.asarray(a.values, np.float32), np.asarray(b.values, np.float32)
    if values_a.shape != values_b.shape:
        raise ValueError(f"A's {info.name} is {values_a.shape} but B's is {values_b.shape}: they cannot be compared")
    difference = values_a - values_b
    peak_change = float(np.max(np.abs(difference))) if difference.size else 0.0
    if values_a.ndim == 3:
        channels = values_a.shape[-1]
        ids = None
        if channels > views.PAGE_CHANNELS:
            page = min(max(int(page), 0), views.channel_pages(info) - 1)
            shown = views.ranked_channels(values_a)[page * views.PAGE_CHANNELS:(page + 1) * views.PAGE_CHANNELS]
            values_a, values_b, difference = values_a[..., shown], values_b[..., shown], difference[..., shown]
            ids = shown.tolist()
        block = views.activation_block(info)
        shrink = (lambda maps: figures.block_peaks(maps, block)) if block > 1 else (lambda maps: maps)
        signed = bool(min(values_a.min(), values_b.min()) < 0)
        made = [figures.channel_mosaic(shrink(maps), value_name=name, signed=is_signed, height=HEIGHT,
                                       aspect=ASPECT, channel_ids=ids, block=block)
                for maps, name, is_signed in ((values_a, "A", signed), (values_b, "B", signed),
                                              (difference, "A − B", True))]
        limit = float(max(np.max(np.abs(values_a)), np.max(np.abs(values_b)))) or 1.0
        _same_scale(made[0], made[1], -limit if signed else 0.0, limit)
        channel, mean_change = _strongest(difference)
        which = ids[channel] if ids is not None else channel
        tiles = (f"one tile per channel of {info.name} ({views.shape_text(values_a.shape[:2])}"
                 + (f", {len(ids)} of {channels} ranked by A" if ids is not None else f", {channels} channels")
                 + (f", drawn at 1/{block} size" if block > 1 else "") + ")")
        most = f"channel {which} changes most (mean |A − B| {mean_change:.4g})"
    else:
        values_a, values_b, difference = (v.reshape(-1) for v in (values_a, values_b, difference))
        made = [figures.vector_bars(v, value_name=name, index_name="unit", height=HEIGHT)
                for v, name in ((values_a, "A"), (values_b, "B"), (difference, "A − B"))]
        low = float(min(values_a.min(), values_b.min(), 0.0))
        high = float(max(values_a.max(), values_b.max(), 0.0)) or 1.0
        for figure in made[:2]:
            figure.layout.yaxis.update(range=[low - 0.05 * (high - low), high + 0.05 * (high - low)])
        unit = int(np.argmax(np.abs(difference))) if difference.size else 0
        tiles = f"one bar per unit of {info.name} ({values_a.size:,} units)"
        most = f"unit {unit} changes most ({difference[unit]:+.4g})" if difference.size else ""
    if peak_change == 0:
        verdict = "A and B are identical in this layer."
    else:
        verdict = f"Largest |A − B| {peak_change:.4g}; {most}."
    caption = (f"A: {a.name}. B: {b.name}. {tiles[0].upper()}{tiles[1:]}; A and B share one colour scale, and "
               f"A − B is red where A is larger, blue where B is. {verdict} Hover for the true values.")
    return made[0], made[1], made[2], caption


def probability_view(a: Side, b: Side, class_names: tuple[str, ...], *,
                     height: int = views.PROBABILITY_HEIGHT + 40) -> go.Figure:
    """Return A's and B's class probabilities as pairs of bars, hover giving both and the change B − A."""
    pa, pb = (np.asarray(side.probabilities, np.float64).reshape(-1) for side in (a, b))
    if pa.shape != pb.shape or pa.size != len(class_names):
        raise ValueError(f"{pa.size} and {pb.size} probabilities for {len(class_names)} classes")
    names = list(class_names)
    shown = np.argsort(-np.maximum(pa, pb), kind="stable")[:views.MAX_BARS]
    shown = np.sort(shown)
    x = [names[i] for i in shown]
    traces = [
        dict(type="bar", name="A", x=x, y=pa[shown], marker=dict(color=figures.ACCENT), customdata=(pb - pa)[shown],
             hovertemplate="class %{x}<br>A %{y:.6f}<br>B − A %{customdata:+.6f}<extra></extra>"),
        dict(type="bar", name="B", x=x, y=pb[shown], marker=dict(color=B_COLOUR), customdata=(pb - pa)[shown],
             hovertemplate="class %{x}<br>B %{y:.6f}<br>B − A %{customdata:+.6f}<extra></extra>"),
    ]
    numbered = all(name.isdigit() for name in x)
    return figures.figure_from(traces, height=height, barmode="group", bargap=0.25,
                               legend=dict(orientation="h", x=0, xanchor="left", y=1.02, yanchor="bottom"),
                               margin=dict(l=8, r=8, t=28, b=8),
                               xaxis=figures.axis(type="category",
                                                  title=figures.axis_title("class") if numbered else None),
                               yaxis=figures.axis(range=[0, 1.05], tickformat=".0%", gridcolor=figures.GRID))


def prediction_words(probabilities: np.ndarray, class_names: tuple[str, ...]) -> str:
    """Return "predicted 7 (99.1%)"."""
    predicted = int(np.argmax(probabilities))
    return f"predicted {class_names[predicted]} ({probabilities[predicted]:.1%})"
