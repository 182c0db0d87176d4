"""Real-browser tests: the page in headless Chromium through dash[testing]'s ``dash_duo``.

Run with:  .venv/bin/python -m pytest tests/test_browser.py --headless -x -q

Every test builds the app around the session's trained ``lens`` (no training per test),
drives the page like a user would, checks what the page shows against the model's own
numbers, and ends by asserting that the browser console holds no errors.

Notes on Dash 4's components, read from the rendered DOM:
* dcc.Dropdown is a button ``#<id>`` that opens a Radix popover ``.dash-dropdown-content``
  holding a search box ``input.dash-dropdown-search`` (when searchable) and options
  ``.dash-dropdown-option`` (labels with the text in ``.dash-options-list-option-text``).
* dcc.RadioItems / dcc.Checklist are ``#<id>`` lists of ``label.dash-options-list-option``
  holding ``input[value=...]``.
* Dict ids render as JSON strings in the ``id`` attribute, so layer cards are found by class.

The server runs with Dash's dev tools on (debug, props check), so a callback error or a bad
prop would show up in the dev tools; ``_assert_clean`` checks both them and the console.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from dash.testing import errors as dash_errors
from dash.testing.wait import until
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

pytestmark = [
    pytest.mark.browser,
    # Selenium 4.2 calls urllib3's deprecated HTTPResponse.getheader on every WebDriver command; noise, not ours.
    pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning"),
]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"
TIMEOUT = 20  # seconds; generous for a loaded CI machine, never slept through.
VIEWPORT = (1280, 800)
GRAPHS = ("input-graph", "probability-graph", "saliency-graph", "activation-graph", "kernel-graph")
LAYER_GRAPHS = ("activation-graph", "kernel-graph")

# JavaScript helpers, evaluated in the page.
_JS_PLAIN = """
function plain(v) {
    if (v && ArrayBuffer.isView(v)) { return Array.from(v); }
    if (Array.isArray(v)) { return v.map(plain); }
    return v;
}
"""
_JS_FINGERPRINT = """
var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !gd.data || !gd.layout) { return null; }
var notes = (gd.layout.annotations || []).map(function (a) { return a.text; });
return JSON.stringify({data: gd.data, notes: notes}, function (key, value) {
    return (value && ArrayBuffer.isView(value)) ? Array.from(value) : value;
});
"""
_JS_TRACE = _JS_PLAIN + """
var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !gd.data || !gd.data.length) { return null; }
var t = gd.data[0];
return {type: t.type || null, z: plain(t.z), customdata: plain(t.customdata),
        hovertemplate: t.hovertemplate || null};
"""
_JS_CELL_POSITION = """
var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
var xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
return {x: box.left + xa._offset + xa.c2p(arguments[2]), y: box.top + ya._offset + ya.c2p(arguments[1])};
"""


_JS_AXIS_TEXT_PROBLEMS = """
var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
var svg = gd.querySelector('.main-svg').getBoundingClientRect();
function box(el) { var r = el.getBoundingClientRect(); return {l: r.left, r: r.right, t: r.top, b: r.bottom}; }
function texts(selector) {
    return Array.from(gd.querySelectorAll(selector)).filter(function (el) { return el.textContent.trim(); });
}
var problems = [];
texts('.xtick text, .ytick text, .g-xtitle text, .g-ytitle text').forEach(function (el) {
    var b = box(el);
    if (b.l < svg.left - 1 || b.r > svg.right + 1 || b.t < svg.top - 1 || b.b > svg.bottom + 1) {
        problems.push('clipped: ' + el.textContent);
    }
});
[['.g-xtitle text', '.xtick text'], ['.g-ytitle text', '.ytick text']].forEach(function (pair) {
    texts(pair[0]).forEach(function (title) {
        var t = box(title);
        texts(pair[1]).forEach(function (tick) {
            var k = box(tick);
            if (t.l < k.r - 1 && k.l < t.r - 1 && t.t < k.b - 1 && k.t < t.b - 1) {
                problems.push('title ' + title.textContent + ' overlaps tick ' + tick.textContent);
            }
        });
    });
});
return problems;
"""


# ---------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(dash_duo, app) -> None:
    """Serve the app with Dash's dev tools on a free port (not 8050: other people may be running the app), open
    it at 1280x800 and wait until it shows its first image."""
    dash_duo.start_server(app, port=_free_port(), debug=True, use_reloader=False, dev_tools_hot_reload=False)
    _set_viewport(dash_duo, *VIEWPORT)
    dash_duo.wait_for_contains_text("#digit-summary", "Digit #0:", timeout=TIMEOUT)


@pytest.fixture()
def page(dash_duo, test_settings, lens):
    """The app served on a free port (not 8050: other people may be running the app) and loaded."""
    from app import create_app

    serve(dash_duo, create_app(test_settings, lens=lens))
    dash_duo.wait_for_contains_text("#activation-title", "Activations of conv1", timeout=TIMEOUT)
    _settle(dash_duo)
    for graph in GRAPHS:
        _wait_for_figure(dash_duo, graph)
    return dash_duo


def _set_viewport(dash_duo, width: int, height: int) -> None:
    """Make the page's viewport exactly width x height CSS pixels (a window size would include borders)."""
    dash_duo.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    assert dash_duo.driver.execute_script("return [window.innerWidth, window.innerHeight];") == [width, height]


_JS_ON_SCREEN = """
var r = document.querySelector(arguments[0]).getBoundingClientRect();
return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, scrollY: window.scrollY,
        width: window.innerWidth, height: window.innerHeight};
"""


def _on_screen(dash_duo, selector: str) -> bool:
    """Return whether the element lies wholly inside the viewport as it is scrolled now."""
    box = dash_duo.driver.execute_script(_JS_ON_SCREEN, selector)
    return box["top"] >= 0 and box["left"] >= 0 and box["bottom"] <= box["height"] and box["right"] <= box["width"]


# Records the callback requests the page sends (their outputs), so a test can see which panels computed.
_JS_RECORD_REQUESTS = """
if (!window.__sent) {
    window.__sent = [];
    var original = window.fetch;
    window.fetch = function (url, options) {
        if (String(url).indexOf('_dash-update-component') >= 0 && options && options.body) {
            var body = JSON.parse(options.body);
            if (!(body.changedPropIds || []).every(function (p) { return /n_intervals$/.test(p); })) {
                window.__sent.push(body.output);
            }
        }
        return original.apply(this, arguments);
    };
}
window.__sent.length = 0;
"""


def _record_requests(dash_duo) -> None:
    """Start (or restart) recording the callback requests the page sends, timer polls left out."""
    dash_duo.driver.execute_script(_JS_RECORD_REQUESTS)


def _requests_sent(dash_duo) -> list[str]:
    return dash_duo.driver.execute_script("return window.__sent.slice();")


def _open_section(dash_duo, name: str) -> None:
    """Open a section below the lens with its header link (which also scrolls to it)."""
    toggle = f"#{name}-section .section-toggle"
    if dash_duo.find_element(toggle).get_attribute("aria-expanded") != "true":
        link = next(e for e in dash_duo.find_elements(".section-link") if e.get_attribute("id") ==
                    json.dumps({"section": name, "type": "section-link"}, separators=(",", ":")))
        link.click()
    until(lambda: dash_duo.find_element(toggle).get_attribute("aria-expanded") == "true", timeout=TIMEOUT,
          msg=f"the {name} section did not open")


def _in_document(dash_duo, element_id: str) -> bool:
    return dash_duo.driver.execute_script("return document.getElementById(arguments[0]) !== null;", element_id)


def _settle(dash_duo) -> None:
    """Wait until the renderer has no callback in flight."""
    until(dash_duo._wait_for_callbacks, timeout=TIMEOUT, msg="callbacks still pending")


def _completed(dash_duo) -> int:
    """Return how many callbacks the renderer has completed so far."""
    return dash_duo.driver.execute_script("return window.store.getState().callbacks.completed;")


def _click_and_settle(dash_duo, selector: str) -> None:
    """Click, wait until at least one callback has completed because of it, then until none is pending.

    For clicks that should leave the page as it is: waiting for the round trip makes "nothing
    changed" a real observation rather than a look taken before the server answered.
    """
    done = _completed(dash_duo)
    dash_duo.find_element(selector).click()
    until(lambda: _completed(dash_duo) > done, timeout=TIMEOUT, msg=f"clicking {selector} ran no callback")
    _settle(dash_duo)


def _fingerprint(dash_duo, graph_id: str) -> str | None:
    """Return the graph's data and annotation texts as one JSON string (None before it has drawn)."""
    return dash_duo.driver.execute_script(_JS_FINGERPRINT, graph_id)


def _fingerprints(dash_duo, graph_ids) -> dict[str, str | None]:
    return {graph_id: _fingerprint(dash_duo, graph_id) for graph_id in graph_ids}


def _wait_for_figure(dash_duo, graph_id: str) -> None:
    """Wait until the graph has a plotly plot with a drawn SVG and at least one trace or annotation."""
    dash_duo.wait_for_element(f"#{graph_id} .js-plotly-plot .main-svg", timeout=TIMEOUT)
    until(lambda: _fingerprint(dash_duo, graph_id) not in (None, '{"data":[],"notes":[]}'), timeout=TIMEOUT,
          msg=f"#{graph_id} never drew a figure")


def _wait_for_changes(dash_duo, before: dict[str, str | None], what: str) -> None:
    """Wait until every graph in `before` shows a different figure than it did, and is drawn."""
    def changed():
        return [g for g, fp in before.items() if _fingerprint(dash_duo, g) == fp]

    until(lambda: not changed(), timeout=TIMEOUT, msg=f"{what}: these graphs did not update: {changed()}")
    for graph_id in before:
        dash_duo.wait_for_element(f"#{graph_id} .js-plotly-plot .main-svg", timeout=TIMEOUT)


def _text(dash_duo, selector: str) -> str:
    return dash_duo.find_element(selector).text


def _open_dropdown(dash_duo, dropdown_id: str):
    dash_duo.find_element(f"#{dropdown_id}").click()
    return dash_duo.wait_for_element(".dash-dropdown-content[data-state='open'] .dash-dropdown-options",
                                     timeout=TIMEOUT)


def _option_texts(dash_duo) -> list[str]:
    return [o.text for o in dash_duo.find_elements(".dash-dropdown-content .dash-dropdown-option")]


def _click_option(dash_duo, predicate, what: str) -> str:
    """Click the first option of the open dropdown whose text satisfies predicate; return its text."""
    def find():
        for option in dash_duo.find_elements(".dash-dropdown-content .dash-dropdown-option"):
            if predicate(option.text):
                return option
        return None

    option = until(find, timeout=TIMEOUT, msg=f"no dropdown option {what}; options: {_option_texts(dash_duo)}")
    text = option.text
    option.click()
    return text


def _click_choice(dash_duo, component_id: str, value: str) -> None:
    """Click the option of a RadioItems or Checklist that carries this value."""
    dash_duo.find_element(f"#{component_id} input[value='{value}']").find_element(By.XPATH, "./ancestor::label").click()


def _summary_index(dash_duo) -> int:
    match = re.match(r"Digit #(\d+):", _text(dash_duo, "#digit-summary"))
    assert match, f"unexpected digit summary {_text(dash_duo, '#digit-summary')!r}"
    return int(match.group(1))


def _decode(value) -> np.ndarray:
    """Return a trace array as NumPy: a plotly typed-array spec {dtype, bdata, shape} or nested lists."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]).newbyteorder("<"))
        shape = value.get("shape")
        if isinstance(shape, str):
            shape = [int(s) for s in shape.split(",")]
        return flat.reshape(shape) if shape else flat
    return np.array(value, dtype=np.float64)  # null (NaN gutters, JSON-encoded) becomes nan.


def _react_dev_warning_of_dcc_markdown(entry: dict) -> bool:
    """Return whether a console entry is React's development-build warning about dcc.Markdown's own code (its
    async chunk's defaultProps, and a state update it makes while mounting MathJax). The tests serve the page with
    Dash's dev tools, hence React's development build; the production page (app.py) logs neither, which the
    benchmarks check in a page served as users get it (benchmarks/cells.py)."""
    message = entry.get("message", "")
    return "dcc/async-markdown.js" in message and '"Warning: ' in message and (
        "defaultProps" in message or "state update on a component that hasn't mounted" in message)


def _assert_clean(dash_duo) -> None:
    """The console has no SEVERE entries and Dash's dev tools report no error."""
    logs = [entry for entry in dash_duo.get_logs() if not _react_dev_warning_of_dcc_markdown(entry)]
    assert logs == [], f"browser console errors: {json.dumps(logs, indent=1)}"
    assert dash_duo.find_elements(".test-devtools-error-count") == [], "Dash dev tools report errors"
    assert _text(dash_duo, "#error-banner") == "", f"error banner shown: {_text(dash_duo, '#error-banner')!r}"


def _screenshot(dash_duo, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert dash_duo.driver.save_screenshot(str(path)), f"could not save {path}"
    assert path.stat().st_size > 10_000, f"{path} is suspiciously small"
    return path


# ------------------------------------------------------------------ tests


def test_choosing_a_digit_from_the_dropdown_updates_every_digit_view(page, lens):
    dash_duo = page
    before = _fingerprints(dash_duo, GRAPHS)

    _open_dropdown(dash_duo, "digit-dropdown")
    search = dash_duo.wait_for_element(".dash-dropdown-content input.dash-dropdown-search", timeout=TIMEOUT)
    search.send_keys("17")
    # The options come from the server's search callback: digit 17 itself, then indices starting with 17.
    chosen = _click_option(dash_duo, lambda text: text.startswith("#17 ·"), "for digit #17")

    expected = lens.summary(17)
    assert chosen.startswith(f"#17 · true {expected.label} · pred {expected.predicted} ")
    dash_duo.wait_for_contains_text("#digit-summary",
                                    f"Digit #17: true label {expected.label}, predicted {expected.predicted} with",
                                    timeout=TIMEOUT)
    dash_duo.wait_for_contains_text("#digit-dropdown .dash-dropdown-value", "#17 ·", timeout=TIMEOUT)
    digit_views = [g for g in GRAPHS if g != "kernel-graph"]
    _wait_for_changes(dash_duo, {g: before[g] for g in digit_views}, "choosing digit 17")
    _settle(dash_duo)
    # The filters (the kernel panel's first tab) do not depend on the digit: that graph was not redrawn.
    assert _fingerprint(dash_duo, "kernel-graph") == before["kernel-graph"]

    # The input graph now shows digit 17's pixels, not digit 0's.
    shown = _decode(dash_duo.driver.execute_script(_JS_TRACE, "input-graph")["z"])
    np.testing.assert_allclose(shown, lens.image(17)[0][..., 0], rtol=0, atol=1e-6)
    _assert_clean(dash_duo)


def test_click_through_every_layer_and_step_with_next_and_previous(page, lens):
    dash_duo = page
    names = [info.name for info in lens.layers]
    cards = dash_duo.find_elements(".layer-card")
    assert [c.find_element(By.CSS_SELECTOR, ".card-name").text for c in cards] == names

    def check_selected(name: str, before: dict | None) -> None:
        info = lens.layer(name)
        dash_duo.wait_for_text_to_equal("#activation-title", f"Activations of {name} ({info.kind})", timeout=TIMEOUT)
        dash_duo.wait_for_text_to_equal("#kernel-title", f"Filters and weights of {name}", timeout=TIMEOUT)
        if before is not None:
            _wait_for_changes(dash_duo, before, f"selecting {name}")
        _settle(dash_duo)
        for graph_id in LAYER_GRAPHS:
            assert dash_duo.find_elements(f"#{graph_id} .js-plotly-plot .main-svg"), f"#{graph_id} not drawn"
        selected = [c.find_element(By.CSS_SELECTOR, ".card-name").text
                    for c in dash_duo.find_elements(".layer-card.selected")]
        assert selected == [name]
        channel_field = dash_duo.find_element("#input-channel-field").get_attribute("class").split()
        # conv2's kernels and dense's weights (fed by pool2's 64 maps) can be sliced by input channel.
        several_inputs = name in ("conv2", "dense")
        assert ("hidden" not in channel_field) == several_inputs, (name, channel_field)

    # Move off conv1 first so that clicking its card is a real change.
    before = _fingerprints(dash_duo, LAYER_GRAPHS)
    dash_duo.find_element("#next-layer-button").click()
    check_selected(names[1], before)

    visited = [names[1]]
    for position, name in enumerate(names):
        before = _fingerprints(dash_duo, LAYER_GRAPHS) if name != visited[-1] else None
        dash_duo.find_elements(".layer-card")[position].click()
        check_selected(name, before)
        visited.append(name)
    assert visited[-1] == names[-1]

    # At the last layer, Next stays put; then Previous walks back to the first layer, where it stays.
    _click_and_settle(dash_duo, "#next-layer-button")
    check_selected(names[-1], None)
    for name in reversed(names[:-1]):
        before = _fingerprints(dash_duo, LAYER_GRAPHS)
        dash_duo.find_element("#previous-layer-button").click()
        check_selected(name, before)
    _click_and_settle(dash_duo, "#previous-layer-button")
    check_selected(names[0], None)

    # And Next again from the first layer.
    before = _fingerprints(dash_duo, LAYER_GRAPHS)
    dash_duo.find_element("#next-layer-button").click()
    check_selected(names[1], before)

    # The gradients tab: the same panel shows ∂L/∂w of the selected layer, and follows the layer too.
    _click_choice(dash_duo, "kernel-tab", "gradients")
    dash_duo.wait_for_text_to_equal("#kernel-title", f"Weight gradients of {names[1]} for this digit", timeout=TIMEOUT)
    before = _fingerprints(dash_duo, LAYER_GRAPHS)
    dash_duo.find_elements(".layer-card")[2].click()
    dash_duo.wait_for_text_to_equal("#kernel-title", f"Weight gradients of {names[2]} for this digit", timeout=TIMEOUT)
    _wait_for_changes(dash_duo, before, f"selecting {names[2]} on the gradients tab")
    _settle(dash_duo)
    shown = _decode(dash_duo.driver.execute_script(_JS_TRACE, "kernel-graph")["z"])
    kernel_gradient = lens.tensors(0).weight_gradients[names[2]]["kernel"]
    norms = np.sqrt((kernel_gradient.astype(np.float64) ** 2).sum(axis=2))  # the L2 norm over input channels
    assert np.nansum(shown) == pytest.approx(norms.sum(), rel=1e-4)

    _screenshot(dash_duo, "click_through_layers")
    _assert_clean(dash_duo)


def test_the_first_screen_is_the_lens(page, lens):
    """At 1280x800, without scrolling: the digit picker, the layer strip, the input digit and the selected
    layer's activations with its filters beside them; a layer click changes the heatmap on screen and sends one
    request; a digit change sends one for the digit's views and one for the layer's, nothing for what is hidden."""
    dash_duo = page
    for selector in ("#digit-dropdown", ".architecture", "#input-graph", "#saliency-graph", "#probability-graph",
                     "#activation-graph .main-svg", "#kernel-graph .main-svg", "#kernel-tab"):
        assert _on_screen(dash_duo, selector), f"{selector} is not on the first screen: " \
                                               f"{dash_duo.driver.execute_script(_JS_ON_SCREEN, selector)}"
    _record_requests(dash_duo)
    before = _fingerprints(dash_duo, LAYER_GRAPHS)
    dash_duo.find_elements(".layer-card")[2].click()
    _wait_for_changes(dash_duo, before, "clicking conv2's card")
    _settle(dash_duo)
    assert dash_duo.driver.execute_script("return window.scrollY;") == 0
    assert _on_screen(dash_duo, "#activation-graph .main-svg") and _on_screen(dash_duo, ".layer-card.selected")
    sent = _requests_sent(dash_duo)
    assert len(sent) == 1 and "activation-figure.data" in sent[0] and "kernel-figure.data" in sent[0], sent
    _screenshot(dash_duo, "first_screen_1280x800_conv2")

    _record_requests(dash_duo)
    before = _fingerprints(dash_duo, ("input-graph", "activation-graph"))
    dash_duo.find_element("#random-digit-button").click()
    _wait_for_changes(dash_duo, before, "a random digit")
    _settle(dash_duo)
    sent = _requests_sent(dash_duo)
    assert len(sent) == 2, sent
    assert any("input-graph.figure" in output for output in sent) and any("activation-figure" in o for o in sent)
    assert not any(word in output for output in sent for word in ("explanation", "curves", "compare", "run-table"))

    _set_viewport(dash_duo, 1920, 1080)
    for selector in ("#digit-dropdown", ".architecture", "#input-graph", "#activation-graph .main-svg",
                     "#kernel-graph .main-svg"):
        assert _on_screen(dash_duo, selector), selector
    _screenshot(dash_duo, "first_screen_1920x1080")
    _assert_clean(dash_duo)


def test_random_digit_and_only_misclassified(page, lens):
    dash_duo = page
    misclassified = {int(i) for i in lens.predictions().misclassified}
    assert misclassified, "the test model classifies every digit correctly; nothing to check"

    def click_random_until_new(previous: int) -> int:
        # A random draw may repeat the current digit, so allow a few clicks before calling it broken.
        for _ in range(4):
            dash_duo.find_element("#random-digit-button").click()
            try:
                until(lambda: _summary_index(dash_duo) != previous, timeout=5)
            except dash_errors.TestingTimeoutError:
                continue
            _settle(dash_duo)
            return _summary_index(dash_duo)
        pytest.fail(f"the Random digit button never changed digit #{previous}")

    before = _fingerprints(dash_duo, ["input-graph", "activation-graph"])
    first = click_random_until_new(0)
    _wait_for_changes(dash_duo, before, "random digit")
    dash_duo.wait_for_contains_text("#digit-dropdown .dash-dropdown-value", f"#{first} ·", timeout=TIMEOUT)

    _click_choice(dash_duo, "misclassified-only", "on")
    assert dash_duo.find_element("#misclassified-only input[value='on']").is_selected()
    current = first
    for _ in range(3):
        current = click_random_until_new(current)
        summary = _text(dash_duo, "#digit-summary")
        assert "(wrong)" in summary, summary
        assert current in misclassified, summary
        expected = lens.summary(current)
        assert f"true label {expected.label}, predicted {expected.predicted} " in summary

    # The switch also restricts the dropdown's options to misclassified digits (plus the current one).
    _open_dropdown(dash_duo, "digit-dropdown")
    until(lambda: len(_option_texts(dash_duo)) > 1, timeout=TIMEOUT, msg="dropdown has no options")
    texts = _option_texts(dash_duo)
    indices = [int(re.match(r"#(\d+) ·", t).group(1)) for t in texts]
    assert set(indices) <= misclassified, texts
    assert all(t.endswith("✗") for t in texts), texts
    dash_duo.find_element(".dash-dropdown-content input.dash-dropdown-search").send_keys(Keys.ESCAPE)
    dash_duo.wait_for_no_elements(".dash-dropdown-content", timeout=TIMEOUT)
    _assert_clean(dash_duo)


def test_scale_toggle_and_saliency_class(page, lens):
    dash_duo = page
    colourbar = ("return document.querySelector('#' + arguments[0] + ' .js-plotly-plot')"
                 ".data[0].colorbar.title.text;")
    assert dash_duo.driver.execute_script(colourbar, "activation-graph") == "activation"
    before = _fingerprints(dash_duo, LAYER_GRAPHS)
    _click_choice(dash_duo, "scale-mode", "per-channel")
    _wait_for_changes(dash_duo, before, "per-channel scale")  # both layer panels are recoloured
    _settle(dash_duo)
    assert dash_duo.driver.execute_script(colourbar, "activation-graph") == "share of tile's max"
    assert dash_duo.driver.execute_script(colourbar, "kernel-graph") == "share of tile's max |value|"

    # Per channel, colours are shares of each tile's peak, but hover (customdata[3]) keeps the true value.
    trace = dash_duo.driver.execute_script(_JS_TRACE, "activation-graph")
    z, custom = _decode(trace["z"]), _decode(trace["customdata"])
    activation = lens.tensors(0).activations["conv1"]
    cells = np.isfinite(z)
    channel, row, col = (custom[..., k][cells].astype(int) for k in range(3))
    np.testing.assert_array_equal(custom[..., 3][cells], activation[row, col, channel])
    assert np.nanmax(z) <= 1.0 + 1e-6
    assert "%{customdata[3]" in trace["hovertemplate"]

    before = _fingerprints(dash_duo, ["activation-graph"])
    _click_choice(dash_duo, "scale-mode", "shared")
    _wait_for_changes(dash_duo, before, "shared scale")
    trace = dash_duo.driver.execute_script(_JS_TRACE, "activation-graph")
    z, custom = _decode(trace["z"]), _decode(trace["customdata"])
    cells = np.isfinite(z)
    channel, row, col = (custom[..., k][cells].astype(int) for k in range(3))
    np.testing.assert_array_equal(z[cells], activation[row, col, channel])  # back to the true values

    # Saliency of a class other than the predicted one.
    predicted = lens.summary(0).predicted
    target = (predicted + 3) % 10
    dash_duo.wait_for_contains_text("#saliency-caption", f"(class-{predicted} logit)", timeout=TIMEOUT)
    before = _fingerprints(dash_duo, ["saliency-graph"])
    _open_dropdown(dash_duo, "saliency-class")
    _click_option(dash_duo, lambda text: text == f"class {target}", f"'class {target}'")
    dash_duo.wait_for_contains_text("#saliency-caption", f"(class-{target} logit)", timeout=TIMEOUT)
    dash_duo.wait_for_contains_text("#saliency-class .dash-dropdown-value", f"class {target}", timeout=TIMEOUT)
    _wait_for_changes(dash_duo, before, f"saliency of class {target}")
    _settle(dash_duo)
    shown = _decode(dash_duo.driver.execute_script(_JS_TRACE, "saliency-graph")["z"])
    expected = lens.tensors(0, target).saliency
    np.testing.assert_allclose(shown, np.asarray(expected).reshape(shown.shape), rtol=1e-6, atol=0)
    _assert_clean(dash_duo)


def test_activation_heatmap_carries_the_true_values(page, lens):
    dash_duo = page
    trace = dash_duo.driver.execute_script(_JS_TRACE, "activation-graph")
    assert trace is not None and trace["type"] == "heatmap", trace and trace["type"]
    z, custom = _decode(trace["z"]), _decode(trace["customdata"])
    activation = np.asarray(lens.tensors(0).activations["conv1"])
    height, width, channels = activation.shape
    assert z.ndim == 2 and custom.shape == z.shape + (3,), (z.shape, custom.shape)

    # Every tile cell holds the model's value at the (channel, row, col) its customdata names ...
    cells = np.isfinite(z)
    assert cells.sum() == activation.size, (cells.sum(), activation.shape)
    channel, row, col = (custom[..., k][cells].astype(int) for k in range(3))
    np.testing.assert_array_equal(z[cells], activation[row, col, channel])
    # ... and every (channel, row, col) appears exactly once.
    assert len(set(zip(channel, row, col))) == activation.size
    assert sorted(set(channel)) == list(range(channels)) and row.max() == height - 1 and col.max() == width - 1

    # Hover with the real mouse over the strongest activation and read plotly's hover label.
    peak_row, peak_col = np.unravel_index(np.nanargmax(z), z.shape)
    ch, r, c = (int(v) for v in custom[peak_row, peak_col])
    graph = dash_duo.find_element("#activation-graph .js-plotly-plot")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", graph)
    spot = dash_duo.driver.execute_script(_JS_CELL_POSITION, "activation-graph", int(peak_row), int(peak_col))
    pointer = ActionBuilder(dash_duo.driver)  # viewport coordinates: no scrolling behind our back.
    pointer.pointer_action.move_to_location(2, 2)
    pointer.pointer_action.move_to_location(spot["x"], spot["y"])
    pointer.perform()
    label = dash_duo.wait_for_element("#activation-graph .hoverlayer .hovertext", timeout=TIMEOUT)
    text = label.get_attribute("textContent")
    match = re.search(r"channel (\d+)\s*row (\d+), col (\d+)\s*activation (\S+)", text)
    assert match, f"unexpected hover text {text!r}"
    assert (int(match.group(1)), int(match.group(2)), int(match.group(3))) == (ch, r, c)
    assert float(match.group(4)) == pytest.approx(float(activation[r, c, ch]), rel=1e-3)
    _assert_clean(dash_duo)


def test_axis_labels_are_inside_their_graphs(page, lens):
    """Tick labels and axis titles of the graphs with visible axes are drawn inside the graph, not cut off."""
    dash_duo = page
    problems = {"probability-graph": dash_duo.driver.execute_script(_JS_AXIS_TEXT_PROBLEMS, "probability-graph")}
    # The last dense layer shows bars (activations) and weight matrices (weights, gradients), all with axes.
    # (The first dense layer, fed by a Flatten, shows its weights as maps by default.)
    dense = [info.name for info in lens.layers if info.kind == "Dense"][-1]
    before = _fingerprints(dash_duo, LAYER_GRAPHS)
    card = next(c for c in dash_duo.find_elements(".layer-card")
                if c.find_element(By.CSS_SELECTOR, ".card-name").text == dense)
    card.click()
    dash_duo.wait_for_contains_text("#activation-title", f"Activations of {dense} ", timeout=TIMEOUT)
    _wait_for_changes(dash_duo, before, f"selecting {dense}")
    _settle(dash_duo)
    for graph_id in LAYER_GRAPHS:
        assert dash_duo.find_elements(f"#{graph_id} .xtick text"), f"#{graph_id} has no visible x axis"
        problems[graph_id] = dash_duo.driver.execute_script(_JS_AXIS_TEXT_PROBLEMS, graph_id)
    before = _fingerprints(dash_duo, ["kernel-graph"])
    _click_choice(dash_duo, "kernel-tab", "gradients")
    _wait_for_changes(dash_duo, before, "the gradients tab")
    _settle(dash_duo)
    problems["kernel-graph, gradients"] = dash_duo.driver.execute_script(_JS_AXIS_TEXT_PROBLEMS, "kernel-graph")
    problems = {graph_id: found for graph_id, found in problems.items() if found}
    assert problems == {}, f"axis text cut off or overlapping: {problems}"
    _assert_clean(dash_duo)


def test_out_of_range_digit_reaches_the_page_as_a_message(page):
    dash_duo = page
    base = dash_duo.server_url.rstrip("/")
    dependencies = requests.get(f"{base}/_dash-dependencies", timeout=TIMEOUT).json()
    callback = next(d for d in dependencies if "activation-caption" in d["output"])
    outputs = [dict(zip(("id", "property"), part.split("."))) for part in callback["output"].strip(".").split("...")]
    assert [o["id"] for o in outputs] == ["activation-figure", "activation-caption", "activation-title",
                                          "kernel-figure", "kernel-caption", "kernel-title"]
    assert [i["id"] for i in callback["inputs"]] == ["digit-dropdown", "selected-layer", "input-channel", "kernel-tab",
                                                     "checkpoint-view", "channel-page"]

    def post(index, layer="conv1"):
        values = [index, layer, None, "weights", {"model": "any"}, None]
        body = {
            "output": callback["output"], "outputs": outputs,
            "inputs": [{"id": slot["id"], "property": slot["property"], "value": value}
                       for slot, value in zip(callback["inputs"], values)],
            "changedPropIds": ["digit-dropdown.value"],
            "state": [{"id": slot["id"], "property": slot["property"], "value": ""} for slot in callback["state"]],
        }
        return requests.post(f"{base}/_dash-update-component", json=body, timeout=TIMEOUT)

    good = post(3)
    assert good.status_code == 200, good.text[:500]
    assert good.json()["response"]["activation-title"]["children"] == "Activations of conv1 (Conv2D)"

    for bad, words in [((10**9,), "Test image 1,000,000,000 does not exist"),
                       ((-1,), "Test image -1 does not exist"),
                       (("seven",), "No image is called 'seven'"),
                       ((3, "no-such-layer"), "Layer 'no-such-layer' is not one of"),
                       ((3, ["conv1"]), "Layer ['conv1'] is not one of")]:
        response = post(*bad)
        assert response.status_code == 200, (bad, response.status_code, response.text[:500])
        payload = response.json()["response"]
        assert words in payload["activation-caption"]["children"], (bad, payload["activation-caption"])
        annotations = payload["activation-figure"]["data"]["layout"]["annotations"]
        assert words in annotations[0]["text"], (bad, annotations)
        assert "activation-title" not in payload, "the title should be left as it was (no_update)"
        assert "Traceback" not in response.text
    _assert_clean(dash_duo)


def test_first_digit_survives_a_slow_options_callback(monkeypatch, dash_duo, test_settings, lens):
    """Regression: with options=[] in the layout, Dash 4's Dropdown set the digit to None on load whenever
    the options callback answered after the dropdown's code had loaded, and every panel showed
    "Digit index must be a whole number, got None" (fails on commit 2ddbc1c)."""
    from app import create_app

    search = lens.search

    def slow_search(*args, **kwargs):
        time.sleep(3)  # a busy server: the dropdown's own code is loaded long before its options arrive.
        return search(*args, **kwargs)

    monkeypatch.setattr(lens, "search", slow_search)
    dash_duo.start_server(create_app(test_settings, lens=lens), port=_free_port(), debug=True,
                          use_reloader=False, dev_tools_hot_reload=False)
    dash_duo.wait_for_element("#digit-summary", timeout=TIMEOUT)  # the page itself waits for the slow search now
    until(lambda: _text(dash_duo, "#digit-summary") != "", timeout=TIMEOUT, msg="no digit summary")
    _settle(dash_duo)
    summary = _text(dash_duo, "#digit-summary")
    assert summary.startswith("Digit #0:"), summary
    dash_duo.wait_for_contains_text("#digit-dropdown .dash-dropdown-value", "#0 ·", timeout=TIMEOUT)
    _assert_clean(dash_duo)


def test_every_search_form_the_server_understands_shows_its_digits(page, lens):
    """Regression: Lens.search understands 'label 7' and 'pred3', but Dash 4's Dropdown filters the
    options again in the browser (every search word must be a substring of a word of the option),
    which hid the server's matches behind "No options found" (fails on commit 2ddbc1c)."""
    from dashboard import views

    dash_duo = page
    hidden = {}
    for query in ["label 7", "pred3"]:
        matches = lens.search(query, misclassified_only=False)
        assert matches, f"the server finds nothing for {query!r}; pick another query"
        first = matches[0]
        expected = views.digit_option_label(first.index, first.label, first.predicted, first.confidence)
        _open_dropdown(dash_duo, "digit-dropdown")
        box = dash_duo.wait_for_element(".dash-dropdown-content input.dash-dropdown-search", timeout=TIMEOUT)
        box.send_keys(query)
        try:
            until(lambda expected=expected: expected in _option_texts(dash_duo), timeout=8)
        except dash_errors.TestingTimeoutError:
            hidden[query] = _option_texts(dash_duo)
        box.send_keys(Keys.ESCAPE)
        dash_duo.wait_for_no_elements(".dash-dropdown-content", timeout=TIMEOUT)
        _settle(dash_duo)
    assert hidden == {}, f"the server's matches are hidden in the dropdown: {hidden}"
    _assert_clean(dash_duo)


def test_dense_weights_as_unit_maps_or_the_full_matrix(page, lens):
    """The dense layer fed by pool2 offers its 64 input channels and the full matrix; each shows true weights."""
    dash_duo = page
    card = next(c for c in dash_duo.find_elements(".layer-card")
                if c.find_element(By.CSS_SELECTOR, ".card-name").text == "dense")
    card.click()
    dash_duo.wait_for_text_to_equal("#kernel-title", "Filters and weights of dense", timeout=TIMEOUT)
    _settle(dash_duo)
    _open_dropdown(dash_duo, "input-channel")
    texts = _option_texts(dash_duo)
    assert texts[:3] == ["all (L2 norm)", "full matrix", "channel 0"] and texts[-1] == "channel 63", texts
    before = _fingerprints(dash_duo, ["kernel-graph"])
    _click_option(dash_duo, lambda text: text == "full matrix", "'full matrix'")
    _wait_for_changes(dash_duo, before, "the full matrix")
    _settle(dash_duo)
    kernel = lens.weights()["dense"]["kernel"]
    trace = dash_duo.driver.execute_script(_JS_TRACE, "kernel-graph")
    # 1,600 × 64 weights are more than a panel sends: drawn as 2×2 blocks, each its entry of largest magnitude.
    np.testing.assert_array_equal(_decode(trace["z"]), _block_peaks_2x2(kernel))
    assert "full matrix" not in _text(dash_duo, "#kernel-caption")  # the caption describes the matrix now
    assert "zoom in to see the weights in view at full resolution" in _text(dash_duo, "#kernel-caption")
    # Zoomed in (as a box zoom does), the weights in view come back at full resolution over the blocks.
    _zoom(dash_duo, "kernel-graph", x=(-0.5, 63.5), y=(299.5, 100.5))
    part = until(lambda: dash_duo.driver.execute_script(_JS_SECOND_TRACE, "kernel-graph"), timeout=TIMEOUT,
                 msg="the zoomed part did not arrive")
    np.testing.assert_array_equal(_decode(part["z"]), kernel[101:300, 0:64])
    assert (part["x0"], part["y0"]) == (0, 101)
    # The choice holds on the gradients tab: the full matrix of ∂L/∂w, in blocks too.
    _click_choice(dash_duo, "kernel-tab", "gradients")
    dash_duo.wait_for_text_to_equal("#kernel-title", "Weight gradients of dense for this digit", timeout=TIMEOUT)
    _settle(dash_duo)
    trace = dash_duo.driver.execute_script(_JS_TRACE, "kernel-graph")
    np.testing.assert_array_equal(_decode(trace["z"]),
                                  _block_peaks_2x2(lens.tensors(0).weight_gradients["dense"]["kernel"]))
    _assert_clean(dash_duo)


_JS_SECOND_TRACE = _JS_PLAIN + """
var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!gd || !gd.data || gd.data.length < 2) { return null; }
var t = gd.data[1];
return {z: plain(t.z), x0: t.x0, y0: t.y0, dx: t.dx};
"""


def _block_peaks_2x2(matrix: np.ndarray) -> np.ndarray:
    """Return each 2×2 block's entry of largest magnitude, written out: the four corners of every block."""
    corners = np.stack([matrix[0::2, 0::2], matrix[0::2, 1::2], matrix[1::2, 0::2], matrix[1::2, 1::2]])
    return np.take_along_axis(corners, np.argmax(np.abs(corners), axis=0)[None], axis=0)[0]


def _zoom(dash_duo, graph_id: str, *, x: tuple[float, float], y: tuple[float, float]) -> None:
    """Zoom a graph to a window as a box zoom does (Plotly emits the same relayout event)."""
    dash_duo.driver.execute_script(
        "var gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "Plotly.relayout(gd, {'xaxis.range[0]': arguments[1], 'xaxis.range[1]': arguments[2],"
        " 'yaxis.range[0]': arguments[3], 'yaxis.range[1]': arguments[4]});", graph_id, x[0], x[1], y[0], y[1])


def test_explanations_switch_class_and_sanity_check(page, lens):
    """Every method's map renders; a class change and the sanity check redraw it; the console stays clean."""
    dash_duo = page
    predicted = lens.summary(0).predicted
    _open_section(dash_duo, "explanations")
    dash_duo.wait_for_contains_text("#explanation-caption", f"the class-{predicted} logit", timeout=TIMEOUT)
    rows = ("return document.querySelector('#explanation-graph .js-plotly-plot').layout.annotations"
            ".filter(a => a.textangle === -90).length;")
    assert dash_duo.driver.execute_script(rows) == 1
    assert len(dash_duo.find_elements("#deletion-graph .scatterlayer .trace")) == 6
    target = (predicted + 5) % 10
    before = _fingerprints(dash_duo, ["explanation-graph", "deletion-graph"])
    _open_dropdown(dash_duo, "explain-target")
    _click_option(dash_duo, lambda text: text == f"class {target}", f"'class {target}'")
    dash_duo.wait_for_contains_text("#explanation-caption", f"the class-{target} logit", timeout=TIMEOUT)
    _wait_for_changes(dash_duo, before, f"explaining class {target}")
    _click_choice(dash_duo, "sanity-check", "on")
    dash_duo.wait_for_contains_text("#explanation-caption", "random weights", timeout=TIMEOUT)
    until(lambda: dash_duo.driver.execute_script(rows) == 2, timeout=TIMEOUT, msg="no randomized-model row")
    _settle(dash_duo)
    _assert_clean(dash_duo)


def test_hidden_panels_send_nothing_and_catch_up_when_shown(page, lens):
    """Closed, or open but scrolled away, the explanations send no request; scrolled into view they catch up
    with the digit at once; their choices survive closing and opening the section."""
    dash_duo = page
    _record_requests(dash_duo)
    dash_duo.find_element("#random-digit-button").click()
    until(lambda: len(_requests_sent(dash_duo)) >= 2, timeout=TIMEOUT, msg="the digit change sent nothing")
    _settle(dash_duo)
    assert not any("explanation" in output for output in _requests_sent(dash_duo))  # closed: nothing
    # A closed section's contents are not in the document at all (components.section), its graphs neither.
    assert not _in_document(dash_duo, "explanation-graph") and not _in_document(dash_duo, "explain-target")

    _open_section(dash_duo, "explanations")
    first = _summary_index(dash_duo)
    dash_duo.wait_for_contains_text("#explanation-caption", f"for digit #{first}.", timeout=TIMEOUT)
    target = (lens.summary(first).predicted + 1) % 10
    _open_dropdown(dash_duo, "explain-target")
    _click_option(dash_duo, lambda text: text == f"class {target}", f"'class {target}'")
    dash_duo.wait_for_contains_text("#explanation-caption", f"the class-{target} logit", timeout=TIMEOUT)
    _settle(dash_duo)

    # Scrolled back to the lens, the open section is off screen: a digit change computes nothing for it.
    dash_duo.driver.execute_script("window.scrollTo(0, 0);")
    until(lambda: not _on_screen(dash_duo, "#explanation-graph") and
          dash_duo.driver.execute_script("return window.scrollY;") == 0, timeout=TIMEOUT, msg="did not scroll up")
    time.sleep(0.3)  # the IntersectionObserver reports on the next frame
    _record_requests(dash_duo)
    before = _summary_index(dash_duo)
    dash_duo.find_element("#random-digit-button").click()
    until(lambda: _summary_index(dash_duo) != before, timeout=TIMEOUT, msg="no new digit")
    _settle(dash_duo)
    second = _summary_index(dash_duo)
    assert not any("explanation" in output for output in _requests_sent(dash_duo)), _requests_sent(dash_duo)
    assert f"for digit #{first}." in _text(dash_duo, "#explanation-caption")

    # Scrolled into view, it catches up with the new digit, keeping the chosen class.
    dash_duo.driver.execute_script("document.getElementById('explanation-graph').scrollIntoView({block: 'center'});")
    dash_duo.wait_for_contains_text("#explanation-caption", f"for digit #{second}.", timeout=TIMEOUT)
    assert f"the class-{target} logit" in _text(dash_duo, "#explanation-caption")
    assert sum("explanation" in output for output in _requests_sent(dash_duo)) == 1

    # Closed and opened again: the choices are where they were.
    dash_duo.find_element("#explanations-section .section-toggle").click()
    until(lambda: dash_duo.find_element("#explanations-section .section-toggle").get_attribute("aria-expanded")
          == "false", timeout=TIMEOUT, msg="the section did not close")
    until(lambda: not _in_document(dash_duo, "explanation-graph"), timeout=TIMEOUT,
          msg="the closed section's graphs stayed in the document")
    dash_duo.find_element("#explanations-section .section-toggle").click()
    dash_duo.wait_for_contains_text("#explain-target .dash-dropdown-value", f"class {target}", timeout=TIMEOUT)
    # Back in the document, the panel shows what it had computed, and computes again only when the digit changes.
    dash_duo.wait_for_contains_text("#explanation-caption", f"for digit #{second}.", timeout=TIMEOUT)
    _screenshot(dash_duo, "explanations_open")
    _assert_clean(dash_duo)
