"""Figure builders: values placed where hover says, the right colour scales, clear errors."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from dashboard import figures


def decoded(value) -> np.ndarray:
    """Return a trace array as NumPy whether plotly kept it as an array or a typed-array spec."""
    return np.asarray(value)


@pytest.fixture()
def maps():
    return np.random.default_rng(0).normal(size=(5, 4, 6)).astype(np.float32)


def test_mosaic_is_one_heatmap_with_every_value_where_hover_says(maps):
    fig = figures.channel_mosaic(maps, value_name="activation", signed=True)
    assert len(fig.data) == 1 and isinstance(fig.data[0], go.Heatmap)
    trace = fig.data[0]
    z, where = decoded(trace.z), decoded(trace.customdata)
    filled = np.isfinite(z)
    assert filled.sum() == maps.size  # every value once; everything else is a NaN gutter
    for r, c in np.argwhere(filled):
        channel, row, col = where[r, c]
        assert z[r, c] == maps[row, col, channel]
    assert trace.hoverongaps is False
    assert "customdata[0]" in trace.hovertemplate and "%{z" in trace.hovertemplate


def test_mosaic_carries_each_channels_peak_for_per_tile_colours(maps):
    trace = figures.channel_mosaic(maps, value_name="weight", signed=True).data[0]
    np.testing.assert_allclose(trace.meta["channel_peaks"], np.abs(maps).max(axis=(0, 1)), rtol=1e-6)
    assert trace.meta["signed"] is True and trace.meta["value_name"] == "weight"


def test_colour_scales_sequential_for_activations_diverging_for_signed(maps):
    activations = figures.channel_mosaic(np.abs(maps), value_name="activation", signed=False).data[0]
    assert activations.zmin == 0 and activations.zmid is None
    assert activations.colorscale[0][1] != activations.colorscale[-1][1]
    signed = figures.channel_mosaic(maps, value_name="weight", signed=True).data[0]
    assert signed.zmid == 0 and signed.zmin == -signed.zmax
    assert signed.zmax == pytest.approx(float(np.max(np.abs(maps))))


# Worked by hand for 10x10 tiles with 1-pixel gutters: e.g. 32 tiles in a 2:1 panel, 8 columns x 4 rows
# (87 x 43 pixels) scale by min(2/87, 1/43) = 0.0230, more than 7 (76 x 54: 0.0185) or 9 columns (98 x 43:
# 0.0204); 64 tiles: 11 x 6 (120 x 65: 0.0154) beats 16 x 4 (175 x 43: 0.0114); in a square panel 32 tiles
# go 6 x 6 (65 x 65) rather than 8 x 4 (87 x 43: 1/87); 6 tiles in a 2:1 panel go 3 x 2 (32 x 21: 0.0476), not
# 4 x 2 (43 x 21: 0.0465, and two empty places); 10 in a square tie at 3 x 4 and 4 x 3 (1/43): fewer columns.
@pytest.mark.parametrize("channels, aspect, expected", [(32, 2.0, 8), (64, 2.0, 11), (1, 2.0, 1), (6, 2.0, 3),
                                                        (32, 1.0, 6), (10, 1.0, 3), (4, 1.0, 2)])
def test_mosaic_columns_draw_the_largest_tiles(channels, aspect, expected):
    assert figures.mosaic_columns(channels, 10, 10, aspect=aspect) == expected


def test_bad_shapes_raise_value_errors():
    with pytest.raises(ValueError, match="H, W, C"):
        figures.channel_mosaic(np.zeros((3, 3)), value_name="x", signed=False)
    with pytest.raises(ValueError, match="2-D"):
        figures.digit_heatmap(np.zeros((2, 28, 28)))
    with pytest.raises(ValueError, match="2-D"):
        figures.matrix_heatmap(np.zeros(5), value_name="w", row_name="in", column_name="out")
    with pytest.raises(ValueError, match="empty"):
        figures.vector_bars(np.zeros(0), value_name="a", index_name="unit")
    with pytest.raises(ValueError, match="class names"):
        figures.probability_bars(np.ones(3) / 3, class_names=["a"])


def test_digit_heatmap_carries_pixels_on_a_fixed_zero_one_scale():
    image = np.random.default_rng(1).random((28, 28, 1)).astype(np.float32)
    trace = figures.digit_heatmap(image).data[0]
    np.testing.assert_array_equal(decoded(trace.z), image[:, :, 0])
    assert (trace.zmin, trace.zmax) == (0.0, 1.0)


def test_probability_bars_mark_prediction_and_truth():
    probabilities = np.array([0.1, 0.7, 0.2])
    trace = figures.probability_bars(probabilities, true_label=2).data[0]
    np.testing.assert_allclose(decoded(trace.y), probabilities)
    colours = list(trace.marker.color)
    assert colours[1] == figures.ACCENT and colours[0] == colours[2] == figures.MUTED
    assert list(trace.marker.line.color)[2] == figures.TRUE_COLOUR


def test_matrix_heatmap_keeps_orientation():
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3) - 5
    trace = figures.matrix_heatmap(matrix, value_name="w", row_name="input", column_name="unit").data[0]
    np.testing.assert_array_equal(decoded(trace.z), matrix)
    assert trace.zmid == 0


def test_message_figure_shows_the_text():
    fig = figures.message_figure("nothing here")
    assert fig.layout.annotations[0].text == "nothing here"


def test_every_builder_makes_valid_plotly():
    """The builders skip Plotly's validators for speed: what they build must pass them."""
    from dashboard import training_figures

    rng = np.random.default_rng(6)
    built = [
        figures.digit_heatmap(rng.random((28, 28, 1)), scale=False), figures.digit_heatmap(rng.random((28, 28))),
        figures.signed_heatmap(rng.normal(size=(28, 28)), value_name="∂score/∂pixel", scale=False),
        figures.channel_mosaic(rng.random((5, 5, 7)), value_name="activation", signed=False),
        figures.channel_mosaic(rng.normal(size=(3, 3, 64)), value_name="weight", signed=True, aspect=1.0),
        figures.matrix_heatmap(rng.normal(size=(20, 10)), value_name="w", row_name="input", column_name="unit"),
        figures.vector_bars(rng.normal(size=64), value_name="activation", index_name="unit"),
        figures.probability_bars(rng.dirichlet(np.ones(10)), true_label=3, height=130),
        figures.message_figure("a message"),
        training_figures.distribution_heatmap(np.arange(3.0), np.linspace(-1, 1, 5), rng.integers(0, 9, (3, 4)),
                                              value_name="weight", title="t"),
    ]
    for figure in built:
        go.Figure(figure.to_plotly_json())  # raises ValueError on any invalid property


def test_unvalidated_figures_are_valid_plotly():
    """attribution_grid and deletion_curves: their specs must be valid, and carry the true values."""
    rng = np.random.default_rng(5)
    image = rng.random((28, 28))
    maps = {name: rng.normal(size=(28, 28)) for name in ("gradient", "Grad-CAM")}
    grid = figures.attribution_grid(image, [("trained", maps), ("random", maps)], signed=["gradient"], opacity=0.4)
    curves = figures.deletion_curves(np.linspace(0, 1, 5), {"gradient": np.linspace(1, 0, 5)}, {"gradient": 0.5},
                                     target=3)
    for figure in (grid, curves):
        go.Figure(figure.to_plotly_json())  # raises ValueError on any invalid property
    # The digit underneath, then one tile per (row, method): 2 rows x 2 methods.
    assert len(grid.data) == 5 and all(trace.opacity == 0.4 for trace in grid.data[1:])
    assert np.asarray(grid.data[0].z).shape == (2 * 28 + 3, 2 * 28 + 3)
    # Every tile holds the true values at its place, on its own range (signed: symmetric around zero).
    random_gradient = next(t for t in grid.data[1:] if t.name == "gradient · random")
    np.testing.assert_array_equal(np.asarray(random_gradient.z), maps["gradient"].astype(np.float32))
    assert (random_gradient.x0, random_gradient.y0) == (0, 31)
    assert random_gradient.zmax == pytest.approx(np.abs(maps["gradient"]).max(), rel=1e-6)
    assert random_gradient.zmin == -random_gradient.zmax
    cam = next(t for t in grid.data[1:] if t.name == "Grad-CAM · trained")
    assert cam.zmin == 0.0 and (cam.x0, cam.y0) == (31, 0)
    assert "gradient · random" in random_gradient.hovertemplate and "%{z" in random_gradient.hovertemplate
    rows, cols = np.asarray(random_gradient.customdata)[..., 0], np.asarray(random_gradient.customdata)[..., 1]
    assert rows[27, 3] == 27 and cols[27, 3] == 3
    with pytest.raises(ValueError, match="opacity"):
        figures.attribution_grid(image, [("trained", maps)], signed=[], opacity=1.5)
    # The browser gets explicit colour lists: paper white, ink black, positive red, as in the other panels.
    assert grid.to_plotly_json()["data"][0]["colorscale"][0][1] == "rgb(255,255,255)"
    assert grid.to_plotly_json()["data"][0]["colorscale"][-1][1] == "rgb(0,0,0)"
    assert random_gradient.to_plotly_json()["colorscale"][-1][1] == figures.DIVERGING[-1][1]
    assert "rgb(103,0,31)" == figures.DIVERGING[-1][1]  # RdBu reversed: dark red at the positive end
