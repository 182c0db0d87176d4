"""A person's own input through the page's real callbacks (issue 13): strokes on the pad, an uploaded PNG, what-if
edits of a test image, and the HTML report, each POSTed as the browser sends it; what the panels then show is
checked against the model file run by Keras directly and against edits made by hand here."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from dashboard import ids, image_keys, inputs, own_layout, pad_figures
from tests import dash_requests
from tests.test_callbacks import server_callbacks

STROKE = "M60,30L130,30L90,170"  # a 7: the bar, then the slanted stem
LOOP = "M40,40L40,60"


@pytest.fixture(scope="module")
def client(test_settings, lens):
    from app import create_app

    return create_app(test_settings, lens=lens).server.test_client()


@pytest.fixture(scope="module")
def callbacks(client):
    return server_callbacks(client.get("/_dash-dependencies").get_json())


@pytest.fixture(scope="module")
def keras_model(model_dir):
    """The served model read from its file by Keras itself: the independent check of every prediction."""
    import keras

    return keras.models.load_model(model_dir / "model.keras", compile=False)


def callback(callbacks, output: str) -> dict:
    return next(d for d in callbacks if output in d["output"])


def send(client, lens, dependency, values: dict, changed: str, page: str = "http://127.0.0.1/?model=seed") -> dict:
    """POST the callback with these input/state values (by "id.prop"), as if `changed` fired it from the page at
    address `page` (the Referer a browser sends); return the response's {id: {prop: value}} ({} for Dash's 204:
    nothing changes)."""
    slots = dependency["inputs"] + dependency["state"]
    body = dash_requests.body(dependency, [values.get(f"{s['id']}.{s['property']}") for s in slots],
                              [info.name for info in lens.layers])
    body["changedPropIds"] = [changed]
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                           headers={"Referer": page})
    if response.status_code == 204:
        return {}
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    return json.loads(text)["response"]


def draw(client, lens, callbacks, paths, *, label="none", picked=0):
    """POST the strokes as the browser's padDraw leaves them (and the value it picked) to the pad's callback."""
    dependency = callback(callbacks, f"{ids.PAD}.figure")
    values = {f"{ids.PAD_STROKES}.data": paths, f"{ids.PAD_LABEL}.value": label, f"{ids.DIGIT}.value": picked,
              f"{ids.DIGIT}.options": [], "model-key.data": "seed"}
    return send(client, lens, dependency, values, f"{ids.PAD_STROKES}.data")


def predict(keras_model, picture: np.ndarray) -> np.ndarray:
    return np.asarray(keras_model(picture[np.newaxis].astype(np.float32), training=False))[0]


def test_a_stroke_makes_the_drawing_the_picked_image(client, lens, callbacks, keras_model):
    answer = draw(client, lens, callbacks, [STROKE, LOOP])
    value = answer[ids.DIGIT]["value"]
    assert value.startswith(image_keys.DRAWING) and len(value) < 100  # short enough for a link
    # The picture is the strokes rasterised at the pad's size and made MNIST-style.
    points = [[(60, 30), (130, 30), (90, 170)], [(40, 40), (40, 60)]]
    expected = inputs.mnist_style(inputs.rasterise_strokes(points, size=pad_figures.PAD_SIZE,
                                                           width=pad_figures.STROKE_WIDTH))
    picture = lens.picture(value)
    np.testing.assert_allclose(picture[..., 0], expected, atol=0.5 / 255 + 1e-6)
    # The note names the prediction the model file gives.
    probabilities = predict(keras_model, picture)
    predicted = int(probabilities.argmax())
    assert answer[ids.PAD_NOTE]["children"].startswith(f"Predicted {predicted} ({probabilities[predicted]:.1%})")
    assert "2 strokes" in answer[ids.PAD_NOTE]["children"]
    np.testing.assert_allclose(lens.tensors(value).probabilities, probabilities, atol=1e-5)
    # The dropdown offers it, by name, first; the pad is redrawn with both strokes, no longer editable.
    first = answer[ids.DIGIT]["options"][0]
    assert first["value"] == value and "your drawing" in str(first["label"])
    shapes = answer[ids.PAD]["figure"]["layout"]["shapes"]
    assert [s["path"] for s in shapes] == [STROKE, LOOP] and not any(s["editable"] for s in shapes)
    # When the browser has picked the same value already, it is not picked again (no second round of panels).
    again = draw(client, lens, callbacks, [STROKE, LOOP], picked=value)
    assert ids.DIGIT not in again or "value" not in again[ids.DIGIT]
    assert again[ids.DIGIT]["options"][0]["value"] == value


def test_a_drawing_too_long_to_carry_is_picked_by_its_pixels(client, lens, callbacks):
    # 40 strokes of 60 points each: ~6,400 characters as strokes, over image_keys.MAX_CODE.
    paths = ["M" + "L".join(f"{10 + (k * 7 + i) % 170},{10 + (i * 3) % 170}" for i in range(60)) for k in range(40)]
    assert len(image_keys.encode_drawing(pad_figures.strokes_from_paths(paths), size=pad_figures.PAD_SIZE,
                                         width=pad_figures.STROKE_WIDTH)) > image_keys.MAX_CODE
    value = draw(client, lens, callbacks, paths)[ids.DIGIT]["value"]
    assert value.startswith(image_keys.OWN)
    expected = inputs.drawn_picture(pad_figures.strokes_from_paths(paths), size=pad_figures.PAD_SIZE,
                                    width=pad_figures.STROKE_WIDTH, image_shape=lens.data.image_shape)
    np.testing.assert_allclose(lens.picture(value), expected, atol=0.5 / 255 + 1e-6)


def test_a_label_makes_the_loss_and_gradients_against_it(client, lens, callbacks):
    value = draw(client, lens, callbacks, [STROKE], label=3)[ids.DIGIT]["value"]
    assert image_keys.decode_drawing(value).label == 3
    tensors = lens.tensors(value)
    assert lens.image(value)[1] == 3 and tensors.loss_label == 3
    assert tensors.loss == pytest.approx(-np.log(tensors.probabilities[3]), rel=1e-4)
    unlabelled = draw(client, lens, callbacks, [STROKE])[ids.DIGIT]["value"]
    tensors = lens.tensors(unlabelled)
    assert lens.image(unlabelled)[1] is None and tensors.loss_label == tensors.predicted_class


def test_an_empty_pad_says_so_and_keeps_the_picked_image(client, lens, callbacks):
    cleared = draw(client, lens, callbacks, [])
    assert "empty" in cleared[ids.PAD_NOTE]["children"] and not cleared[ids.PAD]["figure"]["layout"].get("shapes")
    assert ids.DIGIT not in cleared  # the picked image stays as it was


@pytest.mark.parametrize("paths", [["M1,1L2,2;alert(1)"], ["<script>"], [None], ["M" + "1,1L" * 5000 + "1,1"],
                                   [STROKE] * (pad_figures.MAX_STROKES + 1)])
def test_a_stroke_that_is_not_one_gets_a_message_and_changes_nothing(client, lens, callbacks, paths):
    answer = draw(client, lens, callbacks, paths)
    assert "could not be read" in answer[ids.PAD_NOTE]["children"]
    assert set(answer) == {ids.PAD_NOTE}


def png_data_url(image: Image.Image, kind: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=kind)
    return f"data:image/{kind.lower()};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def upload(client, lens, callbacks, contents, filename="digit.png") -> dict:
    dependency = callback(callbacks, f"{ids.IMAGE_UPLOAD_NOTE}.children")
    return send(client, lens, dependency, {f"{ids.IMAGE_UPLOAD_PAYLOAD}.data": {"contents": contents,
                                                                                "filename": filename},
                                           f"{ids.DIGIT}.options": [], "model-key.data": "seed"},
                f"{ids.IMAGE_UPLOAD_PAYLOAD}.data")


def test_an_uploaded_photo_of_a_digit_is_inverted_centred_and_shown(client, lens, callbacks, keras_model):
    ink = np.zeros((120, 80), np.float32)
    ink[20:100, 36:48] = 1.0  # a "1", black on white paper as photographed
    paper = Image.fromarray(((1 - ink) * 255).astype(np.uint8)).convert("RGB")
    answer = upload(client, lens, callbacks, png_data_url(paper), "one.png")
    value = answer[ids.DIGIT]["value"]
    assert "one.png (80×120 pixels)" in answer[ids.IMAGE_UPLOAD_NOTE]["children"]
    picture = lens.picture(value)
    np.testing.assert_allclose(picture[..., 0], inputs.mnist_style(ink), atol=0.5 / 255 + 1e-6)
    # A JPEG of it too, to within JPEG's ringing at the stroke's edges.
    jpeg = lens.picture(upload(client, lens, callbacks, png_data_url(paper, "JPEG"), "one.jpg")[ids.DIGIT]["value"])
    assert np.abs(jpeg - picture).mean() < 0.02
    assert lens.resolve(value).name == "your upload"
    np.testing.assert_allclose(lens.tensors(value).probabilities, predict(keras_model, picture), atol=1e-5)


@pytest.mark.parametrize("contents, said", [
    ("data:image/png;base64,!!!!", "not valid base64"), ("data:text/plain;base64,aGVsbG8=", "not a PNG or JPEG"),
    (42, "not an uploaded file"),
])
def test_a_bad_upload_gets_a_message_and_keeps_the_picked_image(client, lens, callbacks, contents, said):
    answer = upload(client, lens, callbacks, contents, "bad.png")
    assert said in answer[ids.IMAGE_UPLOAD_NOTE]["children"] and "bad.png" in answer[ids.IMAGE_UPLOAD_NOTE]["children"]
    assert ids.DIGIT not in answer


def test_edited_images_are_the_hand_made_edit_of_the_test_image(lens, keras_model):
    original = lens.picture(42)
    moved = np.zeros_like(original)
    moved[:, 3:] = original[:, :-3]  # three pixels right, by hand
    np.testing.assert_array_equal(lens.picture("42|x=3"), moved)
    erased = original.copy()
    erased[5:12, 0:28] = 0
    np.testing.assert_array_equal(lens.picture("42|e=5-0-12-28"), erased)
    np.testing.assert_allclose(lens.picture("42|r=90"), np.rot90(original), atol=1e-6)
    # The label stays the test image's; the panels see the edited pixels.
    assert lens.image("42|x=3")[1] == lens.image(42)[1]
    np.testing.assert_allclose(lens.tensors("42|x=3").probabilities, predict(keras_model, moved), atol=1e-5)
    # Noise is the same every time a link names it.
    noisy = lens.picture("42|n=0.2")
    lens._inputs.clear()
    np.testing.assert_array_equal(lens.picture("42|n=0.2"), noisy)


def test_an_edited_image_shows_the_change_against_the_original(client, lens, callbacks):
    from dashboard.callbacks import digit

    _, probability_figure, summary, _, _, _ = digit.digit_views(lens, "42|r=90", "predicted", None, None)
    assert "Before the edit" in summary
    before = lens.tensors(42).probabilities
    ticks = [trace for trace in probability_figure.data if trace.type == "scatter"]
    assert len(ticks) == 1 and ticks[0].marker.symbol == "line-ew"
    np.testing.assert_allclose(np.asarray(ticks[0].y, float), before, atol=1e-6)


def test_the_workbench_is_built_the_first_time_it_opens_on_the_chosen_tab(client, lens, callbacks):
    dependency = callback(callbacks, f"{ids.WORKBENCH_BODY}.children")
    values = {f"{ids.WORKBENCH}.hidden": True, f"{ids.WORKBENCH_MODE}.value": own_layout.EDIT,
              f"{ids.WORKBENCH_BUILT}.data": False, "model-key.data": "seed"}
    assert send(client, lens, dependency, values, f"{ids.WORKBENCH}.hidden") == {}  # closed: nothing built
    answer = send(client, lens, dependency, {**values, f"{ids.WORKBENCH}.hidden": False}, f"{ids.WORKBENCH}.hidden")
    assert answer[ids.WORKBENCH_BUILT]["data"] is True
    tabs = answer[ids.WORKBENCH_BODY]["children"]
    shown = {tab["props"]["id"]["mode"]: not tab["props"].get("hidden") for tab in tabs}
    assert shown == {own_layout.DRAW: False, own_layout.UPLOAD: False, own_layout.EDIT: True}
    text = json.dumps(tabs)
    assert all(json.dumps(ids.edit_slider(edit)) in text for edit in ids.EDIT_FIELDS)
    assert f'"{ids.PAD}"' in text and f'"{ids.IMAGE_UPLOAD}"' in text
    built = {**values, f"{ids.WORKBENCH}.hidden": False, f"{ids.WORKBENCH_BUILT}.data": True}
    assert send(client, lens, dependency, built, f"{ids.WORKBENCH_MODE}.value") == {}  # built once only


def test_the_pad_is_offered_for_grey_digit_models_only():
    assert own_layout.draws("digit", (28, 28, 1))
    assert not own_layout.draws("image", (32, 32, 3))
    assert not own_layout.draws("digit", (28, 28, 3))
    buttons = own_layout.workbench_buttons("image", (32, 32, 3))
    assert buttons[0].children == "Upload…"


def test_the_report_holds_the_views_figures_and_opens_as_html(client, lens, callbacks):
    dependency = callback(callbacks, f"{ids.REPORT_DOWNLOAD}.data")
    value = "42|x=2"
    answer = send(client, lens, dependency, {
        f"{ids.REPORT_BUTTON}.n_clicks": 1, f"{ids.DIGIT}.value": value, "saliency-class.value": "predicted",
        "checkpoint-view.data": {"model": "seed"}, "selected-layer.data": "conv2", "input-channel.value": "summary",
        "channel-page.value": 0, "model-key.data": "seed"}, f"{ids.REPORT_BUTTON}.n_clicks",
        page="http://127.0.0.1/?model=seed&image=42%7Cx%3D2")
    download = answer[ids.REPORT_DOWNLOAD]["data"]
    assert download["filename"].endswith(".html") and download["type"] == "text/html"
    html_text = download["content"]
    assert html_text.startswith("<!DOCTYPE html>") and "conv2" in html_text
    assert "?model=seed&amp;image=42%7Cx%3D2" in html_text
    assert "shifted 2 px right" in html_text
    assert html_text.count('class="report-figure"') == 6
    assert "MB, built in" in answer["export-note"]["children"]
