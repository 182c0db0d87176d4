"""The view's numbers as .npz (issue 13's export, first part): exactly what the panels show, checked against the
activation panel's own figure and Keras's own outputs; and a real download in the browser."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest

from dashboard.callbacks import digit, layers
from dashboard.layout import PREDICTED, WEIGHTS_TAB
from tests import test_browser
from tests.test_browser import TIMEOUT, _assert_clean

page = test_browser.page


def exported(lens, index: int, choice=PREDICTED, view=None) -> tuple[dict, str, str]:
    download, note = digit.export_tensors(lens, 1, index, choice, view)
    with np.load(io.BytesIO(base64.b64decode(download["content"])), allow_pickle=False) as stored:
        return {key: stored[key] for key in stored.files}, download["filename"], note


def test_the_npz_holds_what_the_panels_show(lens):
    import keras

    arrays, filename, note = exported(lens, 7)
    assert filename == "cnn-lens-seed-digit-7.npz" and filename in note
    # The activation panel's figure: each cell's customdata is [channel, row, column] of the value it shows.
    figure = layers.layer_views(lens, 7, "conv2", 0, WEIGHTS_TAB, None)[0]
    trace = figure["data"][0] if isinstance(figure, dict) else figure.data[0]
    z, where = np.asarray(trace["z"], np.float64), np.asarray(trace["customdata"])
    shown = np.isfinite(z)
    channel, row, column = (where[..., k][shown].astype(int) for k in range(3))
    np.testing.assert_allclose(arrays["activation/conv2"][row, column, channel], z[shown], rtol=1e-6)
    assert shown.sum() == arrays["activation/conv2"].size  # every value, each once
    # Keras's own numbers for the rest.
    model = lens.served.model
    image, label = lens.image(7)
    np.testing.assert_allclose(arrays["probabilities"], np.asarray(model(image[np.newaxis], training=False))[0],
                               rtol=1e-5, atol=1e-7)
    kernel, bias = model.get_layer("conv1").get_weights()
    np.testing.assert_array_equal(arrays["weight/conv1/kernel"], kernel)
    np.testing.assert_array_equal(arrays["weight/conv1/bias"], bias)
    probe = keras.Model(model.inputs, model.get_layer("dense").output)
    np.testing.assert_allclose(arrays["activation/dense"], np.asarray(probe(image[np.newaxis]))[0], rtol=1e-5,
                               atol=1e-6)
    assert int(arrays["label"]) == label and arrays["input"].shape == (28, 28, 1)
    assert set(arrays["class_names"]) == {str(c) for c in range(10)}
    assert {f"weight_gradient/{name}/kernel" for name in ("conv1", "conv2", "dense", "probabilities")} <= set(arrays)


def test_an_own_or_edited_image_exports_its_own_pixels_and_numbers(lens):
    from dashboard import image_keys

    picture = np.zeros((28, 28, 1), np.float32)
    picture[5:23, 12:16] = 1.0
    drawn = image_keys.encode_pixels(picture, origin=image_keys.DRAWN)
    for value, label in ((drawn, -1), ("7|x=2,r=30", lens.image(7)[1])):
        arrays, filename, _ = exported(lens, value)
        assert filename.endswith(".npz") and "px" not in filename and "|" not in filename
        np.testing.assert_allclose(arrays["picture"], lens.picture(value), atol=1e-6)
        tensors = lens.tensors(value)
        np.testing.assert_allclose(arrays["probabilities"], tensors.probabilities, rtol=1e-6)
        np.testing.assert_allclose(arrays["activation/conv2"], tensors.activations["conv2"], rtol=1e-6)
        assert int(arrays["label"]) == label and int(arrays["loss_label"]) == tensors.loss_label


def test_export_refuses_what_no_browser_sends(lens):
    assert digit.export_tensors(lens, 0, 7, PREDICTED) == (digit.no_update, digit.no_update)
    for bad in (-1, 10**6, "seven", None):
        download, note = digit.export_tensors(lens, 1, bad, PREDICTED)
        assert download is digit.no_update and note


@pytest.mark.browser
@pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")
def test_the_button_downloads_the_file(page, lens, tmp_path):
    dash_duo = page
    dash_duo.driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    dash_duo.find_element("#export-button").click()
    dash_duo.wait_for_contains_text("#export-note", ".npz", timeout=TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    files = []
    while time.monotonic() < deadline and not files:
        files = [f for f in tmp_path.glob("*.npz")]
        time.sleep(0.1)
    assert files, "nothing was downloaded"
    time.sleep(0.3)  # let Chromium finish writing
    with np.load(files[0], allow_pickle=False) as stored:
        index = int(files[0].stem.rsplit("-", 1)[1])
        np.testing.assert_allclose(stored["probabilities"], lens.tensors(index).probabilities, rtol=1e-6)
    _assert_clean(dash_duo)
