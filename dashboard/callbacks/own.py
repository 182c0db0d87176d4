"""Callbacks for a person's own input: strokes on the drawing pad and uploaded images become the picked image.

Each makes an image value (image_keys) and sets the digit dropdown to it, with an option naming it; every
panel then follows as for a test image. A drawing's value is written in the browser as its strokes end (padDraw),
so here the pad is only redrawn and named. The workbench's tabs are built here when it first opens; the
what-if edits and the address bar run in the browser (callbacks/clientside.py).
"""

from __future__ import annotations

import logging

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


def _pad_error(message: str):
    return no_update, no_update, no_update, message


def _label(lens: Lens, said) -> int | None:
    if said in (None, own_layout.NOT_SAID):
        return None
    return int(validate.one_of(said, list(range(lens.data.classes)), what="Label"))


@shows_errors(_pad_error)
def pad_input(lens: Lens, strokes, said, picked, options) -> tuple:
    """Return (the pad's figure, the picked image's value, the dropdown's options, a note) after the strokes or
    the label changed. The browser has already picked the drawing (its "st:" value: assets/clientside.js,
    padDraw), so the panels are on their way; this redraws the pad, names the drawing in the dropdown and the
    note, and picks it only when the browser could not (a drawing too long to carry: its pixels instead)."""
    if not own_layout.draws(lens.noun, lens.data.image_shape):
        raise InvalidInput("This model takes colour images: upload one instead.")
    paths = list(strokes) if isinstance(strokes, list) else []
    label = _label(lens, said)
    try:
        points = pad_figures.strokes_from_paths(paths)
    except ValueError as error:
        raise InvalidInput(f"The drawing could not be read: {error}.") from None
    # Redrawn after every stroke: a stroke Plotly has just drawn stays editable, and a new stroke started on it
    # would grab it instead of drawing; the pad's own strokes are not.
    figure = pad_figures.drawing_pad(paths)
    kept = image_keys.drawing_points(points, pad_figures.PAD_SIZE)
    if not kept:
        return figure, no_update, no_update, "The pad is empty: draw a digit."
    value = image_keys.encode_drawing(kept, size=pad_figures.PAD_SIZE, width=pad_figures.STROKE_WIDTH, label=label)
    if len(value) > image_keys.MAX_CODE:
        try:
            picture = inputs.drawn_picture(points, size=pad_figures.PAD_SIZE, width=pad_figures.STROKE_WIDTH,
                                           image_shape=lens.data.image_shape)
        except inputs.InputRefused as error:
            raise InvalidInput(str(error)) from None
        value = lens.keep_own(picture, origin=image_keys.DRAWN, label=label)
    probabilities = lens.tensors(value).probabilities
    predicted = int(probabilities.argmax())
    note = (f"Predicted {lens.class_names[predicted]} ({probabilities[predicted]:.1%}) · {len(points)} "
            f"stroke{'s' if len(points) != 1 else ''} · "
            + ("no label: the loss is against the prediction." if label is None
               else f"labelled {lens.class_names[label]}: the loss and gradients are against it."))
    return figure, value if value != picked else no_update, _with_option(lens, value, options), note


def build_workbench(lens: Lens, hidden, mode, built) -> tuple:
    """Return (the workbench's tabs, True) the first time it opens, `mode`'s tab shown (a tab chosen before they
    arrived too); after that nothing."""
    if hidden is not False or built is True:
        return no_update, no_update
    modes = own_layout.tab_modes(lens.noun, lens.data.image_shape)
    shown = mode if isinstance(mode, str) and mode in modes else own_layout.UPLOAD
    return own_layout.workbench_tabs(lens.noun, lens.data.image_shape, lens.class_names, shown), True


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
        digit_like = own_layout.draws(lens.noun, lens.data.image_shape)
        height, width = lens.data.image_shape[:2]
        # A photo's detail beyond 8× the model's input is lost in the fitting anyway: decode no more of it.
        image = inputs.decode_upload(payload["contents"], at_least=(8 * width, 8 * height))
        size = "×".join(f"{side:,}" for side in inputs.file_size(image))
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
        Output(ids.WORKBENCH_BODY, "children"), Output(ids.WORKBENCH_BUILT, "data"),
        Input(ids.WORKBENCH, "hidden"), Input(ids.WORKBENCH_MODE, "value"), State(ids.WORKBENCH_BUILT, "data"),
        validate.model_state(), prevent_initial_call=True,
    )(bind(build_workbench, catalog))
    app.callback(
        Output(ids.PAD, "figure"), Output(ids.DIGIT, "value", allow_duplicate=True),
        Output(ids.DIGIT, "options", allow_duplicate=True), Output(ids.PAD_NOTE, "children"),
        Input(ids.PAD_STROKES, "data"), Input(ids.PAD_LABEL, "value"), State(ids.DIGIT, "value"),
        State(ids.DIGIT, "options"), validate.model_state(), prevent_initial_call=True,
    )(bind(pad_input, catalog))
    app.callback(
        Output(ids.DIGIT, "value", allow_duplicate=True), Output(ids.DIGIT, "options", allow_duplicate=True),
        Output(ids.IMAGE_UPLOAD_NOTE, "children", allow_duplicate=True),
        Input(ids.IMAGE_UPLOAD_PAYLOAD, "data"), State(ids.DIGIT, "options"), validate.model_state(),
        prevent_initial_call=True,
    )(bind(upload_input, catalog))
