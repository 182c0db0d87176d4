"""Issue 13 in a real browser (headless Chromium at 1280×800): strokes drawn on the pad with pointer events, a PNG
uploaded through the file input, what-if edits from the keyboard and a dragged rectangle, links opened in a fresh
browser, back and forward, two digits compared, and the report downloaded and opened offline."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from dash.testing.wait import until
from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from benchmarks.page import draw_stroke
from dashboard import ids, image_keys, pad_figures
from tests.test_browser import (
    ARTIFACTS,
    GRAPHS,
    TIMEOUT,
    _assert_clean,
    _click_choice,
    _click_option,
    _decode,
    _fingerprints,
    _open_dropdown,
    _open_section,
    _screenshot,
    _settle,
    _text,
    _wait_for_changes,
    _wait_for_figure,
    page,  # noqa: F401 - the fixture
)

pytestmark = [pytest.mark.browser]
# The graphs a new image changes (the filters tab shows weights, the same for every image).
IMAGE_GRAPHS = tuple(graph for graph in GRAPHS if graph != "kernel-graph")


def address(dash_duo) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(dash_duo.driver.current_url).query))


def open_workbench(dash_duo, button_text: str, tab: str | None = None) -> None:
    button = next(b for b in dash_duo.find_elements("button") if b.text.startswith(button_text))
    button.click()
    dash_duo.wait_for_element("#workbench:not([hidden])", timeout=TIMEOUT)
    if tab:
        _click_choice(dash_duo, "workbench-mode", tab)
    # The tabs are built when the workbench first opens: wait for the chosen one.
    dash_duo.wait_for_element("#workbench-body .workbench-tab:not([hidden])", timeout=TIMEOUT)


def stroke(dash_duo, selector: str, points: list[tuple[int, int]]) -> None:
    """Draw one stroke with the mouse through these points (pixels from the element's top-left corner)."""
    target = dash_duo.find_element(selector)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", target)
    draw_stroke(dash_duo.driver, target, points)


def component_prop(dash_duo, component_id: str, prop: str):
    """Return a component's property as Dash holds it in the page."""
    return dash_duo.driver.execute_script(
        "return window.store.getState().layout && (function find(node) {"
        "  if (!node || typeof node !== 'object') { return undefined; }"
        "  if (node.props && node.props.id === arguments[0]) { return node.props[arguments[1]]; }"
        "  var found; Object.values(node).some(function (child) { found = find(child); return found !== undefined; });"
        "  return found; })(window.store.getState().layout);".replace("arguments[0]", json.dumps(component_id))
        .replace("arguments[1]", json.dumps(prop)))


def picked_value(dash_duo):
    return component_prop(dash_duo, ids.DIGIT, "value")


def test_drawing_a_digit_updates_the_prediction_and_every_panel(page, lens):  # noqa: F811
    dash_duo = page
    before = _fingerprints(dash_duo, IMAGE_GRAPHS)
    open_workbench(dash_duo, "Draw")
    dash_duo.wait_for_element("#drawing-pad .js-plotly-plot .main-svg", timeout=TIMEOUT)
    stroke(dash_duo, "#drawing-pad .nsewdrag", [(60, 30), (95, 30), (130, 30), (120, 65), (110, 100), (100, 135),
                                                (90, 170)])
    until(lambda: _text(dash_duo, "#pad-note").startswith("Predicted"), timeout=TIMEOUT,
          msg=f"no prediction after a stroke: {_text(dash_duo, '#pad-note')!r}")
    _wait_for_changes(dash_duo, before, "a stroke")
    value = picked_value(dash_duo)
    # The browser picked the drawing by its strokes, written exactly as the server writes them.
    paths = component_prop(dash_duo, ids.PAD_STROKES, "data")
    assert value == image_keys.encode_drawing(pad_figures.strokes_from_paths(paths), size=pad_figures.PAD_SIZE,
                                              width=pad_figures.STROKE_WIDTH)
    tensors = lens.tensors(value)
    predicted = lens.class_names[tensors.predicted_class]
    assert _text(dash_duo, "#pad-note").startswith(f"Predicted {predicted} ({tensors.probabilities.max():.1%})")
    assert "1 stroke" in _text(dash_duo, "#pad-note")
    # Every panel shows the drawing: the input graph holds its pixels.
    shown = _decode(dash_duo.driver.execute_script(
        "return document.querySelector('#input-graph .js-plotly-plot').data[0].z;"))
    np.testing.assert_allclose(shown, lens.picture(value)[..., 0], atol=1e-6)
    assert "your drawing" in _text(dash_duo, "#digit-summary").lower()
    # A second stroke: the picture changes again, the note counts two.
    before = _fingerprints(dash_duo, IMAGE_GRAPHS)
    stroke(dash_duo, "#drawing-pad .nsewdrag", [(70, 100), (100, 100), (130, 100)])
    until(lambda: "2 strokes" in _text(dash_duo, "#pad-note"), timeout=TIMEOUT, msg="the second stroke was lost")
    _wait_for_changes(dash_duo, before, "a second stroke")
    assert picked_value(dash_duo) != value
    # The link names the drawing itself.
    assert address(dash_duo)["image"] == picked_value(dash_duo)
    _screenshot(dash_duo, "own-1-drawn")
    # Undo takes the bar away: the first drawing again.
    dash_duo.find_element("#pad-undo").click()
    until(lambda: picked_value(dash_duo) == value, timeout=TIMEOUT, msg="Undo did not restore the first drawing")
    _settle(dash_duo)
    _assert_clean(dash_duo)


def test_uploading_a_png_shows_it_in_every_panel(page, lens, tmp_path):  # noqa: F811
    dash_duo = page
    ink = np.zeros((90, 60), np.uint8)
    ink[10:80, 25:35] = 255
    paper = Image.fromarray(255 - ink)  # a dark "1" on white paper
    path = tmp_path / "one.png"
    paper.save(path)
    before = _fingerprints(dash_duo, IMAGE_GRAPHS)
    open_workbench(dash_duo, "Draw", "upload")
    dash_duo.find_element("#image-upload input[type=file]").send_keys(str(path))
    until(lambda: "one.png (60×90 pixels)" in _text(dash_duo, "#image-upload-note"), timeout=TIMEOUT,
          msg=f"the upload was not read: {_text(dash_duo, '#image-upload-note')!r}")
    _wait_for_changes(dash_duo, before, "an upload")
    value = picked_value(dash_duo)
    assert lens.resolve(value).name == "your upload"
    shown = _decode(dash_duo.driver.execute_script(
        "return document.querySelector('#input-graph .js-plotly-plot').data[0].z;"))
    assert shown.max() > 0.9 and shown[0, 0] == 0  # inverted: white ink on black, as MNIST's
    _screenshot(dash_duo, "own-2-uploaded")
    # Not an image: a message, and the picked image stays.
    text_file = tmp_path / "notes.png"
    text_file.write_text("not a picture")
    dash_duo.find_element("#image-upload input[type=file]").send_keys(str(text_file))
    until(lambda: "not a PNG or JPEG" in _text(dash_duo, "#image-upload-note"), timeout=TIMEOUT,
          msg=f"no message for a bad upload: {_text(dash_duo, '#image-upload-note')!r}")
    assert picked_value(dash_duo) == value
    _assert_clean(dash_duo)


def probability_ticks(dash_duo) -> list:
    return dash_duo.driver.execute_script(
        "return document.querySelector('#probability-graph .js-plotly-plot').data"
        ".filter(function (t) { return t.type === 'scatter'; }).map(function (t) { return t.y; });")


def test_what_if_edits_change_every_panel_and_mark_the_old_probabilities(page, lens):  # noqa: F811
    dash_duo = page
    before = _fingerprints(dash_duo, IMAGE_GRAPHS)
    open_workbench(dash_duo, "What if")
    thumb = dash_duo.find_element("#edit-rotate [role=slider]")
    for _ in range(3):
        thumb.send_keys(Keys.ARROW_RIGHT)  # 5° a step
    until(lambda: picked_value(dash_duo) == "0|r=15", timeout=TIMEOUT, msg=f"rotation not applied: "
          f"{picked_value(dash_duo)!r}")
    _wait_for_changes(dash_duo, before, "a rotation")
    until(lambda: len(probability_ticks(dash_duo)) == 1, timeout=TIMEOUT, msg="no before-the-edit ticks")
    # The ticks are where each class's probability was before the edit (the bars: after it).
    classes = dash_duo.driver.execute_script(
        "return document.querySelector('#probability-graph .js-plotly-plot').data[1].x;")
    before_edit = lens.tensors(0).probabilities[[lens.class_names.index(c) for c in classes]]
    np.testing.assert_allclose(_decode(probability_ticks(dash_duo)[0]), before_edit, atol=1e-6)
    assert "Before the edit" in _text(dash_duo, "#digit-summary")
    assert address(dash_duo)["image"] == "0|r=15"
    # Erase a rectangle by dragging on the picture.
    _wait_for_figure(dash_duo, "edit-erase-graph")
    before = _fingerprints(dash_duo, ("input-graph", "activation-graph"))
    stroke(dash_duo, "#edit-erase-graph .nsewdrag", [(40, 40), (100, 100), (160, 160)])
    until(lambda: "|r=15,e=" in str(picked_value(dash_duo)), timeout=TIMEOUT, msg="the rectangle was not erased")
    _wait_for_changes(dash_duo, before, "an erased rectangle")
    _, top, left, bottom, right = [None, *map(int, str(picked_value(dash_duo)).split("e=")[1].split("-"))]
    picture = lens.picture(picked_value(dash_duo))
    assert picture[top:bottom, left:right].max() == 0
    _screenshot(dash_duo, "own-3-what-if")
    # Undo the edits: the test image as it was, sliders back at zero.
    dash_duo.find_element("#edit-reset").click()
    until(lambda: picked_value(dash_duo) == 0, timeout=TIMEOUT, msg="Undo the edits did not restore the image")
    until(lambda: probability_ticks(dash_duo) == [], timeout=TIMEOUT, msg="ticks stayed after the undo")
    _assert_clean(dash_duo)


def fresh_browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,800"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return webdriver.Chrome(options=options)


def test_a_link_opens_the_same_view_in_a_fresh_browser_and_back_and_forward_step(page, lens):  # noqa: F811
    dash_duo = page
    start = dash_duo.driver.current_url
    # Three changes: the layer, the colour scale, an edited image.
    dash_duo.find_element("#next-layer-button").click()
    until(lambda: address(dash_duo).get("layer") == lens.layers[1].name, timeout=TIMEOUT, msg="layer not in link")
    _click_choice(dash_duo, "scale-mode", "per-channel")
    until(lambda: address(dash_duo).get("scale") == "per-channel", timeout=TIMEOUT, msg="scale not in link")
    open_workbench(dash_duo, "What if")
    dash_duo.find_element("#edit-shift-x [role=slider]").send_keys(Keys.ARROW_RIGHT)
    until(lambda: address(dash_duo).get("image") == "0|x=1", timeout=TIMEOUT, msg="edit not in link")
    _settle(dash_duo)
    link = dash_duo.driver.current_url
    shown = _fingerprints(dash_duo, IMAGE_GRAPHS)
    # Copy link shows the address.
    dash_duo.find_element("#copy-link").click()
    until(lambda: dash_duo.find_element("#copy-link-note").get_attribute("value") == link, timeout=TIMEOUT,
          msg="Copy link did not show the link")
    # A fresh browser opens the link on the same view, the same numbers in every panel.
    other = fresh_browser()
    try:
        other.get(link)
        until(lambda: other.execute_script("var g = document.querySelector('#activation-graph .js-plotly-plot');"
                                           "return g && g.data && g.data.length > 0;"), timeout=TIMEOUT,
              msg="the link's page never drew")
        until(lambda: "shifted 1 px right" in other.find_element(By.ID, "digit-summary").text, timeout=TIMEOUT,
              msg="the link's image is not the edited one")
        assert other.find_element(By.CSS_SELECTOR, "#scale-mode input[value='per-channel']").is_selected()
        assert lens.layers[1].name in other.find_element(By.ID, "activation-title").text
        z_here = dash_duo.driver.execute_script("return document.querySelector('#input-graph .js-plotly-plot')"
                                                ".data[0].z;")
        until(lambda: other.execute_script("var g = document.querySelector('#input-graph .js-plotly-plot');"
                                           "return g && g.data && g.data[0].z;") == z_here, timeout=TIMEOUT,
              msg="the input differs in the fresh browser")
        ARTIFACTS.mkdir(exist_ok=True)
        other.save_screenshot(str(ARTIFACTS / "own-4-link-there.png"))
        assert [e for e in other.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        other.quit()
    assert _fingerprints(dash_duo, IMAGE_GRAPHS) == shown
    # Back: the edit goes; back again: the colour scale; forward: it returns.
    dash_duo.driver.back()
    until(lambda: picked_value(dash_duo) == 0, timeout=TIMEOUT, msg="back did not undo the edit")
    dash_duo.driver.back()
    until(lambda: not dash_duo.find_element("#scale-mode input[value='per-channel']").is_selected(),
          timeout=TIMEOUT, msg="back did not undo the colour scale")
    assert lens.layers[1].name in _text(dash_duo, "#activation-title")
    dash_duo.driver.forward()
    until(lambda: dash_duo.find_element("#scale-mode input[value='per-channel']").is_selected(), timeout=TIMEOUT,
          msg="forward did not redo the colour scale")
    assert start != link
    _settle(dash_duo)
    _assert_clean(dash_duo)


def test_compare_two_digits_side_by_side(page, lens):  # noqa: F811
    dash_duo = page
    _open_section(dash_duo, "ab")
    for graph in ("ab-graph-a", "ab-graph-b", "ab-graph-difference", "ab-probabilities"):
        _wait_for_figure(dash_duo, graph)
    until(lambda: "changes most" in _text(dash_duo, "#ab-caption"), timeout=TIMEOUT, msg="no comparison")
    assert "B: digit #1" in _text(dash_duo, "#ab-caption")
    before = _fingerprints(dash_duo, ("ab-graph-b", "ab-graph-difference"))
    _open_dropdown(dash_duo, "ab-image")
    _click_option(dash_duo, lambda text: text.startswith("#2 "), "for digit #2")
    _wait_for_changes(dash_duo, before, "a new B")
    assert "B: digit #2" in _text(dash_duo, "#ab-caption") and address(dash_duo)["b"] == "2"
    # A − B holds the true difference of the two mosaics.
    figures = {g: dash_duo.driver.execute_script(f"return document.querySelector('#{g} .js-plotly-plot').data[0].z;")
               for g in ("ab-graph-a", "ab-graph-b", "ab-graph-difference")}
    a, b, d = (_decode(figures[g]) for g in ("ab-graph-a", "ab-graph-b", "ab-graph-difference"))
    np.testing.assert_allclose(d, a - b, atol=1e-5)
    _screenshot(dash_duo, "own-5-compare")
    # Swap: B becomes the picked digit.
    before = _fingerprints(dash_duo, IMAGE_GRAPHS)
    dash_duo.find_element("#ab-show-b").click()
    until(lambda: picked_value(dash_duo) == 2, timeout=TIMEOUT, msg="swap did not pick B")
    _wait_for_changes(dash_duo, before, "the swap")
    until(lambda: "B: digit #0" in _text(dash_duo, "#ab-caption"), timeout=TIMEOUT, msg="A did not become B")
    _settle(dash_duo)
    _assert_clean(dash_duo)


def test_the_report_downloads_and_opens_offline(page, lens):  # noqa: F811
    dash_duo = page
    address_now = dash_duo.driver.current_url
    dash_duo.find_element("#report-button").click()
    folder = Path(dash_duo.download_path)
    until(lambda: [p for p in folder.glob("*.html")], timeout=TIMEOUT, msg="no report was downloaded")
    report = next(folder.glob("*.html"))
    until(lambda: report.stat().st_size > 4_000_000, timeout=TIMEOUT, msg="the report is incomplete")
    assert "MB, built in" in _text(dash_duo, "#export-note")
    # Opened from disk (no server involved), every figure draws.
    dash_duo.driver.get(report.as_uri())
    until(lambda: len(dash_duo.driver.find_elements(By.CSS_SELECTOR, ".report-figure .main-svg")) >= 6,
          timeout=TIMEOUT, msg="the report's figures did not draw")
    headings = [e.text for e in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".report-figure h2")]
    assert headings[:3] == ["Input", "Saliency", "Class probabilities"]
    assert any("conv1" in h for h in headings)
    # The report links back to the view it shows (the page's address, which holds the view).
    assert dash_duo.driver.find_element(By.CSS_SELECTOR, ".link a").get_attribute("href") == address_now
    time.sleep(0.2)
    _screenshot(dash_duo, "own-6-report")
    assert [e for e in dash_duo.driver.get_log("browser") if e["level"] == "SEVERE"] == []
