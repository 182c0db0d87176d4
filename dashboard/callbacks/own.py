"""Callbacks for a person's own input: strokes on the drawing pad and uploaded images become the picked image.

Each makes an image value (image_keys) and sets the digit dropdown to it, with an option naming it; every
panel then follows as for a test image. The workbench's tabs, the what-if edits and the address bar run in the
browser (callbacks/clientside.py).
"""

from __future__ import annotations

import logging

import numpy as np
from dash import Dash, Input, Output, State, no_update

from dashboard import ids, image_keys, inputs, own_layout, pad_figures
from dashboard.callbacks import validate
from dashboard.callbacks.digit import digit_option
from dashboard.callbacks.validate import InvalidInput, shows_errors
from dashboard.catalog import Catalog
from dashboard.lens import Lens

log = logging.getLogger(__name__)
MAX_OWN_OPTIONS = 5  # own images kept in the dropdown (the latest first): a drawing's strokes are not all kept


def _with_option(lens: Lens, value: str, options) -> list[dict]:
    """Return the dropdown's options with the new image's first, and at most a few earlier own images."""
    kept = [o for o in options or [] if isinstance(o, dict) and o.get("value") != value]
    own = [o for o in kept if isinstance(o.get("value"), str)][:MAX_OWN_OPTIONS - 1]
    tests = [o for o in kept if not isinstance(o.get("value"), str)]
    return [digit_option(lens, value), *own, *tests]


def _fit(lens: Lens, picture: np.ndarray) -> np.ndarray:
    """Return a 28×28 MNIST-style digit at the model's input size (H, W, 1)."""
    from PIL import Image

    height, width = lens.data.image_shape[:2]
    if picture.shape != (height, width):
        picture = np.asarray(Image.fromarray((picture * 255).astype(np.uint8)).resize(
            (width, height), Image.Resampling.LANCZOS), np.float32) / 255.0
    return picture[..., np.newaxis]


def _pad_error(message: str):
    return no_update, no_update, no_update, no_update, message


def _label(lens: Lens, said) -> int | None:
    if said in (None, own_layout.NOT_SAID):
        return None
    return int(validate.one_of(said, list(range(lens.data.classes)), what="Label"))


@shows_errors(_pad_error)
def pad_input(lens: Lens, relayout, _undo, _clear, said, strokes, options) -> tuple:
    """Return (the pad's figure, its strokes, the picked image's value, the dropdown's options, a note) after a
    stroke, Undo, Clear or a new label: the drawing, prepared as MNIST's digits were, becomes the picked image."""
    if not own_layout.draws(lens.noun, lens.data.image_shape):
        raise InvalidInput("This model takes colour images: upload one instead.")
    paths = list(strokes) if isinstance(strokes, list) else []
    redraw = False
    if validate.triggered_by(ids.PAD_UNDO):
        paths, redraw = paths[:-1], True
    elif validate.triggered_by(ids.PAD_CLEAR):
        paths, redraw = [], True
    elif validate.triggered_by(ids.PAD):
        drawn = pad_figures.paths_from_relayout(relayout)
        if drawn is None:
            return no_update, no_update, no_update, no_update, no_update
        paths = drawn
    label = _label(lens, said)
    try:
        points = pad_figures.strokes_from_paths(paths)
    except ValueError as error:
        raise InvalidInput(f"The drawing could not be read: {error}.") from None
    # Redrawn after every stroke too: a stroke Plotly has just drawn stays editable, and a new stroke started on
    # it would grab it instead of drawing; the pad's own strokes are not.
    figure = pad_figures.drawing_pad(paths) if redraw or validate.triggered_by(ids.PAD) else no_update
    if not points:
        return figure, paths, no_update, no_update, "The pad is empty: draw a digit."
    ink = inputs.rasterise_strokes(points, size=pad_figures.PAD_SIZE, width=pad_figures.STROKE_WIDTH)
    try:
        picture = _fit(lens, inputs.mnist_style(ink))
    except inputs.InputRefused as error:
        raise InvalidInput(str(error)) from None
    value = lens.keep_own(picture, origin=image_keys.DRAWN, label=label)
    probabilities = lens.tensors(value).probabilities  # the panels' requests find it cached
    predicted = int(probabilities.argmax())
    note = (f"Predicted {lens.class_names[predicted]} ({probabilities[predicted]:.1%}) · {len(points)} "
            f"stroke{'s' if len(points) != 1 else ''} · "
            + ("no label: the loss is against the prediction." if label is None
               else f"labelled {lens.class_names[label]}: the loss and gradients are against it."))
    return figure, paths, value, _with_option(lens, value, options), note


@shows_errors(lambda message: (no_update, no_update, message))
def upload_input(lens: Lens, payload, options) -> tuple:
    """Return (the picked image's value, the dropdown's options, a note) for an uploaded PNG or JPEG: checked,
    prepared as the dataset's images were (a digit photo inverted and centred), resized to the model's input."""
    if payload is None:
        return no_update, no_update, no_update
    if not isinstance(payload, dict) or set(payload) != {"contents", "filename"}:
        raise InvalidInput("That is not an uploaded file.")
    name = validate.text(payload["filename"], what="File name")[:80] or "the image"
    try:
        image = inputs.decode_upload(payload["contents"])
        size = f"{image.width:,}×{image.height:,}"
        digit_like = own_layout.draws(lens.noun, lens.data.image_shape)
        picture = inputs.prepare_upload(image, lens.data.image_shape, digit_like=digit_like)
    except inputs.InputRefused as error:
        raise InvalidInput(f"{name}: {error}") from None
    value = lens.keep_own(picture, origin=image_keys.UPLOADED)
    how = ("made greyscale, ink found and centred like MNIST's" if digit_like
           else "resized to " + "×".join(map(str, lens.data.image_shape[:2])))
    return value, _with_option(lens, value, options), f"{name} ({size} pixels): {how}."


def register(app: Dash, catalog: Catalog) -> None:
    """Attach the own-input callbacks to the app."""
    bind = validate.bind
    app.callback(
        Output(ids.PAD, "figure"), Output(ids.PAD_STROKES, "data"), Output(ids.DIGIT, "value", allow_duplicate=True),
        Output(ids.DIGIT, "options", allow_duplicate=True), Output(ids.PAD_NOTE, "children"),
        Input(ids.PAD, "relayoutData"), Input(ids.PAD_UNDO, "n_clicks"), Input(ids.PAD_CLEAR, "n_clicks"),
        Input(ids.PAD_LABEL, "value"), State(ids.PAD_STROKES, "data"), State(ids.DIGIT, "options"),
        validate.model_state(), prevent_initial_call=True,
    )(bind(pad_input, catalog))
    app.callback(
        Output(ids.DIGIT, "value", allow_duplicate=True), Output(ids.DIGIT, "options", allow_duplicate=True),
        Output(ids.IMAGE_UPLOAD_NOTE, "children", allow_duplicate=True),
        Input(ids.IMAGE_UPLOAD_PAYLOAD, "data"), State(ids.DIGIT, "options"), validate.model_state(),
        prevent_initial_call=True,
    )(bind(upload_input, catalog))
