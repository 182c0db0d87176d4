"""Callbacks of "Compare A and B" (dashboard/compare.py draws it): the comparison, computed only while its
panel is on screen (its gate), and the B-image dropdown's search."""

from __future__ import annotations

from dash import Dash, Input, Output, no_update

from dashboard import compare, figures, gates, ids, views
from dashboard.callbacks import validate
from dashboard.callbacks.digit import digit_options
from dashboard.callbacks.layers import channel_page_of, layer_of
from dashboard.callbacks.validate import InvalidInput, shows_errors
from dashboard.catalog import Catalog
from dashboard.compare_layout import CHECKPOINT_SEPARATOR, OTHER_CHECKPOINT, OTHER_IMAGE, SERVED_CHECKPOINT
from dashboard.lens import InputImage, Lens

GATE_KEYS = gates.gate_keys(ids.AB_GATE)


def _error(message: str) -> tuple:
    empty = figures.message_figure(message, height=compare.HEIGHT)
    return empty, empty, empty, figures.message_figure(message, height=160), message, "A", "B"


def b_checkpoint(value, lens: Lens) -> tuple[str, int] | None:
    """Return the checkpoint a B-checkpoint value names: None for the served model, else (run id, step)."""
    if value == SERVED_CHECKPOINT:
        return None
    if not isinstance(value, str) or CHECKPOINT_SEPARATOR not in value:
        raise InvalidInput("B's checkpoint must be the served model or a run's checkpoint.")
    run_id, _, step = value.rpartition(CHECKPOINT_SEPARATOR)
    if not step.isascii() or not step.isdigit() or len(step) > 9:
        raise InvalidInput(f"B's step must be a whole number, got {step[:20]!r}.")
    return validate.checkpoint_view({"run": run_id, "step": int(step)}, lens)


def _checkpoint_words(checkpoint: tuple[str, int] | None) -> str:
    return "the served model" if checkpoint is None else f"run {checkpoint[0]} at step {checkpoint[1]:,}"


def _side(lens: Lens, layer: str, shown: InputImage, checkpoint: tuple[str, int] | None) -> compare.Side:
    try:
        info = layer_of(lens, layer, checkpoint)
    except KeyError:
        raise InvalidInput(f"{_checkpoint_words(checkpoint)} has no layer {layer}.") from None
    tensors = lens.tensors(shown.value, checkpoint=checkpoint)
    values = lens.image(shown.value)[0] if info.kind == views.INPUT_KIND else tensors.activations[info.name]
    truth = f"true {lens.class_names[shown.label]}, " if shown.label is not None else ""
    words = compare.prediction_words(tensors.probabilities, lens.class_names)
    return compare.Side(values, tensors.probabilities,
                        f"{shown.name} ({truth}{words} by {_checkpoint_words(checkpoint)})")


@shows_errors(_error)
def compare_ab(lens: Lens, gate) -> tuple:
    """Return (A's figure, B's figure, A − B's figure, the probabilities, a caption, A's title, B's title) for
    the request the gate carries: the picked image and checkpoint (A), the layer and channel page, and B."""
    request = validate.gate(gate, GATE_KEYS)
    if request is None:
        return (no_update,) * 7
    a_image = validate.image(request["digit"], lens)
    a_checkpoint = validate.checkpoint_view(request["view"], lens)
    info = layer_of(lens, request["layer"], a_checkpoint)
    page = channel_page_of(info, request["page"])
    mode = validate.one_of(request["mode"], [OTHER_IMAGE, OTHER_CHECKPOINT], what="B")
    if mode == OTHER_IMAGE:
        b_image, b_check = validate.image(request["b"], lens), a_checkpoint
    else:
        if not lens.trainable:
            raise InvalidInput("This model has no runs, so no other checkpoint to compare with.")
        b_image, b_check = a_image, b_checkpoint(request["bcheck"], lens)
    a = _side(lens, info.name, a_image, a_checkpoint)
    b = _side(lens, info.name, b_image, b_check)
    figure_a, figure_b, difference, caption = compare.layer_views(info, a, b, page)
    probabilities = compare.probability_view(a, b, lens.class_names)
    titles = (f"A · {a_image.name}", f"B · {b_image.name}" if mode == OTHER_IMAGE
              else f"B · {_checkpoint_words(b_check)}")
    return figure_a, figure_b, difference, probabilities, caption, *titles


def b_options(lens: Lens, search, value) -> list[dict]:
    """Return the B-image dropdown's options: the test images the search matches, always with B itself."""
    return digit_options(lens, search, [], value)


def register(app: Dash, catalog: Catalog) -> None:
    """Attach the comparison's callbacks to the app."""
    app.callback(
        Output(ids.AB_GRAPH_A, "figure"), Output(ids.AB_GRAPH_B, "figure"),
        Output(ids.AB_GRAPH_DIFFERENCE, "figure"), Output(ids.AB_PROBABILITIES, "figure"),
        Output(ids.AB_CAPTION, "children"), Output(ids.AB_TITLE_A, "children"), Output(ids.AB_TITLE_B, "children"),
        Input(ids.AB_GATE, "data"), validate.model_state(),
        prevent_initial_call=True,
    )(validate.bind(compare_ab, catalog))
    app.callback(
        Output(ids.AB_IMAGE, "options"),
        Input(ids.AB_IMAGE, "search_value"), Input(ids.AB_IMAGE, "value"), validate.model_state(),
        prevent_initial_call=True,
    )(validate.bind(b_options, catalog))
