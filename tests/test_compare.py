"""Compare A and B (issue 13): the mosaics' numbers are the layer's outputs computed by an independent NumPy
forward pass, for two images and for one image at two checkpoints, and A − B is their difference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dashboard import compare, ids
from dashboard.callbacks import compare_ab
from dashboard.compare_layout import OTHER_CHECKPOINT, OTHER_IMAGE, SERVED_CHECKPOINT, checkpoint_value
from tests import dash_requests, numpy_reference
from tests.test_callbacks import server_callbacks


def reference_outputs(weights: dict, picture: np.ndarray) -> dict[str, np.ndarray]:
    outputs, _ = numpy_reference.forward(numpy_reference.seed_chain(weights), picture)
    return dict(zip(numpy_reference.SEED_CHAIN, outputs))


def tile_values(figure) -> dict[tuple[int, int, int], float]:
    """Return {(channel, row, column): value} from a mosaic's cells, as hover shows them."""
    trace = figure.data[0]
    z, where = np.asarray(trace.z, dtype=float), np.asarray(trace.customdata)
    cells = {}
    for r, c in zip(*np.nonzero(~np.isnan(z))):
        channel, row, column = (int(v) for v in where[r, c])
        cells[(channel, row, column)] = z[r, c]
    return cells


def assert_mosaic_is(figure, maps: np.ndarray, atol: float) -> None:
    cells = tile_values(figure)
    assert len(cells) == maps.size
    for (channel, row, column), value in cells.items():
        assert value == pytest.approx(maps[row, column, channel], abs=atol)


def gate(lens, *, digit=42, layer="conv1", mode=OTHER_IMAGE, b=7, bcheck=SERVED_CHECKPOINT, view=None):
    return {"digit": digit, "view": view or {"model": lens.served.version}, "layer": layer, "page": None,
            "mode": mode, "b": b, "bcheck": bcheck}


def test_two_images_side_by_side_are_the_layers_true_outputs(lens):
    weights = lens.weights()
    a_ref = reference_outputs(weights, lens.image(42)[0])
    b_ref = reference_outputs(weights, lens.image(7)[0])
    for layer in ("conv1", "pool2"):
        figure_a, figure_b, difference, probabilities, caption, title_a, title_b = compare_ab.compare_ab(
            lens, gate(lens, layer=layer))
        assert_mosaic_is(figure_a, a_ref[layer], 1e-4)
        assert_mosaic_is(figure_b, b_ref[layer], 1e-4)
        assert_mosaic_is(difference, a_ref[layer] - b_ref[layer], 1e-4)
        # A and B share one colour scale: the same colour is the same number in both.
        limit = max(np.abs(a_ref[layer]).max(), np.abs(b_ref[layer]).max())
        for figure in (figure_a, figure_b):
            assert (figure.data[0].zmin, figure.data[0].zmax) == (0.0, pytest.approx(limit, rel=1e-5))
        assert difference.data[0].zmid == 0 and difference.data[0].zmin == -difference.data[0].zmax
        change = np.mean(np.abs(a_ref[layer] - b_ref[layer]), axis=(0, 1))
        assert f"channel {int(np.argmax(change))} changes most" in caption
        assert title_a.startswith("A · digit #42") and title_b.startswith("B · digit #7")
    np.testing.assert_allclose(probabilities.data[0].y, a_ref["probabilities"][np.asarray(probabilities.data[0].x,
                                                                                          int)], atol=1e-5)


def test_a_dense_layer_compares_unit_by_unit(lens):
    weights = lens.weights()
    a_ref, b_ref = (reference_outputs(weights, lens.image(i)[0])["dense"] for i in (42, 7))
    figure_a, figure_b, difference, *_ = compare_ab.compare_ab(lens, gate(lens, layer="dense"))
    np.testing.assert_allclose(figure_a.data[0].y, a_ref, atol=1e-4)
    np.testing.assert_allclose(figure_b.data[0].y, b_ref, atol=1e-4)
    np.testing.assert_allclose(difference.data[0].y, a_ref - b_ref, atol=1e-4)
    assert figure_a.layout.yaxis.range == figure_b.layout.yaxis.range


def test_one_image_at_two_checkpoints(lens, trained_run):
    steps = [snapshot["step"] for snapshot in lens.runs.history(trained_run)]
    early = (trained_run, steps[0])
    a_ref = reference_outputs(lens.weights(), lens.image(42)[0])
    b_ref = reference_outputs(lens.weights(early), lens.image(42)[0])
    assert not np.allclose(a_ref["conv2"], b_ref["conv2"])  # the run's first checkpoint is another network
    figure_a, figure_b, difference, probabilities, caption, _, title_b = compare_ab.compare_ab(
        lens, gate(lens, layer="conv2", mode=OTHER_CHECKPOINT, bcheck=checkpoint_value(*early)))
    assert "changes most" in caption, caption
    assert_mosaic_is(figure_a, a_ref["conv2"], 1e-4)
    assert_mosaic_is(figure_b, b_ref["conv2"], 1e-4)
    assert_mosaic_is(difference, a_ref["conv2"] - b_ref["conv2"], 1e-4)
    assert title_b == f"B · run {trained_run} at step {steps[0]:,}"
    shown = np.asarray(probabilities.data[1].x, int)
    np.testing.assert_allclose(probabilities.data[1].y, b_ref["probabilities"][shown], atol=1e-5)
    np.testing.assert_allclose(probabilities.data[1].customdata,
                               (b_ref["probabilities"] - a_ref["probabilities"])[shown], atol=1e-5)


def test_the_same_image_twice_is_identical(lens):
    *_, caption, _, _ = compare_ab.compare_ab(lens, gate(lens, b=42))
    assert "identical" in caption


def test_own_and_edited_images_compare_with_their_originals(lens):
    reference = reference_outputs(lens.weights(), lens.image("42|x=3")[0])["conv1"]
    figure_a, *_ = compare_ab.compare_ab(lens, gate(lens, digit="42|x=3", b=42))
    assert_mosaic_is(figure_a, reference, 1e-4)


@pytest.mark.parametrize("field, bad, said", [
    ("b", 10**9, "does not exist"), ("b", "px:AAAA", "damaged"),
    ("mode", "sideways", "is not one of: image, checkpoint"),
    ("bcheck", "nope", "served model or a run"), ("bcheck", "run-x@3", "run"), ("layer", "conv9", "Layer"),
])
def test_a_bad_request_gets_a_message_in_every_panel(lens, field, bad, said):
    request = gate(lens, mode=OTHER_CHECKPOINT if field == "bcheck" else OTHER_IMAGE)
    request[field] = bad
    figure_a, figure_b, difference, probabilities, caption, _, _ = compare_ab.compare_ab(lens, request)
    assert said in caption
    assert said in figure_a.layout.annotations[0].text


def test_a_panel_off_screen_computes_nothing(lens):
    assert all(output is compare_ab.no_update for output in compare_ab.compare_ab(lens, None))


def test_probability_pairs_say_the_change(lens):
    a = compare.Side(np.zeros((4, 4, 1)), np.array([0.7, 0.2, 0.1]), "a")
    b = compare.Side(np.zeros((4, 4, 1)), np.array([0.1, 0.3, 0.6]), "b")
    figure = compare.probability_view(a, b, ("0", "1", "2"))
    figure.to_dict()  # valid plotly
    assert list(figure.data[0].y) == [0.7, 0.2, 0.1] and list(figure.data[1].y) == [0.1, 0.3, 0.6]
    np.testing.assert_allclose(figure.data[0].customdata, [-0.6, 0.1, 0.5])


def test_the_comparison_is_served_over_http(test_settings, lens):
    from app import create_app

    client = create_app(test_settings, lens=lens).server.test_client()
    dependency = next(d for d in server_callbacks(client.get("/_dash-dependencies").get_json())
                      if f"{ids.AB_GRAPH_A}.figure" in d["output"])
    body = dash_requests.body(dependency, [gate(lens, layer="conv2"), "seed"], [info.name for info in lens.layers])
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    answer = response.get_json()["response"]
    assert "changes most" in answer[ids.AB_CAPTION]["children"]
    assert answer[ids.AB_GRAPH_DIFFERENCE]["figure"]["data"][0]["type"] == "heatmap"
