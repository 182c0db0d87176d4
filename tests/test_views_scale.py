"""Views that scale past the seed CNN: pages of channels, shrunk maps, depthwise / separable / normalisation
weights and colour filters, each checked against NumPy written out here."""

from __future__ import annotations

import gzip
import json

import numpy as np
import plotly.utils
import pytest

from dashboard import figures, views
from dashboard.callbacks import layers
from dashboard.layout import GRADIENTS_TAB, WEIGHTS_TAB
from dashboard.tensors import LayerInfo


def conv_info(shape: tuple[int, ...], kind: str = "Conv2D") -> LayerInfo:
    return LayerInfo(name="wide", kind=kind, output_shape=shape, parameters=0, weight_shapes={}, activation="relu")


def mosaic_cells(trace) -> list[tuple[int, int, int, float]]:
    """Return (channel, row, column, value) of every drawn cell of a channel mosaic, read from the figure."""
    z, where = np.asarray(trace.z, np.float64), np.asarray(trace.customdata)
    return [(int(where[r, c, 0]), int(where[r, c, 1]), int(where[r, c, 2]), float(z[r, c]))
            for r, c in zip(*np.nonzero(~np.isnan(z)))]


def gzip_size(figure) -> int:
    return len(gzip.compress(json.dumps(figure.to_plotly_json(), cls=plotly.utils.PlotlyJSONEncoder).encode()))


def test_block_peaks_keep_the_value_of_largest_magnitude_of_each_block():
    values = np.random.default_rng(0).normal(size=(7, 5, 3)).astype(np.float32)
    shrunk = figures.block_peaks(values, 3)
    assert shrunk.shape == (3, 2, 3)
    for r in range(3):
        for c in range(2):
            for k in range(3):
                block = values[3 * r:3 * r + 3, 3 * c:3 * c + 3, k].ravel()
                assert shrunk[r, c, k] == block[np.argmax(np.abs(block))]
    assert figures.display_block(21_632, views.CELL_BUDGET) == 1
    assert figures.display_block(96 * 96 * 40, views.CELL_BUDGET) == 4


def test_a_wide_layer_shows_a_page_of_its_strongest_channels():
    rng = np.random.default_rng(1)
    activation = np.maximum(rng.normal(size=(6, 6, 150)), 0).astype(np.float32) * rng.random(150).astype(np.float32)
    info = conv_info((6, 6, 150))
    assert views.channel_pages(info) == 3
    assert [o["label"] for o in views.page_options(info)] == ["strongest 1–64 of 150", "strongest 65–128 of 150",
                                                              "strongest 129–150 of 150"]
    # The ranking by hand: mean |activation| of each channel, largest first.
    means = [(-float(np.abs(activation[:, :, c]).mean()), c) for c in range(150)]
    ranked = [c for _, c in sorted(means)]
    for page, expected in [(0, ranked[:64]), (1, ranked[64:128]), (2, ranked[128:])]:
        figure, caption = views.activation_view(info, activation, page)
        cells = mosaic_cells(figure.data[0])
        shown = sorted({channel for channel, _, _, _ in cells})
        assert shown == sorted(expected)
        assert all(value == pytest.approx(float(activation[r, c, k])) for k, r, c, value in cells)
        assert f"{len(expected)} of 150 shown" in caption
        # The per-channel colour scale finds each shown channel's peak under its own number.
        peaks = figure.data[0].meta["channel_peaks"]
        assert all(peaks[str(k)] == pytest.approx(float(activation[:, :, k].max())) for k in expected)
    narrow, _ = views.activation_view(conv_info((6, 6, 64)), activation[:, :, :64])
    assert sorted({k for k, _, _, _ in mosaic_cells(narrow.data[0])}) == list(range(64))


def test_a_large_map_is_shrunk_to_its_block_peaks_and_stays_small():
    rng = np.random.default_rng(2)
    activation = np.maximum(rng.normal(size=(96, 96, 40)), 0).astype(np.float32)
    figure, caption = views.activation_view(conv_info((96, 96, 40)), activation)
    trace = figure.data[0]
    assert "1/4 size" in caption and "4×4 block" in trace.hovertemplate
    cells = mosaic_cells(trace)
    assert len(cells) == 24 * 24 * 40
    for channel, row, column, value in cells[::97]:
        block = activation[row:row + 4, column:column + 4, channel]
        assert value == pytest.approx(float(block.max()))  # non-negative: the largest |value| is the maximum
    assert gzip_size(figure) < 150_000


def test_a_long_vector_is_drawn_as_block_peaks():
    values = np.random.default_rng(3).normal(size=10_000).astype(np.float32)
    info = LayerInfo(name="flat", kind="Flatten", output_shape=(10_000,), parameters=0, weight_shapes={},
                     activation=None)
    figure, caption = views.activation_view(info, values)
    trace = figure.data[0]
    assert "one bar per 3 units" in caption and len(trace.y) == 3334
    for bar in range(0, 3334, 101):
        block = values[3 * bar:3 * bar + 3]
        assert trace.y[bar] == block[np.argmax(np.abs(block))] and trace.x[bar] == 3 * bar
        assert trace.customdata[bar] == 3 * bar + 2


def test_depthwise_separable_normalisation_and_colour_weights_of_the_residual_model(catalog):
    residual = catalog.resolve("residual")
    weights = residual.weights()
    infos = {info.name: info for info in residual.layers}

    # DepthwiseConv2D (3, 3, 8, 2): one tile per output channel k = input channel c * 2 + multiplier m.
    kernel = weights["depthwise"]["kernel"]
    assert views.channel_options(infos["depthwise"]) == []
    figure, caption, _ = layers.layer_views(residual, 0, "depthwise", None, WEIGHTS_TAB)[3:]
    for k, r, c, value in mosaic_cells(figure.data[0]):
        assert value == pytest.approx(float(kernel[r, c, k // 2, k % 2]))
    assert "16 3×3 depthwise kernels" in caption

    # SeparableConv2D: its depthwise kernels, or its pointwise matrix.
    name = next(n for n in infos if n.endswith("separable"))
    separable = weights[name]
    figure, caption, _ = layers.layer_views(residual, 0, name, views.DEPTHWISE, WEIGHTS_TAB)[3:]
    for k, r, c, value in mosaic_cells(figure.data[0]):
        assert value == pytest.approx(float(separable["depthwise_kernel"][r, c, k, 0]))
    assert "pointwise" in caption
    figure, _, _ = layers.layer_views(residual, 0, name, views.FULL_MATRIX, WEIGHTS_TAB)[3:]
    np.testing.assert_array_equal(np.asarray(figure.data[0].z), separable["pointwise_kernel"][0, 0])

    # BatchNormalization: gamma and beta per channel, and their gradients for an image.
    figure, caption, _ = layers.layer_views(residual, 0, "stem_bn", None, WEIGHTS_TAB)[3:]
    assert [t.name for t in figure.data] == ["gamma", "beta"]
    np.testing.assert_array_equal(figure.data[0].y, weights["stem_bn"]["gamma"])
    np.testing.assert_array_equal(figure.data[1].y, weights["stem_bn"]["beta"])
    assert "moving variance" in caption
    figure, _, _ = layers.layer_views(residual, 3, "stem_bn", None, GRADIENTS_TAB)[3:]
    np.testing.assert_array_equal(figure.data[0].y, residual.tensors(3).weight_gradients["stem_bn"]["gamma"])

    # The stem conv reads RGB: its filters as colour pictures, grey = 0, true weights on hover.
    assert views.channel_options(infos["stem"])[0]["value"] == views.COLOUR
    stem = weights["stem"]["kernel"]
    figure, caption, _ = layers.layer_views(residual, 0, "stem", views.COLOUR, WEIGHTS_TAB)[3:]
    assert len(figure.data) == stem.shape[-1] and "grey = 0" in caption
    limit = float(np.abs(stem).max())
    for f, tile in enumerate(figure.data):
        np.testing.assert_array_equal(np.asarray(tile.customdata), stem[:, :, :, f])
        np.testing.assert_allclose(np.asarray(tile.z), 127.5 + 127.5 * stem[:, :, :, f] / limit, rtol=1e-6)


def test_zooming_into_a_shrunk_mosaic_draws_the_tiles_in_view_at_full_resolution():
    from dashboard.callbacks.layers import zoom_window

    rng = np.random.default_rng(4)
    activation = rng.normal(size=(96, 96, 40)).astype(np.float32)
    info = conv_info((96, 96, 40))
    assert views.activation_block(info) == 4
    base, _ = views.activation_view(info, activation)
    meta = base.data[0].meta
    assert meta["tile"] == [24, 24] and meta["block"] == 4
    # A window over the first tile only (cells are centred on whole numbers; the tile spans -0.5 to 23.5).
    window = ([0.0, 23.0], [23.0, 0.0])
    figure, _ = views.activation_view(info, activation, zoom=window)
    assert len(figure.data) == 2 and list(figure.layout.xaxis.range) == [0.0, 23.0]
    tile = figure.data[1]
    np.testing.assert_array_equal(np.asarray(tile.z), activation[:, :, 0])
    assert (tile.x0, tile.dx, tile.y0, tile.dy) == (-0.375, 0.25, -0.375, 0.25)
    where = np.asarray(tile.customdata)
    assert where[37, 81].tolist() == [0, 37, 81] and "full resolution" in tile.hovertemplate
    # The first tile's 24 shrunk cells span exactly its 96 full cells: cell k's centre is at -0.5 + (k + 0.5) / 4.
    assert tile.x0 + 95 * tile.dx == pytest.approx(23.375)
    # A window over the tiles in the second row, first two columns: those two at full resolution.
    columns = meta["columns"]
    top = 25
    figure, _ = views.activation_view(info, activation, zoom=([0.0, 40.0], [top + 20.0, top + 1.0]))
    assert [t.name for t in figure.data[1:]] == [f"channel {columns} at full resolution",
                                                 f"channel {columns + 1} at full resolution"]
    # The whole mosaic in view: too many cells for one response; the shrunk tiles stay, the window is kept.
    figure, _ = views.activation_view(info, activation, zoom=([-1.0, 400.0], [400.0, -1.0]))
    assert len(figure.data) == 1 and list(figure.layout.xaxis.range) == [-1.0, 400.0]
    # What a relayout event carries: only a box zoom or a pan is a window.
    assert zoom_window({"xaxis.range[0]": 1, "xaxis.range[1]": 5, "yaxis.range[0]": 9, "yaxis.range[1]": 2}) == (
        [1.0, 5.0], [9.0, 2.0])
    for event in [{"xaxis.autorange": True}, {"autosize": True}, None, "zoom", {"xaxis.range[0]": "a"},
                  {"xaxis.range[0]": 1, "xaxis.range[1]": float("nan"), "yaxis.range[0]": 0, "yaxis.range[1]": 1}]:
        assert zoom_window(event) is None
