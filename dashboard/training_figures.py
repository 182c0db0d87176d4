"""Pure figure builders for training runs: curves over epochs and distributions by epoch. NumPy in, Figure out."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from dashboard.figures import GRID, SEQUENTIAL, axis, axis_title, figure_from

RUN_COLOURS = ("#2563eb", "#dc2626", "#059669", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")
LAYER_COLOURS = ("#2563eb", "#9333ea", "#ea580c", "#059669", "#dc2626", "#0891b2")
CURVE_HEIGHT = 280


@dataclasses.dataclass(frozen=True)
class RunCurves:
    """One run's scores at each checkpoint (None where a value was not measured)."""

    label: str
    epochs: np.ndarray
    train_loss: Sequence[float | None]
    test_loss: Sequence[float | None]
    train_accuracy: Sequence[float | None]
    test_accuracy: Sequence[float | None]


def _values(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def training_curves(runs: Sequence[RunCurves]) -> go.Figure:
    """Return loss (left) and accuracy (right) against epoch for each run: test solid, train dashed.

    Train values are Keras's running means over the epoch so far; test values are measured on the
    test digits at each checkpoint.
    """
    if not runs:
        raise ValueError("training_curves needs at least one run")
    traces = []
    for position, run in enumerate(runs):
        colour = RUN_COLOURS[position % len(RUN_COLOURS)]
        epochs = np.asarray(run.epochs, dtype=np.float64)
        for axis_name, metric, values, dash, split in (
            ("", "loss", run.test_loss, "solid", "test"), ("", "loss", run.train_loss, "dash", "train"),
            ("2", "accuracy", run.test_accuracy, "solid", "test"),
            ("2", "accuracy", run.train_accuracy, "dash", "train"),
        ):
            traces.append(dict(
                type="scatter", mode="lines+markers", x=epochs, y=_values(values), xaxis=f"x{axis_name}",
                yaxis=f"y{axis_name}", name=f"{run.label} · {split}", legendgroup=run.label,
                showlegend=axis_name == "", line=dict(color=colour, width=2, dash=dash), marker=dict(size=5),
                hovertemplate=f"{run.label}<br>epoch %{{x:.3g}}<br>{split} {metric} %{{y:.4f}}<extra></extra>",
            ))
    return figure_from(
        traces, height=CURVE_HEIGHT, validate=False,
        xaxis=axis(domain=[0, 0.45], title=axis_title("epoch"), gridcolor=GRID, rangemode="tozero"),
        yaxis=axis(title=axis_title("cross-entropy loss"), gridcolor=GRID, rangemode="tozero"),
        xaxis2=axis(domain=[0.55, 1], title=axis_title("epoch"), gridcolor=GRID, anchor="y2", rangemode="tozero"),
        yaxis2=axis(title=axis_title("accuracy"), gridcolor=GRID, anchor="x2", range=[0, 1.02]),
        legend=dict(orientation="h", y=-0.28, font=dict(size=10)),
    )


def layer_norm_curves(epochs: np.ndarray, weight_norms: dict[str, Sequence[float]],
                      gradient_norms: dict[str, Sequence[float]]) -> go.Figure:
    """Return each layer's weight norm (left) and probe-batch gradient norm (right, log scale) against epoch."""
    if set(weight_norms) != set(gradient_norms):
        raise ValueError("weight and gradient norms must name the same layers")
    epochs = np.asarray(epochs, dtype=np.float64)
    traces = []
    for position, layer in enumerate(weight_norms):
        colour = LAYER_COLOURS[position % len(LAYER_COLOURS)]
        for axis_name, norms, what in (("", weight_norms[layer], "‖w‖"), ("2", gradient_norms[layer], "‖∂L/∂w‖")):
            values = np.asarray(norms, dtype=np.float64)
            if values.shape != epochs.shape:
                raise ValueError(f"{layer}: {len(values)} norms for {len(epochs)} epochs")
            traces.append(dict(
                type="scatter", mode="lines+markers", x=epochs, y=values, xaxis=f"x{axis_name}",
                yaxis=f"y{axis_name}", name=layer, legendgroup=layer, showlegend=axis_name == "",
                line=dict(color=colour, width=2), marker=dict(size=5),
                hovertemplate=f"{layer}<br>epoch %{{x:.3g}}<br>{what} = %{{y:.4g}}<extra></extra>",
            ))
    return figure_from(
        traces, height=CURVE_HEIGHT, validate=False,
        xaxis=axis(domain=[0, 0.45], title=axis_title("epoch"), gridcolor=GRID),
        yaxis=axis(title=axis_title("weight norm ‖w‖"), gridcolor=GRID, rangemode="tozero"),
        xaxis2=axis(domain=[0.55, 1], title=axis_title("epoch"), gridcolor=GRID, anchor="y2"),
        yaxis2=axis(title=axis_title("gradient norm ‖∂L/∂w‖ (probe batch)"), gridcolor=GRID, anchor="x2",
                    type="log", exponentformat="e", dtick="D2"),
        legend=dict(orientation="h", y=-0.28, font=dict(size=10)),
    )


def common_histograms(snapshots: Sequence[np.ndarray], bins: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Return (edges (bins+1,), counts (snapshots, bins)): every snapshot's values counted on one shared range."""
    if not snapshots:
        raise ValueError("common_histograms needs at least one snapshot")
    low = min(float(np.min(values)) for values in snapshots)
    high = max(float(np.max(values)) for values in snapshots)
    if high <= low:
        high = low + 1e-12
    edges = np.linspace(low, high, bins + 1)
    counts = np.stack([np.histogram(np.asarray(values).ravel(), bins=edges)[0] for values in snapshots])
    return edges, counts


def distribution_heatmap(epochs: np.ndarray, edges: np.ndarray, counts: np.ndarray, *, value_name: str,
                         title: str) -> go.Figure:
    """Return a heatmap of histogram bins (x) by checkpoint (y); colour is log(1 + count), hover the true count."""
    epochs, edges, counts = np.asarray(epochs, np.float64), np.asarray(edges, np.float64), np.asarray(counts)
    if counts.shape != (len(epochs), len(edges) - 1):
        raise ValueError(f"counts must be (checkpoints, bins) = ({len(epochs)}, {len(edges) - 1}), got {counts.shape}")
    rows = [f"epoch {e:.3g}" for e in epochs]
    low, high = np.broadcast_to(edges[:-1], counts.shape), np.broadcast_to(edges[1:], counts.shape)
    customdata = np.stack([counts, low, high], axis=-1)
    trace = dict(
        type="heatmap", x=(edges[:-1] + edges[1:]) / 2, y=rows, z=np.log10(1 + counts.astype(np.float64)),
        customdata=customdata, colorscale=SEQUENTIAL, zmin=0, xgap=0, ygap=1,
        colorbar=dict(title=dict(text="count", side="right"), thickness=10, len=0.9,
                      tickvals=list(range(0, 8)), ticktext=[f"{10 ** k:,}" for k in range(0, 8)]),
        hovertemplate=(f"%{{y}}<br>{value_name} in [%{{customdata[1]:.4g}}, %{{customdata[2]:.4g}})"
                       "<br>%{customdata[0]:,} values<extra></extra>"),
    )
    return figure_from(
        [trace], height=max(180, 60 + 22 * len(rows)), title=title, validate=False,
        xaxis=axis(title=axis_title(value_name), zeroline=True, zerolinecolor="#111827"),
        yaxis=axis(type="category", autorange="reversed"),
    )
