"""Real-browser test of the explanation drawer: click a conv cell, a pool cell, a dense unit and a weight-gradient
cell with the mouse; the drawer shows the right formula and the model's numbers; a link reopens it."""

from __future__ import annotations

import re
import urllib.parse

import numpy as np
import pytest
from dash.testing.wait import until
from selenium.webdriver.common.actions.action_builder import ActionBuilder

from tests.test_browser import (
    _JS_TRACE,
    TIMEOUT,
    _assert_clean,
    _click_choice,
    _decode,
    _screenshot,
    _settle,
    _text,
    _wait_for_figure,
    page,  # noqa: F401 - the fixture
)

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")]

_JS_POINT = """
var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
var xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
return {x: box.left + xa._offset + xa.c2p(arguments[1]), y: box.top + ya._offset + ya.c2p(arguments[2])};
"""


def _click_point(dash_duo, graph_id: str, x: float, y: float) -> None:
    """Hover the point at data coordinates (x, y) with the real mouse, wait for Plotly's label, click it."""
    graph = dash_duo.find_element(f"#{graph_id} .js-plotly-plot")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", graph)
    spot = dash_duo.driver.execute_script(_JS_POINT, graph_id, x, y)
    pointer = ActionBuilder(dash_duo.driver)  # viewport coordinates: no scrolling behind our back
    pointer.pointer_action.move_to_location(2, 2)
    pointer.pointer_action.move_to_location(int(spot["x"]), int(spot["y"]))
    pointer.perform()
    dash_duo.wait_for_element(f"#{graph_id} .hoverlayer .hovertext", timeout=TIMEOUT)
    click = ActionBuilder(dash_duo.driver)
    click.pointer_action.click()
    click.perform()


def _mosaic_spot(dash_duo, graph_id: str, wanted: tuple[int, int, int]) -> tuple[int, int]:
    """Return the (x, y) mosaic cell whose customdata is (channel, row, col)."""
    trace = dash_duo.driver.execute_script(_JS_TRACE, graph_id)
    custom = _decode(trace["customdata"]).astype(int)
    z = _decode(trace["z"])
    found = np.argwhere((custom == np.array(wanted)).all(axis=-1) & np.isfinite(z))
    assert len(found), f"{wanted} is not in #{graph_id}"
    row, col = found[0]
    return int(col), int(row)


def _open_drawer(dash_duo, title_start: str) -> str:
    until(lambda: _text(dash_duo, "#cell-title").startswith(title_start), timeout=TIMEOUT,
          msg=f"the drawer's title never became {title_start!r}: {_text(dash_duo, '#cell-title')!r}")
    _settle(dash_duo)
    assert "hidden" not in dash_duo.find_element("#cell-drawer").get_attribute("class")
    # MathJax typeset the formulas, and the recomputed number equals the model's.
    until(lambda: dash_duo.find_elements("#cell-body mjx-container"), timeout=TIMEOUT, msg="no typeset formula")
    assert dash_duo.find_elements("#cell-body .cell-verdict.ok"), _text(dash_duo, "#cell-body")[-300:]
    return _text(dash_duo, "#cell-title")


def _title_value(title: str) -> float:
    return float(title.rsplit("=", 1)[1])


def _pick_layer(dash_duo, name: str) -> None:
    names = [info.name for info in dash_duo.lens_layers]
    dash_duo.find_elements(".layer-card")[names.index(name)].click()
    dash_duo.wait_for_contains_text("#activation-title", f"Activations of {name}", timeout=TIMEOUT)
    _settle(dash_duo)
    _wait_for_figure(dash_duo, "activation-graph")


def test_click_cells_to_see_how_they_were_computed(page, lens):  # noqa: F811 - the fixture
    dash_duo = page
    dash_duo.lens_layers = lens.layers  # the cards, in order (the seed CNN shows no input card)
    tensors = lens.tensors(0)

    # A conv cell: its receptive window, the kernel slices, the products, the sum, the bias, ReLU.
    channel, row, col = 4, 9, 12
    x, y = _mosaic_spot(dash_duo, "activation-graph", (channel, row, col))
    _click_point(dash_duo, "activation-graph", x, y)
    title = _open_drawer(dash_duo, f"conv1 · channel {channel}, row {row}, col {col} =")
    assert _title_value(title) == pytest.approx(float(tensors.activations["conv1"][row, col, channel]), rel=1e-3,
                                                abs=1e-6)
    body = _text(dash_duo, "#cell-body")
    assert "the window starts at row 9, col 12" in body and "sum of products" in body
    _wait_for_figure(dash_duo, "cell-graph")  # the receptive field on the image
    assert "cell=a%3A4%2C9%2C12" in dash_duo.driver.current_url
    _screenshot(dash_duo, "cell-conv")

    # A new layer closes the old layer's cell; a pool cell names its window's winner.
    _pick_layer(dash_duo, "pool1")
    until(lambda: "hidden" in dash_duo.find_element("#cell-drawer").get_attribute("class"), timeout=TIMEOUT,
          msg="the drawer stayed open on another layer")
    x, y = _mosaic_spot(dash_duo, "activation-graph", (2, 5, 6))
    _click_point(dash_duo, "activation-graph", x, y)
    title = _open_drawer(dash_duo, "pool1 · channel 2, row 5, col 6 =")
    window = tensors.activations["conv1"][10:12, 12:14, 2]
    assert _title_value(title) == pytest.approx(float(window.max()), rel=1e-3, abs=1e-6)
    winner = dash_duo.find_element("#cell-body td.winner").text
    assert float(winner) == pytest.approx(float(window.max()), rel=1e-3, abs=1e-6)

    # A dense unit: its largest inputs × weights, the rest, the bias, the activation.
    _pick_layer(dash_duo, "dense")
    unit = int(np.argmax(tensors.activations["dense"]))
    _click_point(dash_duo, "activation-graph", unit, float(tensors.activations["dense"][unit]) / 2)
    title = _open_drawer(dash_duo, f"dense · unit {unit} =")
    assert _title_value(title) == pytest.approx(float(tensors.activations["dense"][unit]), rel=1e-3)
    body = _text(dash_duo, "#cell-body")
    assert "the other 1590 inputs" in body and "input × weight" not in title

    # A weight-gradient cell: ∂L/∂w as the sum over positions of input × δ, three maps side by side.
    _pick_layer(dash_duo, "conv2")
    _click_choice(dash_duo, "kernel-tab", "gradients")
    dash_duo.wait_for_contains_text("#kernel-title", "Weight gradients of conv2", timeout=TIMEOUT)
    _settle(dash_duo)
    _wait_for_figure(dash_duo, "kernel-graph")
    x, y = _mosaic_spot(dash_duo, "kernel-graph", (7, 1, 2))
    _click_point(dash_duo, "kernel-graph", x, y)
    title = _open_drawer(dash_duo, "∂L/∂w of conv2 · filter 7, input channel ")
    match = re.search(r"input channel (\d+), w\[1,2\] = (\S+)", title)
    assert match, title
    gradient = tensors.weight_gradients["conv2"]["kernel"]
    input_channel = int(match.group(1))
    assert input_channel == int(np.argmax(np.abs(gradient[1, 2, :, 7])))  # the norm view: the largest channel
    assert float(match.group(2)) == pytest.approx(float(gradient[1, 2, input_channel, 7]), rel=1e-3)
    assert dash_duo.driver.execute_script(
        "return document.querySelector('#cell-graph .js-plotly-plot').data.length") == 3
    _screenshot(dash_duo, "cell-gradient")

    # The link holds the open cell: a fresh load opens the drawer on it.
    link = dash_duo.driver.current_url
    assert "cell=g%3A7%2C1%2C2%3Bc%3Dall" in link, link
    dash_duo.driver.get(link)
    again = _open_drawer(dash_duo, "∂L/∂w of conv2 · filter 7, input channel ")
    assert again == title

    # Closed, the drawer leaves the page and the address.
    dash_duo.find_element("#cell-close").click()
    until(lambda: "hidden" in dash_duo.find_element("#cell-drawer").get_attribute("class"), timeout=TIMEOUT,
          msg="the drawer did not close")
    until(lambda: "cell=" not in urllib.parse.urlparse(dash_duo.driver.current_url).query, timeout=TIMEOUT,
          msg="the address kept the closed cell")
    # Back: the address holds the cell again, and the drawer reopens on it.
    dash_duo.driver.back()
    assert _open_drawer(dash_duo, "∂L/∂w of conv2 · filter 7, input channel ") == title
    assert "cell=g%3A7%2C1%2C2%3Bc%3Dall" in dash_duo.driver.current_url
    _assert_clean(dash_duo)
