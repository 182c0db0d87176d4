"""Callbacks for clicking through the layers and the views of the selected layer."""

from __future__ import annotations

from dash import Dash, Input, Output, no_update

from dashboard import figures, ids, views
from dashboard.callbacks import validate
from dashboard.callbacks.validate import shows_errors
from dashboard.lens import Lens
from dashboard.tensors import LayerInfo


def _layer(lens: Lens, name, checkpoint=None) -> LayerInfo:
    names = [info.name for info in lens.layers]
    return lens.layer(validate.one_of(name, names, what="Layer"), checkpoint)


def _input_channel(info: LayerInfo, value):
    count = views.input_channel_count(info)
    if count == 1 and not views.offers_full_matrix(info):
        return 0
    if value == views.SUMMARY_CHANNEL or (value == views.FULL_MATRIX and views.offers_full_matrix(info)):
        return value
    return validate.integer(value, low=0, high=count - 1, what="Input channel")


def _panel_error(message: str):
    return figures.message_figure(message, height=views.KERNEL_HEIGHT), message, no_update


@shows_errors(_panel_error)
def activations(lens: Lens, index, layer, view=None) -> tuple:
    """Return the selected layer's activations for the digit, a caption and the panel title."""
    index = validate.digit_index(index, lens.test_size)
    checkpoint = validate.checkpoint_view(view, lens)
    info = _layer(lens, layer, checkpoint)
    tensors = lens.tensors(index, checkpoint=checkpoint)
    figure, caption = views.activation_view(info, tensors.activations[info.name])
    return figure, caption, f"Activations of {info.name} ({info.kind})"


@shows_errors(_panel_error)
def weights(lens: Lens, layer, input_channel, view=None) -> tuple:
    """Return the selected layer's filters or weight matrix, a caption and the panel title."""
    checkpoint = validate.checkpoint_view(view, lens)
    info = _layer(lens, layer, checkpoint)
    figure, caption = views.kernel_view(info, lens.weights(checkpoint).get(info.name),
                                        input_channel=_input_channel(info, input_channel), value_name="weight")
    return figure, caption, f"Filters and weights of {info.name}"


@shows_errors(_panel_error)
def gradients(lens: Lens, index, layer, input_channel, view=None) -> tuple:
    """Return the loss gradient of the selected layer's weights for the digit, a caption and the title."""
    index = validate.digit_index(index, lens.test_size)
    checkpoint = validate.checkpoint_view(view, lens)
    info = _layer(lens, layer, checkpoint)
    tensors = lens.tensors(index, checkpoint=checkpoint)
    figure, caption = views.kernel_view(info, tensors.weight_gradients.get(info.name),
                                        input_channel=_input_channel(info, input_channel), value_name="∂L/∂w")
    if info.has_weights:
        caption = (f"L = cross-entropy of the true label {tensors.loss_label} (L = {tensors.loss:.4f}). "
                   f"A training step moves each weight against its gradient. {caption}")
    return figure, caption, f"Weight gradients of {info.name} for this digit"


def register(app: Dash, lens: Lens) -> None:
    """Attach the layer callbacks to the app."""
    bind = validate.bind
    app.callback(
        Output(ids.ACTIVATION_FIGURE, "data"), Output(ids.ACTIVATION_CAPTION, "children"),
        Output(ids.ACTIVATION_TITLE, "children"),
        Input(ids.DIGIT, "value"), Input(ids.SELECTED_LAYER, "data"), Input(ids.CHECKPOINT_VIEW, "data"),
    )(bind(activations, lens))
    app.callback(
        Output(ids.WEIGHT_FIGURE, "data"), Output(ids.WEIGHT_CAPTION, "children"),
        Output(ids.WEIGHT_TITLE, "children"),
        Input(ids.SELECTED_LAYER, "data"), Input(ids.INPUT_CHANNEL, "value"), Input(ids.CHECKPOINT_VIEW, "data"),
    )(bind(weights, lens))
    app.callback(
        Output(ids.GRADIENT_FIGURE, "data"), Output(ids.GRADIENT_CAPTION, "children"),
        Output(ids.GRADIENT_TITLE, "children"),
        Input(ids.DIGIT, "value"), Input(ids.SELECTED_LAYER, "data"), Input(ids.INPUT_CHANNEL, "value"),
        Input(ids.CHECKPOINT_VIEW, "data"),
    )(bind(gradients, lens))
