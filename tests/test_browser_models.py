"""Real-browser test of the model picker and the layer graph: the seed CNN beside users' models.

The app starts with the seed CNN and the folder of users' models (tests/user_models.write_model_folder);
the test switches to the residual CNN with the picker, clicks every node of its layer graph and checks every
panel shows that layer with the model's own numbers, then switches back. Screenshots go to artifacts/.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains

from tests.test_browser import (
    GRAPHS,
    TIMEOUT,
    _assert_clean,
    _click_option,
    _decode,
    _open_dropdown,
    _screenshot,
    _settle,
    _text,
    _wait_for_figure,
    serve,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning"),
]

_JS_NODES = """
var gd = document.querySelector('#layer-graph .js-plotly-plot');
if (!gd || !gd.data || gd.data.length < 3) { return null; }
return {names: Array.from(gd.data[1].customdata), x: Array.from(gd.data[1].x), ring: Array.from(gd.data[2].x)};
"""
_JS_FIRST_TRACE = """
var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
var t = gd && gd.data && gd.data[0];
if (!t) { return null; }
return JSON.stringify({type: t.type || null, z: t.z || null, y: t.y || null}, function (key, value) {
    return (value && ArrayBuffer.isView(value)) ? Array.from(value) : value;
});
"""


@pytest.fixture()
def models_page(dash_duo, test_settings, catalog):
    from app import create_app

    serve(dash_duo, create_app(test_settings, catalog=catalog))
    _settle(dash_duo)
    return dash_duo


def _pick_model(dash_duo, label_start: str, summary_start: str) -> None:
    _open_dropdown(dash_duo, "model-picker")
    _click_option(dash_duo, lambda text: text.startswith(label_start), f"for {label_start}")
    dash_duo.wait_for_contains_text("#digit-summary", summary_start, timeout=TIMEOUT)
    _settle(dash_duo)
    for graph in GRAPHS:
        _wait_for_figure(dash_duo, graph)


def _click_node(dash_duo, position: int) -> None:
    points = dash_duo.driver.find_elements("css selector", "#layer-graph .scatterlayer .trace:nth-child(2) .point")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'nearest', inline: 'center'});",
                                   points[position])
    ActionChains(dash_duo.driver).move_to_element(points[position]).click().perform()


def _shown_values(dash_duo, graph_id: str) -> np.ndarray:
    trace = json.loads(dash_duo.driver.execute_script(_JS_FIRST_TRACE, graph_id))
    values = trace["z"] if trace["type"] == "heatmap" else trace["y"]
    return _decode(values).astype(np.float64)


def test_switch_models_and_click_every_layer_of_the_graph(models_page, catalog):
    dash_duo = models_page
    residual = catalog.resolve("residual")
    # The seed CNN is a chain: cards, no graph.
    assert len(dash_duo.find_elements(".layer-card")) == len(catalog.default.layers)

    _pick_model(dash_duo, "Residual CNN", "Image #0:")
    assert "model=residual" in dash_duo.driver.current_url
    assert dash_duo.find_elements(".layer-card") == []
    nodes = until(lambda: dash_duo.driver.execute_script(_JS_NODES), timeout=TIMEOUT, msg="no layer graph")
    layers = {info.name: info for info in residual.layers}
    assert nodes["names"] == ["input", *layers]
    truth = residual.tensors(0).activations
    _screenshot(dash_duo, "models-residual-graph")

    for position, name in enumerate(nodes["names"][1:], start=1):
        info = layers[name]
        _click_node(dash_duo, position)
        dash_duo.wait_for_text_to_equal("#activation-title", f"Activations of {name} ({info.kind})", timeout=TIMEOUT)
        dash_duo.wait_for_text_to_equal("#kernel-title", f"Filters and weights of {name}", timeout=TIMEOUT)
        _settle(dash_duo)
        # The ring marks the clicked node; the activation panel holds the layer's true values.
        state = dash_duo.driver.execute_script(_JS_NODES)
        assert state["ring"] == [state["x"][position]], name
        shown = _shown_values(dash_duo, "activation-graph")
        expected = truth[name]
        assert np.nanmax(shown) == pytest.approx(float(expected.max()), rel=1e-4, abs=1e-6), name
        assert np.nanmin(shown) == pytest.approx(float(expected.min()), rel=1e-4, abs=1e-6), name
        assert "went wrong" not in _text(dash_duo, "#activation-caption") + _text(dash_duo, "#kernel-caption")
        if name == "residual":
            _screenshot(dash_duo, "models-residual-add")
    # The input node shows the model's input channel by channel: red, green and blue, as the first layer gets them.
    _click_node(dash_duo, 0)
    dash_duo.wait_for_text_to_equal("#activation-title", "The input, channel by channel", timeout=TIMEOUT)
    _settle(dash_duo)
    shown = _shown_values(dash_duo, "activation-graph")
    image = residual.image(0)[0]
    assert np.nanmax(shown) == pytest.approx(float(image.max())) and np.nanmin(shown) == pytest.approx(
        float(image.min()))
    assert "red, green and blue" in _text(dash_duo, "#activation-caption")
    # The stem conv reads RGB: its filters drawn as colour pictures by default.
    _click_node(dash_duo, nodes["names"].index("stem"))
    dash_duo.wait_for_contains_text("#kernel-caption", "drawn as colours", timeout=TIMEOUT)
    _settle(dash_duo)
    _screenshot(dash_duo, "models-residual-colour-filters")
    _assert_clean(dash_duo)

    _pick_model(dash_duo, "seed CNN", "Digit #0:")
    assert len(dash_duo.find_elements(".layer-card")) == len(catalog.default.layers)
    _assert_clean(dash_duo)


@pytest.fixture()
def upload_page(dash_duo, test_settings, lens, tmp_path):
    import dataclasses

    from app import create_app
    from dashboard.catalog import Catalog

    for name in ("model.keras", "model.json"):
        (tmp_path / name).write_bytes((test_settings.model_dir / name).read_bytes())
    settings = dataclasses.replace(test_settings, model_dir=tmp_path, allow_upload=True)
    serve(dash_duo, create_app(settings, catalog=Catalog.start(settings, lens)))
    _settle(dash_duo)
    return dash_duo


def test_upload_a_model_from_the_page(upload_page, user_model_folder):
    dash_duo = upload_page
    chooser = dash_duo.find_element("#model-upload input[type=file]")
    # A model with a Lambda layer: refused with a note that says why; the page stays on the seed CNN.
    chooser.send_keys(str(user_model_folder / "with-lambda.keras"))
    dash_duo.wait_for_contains_text("#upload-message", "it contains a Lambda layer", timeout=60)
    _screenshot(dash_duo, "models-upload-refused")
    dash_duo.find_element("#upload-message").click()
    dash_duo.wait_for_text_to_equal("#upload-message", "", timeout=TIMEOUT)
    # Still the seed CNN (the address names the model the page shows).
    assert "model=upload-" not in dash_duo.driver.current_url
    # A model that fits the data: the page opens on it.
    dash_duo.find_element("#model-upload input[type=file]").send_keys(str(user_model_folder / "sequential.keras"))
    until(lambda: "model=upload-" in dash_duo.driver.current_url, timeout=60, msg="the upload did not open")
    dash_duo.wait_for_text_to_equal("#activation-title", "Activations of conv_a (Conv2D)", timeout=TIMEOUT)
    dash_duo.wait_for_contains_text("#model-picker", "sequential", timeout=TIMEOUT)
    _settle(dash_duo)
    _screenshot(dash_duo, "models-upload-opened")
    _assert_clean(dash_duo)
