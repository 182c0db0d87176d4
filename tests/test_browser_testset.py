"""Real-browser test of the test-set section: the confusion matrix, a cell's gallery, a thumbnail picked."""

from __future__ import annotations

import numpy as np
import pytest
from dash.testing.wait import until
from selenium.webdriver.common.actions.action_builder import ActionBuilder

from dashboard import testset
from tests import test_browser
from tests.test_browser import (
    GRAPHS,
    TIMEOUT,
    _assert_clean,
    _fingerprints,
    _open_section,
    _screenshot,
    _settle,
    _summary_index,
    _text,
    _wait_for_changes,
    _wait_for_figure,
)

page = test_browser.page  # the fixture that serves the app and opens the page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning"),
]

# The page coordinates of a cell (row, column); on category axes c2p takes the category's position.
_JS_CATEGORY_CELL = test_browser._JS_CELL_POSITION


def _click_at(dash_duo, spot) -> None:
    # Plotly turns a click into a point only after the hover over it: move, let the hover settle, then click.
    pointer = ActionBuilder(dash_duo.driver)
    pointer.pointer_action.move_to_location(2, 2)
    pointer.pointer_action.move_to_location(int(spot["x"]), int(spot["y"]))
    pointer.pointer_action.pause(0.3)
    pointer.pointer_action.click()
    pointer.perform()


def test_confusion_cell_to_gallery_to_every_panel(page, lens):
    dash_duo = page
    _open_section(dash_duo, "testset")
    _wait_for_figure(dash_duo, "confusion-graph")
    dash_duo.wait_for_contains_text("#confusion-caption", "Most frequent confusion", timeout=TIMEOUT)
    predictions = lens.predictions()
    table = testset.confusion(lens.data.y_test, predictions.predicted, 10)
    off = table.counts * (1 - np.eye(10, dtype=np.int64))
    true_class, predicted_class = divmod(int(off.argmax()), 10)
    members = testset.cell_members(lens.data.y_test, predictions.predicted, predictions.confidence, true_class,
                                   predicted_class)
    dash_duo.driver.execute_script("document.getElementById('confusion-graph').scrollIntoView({block: 'center'});")
    _click_at(dash_duo, dash_duo.driver.execute_script(_JS_CATEGORY_CELL, "confusion-graph", true_class,
                                                       predicted_class))
    dash_duo.wait_for_contains_text("#gallery-caption", f"{len(members)} test digits true {true_class}, predicted "
                                    f"{predicted_class}", timeout=TIMEOUT)
    # The cell clicked is framed.
    frame = dash_duo.driver.execute_script(
        "var gd = document.querySelector('#confusion-graph .js-plotly-plot'); var s = gd.layout.shapes || [];"
        "return s.length ? [s[0].x0, s[0].y0] : null;")
    assert frame == [predicted_class - 0.5, true_class - 0.5], frame
    _settle(dash_duo)
    _screenshot(dash_duo, "testset-gallery")
    before = _fingerprints(dash_duo, [g for g in GRAPHS if g != "kernel-graph"])
    dash_duo.driver.execute_script("document.getElementById('gallery-graph').scrollIntoView({block: 'center'});")
    _click_at(dash_duo, dash_duo.driver.execute_script(_JS_CATEGORY_CELL, "gallery-graph", 13, 13))  # 1st tile
    # The most confident mistake of the cell becomes the picked digit: every digit panel follows.
    until(lambda: _summary_index(dash_duo) == int(members[0]), timeout=TIMEOUT,
          msg=f"the digit did not become #{members[0]}: {_text(dash_duo, '#digit-summary')!r}")
    _wait_for_changes(dash_duo, before, "picking a thumbnail")
    _settle(dash_duo)
    _assert_clean(dash_duo)


_JS_FIRST_POINT = """
var gd = document.querySelector('#embed-graph .js-plotly-plot');
if (!gd || !gd.data || !gd.data.length || !gd._fullLayout.xaxis) { return null; }
var t = gd.data[1], xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
return {index: t.customdata[0][0], x: box.left + xa._offset + xa.c2p(t.x[0]), y: box.top + ya._offset + ya.c2p(t.y[0]),
        px: t.x[0], py: t.y[0]};
"""
_JS_RING = """
var gd = document.querySelector('#embed-graph .js-plotly-plot');
var ring = gd.data[gd.data.length - 1];
return [ring.x[0], ring.y[0]];
"""


def test_a_point_of_the_embedding_map_picks_its_image(page, lens):
    dash_duo = page
    _open_section(dash_duo, "testset")
    dash_duo.driver.execute_script("document.getElementById('embed-graph').scrollIntoView({block: 'center'});")
    dash_duo.wait_for_contains_text("#embed-caption", "activations of dense", timeout=TIMEOUT)
    _settle(dash_duo)
    spot = until(lambda: dash_duo.driver.execute_script(_JS_FIRST_POINT), timeout=TIMEOUT, msg="no map drawn")
    assert spot["index"] != _summary_index(dash_duo)
    _screenshot(dash_duo, "testset-embedding")
    _click_at(dash_duo, spot)
    until(lambda: _summary_index(dash_duo) == spot["index"], timeout=TIMEOUT,
          msg=f"the digit did not become #{spot['index']}: {_text(dash_duo, '#digit-summary')!r}")
    # The ring moves to the picked image's point, in the browser.
    until(lambda: dash_duo.driver.execute_script(_JS_RING) == [spot["px"], spot["py"]], timeout=TIMEOUT,
          msg="the ring did not move to the picked point")
    _settle(dash_duo)
    _assert_clean(dash_duo)


def test_channel_insight_follows_the_layer_and_a_bar(page, lens):
    dash_duo = page
    card = next(c for c in dash_duo.find_elements(".layer-card") if c.text.startswith("conv2"))
    card.click()
    dash_duo.wait_for_text_to_equal("#activation-title", "Activations of conv2 (Conv2D)", timeout=TIMEOUT)
    _open_section(dash_duo, "testset")
    dash_duo.driver.execute_script("document.getElementById('channel-bars').scrollIntoView({block: 'center'});")
    dash_duo.wait_for_contains_text("#channel-bars-caption", "conv2: 64 of 64 channels shown", timeout=TIMEOUT)
    _settle(dash_duo)
    second = dash_duo.driver.execute_script(
        "var gd = document.querySelector('#channel-bars .js-plotly-plot'); return gd.data[0].x[1];")
    spot = dash_duo.driver.execute_script(_JS_CATEGORY_CELL.replace("ya.c2p(arguments[1])", "ya._length * 0.95"),
                                          "channel-bars", 0, 1)
    _click_at(dash_duo, spot)
    dash_duo.wait_for_contains_text("#channel-top-caption", f"Channel {second} of conv2", timeout=TIMEOUT)
    _settle(dash_duo)
    _screenshot(dash_duo, "testset-channel-insight")
    dash_duo.wait_for_contains_text("#channel-weights-caption", f"Filter {second} of conv2", timeout=TIMEOUT)
    until(lambda: f"channel {second} of conv2" in _text(dash_duo, "#channel-feature-caption").lower(), timeout=TIMEOUT,
          msg="the feature picture did not follow the bar")
    # Sorted by activation x gradient for a class: the class field appears, the bars follow.
    assert not dash_duo.find_element("#channel-class-field").is_displayed()
    dash_duo.select_dcc_dropdown("#channel-sort", index=1)
    until(lambda: dash_duo.find_element("#channel-class-field").is_displayed(), timeout=TIMEOUT,
          msg="the class field did not appear")
    dash_duo.wait_for_contains_text("#channel-bars-caption", "most for 0 first", timeout=TIMEOUT)
    # The layer cards count the channels dead on the test set, as the pass does.
    dead = testset.dead_channels(lens.test_set.test_pass().channel("conv2", "max"))
    expected = f"{len(dead)} of 64 dead" if len(dead) else ""
    until(lambda: dash_duo.driver.execute_script(
        "var e = document.getElementById(JSON.stringify({layer: 'conv2', type: 'dead-count'})); "
        "return e ? e.textContent : null;") == expected, timeout=TIMEOUT, msg="conv2's card did not count its dead")
    _assert_clean(dash_duo)


def test_a_tsne_map_replaces_the_pca_map_when_ready(page, lens):
    dash_duo = page
    _open_section(dash_duo, "testset")
    dash_duo.driver.execute_script("document.getElementById('embed-graph').scrollIntoView({block: 'center'});")
    dash_duo.wait_for_contains_text("#embed-caption", "PCA", timeout=TIMEOUT)
    dash_duo.driver.execute_script(
        "Array.from(document.querySelectorAll('#embed-method input')).find(i => i.value === 'tsne').click();")
    dash_duo.wait_for_contains_text("#embed-caption", "placed by t-SNE", timeout=180)
    _settle(dash_duo)
    _screenshot(dash_duo, "testset-tsne")
    _assert_clean(dash_duo)
