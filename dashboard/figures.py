"""Pure figure builders: NumPy arrays in, plotly Figures out. No model, no Dash, no I/O.

Each builder assembles one dict and wraps it in ``go.Figure(spec, _validate=False)``: Plotly's
``update_layout``/``update_xaxes`` calls cost ~15 ms per figure here, validating the single dict ~1.5 ms,
skipping the validators ~0.3 ms. A digit change draws five figures, so the page skips them; the tests
validate every builder's output (tests/test_figures.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.colors
import plotly.graph_objects as go

# Colour scales as explicit lists: plotly.js reads some names differently from plotly.py (its "Greys"
# runs black to white, and it has no "_r" names), which matters for figures built without validation.
SEQUENTIAL = plotly.colors.get_colorscale("Viridis")
DIVERGING = plotly.colors.get_colorscale("RdBu_r")
INK = plotly.colors.get_colorscale("Greys")  # white paper (0) to black ink (1)
GREY = plotly.colors.get_colorscale("gray")  # black (0) to white (1): a photograph's brightness
FONT = dict(family="Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size=12, color="#1f2937")
ACCENT = "#2563eb"
MUTED = "#9ca3af"
TRUE_COLOUR = "#059669"
REFERENCE_COLOUR = "#111827"  # where a probability was before an edit
GRID = "#e5e7eb"
# Any: unpacked into figure_from's layout keywords, which mypy would otherwise check against height and title.
IMAGE_AXES: dict[str, Any] = {
    "xaxis": dict(visible=False, constrain="domain"),
    "yaxis": dict(visible=False, autorange="reversed", scaleanchor="x", constrain="domain"),
}


def figure_from(traces: list[dict], *, height: int, title: str | None = None, validate: bool = False,
            **layout) -> go.Figure:
    """Return a figure from trace dicts and layout entries, with the look every panel shares.

    Plotly's validators (~1.5 ms a figure) run only with ``validate=True``; tests validate every builder's
    specs explicitly.
    """
    base = dict(
        # The default "plotly" template adds ~7 KB to every figure sent; everything it would style is set here.
        template="none",
        height=height,
        margin=dict(l=8, r=8, t=32 if title else 8, b=8),
        paper_bgcolor="white",
        plot_bgcolor="white",
        font=FONT,
        hoverlabel=dict(font=dict(family=FONT["family"], size=12)),
    )
    if title:
        base["title"] = dict(text=title, x=0.01, font=dict(size=13))
    return go.Figure({"data": traces, "layout": {**base, **layout}}, _validate=validate)


def _colorbar(title: str) -> dict:
    return dict(title=dict(text=title, side="right"), thickness=10, len=0.9, exponentformat="e")


def axis_title(text: str) -> dict:
    return dict(text=text, font=dict(size=11))


def axis(**entries) -> dict:
    """Return an axis that makes room for its labels (the "plotly" template did this for us)."""
    return dict(automargin=True, ticks="", linecolor=GRID, **entries)


def message_figure(text: str, *, height: int = 240) -> go.Figure:
    """Return an empty figure that shows a short message in its centre."""
    annotation = dict(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                      font=dict(size=13, color="#4b5563"), align="center")
    return figure_from([], height=height, annotations=[annotation], xaxis=dict(visible=False),
                       yaxis=dict(visible=False))


def _require_2d(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (or H x W x 1), got shape {array.shape}")
    return array


def digit_heatmap(image: np.ndarray, *, title: str | None = None, height: int = 260, scale: bool = True,
                  ink: bool = True) -> go.Figure:
    """Return a greyscale input as a heatmap of its pixel values: as ink (0 = white paper, 1 = black ink) or,
    with ink=False, as brightness (0 = black); `scale` draws the colour bar (a small panel leaves it out and
    says what the colours mean in words)."""
    pixels = _require_2d(image, "image").astype(np.float32)
    trace = dict(type="heatmap", z=pixels, colorscale=INK if ink else GREY, zmin=0.0, zmax=1.0,
                 colorbar=_colorbar("pixel"),
                 showscale=scale, hovertemplate="row %{y}, col %{x}<br>pixel %{z:.4f}<extra></extra>")
    return figure_from([trace], height=height, title=title, **IMAGE_AXES)


def colour_image(image: np.ndarray, *, title: str | None = None, height: int = 260) -> go.Figure:
    """Return an RGB image (H, W, 3) of values in [0, 1] as a picture; hover reads each channel's true value."""
    pixels = np.asarray(image, np.float32)
    if pixels.ndim != 3 or pixels.shape[-1] != 3:
        raise ValueError(f"a colour image must be H x W x 3, got shape {pixels.shape}")
    if pixels.size and (pixels.min() < 0.0 or pixels.max() > 1.0):
        raise ValueError("a colour image's values must lie in [0, 1]")
    # go.Image draws 0-255; the hover divides back, so it shows the true values in [0, 1].
    trace = dict(type="image", z=pixels * 255.0, colormodel="rgb", zmin=[0, 0, 0], zmax=[255, 255, 255],
                 hovertemplate="row %{y}, col %{x}<br>red %{z[0]:.1f}, green %{z[1]:.1f}, blue %{z[2]:.1f} "
                               "(of 255)<extra></extra>")
    return figure_from([trace], height=height, title=title, **IMAGE_AXES)


def signed_heatmap(values: np.ndarray, *, value_name: str, title: str | None = None, height: int = 260,
                   scale: bool = True) -> go.Figure:
    """Return a 2-D signed map (e.g. a saliency) on a diverging scale centred on zero (`scale`: the colour bar)."""
    values = _require_2d(values, value_name).astype(np.float32)
    limit = float(np.max(np.abs(values))) or 1.0
    trace = dict(type="heatmap", z=values, colorscale=DIVERGING, zmid=0.0, zmin=-limit, zmax=limit,
                 colorbar=_colorbar(value_name), showscale=scale,
                 hovertemplate="row %{y}, col %{x}<br>" + value_name + " %{z:.4g}<extra></extra>")
    return figure_from([trace], height=height, title=title, **IMAGE_AXES)


def mosaic_columns(channels: int, tile_height: int, tile_width: int, *, aspect: float = 2.0, gutter: int = 1) -> int:
    """Return how many tiles per row draw the largest tiles in a panel `aspect` times as wide as it is tall.

    Among column counts within 2 % of the largest tiles, the one leaving the fewest empty places wins.
    """
    if channels < 1 or aspect <= 0:
        raise ValueError(f"need at least one channel and a positive aspect, got {channels} and {aspect}")

    def layout(columns: int) -> tuple[float, int]:
        rows = math.ceil(channels / columns)
        width = columns * tile_width + (columns - 1) * gutter
        height = rows * tile_height + (rows - 1) * gutter
        return min(aspect / width, 1.0 / height), rows * columns - channels

    scales = {columns: layout(columns) for columns in range(1, channels + 1)}
    best = max(scale for scale, _ in scales.values())
    return min((empty, columns) for columns, (scale, empty) in scales.items() if scale >= 0.98 * best)[1]


def block_peaks(values: np.ndarray, block: int) -> np.ndarray:
    """Return a map shrunk `block` times along its first two axes, each cell the value of largest magnitude in
    its block x block square (the sign kept), so a peak survives the shrinking; edges are padded with NaN."""
    values = np.asarray(values, np.float32)
    if block <= 1:
        return values
    rows, columns = values.shape[:2]
    out_r, out_c = math.ceil(rows / block), math.ceil(columns / block)
    padded = np.full((out_r * block, out_c * block, *values.shape[2:]), np.nan, np.float32)
    padded[:rows, :columns] = values
    blocks = padded.reshape(out_r, block, out_c, block, *values.shape[2:]).swapaxes(1, 2)
    blocks = blocks.reshape(out_r, out_c, block * block, *values.shape[2:])
    magnitude = np.where(np.isnan(blocks), -1.0, np.abs(blocks))
    pick = np.argmax(magnitude, axis=2)
    return np.take_along_axis(blocks, pick[:, :, None], axis=2)[:, :, 0]


def display_block(cells: int, budget: int) -> int:
    """Return the smallest block side that brings `cells` values under `budget` once shrunk (1: no shrinking)."""
    return max(1, math.ceil(math.sqrt(cells / budget))) if cells > budget else 1


def tile_origin(position: int, columns: int, height: int, width: int, gutter: int = 1) -> tuple[int, int]:
    """Return the (row, column) of the top-left cell of tile `position` in a mosaic of `columns` tiles of
    height x width a row, laid out row-major with gutters between them (the layout every mosaic here uses)."""
    return (position // columns) * (height + gutter), (position % columns) * (width + gutter)


def tile_channels(maps: np.ndarray, columns: int, gutter: int = 1, *, channel_ids: Sequence[int] | None = None,
                  block: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return (mosaic, positions): channels of an (H, W, C) array tiled row-major with NaN gutters.

    ``positions`` has shape (mosaic H, mosaic W, 3) holding channel, row and column of each
    cell (zeros in gutters), so hover can name them. It is uint8 when every index fits. ``channel_ids``
    names the channels (default 0..C-1); ``block`` > 1 says the maps were shrunk that many times, so a cell's
    row and column are those of its block's first cell in the full map.
    """
    height, width, channels = maps.shape
    names = np.arange(channels) if channel_ids is None else np.asarray(channel_ids)
    rows = math.ceil(channels / columns)
    mosaic_h = rows * height + (rows - 1) * gutter
    mosaic_w = columns * width + (columns - 1) * gutter
    mosaic = np.full((mosaic_h, mosaic_w), np.nan, dtype=np.float32)
    largest = max(height * block, width * block, int(names.max(initial=0)) + 1)
    index_type = np.uint8 if largest <= 256 else np.uint16
    positions = np.zeros((mosaic_h, mosaic_w, 3), dtype=index_type)
    grid_r, grid_c = np.mgrid[0:height, 0:width] * block
    for channel in range(channels):
        top, left = tile_origin(channel, columns, height, width, gutter)
        mosaic[top:top + height, left:left + width] = maps[:, :, channel]
        positions[top:top + height, left:left + width, 0] = names[channel]
        positions[top:top + height, left:left + width, 1] = grid_r
        positions[top:top + height, left:left + width, 2] = grid_c
    return mosaic, positions


def channel_mosaic(
    maps: np.ndarray,
    *,
    value_name: str,
    signed: bool,
    channel_name: str = "channel",
    title: str | None = None,
    height: int | None = None,
    aspect: float = 2.0,
    channel_ids: Sequence[int] | None = None,
    block: int = 1,
) -> go.Figure:
    """Return ONE heatmap tiling every channel of an (H, W, C) array, true values on hover.

    ``channel_ids`` names the tiles (a page of a layer's channels); ``block`` > 1 says the maps were shrunk
    by ``block_peaks``: hover then names the block ("rows 4-7") and its value of largest magnitude.

    The tiles are laid out to be as large as possible in a panel ``aspect`` times as wide as it is tall.

    ``signed`` picks a diverging scale centred on zero (weights, gradients) instead of a
    sequential one (non-negative activations). The trace's ``meta`` carries each channel's
    peak |value|, so the browser can recolour every tile on its own scale without a request
    (assets/clientside.js, ``applyColourScale``).
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3 or min(maps.shape) < 1:
        raise ValueError(f"maps must be an (H, W, C) array, got shape {maps.shape}")
    tile_height, tile_width, channels = maps.shape
    columns = mosaic_columns(channels, tile_height, tile_width, aspect=aspect)
    mosaic, positions = tile_channels(maps, columns, channel_ids=channel_ids, block=block)
    peaks = np.nan_to_num(np.nanmax(np.abs(maps), axis=(0, 1)))
    limit = float(np.max(peaks)) or 1.0
    where = ("row %{customdata[1]}, col %{customdata[2]}" if block == 1 else
             f"the {block}×{block} block from row %{{customdata[1]}}, col %{{customdata[2]}}")
    value = f"{value_name} %{{z:.4g}}" + ("" if block == 1 else " (largest |value| in the block)")
    trace = dict(
        type="heatmap", z=mosaic, customdata=positions, hoverongaps=False, colorbar=_colorbar(value_name),
        hovertemplate=f"{channel_name} %{{customdata[0]}}<br>{where}<br>{value}<extra></extra>",
        # Indexed by the channel number hover shows: a list for every channel, a mapping for a page of them.
        meta=dict(channel_peaks=[float(p) for p in peaks] if channel_ids is None else
                  {str(int(c)): float(p) for c, p in zip(channel_ids, peaks)}, signed=signed, value_name=value_name,
                  columns=columns, tile=[tile_height, tile_width], block=block, channel_name=channel_name),
    )
    if signed:
        trace.update(colorscale=DIVERGING, zmid=0.0, zmin=-limit, zmax=limit)
    else:
        trace.update(colorscale=SEQUENTIAL, zmin=0.0, zmax=limit)
    if height is None:
        mosaic_h, mosaic_w = mosaic.shape
        height = int(np.clip(560 * mosaic_h / mosaic_w + 40, 180, 520))
    return figure_from([trace], height=height, title=title, **IMAGE_AXES)


def colour_kernels(kernel: np.ndarray, *, value_name: str, height: int, aspect: float = 1.0) -> go.Figure:
    """Return a first layer's (kh, kw, 3, N) kernels over an RGB input as N colour pictures, one per filter.

    Every filter is drawn on one shared scale, grey = 0: a pixel's red, green and blue are 0.5 plus its red,
    green and blue weights over twice the layer's largest |weight|, so a reddish pixel is a filter that adds
    red there. Each tile is its own image trace holding its true weights for hover (no hover on the gutters).
    """
    kernel = np.asarray(kernel, np.float32)
    if kernel.ndim != 4 or kernel.shape[2] != 3:
        raise ValueError(f"colour kernels must be (kh, kw, 3, filters), got shape {kernel.shape}")
    size_h, size_w, _, filters = kernel.shape
    limit = float(np.max(np.abs(kernel))) or 1.0
    columns = mosaic_columns(filters, size_h, size_w, aspect=aspect)
    tiles = []
    for f in range(filters):
        weights = kernel[:, :, :, f]
        top, left = tile_origin(f, columns, size_h, size_w)
        tiles.append(dict(
            type="image", z=np.clip(127.5 + 127.5 * weights / limit, 0, 255), x0=left, y0=top, dx=1, dy=1,
            customdata=weights, colormodel="rgb", zmin=[0, 0, 0], zmax=[255, 255, 255], name=f"filter {f}",
            hovertemplate=(f"filter {f}<br>row %{{y}}, col %{{x}} of the mosaic<br>{value_name}: red "
                           "%{customdata[0]:.4g}, green %{customdata[1]:.4g}, blue %{customdata[2]:.4g}"
                           "<extra></extra>")))
    return figure_from(tiles, height=height, **IMAGE_AXES)


def channel_bars(vectors: dict[str, np.ndarray], *, index_name: str, height: int) -> go.Figure:
    """Return per-channel vectors of one length (a normalisation layer's gamma and beta) as grouped bars."""
    palette = [ACCENT, "#ea580c", "#059669", "#9333ea"]
    traces = []
    for colour, (name, values) in zip(palette * 2, vectors.items()):
        values = np.asarray(values, np.float32).reshape(-1)
        traces.append(dict(type="bar", name=name, x=np.arange(values.size), y=values,
                           marker=dict(color=colour, line=dict(width=0)),
                           hovertemplate=f"{index_name} %{{x}}<br>{name} %{{y:.4g}}<extra></extra>"))
    return figure_from(traces, height=height, barmode="group", bargap=0.15,
                       legend=dict(orientation="h", x=0, y=1.08, font=dict(size=11)),
                       xaxis=axis(title=axis_title(index_name), showgrid=False),
                       yaxis=axis(gridcolor=GRID, zerolinecolor=MUTED))


def tiles_in_view(meta: dict, channels: int, x_range: Sequence[float], y_range: Sequence[float]) -> list[int]:
    """Return the positions of a mosaic's tiles that the window (x and y ranges, in cells) overlaps."""
    columns, (height, width) = int(meta["columns"]), meta["tile"]
    left_edge, right_edge = sorted(float(v) for v in x_range)
    top_edge, bottom_edge = sorted(float(v) for v in y_range)
    inside = []
    for position in range(channels):
        top, left = tile_origin(position, columns, height, width)
        if left - 0.5 < right_edge and left + width - 0.5 > left_edge and top - 0.5 < bottom_edge \
                and top + height - 0.5 > top_edge:
            inside.append(position)
    return inside


def add_full_resolution(figure: go.Figure, maps: np.ndarray, positions: list[int], *,
                        channel_ids: Sequence[int] | None = None) -> go.Figure:
    """Return a shrunk mosaic (``channel_mosaic`` with block > 1) with the tiles at `positions` drawn again over
    it at full resolution from `maps` (H, W, C): each a heatmap of its own on the same colours, placed cell for
    cell over its shrunk tile, hover giving the true row, column and value. The figure keeps the shrunk layer
    underneath, so zooming out shows the whole mosaic again."""
    base = figure.data[0]
    meta = dict(base.meta)
    block, columns, (height, width) = int(meta["block"]), int(meta["columns"]), meta["tile"]
    rows_full, columns_full = maps.shape[:2]
    names = list(range(maps.shape[-1])) if channel_ids is None else list(channel_ids)
    index_type = np.uint8 if max(rows_full, columns_full, max(names, default=0) + 1) <= 256 else np.uint16
    grid_r, grid_c = np.mgrid[0:rows_full, 0:columns_full]
    overlays = []
    for position in positions:
        top, left = tile_origin(position, columns, height, width)
        channel = names[position]
        # (channel, row, col) like the mosaic's own cells, so a click on either names the same cell.
        grid = np.stack([np.full_like(grid_r, channel), grid_r, grid_c], axis=-1).astype(index_type)
        values = np.asarray(maps[:, :, position], np.float32)
        overlays.append(dict(
            type="heatmap", z=values, x0=left - 0.5 + 0.5 / block, dx=1.0 / block, y0=top - 0.5 + 0.5 / block,
            dy=1.0 / block, customdata=grid, colorscale=base.colorscale, zmin=base.zmin, zmax=base.zmax,
            zmid=base.zmid, showscale=False, name=f"channel {channel} at full resolution",
            meta=dict(tile_peak=float(np.max(np.abs(values))) or 1.0, signed=meta["signed"]),
            hovertemplate=(f"{meta.get('channel_name', 'channel')} {channel} (full resolution)<br>"
                           "row %{customdata[1]}, col %{customdata[2]}<br>"
                           f"{meta['value_name']} %{{z:.4g}}<extra></extra>")))
    return go.Figure({"data": [figure.data[0].to_plotly_json(), *overlays], "layout": figure.layout.to_plotly_json()},
                     _validate=False)


def add_full_resolution_part(figure: go.Figure, matrix: np.ndarray, zoom: tuple[Sequence[float], Sequence[float]],
                             *, budget: int) -> go.Figure:
    """Return a shrunk matrix heatmap (``matrix_heatmap`` with block > 1, axes counting the full matrix's rows
    and columns) kept at the zoom window, with the part of `matrix` in view drawn over it at full resolution
    when it has at most `budget` cells."""
    base = figure.data[0]
    x_range, y_range = zoom
    rows, columns = matrix.shape
    # Cell k spans k - 0.5 to k + 0.5: the cells the window touches.
    c0, c1 = (int(np.clip(np.floor(min(x_range) + 0.5), 0, columns)),
              int(np.clip(np.ceil(max(x_range) + 0.5), 0, columns)))
    r0, r1 = int(np.clip(np.floor(min(y_range) + 0.5), 0, rows)), int(np.clip(np.ceil(max(y_range) + 0.5), 0, rows))
    traces = [base.to_plotly_json()]
    if 0 < (r1 - r0) * (c1 - c0) <= budget:
        traces.append(dict(
            type="heatmap", z=np.asarray(matrix[r0:r1, c0:c1], np.float32), x0=c0, dx=1, y0=r0, dy=1,
            colorscale=base.colorscale, zmin=base.zmin, zmax=base.zmax, zmid=base.zmid, showscale=False,
            name="full resolution", hoverongaps=False,
            hovertemplate=base.meta["full_hover"]))
    layout = figure.layout.to_plotly_json()
    layout["xaxis"] = {**layout.get("xaxis", {}), "range": list(x_range), "autorange": False}
    layout["yaxis"] = {**layout.get("yaxis", {}), "range": list(y_range), "autorange": False}
    return go.Figure({"data": traces, "layout": layout}, _validate=False)


def matrix_heatmap(
    matrix: np.ndarray, *, value_name: str, row_name: str, column_name: str, title: str | None = None,
    height: int = 360, block: int = 1,
) -> go.Figure:
    """Return a (rows, columns) matrix such as dense weights as a heatmap, diverging around zero.

    ``block`` > 1 says the matrix was shrunk by ``block_peaks``: the axes still count the full matrix's rows
    and columns, and hover names the block and its value of largest magnitude.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    limit = float(np.nan_to_num(np.nanmax(np.abs(matrix)))) or 1.0
    # The full-resolution hover is also kept in the trace's meta, for a zoomed part drawn over a shrunk matrix.
    full_hover = f"{row_name} %{{y}}<br>{column_name} %{{x}}<br>{value_name} %{{z:.4g}}<extra></extra>"
    hover = full_hover if block == 1 else (f"the {block}×{block} block from {row_name} %{{y}}, {column_name} %{{x}}<br>"
                                           f"{value_name} %{{z:.4g}} (largest |value| in the block)<extra></extra>")
    trace = dict(type="heatmap", z=matrix, colorscale=DIVERGING, zmid=0.0, zmin=-limit, zmax=limit,
                 colorbar=_colorbar(value_name), x0=0, dx=block, y0=0, dy=block, hoverongaps=False,
                 hovertemplate=hover, meta=dict(full_hover=full_hover, block=block))
    return figure_from([trace], height=height, title=title,
                   xaxis=axis(title=axis_title(column_name), showgrid=False, zeroline=False),
                   yaxis=axis(title=axis_title(row_name), autorange="reversed", showgrid=False, zeroline=False))


def vector_bars(
    values: np.ndarray, *, value_name: str, index_name: str, title: str | None = None, height: int = 260,
    block: int = 1,
) -> go.Figure:
    """Return a 1-D vector (a dense layer's activations) as a bar chart, one bar per unit (or, with ``block``
    > 1, per block of that many units, its value of largest magnitude)."""
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    if values.size == 0:
        raise ValueError("values must not be empty")
    colours = np.where(values >= 0, ACCENT, "#dc2626").tolist()
    which = f"{index_name} %{{x}}" if block == 1 else f"{index_name}s %{{x}} to %{{customdata}}"
    hover = f"{which}<br>{value_name} %{{y:.4g}}" + ("" if block == 1 else " (largest |value| of them)")
    trace = dict(type="bar", x=np.arange(values.size) * block, y=values,
                 marker=dict(color=colours, line=dict(width=0)), hovertemplate=hover + "<extra></extra>")
    if block > 1:
        trace["customdata"] = np.arange(1, values.size + 1) * block - 1
    return figure_from([trace], height=height, title=title, bargap=0.05 if values.size > 100 else 0.2,
                   xaxis=axis(title=axis_title(index_name), showgrid=False),
                   yaxis=axis(title=axis_title(value_name), gridcolor=GRID, zerolinecolor=MUTED))


def probability_bars(
    probabilities: np.ndarray, *, true_label: int | None = None, class_names: Sequence[str] | None = None,
    height: int = 260, reference: np.ndarray | None = None,
) -> go.Figure:
    """Return class probabilities as bars; the predicted class is blue, the true class outlined green; with a
    `reference` (the probabilities before an edit), a dark tick on each bar where it was."""
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    if probabilities.size == 0:
        raise ValueError("probabilities must not be empty")
    names = list(class_names) if class_names is not None else [str(i) for i in range(probabilities.size)]
    if len(names) != probabilities.size:
        raise ValueError(f"{len(names)} class names for {probabilities.size} probabilities")
    predicted = int(np.argmax(probabilities))
    colours = [ACCENT if i == predicted else MUTED for i in range(probabilities.size)]
    outline = [TRUE_COLOUR if i == true_label else "rgba(0,0,0,0)" for i in range(probabilities.size)]
    trace = dict(type="bar", x=names, y=probabilities, marker=dict(color=colours, line=dict(color=outline, width=3)),
                 text=[f"{p:.0%}" if p >= 0.01 else "" for p in probabilities], textposition="outside",
                 cliponaxis=False, hovertemplate="class %{x}<br>probability %{y:.6f}<extra></extra>")
    traces = [trace]
    trace["showlegend"] = False
    if reference is not None:
        before = np.asarray(reference, dtype=np.float64).reshape(-1)
        if before.shape != probabilities.shape:
            raise ValueError(f"{before.size} reference probabilities for {probabilities.size} classes")
        traces.append(dict(type="scatter", mode="markers", x=names, y=before, name="before the edit",
                           showlegend=False,
                           marker=dict(symbol="line-ew", size=22, line=dict(width=3, color=REFERENCE_COLOUR)),
                           customdata=probabilities - before,
                           hovertemplate="class %{x}<br>before the edit %{y:.6f}<br>change %{customdata:+.6f}"
                                         "<extra></extra>"))
    # Class names speak for themselves (and, turned to fit, would run into the axis title); numbers need one.
    numbered = all(name.isdigit() for name in names)
    return figure_from(traces, height=height,
                   xaxis=axis(type="category", title=axis_title("class") if numbered else None),
                   yaxis=axis(range=[0, 1.12], tickformat=".0%", gridcolor=GRID))


GRID_TOP = 52  # px above the attribution tiles: the toolbar (~26 px) and the method names below it


def attribution_grid(image: np.ndarray, rows: list[tuple[str, dict[str, np.ndarray]]], *, signed: Sequence[str],
                     opacity: float = 0.7) -> go.Figure:
    """Return every method's map (columns) for every model (rows) as tiles on ONE axis, over the digit in grey.

    Like the layer mosaics, one axis draws far faster than a subplot per map. Each tile is its own small
    heatmap placed by x0 / y0, holding the true values on its own colour range (signed maps diverging around
    zero), so hover reads the value from z and the tile's name from its own template: no per-pixel labels,
    which had made this figure 600 KB and a third of its request's time.
    """
    pixels = _require_2d(image, "image").astype(np.float32)
    if not rows or not rows[0][1]:
        raise ValueError("attribution_grid needs at least one row of maps")
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be between 0 and 1, got {opacity}")
    methods = list(rows[0][1])
    size_h, size_w = pixels.shape
    gutter = 3
    height_px = len(rows) * size_h + (len(rows) - 1) * gutter
    width_px = len(methods) * size_w + (len(methods) - 1) * gutter
    digit = np.full((height_px, width_px), np.nan, np.float32)
    index_type = np.uint8 if max(size_h, size_w) <= 256 else np.uint16
    grid_r, grid_c = np.mgrid[0:size_h, 0:size_w]
    within = np.stack([grid_r, grid_c], axis=-1).astype(index_type)  # each cell's row and column in its tile
    tiles, annotations = [], []
    for r, (row_name, maps) in enumerate(rows):
        top = r * (size_h + gutter)
        for c, method in enumerate(methods):
            left = c * (size_w + gutter)
            values = _require_2d(maps[method], method).astype(np.float32)
            peak = float(np.max(np.abs(values))) or 1.0
            digit[top:top + size_h, left:left + size_w] = pixels
            is_signed = method in signed
            tiles.append(dict(
                type="heatmap", z=values, x0=left, y0=top, dx=1, dy=1,
                colorscale=DIVERGING if is_signed else SEQUENTIAL, zmin=-peak if is_signed else 0.0, zmax=peak,
                opacity=opacity, showscale=False, customdata=within,
                name=f"{method} · {row_name}", hoverongaps=False,
                hovertemplate=(f"{method} · {row_name}<br>row %{{customdata[0]}}, col %{{customdata[1]}}<br>"
                               "value %{z:.4g}<extra></extra>")))
            if r == 0:
                annotations.append(dict(text=f"<b>{method}</b>", x=left + size_w / 2 - 0.5, y=-1.5, xref="x", yref="y",
                                        showarrow=False, font=dict(size=11), yanchor="bottom"))
        annotations.append(dict(text=row_name, x=-1.5, y=top + size_h / 2 - 0.5, xref="x", yref="y", showarrow=False,
                                textangle=-90, font=dict(size=11, color="#6b7280"), xanchor="right"))
    traces = [dict(type="heatmap", z=digit, colorscale=INK, zmin=0, zmax=1, showscale=False, hoverinfo="skip",
                   hoverongaps=False), *tiles]
    # The top margin keeps the method names clear of Plotly's toolbar, which appears over the top right corner.
    return figure_from(traces, height=GRID_TOP + 12 + 175 * len(rows), annotations=annotations,
                       margin=dict(l=28, r=8, t=GRID_TOP, b=8), **IMAGE_AXES)


def deletion_curves(fractions: np.ndarray, curves: dict[str, np.ndarray], areas: dict[str, float], *,
                    target: int) -> go.Figure:
    """Return each method's deletion curve: class probability as the most-attributed pixels are removed."""
    palette = ["#2563eb", "#9333ea", "#ea580c", "#059669", "#dc2626", "#0891b2"]
    traces = []
    for colour, (name, curve) in zip(palette * 2, curves.items()):
        traces.append(dict(type="scatter", mode="lines+markers", x=np.asarray(fractions) * 100,
                           y=np.asarray(curve, dtype=np.float64), name=f"{name} (area {areas[name]:.3f})",
                           line=dict(color=colour, width=2), marker=dict(size=4),
                           hovertemplate=f"{name}<br>%{{x:.0f}} % of pixels removed<br>"
                                         f"p(class {target}) %{{y:.4f}}<extra></extra>"))
    return figure_from(traces, height=260, validate=False,
                   xaxis=axis(title=axis_title("most-attributed pixels removed (%)"), gridcolor=GRID),
                   yaxis=axis(title=axis_title(f"p(class {target})"), range=[0, 1.02], gridcolor=GRID),
                   legend=dict(font=dict(size=10), x=1.0, xanchor="left", y=1.0))
