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
    GRAPHS,
    TIMEOUT,
    VIEWPORT,
    _assert_clean,
    _click_option,
    _fingerprints,
    _free_port,
    _open_dropdown,
    _open_section,
    _screenshot,
    _set_viewport,
    _text,
    _wait_for_changes,
    _wait_for_figure,
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
    _set_viewport(dash_duo, *VIEWPORT)
    dash_duo.wait_for_contains_text("#digit-summary", "Digit #0:", timeout=TIMEOUT)
    for graph in GRAPHS:
        _wait_for_figure(dash_duo, graph)
    _open_section(dash_duo, "training")
    return dash_duo, lens


def _train(dash_duo, store, *, epochs: int, digits: int) -> dict:
    """Start a run from the form, wait for it to finish; return its record."""
    known = {r["id"] for r in store.list()}
    _type_number(dash_duo, "training-epochs", epochs)
    _type_number(dash_duo, "training-batch-size", 50)
    _type_number(dash_duo, "training-set-size", digits)
    dash_duo.find_element("#start-training-button").click()
    until(lambda: not _start_button_enabled(dash_duo), timeout=TIMEOUT, msg="Start was not disabled")
    dash_duo.wait_for_contains_text("#training-result", "finished", timeout=TRAINING_TIMEOUT)
    until(lambda: _start_button_enabled(dash_duo), timeout=TIMEOUT, msg="Start did not come back")
    (record,) = [r for r in store.list() if r["id"] not in known]
    return record


def test_train_from_the_page_then_scrub_the_served_model(training_page):
    """A run trained from the page becomes the served model; with "the served model" shown (the page as it
    opens), the epoch slider has that run's checkpoints and moves every panel (fails before 2026-12-01: one
    stop, Play disabled, Home changed nothing)."""
    dash_duo, lens = training_page
    store = runs.RunStore(lens.settings.model_dir)
    served_before = lens.served.version
    dash_duo.wait_for_contains_text("#run-table", "No runs yet", timeout=TIMEOUT)
    assert dash_duo.find_element("#play-button").get_attribute("disabled") is not None  # nothing to scrub yet
    dash_duo.wait_for_contains_text("#view-label", "it has no checkpoints", timeout=TIMEOUT)

    # Two epochs on a small subset: the button disables, progress advances, the run appears and is served.
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

    # "Views show" still says "the served model", which is now the run: its checkpoints are on the slider.
    assert "the served model" in _text(dash_duo, "#shown-run")
    dash_duo.wait_for_contains_text("#view-label", f"the last checkpoint of run {record['id']}", timeout=TIMEOUT)
    until(lambda: dash_duo.find_element("#play-button").get_attribute("disabled") is None, timeout=TIMEOUT,
          msg="Play stayed disabled for the served run")
    stops = len(store.history(record["id"]))
    assert len(dash_duo.find_elements("#epoch-slider .dash-slider-mark")) == stops == 6  # 0, ⅛, ¼, ½, 1, 2
    dash_duo.driver.execute_script("window.scrollTo(0, 0);")
    before = _fingerprints(dash_duo, ("probability-graph", "saliency-graph", "activation-graph", "kernel-graph"))
    dash_duo.find_element("#epoch-slider [role='slider']").send_keys(Keys.HOME)
    dash_duo.wait_for_contains_text("#view-label", f"run {record['id']} at epoch 0 (step 0)", timeout=TIMEOUT)
    _wait_for_changes(dash_duo, before, "moving the served model's slider to the start")
    _screenshot(dash_duo, "served_model_at_epoch_0")
    # The test-set section follows the checkpoint: its own pass, the untrained model's matrix.
    _open_section(dash_duo, "testset")
    dash_duo.wait_for_contains_text("#confusion-caption", f"(run {record['id']} at step 0)", timeout=TIMEOUT)
    # End: back to the served model itself.
    dash_duo.driver.execute_script("window.scrollTo(0, 0);")
    dash_duo.find_element("#epoch-slider [role='slider']").send_keys(Keys.END)
    dash_duo.wait_for_contains_text("#view-label", "The panels show the served model", timeout=TIMEOUT)
    # Off screen, the matrix waits; scrolled back to, it catches up with the served model.
    dash_duo.driver.execute_script("document.getElementById('confusion-graph').scrollIntoView({block: 'center'});")
    until(lambda: "(run " not in _text(dash_duo, "#confusion-caption"), timeout=TIMEOUT,
          msg="the confusion matrix stayed on the checkpoint")
    _assert_clean(dash_duo)


def test_cancel_stops_the_run_that_start_just_launched(training_page):
    """Cancel pressed right after Start stops that run, whatever it is doing then, and never another
    (fails before 2026-12-01: it said "Cancelling run <the previous run>…" and the new run trained on and
    became the served model)."""
    dash_duo, lens = training_page
    store = runs.RunStore(lens.settings.model_dir)
    first = _train(dash_duo, store, epochs=1, digits=300)
    # A finished run is published by rewriting model.json; the server switches to it on its next request
    # (ModelService.refresh, at most every 0.5 s), which the page's runs poll makes soon after "finished".
    until(lambda: lens.models.served_run == first["id"], timeout=TIMEOUT,
          msg=f"the server did not switch to the finished run {first['id']}")

    _type_number(dash_duo, "training-epochs", 2)
    _type_number(dash_duo, "training-set-size", 1200)
    dash_duo.find_element("#start-training-button").click()
    # As soon as Cancel can be pressed: the job has not reported its run yet (its first progress report comes
    # with its first poll, 0.5 s on), and the training process has not even imported TensorFlow.
    until(lambda: dash_duo.find_element("#cancel-training-button").get_attribute("disabled") is None,
          timeout=TIMEOUT, msg="Cancel was not enabled")
    dash_duo.find_element("#cancel-training-button").click()
    until(lambda: _text(dash_duo, "#run-message").startswith("Cancelling"), timeout=TIMEOUT, msg="no cancel message")
    message = _text(dash_duo, "#run-message")
    assert first["id"] not in message, message
    until(lambda: _start_button_enabled(dash_duo), timeout=TRAINING_TIMEOUT, msg="Start did not come back")
    later = [r for r in store.list() if r["id"] != first["id"]]
    # Either the run was created and then cancelled, or Cancel came before it was created at all.
    assert all(r["status"] == runs.CANCELLED for r in later), later
    assert ("will not start" in message) == (not later) and all(r["id"] in message for r in later), (message, later)
    assert store.record(first["id"])["status"] == runs.FINISHED and lens.models.served_run == first["id"]
    assert not (later and (store.folder(later[0]["id"]) / "model.keras").exists())

    # A long run cancelled while it trains: the button comes back, the run is cancelled, the model stays.
    _type_number(dash_duo, "training-epochs", 20)
    _type_number(dash_duo, "training-set-size", 4000)
    dash_duo.find_element("#start-training-button").click()

    def training_now():
        active = store.active()
        return active and (store.progress(active[0]["id"]) or {}).get("step")

    until(training_now, timeout=TRAINING_TIMEOUT, msg="the long run never started training")
    dash_duo.wait_for_contains_text("#training-status", "step", timeout=TIMEOUT)
    running = store.active()[0]["id"]
    dash_duo.find_element("#cancel-training-button").click()
    dash_duo.wait_for_contains_text("#run-message", f"Cancelling run {running}", timeout=TIMEOUT)
    until(lambda: _start_button_enabled(dash_duo), timeout=TIMEOUT, msg="Start did not come back after cancel")
    dash_duo.wait_for_contains_text("#run-table", "cancelled", timeout=TIMEOUT)
    assert store.record(running)["status"] == runs.CANCELLED
    assert lens.models.served_run == first["id"]

    # Scrub a chosen run: pick the finished run, move to its first checkpoint, and every digit view changes.
    _open_dropdown(dash_duo, "shown-run")
    _click_option(dash_duo, lambda text: "1 epoch(s)" in text, "for the finished run")
    dash_duo.wait_for_contains_text("#view-label", "at epoch 1 ", timeout=TIMEOUT)
    for graph in ("curves-graph", "norms-graph", "weight-distribution-graph", "gradient-distribution-graph"):
        _wait_for_figure(dash_duo, graph)
    before = _fingerprints(dash_duo, ("probability-graph", "saliency-graph", "activation-graph", "kernel-graph"))
    dash_duo.find_element("#epoch-slider [role='slider']").send_keys(Keys.HOME)
    dash_duo.wait_for_contains_text("#view-label", "at epoch 0 (step 0)", timeout=TIMEOUT)
    _wait_for_changes(dash_duo, before, "moving the epoch slider to the start")

    # Play steps through every checkpoint to the end and stops there.
    dash_duo.find_element("#play-button").click()
    dash_duo.wait_for_contains_text("#view-label", "at epoch 1 ", timeout=TIMEOUT)
    dash_duo.wait_for_text_to_equal("#play-button", "▶ Play", timeout=TIMEOUT)
    _screenshot(dash_duo, "training_timeline")
    _assert_clean(dash_duo)
