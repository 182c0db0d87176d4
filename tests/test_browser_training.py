"""Training from the page in headless Chromium: progress, a new run, cancel, and scrubbing the timeline.

The app runs over a private copy of the session's model folder, with the embedded diskcache job
manager; each training is a real `python -m dashboard.training` process on real MNIST digits.
"""

from __future__ import annotations

import time

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.keys import Keys

from dashboard import runs
from tests.test_browser import (
    GRAPHS, TIMEOUT, WINDOW, _assert_clean, _click_option, _fingerprints, _free_port, _open_dropdown, _screenshot,
    _text, _wait_for_changes, _wait_for_figure,
)

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")]
TRAINING_TIMEOUT = 120


def _type_number(dash_duo, component_id: str, value) -> None:
    box = dash_duo.find_element(f"#{component_id}")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACK_SPACE)
    box.send_keys(str(value), Keys.TAB)  # the inputs debounce: the value is sent on blur


def _progress(dash_duo) -> int:
    return int(dash_duo.find_element("#training-progress").get_attribute("value") or 0)


def _start_button_enabled(dash_duo) -> bool:
    return dash_duo.find_element("#start-training-button").get_attribute("disabled") is None


@pytest.fixture()
def training_page(dash_duo, private_settings):
    from app import create_app
    from dashboard.lens import Lens

    lens = Lens.start(private_settings)
    dash_duo.start_server(create_app(private_settings, lens=lens), port=_free_port(), debug=True,
                          use_reloader=False, dev_tools_hot_reload=False)
    dash_duo.driver.set_window_size(*WINDOW)
    dash_duo.wait_for_contains_text("#digit-summary", "Digit #0:", timeout=TIMEOUT)
    for graph in GRAPHS:
        _wait_for_figure(dash_duo, graph)
    return dash_duo, lens


def test_train_cancel_and_scrub_from_the_page(training_page):
    dash_duo, lens = training_page
    store = runs.RunStore(lens.settings.model_dir)
    served_before = lens.served.version
    dash_duo.wait_for_contains_text("#run-table", "No runs yet", timeout=TIMEOUT)

    # A one-epoch run on a small subset: the button disables, progress advances, the run appears and is served.
    for component_id, value in (("training-epochs", 2), ("training-batch-size", 50), ("training-set-size", 1200)):
        _type_number(dash_duo, component_id, value)
    dash_duo.find_element("#start-training-button").click()
    until(lambda: not _start_button_enabled(dash_duo), timeout=TIMEOUT, msg="Start was not disabled")
    dash_duo.wait_for_contains_text("#training-status", "epoch", timeout=TRAINING_TIMEOUT)
    seen = {_progress(dash_duo)}
    deadline = time.time() + TRAINING_TIMEOUT
    while "finished" not in _text(dash_duo, "#training-result") and time.time() < deadline:
        seen.add(_progress(dash_duo))
        time.sleep(0.1)
    assert "finished" in _text(dash_duo, "#training-result"), _text(dash_duo, "#training-result")
    assert seen - {0, 1000}, f"the bar jumped without showing progress in between: {sorted(seen)}"
    until(lambda: _start_button_enabled(dash_duo), timeout=TIMEOUT, msg="Start did not come back")
    (record,) = store.list()
    dash_duo.wait_for_contains_text("#run-table", record["id"], timeout=TIMEOUT)
    dash_duo.wait_for_contains_text("#run-table", "served", timeout=TIMEOUT)
    dash_duo.wait_for_contains_text("#status-line", f"run {record['id']}", timeout=TIMEOUT)
    assert lens.served.version != served_before

    # Another, long run, cancelled: the button comes back, the run is marked cancelled, the model stays.
    _type_number(dash_duo, "training-epochs", 20)
    _type_number(dash_duo, "training-set-size", 4000)
    dash_duo.find_element("#start-training-button").click()

    def training_now():
        active = store.active()
        return active and (store.progress(active[0]["id"]) or {}).get("step")

    until(training_now, timeout=TRAINING_TIMEOUT, msg="the second run never started training")
    dash_duo.wait_for_contains_text("#training-status", "step", timeout=TIMEOUT)
    assert dash_duo.find_element("#cancel-training-button").get_attribute("disabled") is None
    dash_duo.find_element("#cancel-training-button").click()
    until(lambda: _start_button_enabled(dash_duo), timeout=TIMEOUT, msg="Start did not come back after cancel")
    dash_duo.wait_for_contains_text("#run-table", "cancelled", timeout=TIMEOUT)
    cancelled = next(r for r in store.list() if r["id"] != record["id"])
    assert cancelled["status"] == runs.CANCELLED
    assert lens.models.served_run == record["id"]

    # Scrub: pick the finished run, move to its first checkpoint, and every digit view changes.
    _open_dropdown(dash_duo, "shown-run")
    _click_option(dash_duo, lambda text: "2 epoch(s)" in text, "for the finished run")
    dash_duo.wait_for_contains_text("#view-label", "at epoch 2 ", timeout=TIMEOUT)
    for graph in ("curves-graph", "norms-graph", "weight-distribution-graph", "gradient-distribution-graph"):
        _wait_for_figure(dash_duo, graph)
    before = _fingerprints(dash_duo, ("probability-graph", "saliency-graph", "activation-graph", "weight-graph",
                                      "gradient-graph"))
    dash_duo.find_element("#epoch-slider [role='slider']").send_keys(Keys.HOME)
    dash_duo.wait_for_contains_text("#view-label", "at epoch 0 (step 0)", timeout=TIMEOUT)
    _wait_for_changes(dash_duo, before, "moving the epoch slider to the start")
    assert "epoch 0" in _text(dash_duo, "#view-label")

    # Play steps through every checkpoint to the end and stops there.
    dash_duo.find_element("#play-button").click()
    dash_duo.wait_for_contains_text("#view-label", "at epoch 2 ", timeout=TIMEOUT)
    dash_duo.wait_for_text_to_equal("#play-button", "▶ Play", timeout=TIMEOUT)
    _screenshot(dash_duo, "training_timeline")
    _assert_clean(dash_duo)
