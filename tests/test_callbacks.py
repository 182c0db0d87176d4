"""Callbacks called directly, and every callback POSTed over HTTP with values no browser would send."""

from __future__ import annotations

import json

import numpy as np
import pytest
from dash import no_update

from dashboard import views
from dashboard.callbacks import digit, layers
from dashboard.layout import GRADIENTS_TAB, PREDICTED, TRUE, WEIGHTS_TAB
from tests import dash_requests

BAD_VALUES = [-1, 10**9, "abc", None, 3.5, True, [], {}, "x" * 100_000, "<script>alert(1)</script>"]


def annotation(figure) -> str:
    return figure.layout.annotations[0].text if figure.layout.annotations else ""


# The two callbacks of the lens, called as the page calls them when everything is to be drawn.

def digit_views(lens, index, choice=PREDICTED, view=None) -> tuple:
    """(input figure, probability figure, verdict, saliency figure, saliency caption, options)"""
    return digit.digit_views(lens, index, choice, view, None)


def activations(lens, index, layer) -> tuple:
    return layers.layer_views(lens, index, layer, views.SUMMARY_CHANNEL, WEIGHTS_TAB)[:3]


def weights(lens, layer, channel) -> tuple:
    return layers.layer_views(lens, 0, layer, channel, WEIGHTS_TAB)[3:]


def gradients(lens, index, layer, channel) -> tuple:
    return layers.layer_views(lens, index, layer, channel, GRADIENTS_TAB)[3:]


def test_digit_views_show_the_digit_its_prediction_and_saliency(lens):
    image_figure, probability_figure, summary, saliency_figure, caption, options = digit_views(lens, 5)
    image, label = lens.image(5)
    np.testing.assert_array_equal(np.asarray(image_figure.data[0].z), image[:, :, 0])
    probabilities = np.asarray(probability_figure.data[0].y)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert f"Digit #5: true label {label}, predicted {int(np.argmax(probabilities))}" in summary
    np.testing.assert_array_equal(np.asarray(saliency_figure.data[0].z), lens.tensors(5).saliency[:, :, 0])
    assert f"class-{int(np.argmax(probabilities))} logit" in caption
    # Digit 5 was not among the dropdown's options (none given): they are sent again with it, in the same answer.
    assert 5 in [o["value"] for o in options] and len(options) <= 51
    kept = [{"label": "#5", "value": 5}]
    assert digit.digit_views(lens, 5, PREDICTED, None, kept)[5] is no_update


@pytest.mark.parametrize(("bad", "said"), [
    (-1, "Test image -1 does not exist"), (10**9, "Test image 1,000,000,000 does not exist"),
    ("abc", "No image is called 'abc'"), (None, "No image is called None"),
    (3.5, "An image is a test index or an image code, got float"), (True, "No image is called True"),
    ([], "got list"), ({}, "got dict"), ("px:AAAA", "The image code is damaged"),
    ("7|x=99", "The edit is not valid"), ("up:" + "0" * 32, "not on this server")])
def test_bad_digit_indexes_become_messages(lens, bad, said):
    image_figure, _, summary, _, _, _ = digit_views(lens, bad)
    assert said in summary and said in annotation(image_figure)
    figure, caption, _ = activations(lens, bad, "conv1")
    assert said in caption


def test_activations_follow_the_selected_layer(lens):
    for info in lens.layers:
        figure, caption, title = activations(lens, 2, info.name)
        assert info.name in title and caption
        values = lens.tensors(2).activations[info.name]
        if values.ndim == 3:
            z = np.asarray(figure.data[0].z)
            assert np.nansum(z) == pytest.approx(float(values.sum()), rel=1e-5)
        else:
            np.testing.assert_allclose(np.asarray(figure.data[0].y), values, rtol=1e-6)


def test_unknown_layer_and_channel_are_refused(lens):
    _, caption, _ = activations(lens, 0, "conv9")
    assert "Layer 'conv9' is not one of" in caption
    _, caption, _ = weights(lens, "conv2", 64)
    assert "Input channel 64 is out of range" in caption
    _, caption, _ = layers.layer_views(lens, 0, "conv1", None, "biases")[3:]
    assert "Tab 'biases' is not one of" in caption


def test_conv2_kernels_by_input_channel_and_summary(lens):
    kernel = lens.weights()["conv2"]["kernel"]
    figure, caption, title = weights(lens, "conv2", 5)
    assert title == "Filters and weights of conv2"
    z = np.asarray(figure.data[0].z)
    assert np.nansum(z) == pytest.approx(float(kernel[:, :, 5, :].sum()), rel=1e-4, abs=1e-5)
    assert "input channel 5" in caption
    figure, caption, _ = weights(lens, "conv2", views.SUMMARY_CHANNEL)
    norms = np.sqrt((kernel.astype(np.float64) ** 2).sum(axis=2))
    assert np.nansum(np.asarray(figure.data[0].z)) == pytest.approx(norms.sum(), rel=1e-4)
    assert "L2 norm" in caption


def test_layers_without_weights_say_so(lens):
    figure, caption, _ = weights(lens, "pool1", None)
    assert "has no weights" in annotation(figure) and "max of each 2×2 block" in annotation(figure)
    figure, _, _ = gradients(lens, 0, "flatten", None)
    assert "has no weights" in annotation(figure)


def test_pooling_captions_say_the_real_window():
    """A 3x3 pool moving 2 at a time is described so, not as the seed's 2x2 blocks."""
    import keras

    from dashboard.tensors import describe_layers

    inputs = keras.Input((9, 9, 1))
    pooled = keras.layers.MaxPooling2D(pool_size=3, strides=2, name="pool")(inputs)
    blocks = keras.layers.MaxPooling2D(pool_size=(3, 3), name="blocks")(inputs)
    infos = {info.name: info for info in describe_layers(keras.Model(inputs, [pooled, blocks]))}
    assert views.pooling_text(infos["pool"]) == "max of each 3×3 window, moved 2×2 at a time"
    assert views.pooling_text(infos["blocks"]) == "max of each 3×3 block"
    _, caption = views.activation_view(infos["pool"], np.zeros((4, 4, 1), np.float32))
    assert caption.startswith("max of each 3×3 window")


def test_dense_weight_gradients_are_the_true_matrix(lens):
    figure, caption, title = gradients(lens, 4, "dense", views.FULL_MATRIX)
    full = lens.tensors(4).weight_gradients["dense"]["kernel"]  # 1600 x 64: more than a panel sends
    # Drawn as 2x2 blocks, each its entry of largest magnitude, written out here: the four corners of every block.
    corners = np.stack([full[0::2, 0::2], full[0::2, 1::2], full[1::2, 0::2], full[1::2, 1::2]])
    expected = np.take_along_axis(corners, np.argmax(np.abs(corners), axis=0)[None], axis=0)[0]
    trace = figure.data[0]
    np.testing.assert_array_equal(np.asarray(trace.z), expected)
    assert (trace.dx, trace.dy) == (2, 2) and "2×2 block" in trace.hovertemplate and "1/2 size" in caption
    assert "cross-entropy of the true label" in caption and title == "Weight gradients of dense for this digit"


def test_saliency_class_choices(lens):
    _, label = lens.image(7)
    caption = digit_views(lens, 7, TRUE)[4]
    assert f"class-{label} logit" in caption
    assert "class-3 logit" in digit_views(lens, 7, 3)[4]
    assert f"class-{lens.tensors(7).predicted_class} logit" in digit_views(lens, 7, PREDICTED)[4]
    assert "Class 11 is not one of" in digit_views(lens, 7, 11)[4]


def test_huge_numbers_are_described_briefly(lens):
    _, _, summary, _, _, _ = digit_views(lens, 1e300)
    assert "out of range" in summary and len(summary) < 200


def test_digit_search(lens):
    options = digit.digit_options(lens, "12", [], 0)
    values = [o["value"] for o in options]
    assert values[0] == 0 and values[1] == 12
    assert digit.digit_options(lens, "0012", [], 12)[0]["value"] == 12
    assert all(str(v).startswith("12") for v in values[1:])
    wrong = digit.digit_options(lens, "", ["on"], None)
    assert wrong and all("✗" in o["label"] for o in wrong)
    sevens = digit.digit_options(lens, "true 7", [], None)
    assert sevens and all(lens.image(o["value"])[1] == 7 for o in sevens)
    assert len(digit.digit_options(lens, "", [], None)) <= 51


# Over HTTP: the real Dash dispatch, as a hostile client would use it.

@pytest.fixture(scope="module")
def client(test_settings, lens):
    from app import create_app

    app = create_app(test_settings, lens=lens)
    client = app.server.test_client()
    assert client.get("/").status_code == 200
    return client


def server_callbacks(dependencies: list[dict]) -> list[dict]:
    """The callbacks the server runs (the browser runs those with a clientside_function).

    The training job is left out: a request starts a background job, so it is tested on its own
    (test_training.py, test_celery.py) and in the browser.
    """
    return [d for d in dependencies if not d.get("clientside_function") and "training-result" not in d["output"]]


@pytest.fixture(scope="module")
def dependencies(client):
    """The callbacks the server runs, but the training job."""
    return server_callbacks(client.get("/_dash-dependencies").get_json())


# A box zoom's relayout event, as Plotly sends it.
ZOOM = {"xaxis.range[0]": 0.0, "xaxis.range[1]": 30.0, "yaxis.range[0]": 30.0, "yaxis.range[1]": 0.0}


READY = {"view": {"model": "any"}, "pass": "any"}  # the test-set pass, once ready


def _png_data_url() -> str:
    import base64
    import io

    from PIL import Image

    picture = np.zeros((60, 40), np.uint8)
    picture[10:50, 18:24] = 255  # a white "1" on black
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


PNG_DATA_URL = _png_data_url()


def valid_values(dependency) -> list:
    defaults = {"digit-dropdown.search_value": "", "misclassified-only.value": [], "digit-dropdown.value": 3,
                "random-digit-button.n_clicks": 1, "export-button.n_clicks": 1, "saliency-class.value": PREDICTED,
                "previous-layer-button.n_clicks": 0, "next-layer-button.n_clicks": 1, "selected-layer.data": "conv2",
                "scale-mode.value": "shared", "input-channel.value": views.SUMMARY_CHANNEL, "channel-page.value": 0,
                "activation-zoom.data": ZOOM, "kernel-zoom.data": ZOOM,
                "testpass-gate.data": {"view": {"model": "any"}}, "testset-poll.n_intervals": 1,
                "testset-ready.data": READY, "embed-poll.n_intervals": 1,
                "testset-gate.data": {"mode": "shares", "ready": READY}, "gallery-page.value": 0,
                "confusion-graph.clickData": {"points": [{"x": "5", "y": "3"}]},
                "embed-gate.data": {"layer": "dense", "colour": "true", "method": "pca", "ready": READY},
                "channel-gate.data": {"layer": "conv2", "sort": "mean", "class": 0, "ready": READY},
                "channel-bars.clickData": {"points": [{"x": "3"}]},
                "explain-target.value": PREDICTED, "explain-contrast.value": "none", "smoothgrad-samples.value": 8,
                "smoothgrad-sigma.value": 0.15, "ig-steps.value": 8, "ig-baseline.value": "black",
                "gradcam-layer.value": "conv2", "overlay-opacity.value": 0.7, "sanity-check.value": [],
                "checkpoint-view.data": {"model": "any"}, "explain-view.data": {"model": "any"},
                "cancel-training-button.n_clicks": 1,
                "training-run.data": None, "runs-poll.n_intervals": 1, "training-result.children": "",
                "run-message.children": "", "runs-signature.data": None, "shown-run.value": "served",
                "epoch-slider.value": 0, "timeline-steps.data": [], "compare-runs.value": [],
                "distribution-layer.value": "conv1", "delete-run-confirm.submit_n_clicks": 1,
                "first-run-poll.n_intervals": 1, "kernel-tab.value": WEIGHTS_TAB,
                "activation-title.children": "", "kernel-title.children": "", "digit-dropdown.options": [],
                "explain-gate.data": {"digit": 3, "view": {"model": "any"}},
                "drawing-pad.relayoutData": {"shapes": [{"path": "M40,40L150,40L90,170"}]}, "pad-undo.n_clicks": 0,
                "pad-clear.n_clicks": 0, "pad-label.value": 7, "pad-strokes.data": [],
                "image-upload-payload.data": {"contents": PNG_DATA_URL, "filename": "seven.png"},
                "compare-gate.data": {"compare": [], "digit": 3, "view": {"model": "any"}, "shown": "served"},
                "training-gate.data": {"shown": "served", "compare": [], "signature": None},
                "training-request.data": "0123456789abcdef0123456789abcdef", "model-key.data": "seed",
                "report-button.n_clicks": 1,
                "ab-gate.data": {"digit": 3, "view": {"model": "any"}, "layer": "conv2", "page": None,
                                 "mode": "image", "b": 5, "bcheck": "served"},
                "ab-image.search_value": "", "ab-image.value": 5,
                "workbench.hidden": False, "workbench-mode.value": "edit", "workbench-built.data": False,
                "cell-request.data": {"cell": "a:3,4,5", "image": 3, "layer": "conv2", "view": {"model": "any"},
                                      "effective": ["on"], "saliency": PREDICTED}}
    values = []
    for slot in dependency["inputs"] + dependency["state"]:
        values.append(0 if slot["id"].startswith("{") else defaults[f"{slot['id']}.{slot['property']}"])
    return values


def post(client, dependency, values, lens):
    payload = dash_requests.body(dependency, values, [info.name for info in lens.layers])
    return client.post("/_dash-update-component", data=json.dumps(payload), content_type="application/json")


def test_every_callback_answers_a_valid_request(client, dependencies, lens):
    assert len(dependencies) == 31
    for dependency in dependencies:
        response = post(client, dependency, valid_values(dependency), lens)
        assert response.status_code in (200, 204), (dependency["output"], response.status_code)


def test_posting_a_browser_side_callback_to_the_server_is_refused_cleanly(client, lens):
    browser_side = [d for d in client.get("/_dash-dependencies").get_json() if d.get("clientside_function")]
    assert len(browser_side) == 37
    for dependency in browser_side:
        values = [0] * (len(dependency["inputs"]) + len(dependency["state"]))
        response = post(client, dependency, values, lens)
        assert response.status_code == 400, (dependency["output"], response.status_code)
        assert response.get_json()["error"] == "Bad callback request: this callback runs in the browser."
        assert "Traceback" not in response.get_data(as_text=True)
        assert client.get("/").status_code == 200


def bad_value_cases(dependency):
    """Yield (description, values): valid values for the callback with one slot replaced by one bad value."""
    for position in range(len(dependency["inputs"]) + len(dependency["state"])):
        for bad in BAD_VALUES:
            values = valid_values(dependency)
            values[position] = bad
            yield f"{dependency['output']} slot {position} = {str(bad)[:30]}", values


def test_every_callback_survives_bad_values(client, dependencies, lens):
    for dependency in dependencies:
        for where, values in bad_value_cases(dependency):
            response = post(client, dependency, values, lens)
            text = response.get_data(as_text=True)
            assert response.status_code in (200, 204), where
            assert "Traceback" not in text and "<script>alert" not in text, where
        # The server still answers properly afterwards.
        assert post(client, dependency, valid_values(dependency), lens).status_code in (200, 204)


def test_an_out_of_range_digit_is_reported_in_the_page(client, dependencies, lens):
    dependency = next(d for d in dependencies if "activation-caption" in d["output"])
    response = post(client, dependency, [10**9, *valid_values(dependency)[1:]], lens)
    assert response.status_code == 200
    assert "Test image 1,000,000,000 does not exist" in response.get_data(as_text=True)


def test_an_unexpected_error_becomes_a_short_message_and_a_logged_traceback(test_settings, lens, caplog):
    from app import create_app
    from dashboard.lens import Lens

    class BrokenLens(Lens):
        """The real lens, except that computing tensors fails the way a bug would."""

        def tensors(self, index, score_class=-1, checkpoint=None):
            raise RuntimeError("simulated failure deep in the service")

    broken = BrokenLens(lens.data, lens.models)
    client = create_app(test_settings, lens=broken).server.test_client()
    client.get("/")
    dependency = next(d for d in client.get("/_dash-dependencies").get_json() if "activation-caption" in d["output"])
    with caplog.at_level("ERROR"):
        response = post(client, dependency, valid_values(dependency), lens)
    text = response.get_data(as_text=True)
    assert response.status_code == 200, text[:500]
    assert "Something went wrong while drawing this view" in text  # in the panel itself: nothing stale
    assert "Traceback" not in text and "simulated failure" not in text
    assert any("simulated failure" in record.getMessage() or (record.exc_info and "simulated failure" in
               str(record.exc_info[1])) for record in caplog.records)


def test_dense_weights_as_maps_follow_flatten_order(lens):
    """Each dense unit's 5x5 maps, applied to pool2's maps, must give that unit's activation."""
    info = lens.layer("dense")
    assert info.unflattened_input == (5, 5, 64) and views.input_channel_count(info) == 64
    bias = lens.weights()["dense"]["bias"]
    tensors = lens.tensors(9)
    pool2 = tensors.activations["pool2"].astype(np.float64)
    maps_per_channel = []
    for channel in range(64):
        figure, caption, _ = weights(lens, "dense", channel)
        z, where = np.asarray(figure.data[0].z), np.asarray(figure.data[0].customdata)
        maps = np.zeros((5, 5, 64))
        for r, c in np.argwhere(np.isfinite(z)):
            unit, row, col = where[r, c]
            maps[row, col, unit] = z[r, c]
        maps_per_channel.append(maps)
    assert "input channel 63" in caption and "full matrix" in caption
    # weights[h, w, channel, unit] rebuilt from what the page shows.
    shown = np.stack(maps_per_channel, axis=2)
    pre_activation = np.einsum("hwc,hwcu->u", pool2, shown) + bias
    np.testing.assert_allclose(np.maximum(pre_activation, 0), tensors.activations["dense"], rtol=1e-4, atol=1e-4)
    _, caption, _ = weights(lens, "conv2", views.FULL_MATRIX)
    assert "Input channel 'matrix' is not one of: summary" in caption


def test_explanations_panel(lens):
    from dashboard import attributions
    from dashboard.callbacks import explanations

    def gate(digit_index):
        return {"digit": digit_index, "view": {"model": lens.served.version}}

    grid, caption, curves, deletion_caption = explanations.explanations(
        lens, gate(6), TRUE, 9, 10, 0.15, 32, "blurred", "conv1", 0.5, ["on"])
    label = lens.image(6)[1]
    assert f"class-{label} logit minus the class-9 logit" in caption and "random weights" in caption
    assert len(grid.data) == 1 + 2 * 6  # the digit, then one tile per method and model: one axis
    assert np.asarray(grid.data[0].z).shape == (2 * 28 + 3, 6 * 28 + 5 * 3)  # trained and randomized rows
    assert all(trace.opacity == 0.5 for trace in grid.data[1:])
    ig = next(t for t in grid.data if t.name == "Integrated Gradients · trained model")
    expected = lens.explain(6, attributions.AttributionRequest(
        class_weights=attributions.class_score(10, label, 9), smoothgrad_samples=10, smoothgrad_sigma=0.15, ig_steps=32,
        ig_baseline="blurred"), grad_cam_layer="conv1", sanity_check=True, target=label).maps["Integrated Gradients"]
    np.testing.assert_array_equal(np.asarray(ig.z), np.asarray(expected, np.float32).reshape(28, 28))
    assert len(curves.data) == 6 and "area" in curves.data[0].name
    assert f"p(class {label})" in deletion_caption
    for bad, words in [((0, 0.15, 64), "SmoothGrad samples 0"), ((50, 2.0, 64), "noise σ 2.0"),
                       ((50, 0.15, 10**6), "IG steps"), ((50, None, 64), "must be a number")]:
        _, message, _, _ = explanations.explanations(lens, gate(6), PREDICTED, "none", *bad, "black", "conv2", 0.7, [])
        assert words in message, (bad, message)
    _, message, _, _ = explanations.explanations(lens, gate(6), PREDICTED, "none", 5, 0.1, 8, "black", "dense", 0.7, [])
    assert "Grad-CAM layer 'dense' is not one of" in message
    # Before the panel was ever on screen there is nothing to draw; a gate that is not one is refused.
    assert explanations.explanations(lens, None, PREDICTED, "none", 5, 0.1, 8, "black", "conv2", 0.7, []) == (
        no_update,) * 4
    _, message, _, _ = explanations.explanations(lens, {"digit": 6}, PREDICTED, "none", 5, 0.1, 8, "black", "conv2",
                                                 0.7, [])
    assert "Panel request must name digit, view" in message
