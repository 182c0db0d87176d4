"""Callbacks for clicking through the layers and the views of the selected layer."""

from __future__ import annotations

import math

from dash import ClientsideFunction, Dash, Input, Output, State, no_update

from dashboard import figures, ids, layer_graph, views
from dashboard.callbacks import validate
from dashboard.callbacks.clientside import NAMESPACE
from dashboard.callbacks.validate import shows_errors
from dashboard.catalog import Catalog
from dashboard.graph import INPUT
from dashboard.layout import GRADIENTS_TAB, WEIGHTS_TAB
from dashboard.lens import Lens
from dashboard.tensors import LayerInfo


def layer_of(lens: Lens, name, checkpoint=None) -> LayerInfo:
    """Return the info of the layer a page value names (the input, where its card or node is shown)."""
    names = [info.name for info in lens.layers]
    if name == INPUT and layer_graph.shows_input(lens.layers, lens.input_shape):  # the input node or card
        return views.input_info(lens.input_shape)
    return lens.layer(validate.one_of(name, names, what="Layer"), checkpoint)


def input_channel_of(info: LayerInfo, value):
    """Return the input channel the filter panel shows for a page value (the first choice when none)."""
    options = views.channel_options(info)
    if not options:
        return 0
    if value is None:  # the control is being swapped to this layer's choices: its first one
        return options[0]["value"]
    named = [option["value"] for option in options if isinstance(option["value"], str)]
    if isinstance(value, str) or len(named) == len(options):
        return validate.one_of(value, named, what="Input channel")
    return validate.integer(value, low=0, high=views.input_channel_count(info) - 1, what="Input channel")


def channel_page_of(info: LayerInfo, value) -> int:
    """Return the page of a wide layer's channels a page value names."""
    pages = views.channel_pages(info)
    if pages == 1 or value is None:
        return 0
    return validate.integer(value, low=0, high=pages - 1, what="Channel page")


def _layer_views_error(message: str):
    figure = figures.message_figure(message, height=views.KERNEL_HEIGHT)
    return figure, message, no_update, figure, message, no_update


def activation_title(info: LayerInfo) -> str:
    """Return the activation panel's title for a layer."""
    if info.kind == views.INPUT_KIND:
        return "The input, channel by channel"
    return f"Activations of {info.name} ({info.kind})"


def kernel_title(info: LayerInfo, tab: str) -> str:
    """Return the filter panel's title for a layer, on the filters or the gradients tab."""
    if tab == WEIGHTS_TAB:
        return f"Filters and weights of {info.name}"
    return f"Weight gradients of {info.name} for this digit"


def activation_panel(lens: Lens, info: LayerInfo, index: int | str, checkpoint, page: int, zoom=None) -> tuple:
    """Return the activation panel's (figure, caption, title) for an image."""
    values = (lens.image(index)[0] if info.kind == views.INPUT_KIND
              else lens.tensors(index, checkpoint=checkpoint).activations[info.name])
    figure, caption = views.activation_view(info, values, page, zoom)
    return figure, caption, activation_title(info)


def kernel_panel(lens: Lens, info: LayerInfo, index: int | str, tab: str, channel, checkpoint, zoom=None) -> tuple:
    """Return the filter panel's (figure, caption, title): the layer's weights, or their loss gradients for an image."""
    if info.kind == views.INPUT_KIND:
        figure, caption = views.kernel_view(info, None, input_channel=channel, value_name="weight")
        return figure, caption, kernel_title(info, tab)
    if tab == WEIGHTS_TAB:
        figure, caption = views.kernel_view(info, lens.weights(checkpoint).get(info.name), input_channel=channel,
                                            value_name="weight", zoom=zoom)
        return figure, caption, kernel_title(info, tab)
    tensors = lens.tensors(index, checkpoint=checkpoint)
    figure, caption = views.kernel_view(info, tensors.weight_gradients.get(info.name), input_channel=channel,
                                        value_name="∂L/∂w", zoom=zoom)
    if info.has_weights:
        against = ("the true label" if lens.resolve(index).label is not None
                   else "the predicted class (the image has no true label)")
        caption = (f"L = cross-entropy of {against} {tensors.loss_label} (L = {tensors.loss:.4f}). "
                   f"A training step moves each weight against its gradient. {caption}")
    return figure, caption, kernel_title(info, tab)


@shows_errors(_layer_views_error)
def layer_views(lens: Lens, index, layer, input_channel, tab, view=None, page=None, shown_activation=None,
                shown_kernel=None) -> tuple:
    """Return the selected layer's activations for the digit (figure, caption, title), and beside them its
    filters or, on the other tab, their loss gradients for the digit (figure, caption, title).

    One request per user action: each part is computed only when what it shows changed (no_update
    otherwise), so a digit change leaves the filters alone and a new input channel the activations. A
    panel whose title (`shown_activation`, `shown_kernel`) is not the one wanted is always redrawn, so the
    first call draws both whatever set it off.
    """
    index = validate.image(index, lens).value
    checkpoint = validate.checkpoint_view(view, lens)
    info = layer_of(lens, layer, checkpoint)
    tab = validate.one_of(tab, [WEIGHTS_TAB, GRADIENTS_TAB], what="Tab")
    channel = input_channel_of(info, input_channel)
    page = channel_page_of(info, page)
    triggered = validate.triggered_props()
    everything = triggered is None or bool(triggered & {ids.SELECTED_LAYER, ids.CHECKPOINT_VIEW})
    changed = triggered or set()  # None (the first call) redraws everything, and then `changed` is not read
    activations = (everything or bool(changed & {ids.DIGIT, ids.CHANNEL_PAGE})
                   or shown_activation != activation_title(info))
    kernels = (everything or bool(changed & {ids.INPUT_CHANNEL, ids.KERNEL_TAB})
               or shown_kernel != kernel_title(info, tab) or (ids.DIGIT in changed and tab == GRADIENTS_TAB))
    left = activation_panel(lens, info, index, checkpoint, page) if activations else (no_update,) * 3
    right = kernel_panel(lens, info, index, tab, channel, checkpoint) if kernels else (no_update,) * 3
    return (*left, *right)


def zoom_window(relayout) -> tuple[list[float], list[float]] | None:
    """Return the (x, y) ranges a box zoom or a pan set on the mosaic, or None for anything else (a reset,
    an autosize, a value no browser sends)."""
    if not isinstance(relayout, dict):
        return None
    keys = ("xaxis.range[0]", "xaxis.range[1]", "yaxis.range[0]", "yaxis.range[1]")
    values: list[float] = []
    for key in keys:
        value = relayout.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return None
        values.append(float(value))
    return values[:2], values[2:]


def _zoomed_layer(lens: Lens, relayout, index, layer, view) -> tuple | None:
    """Return (window, image index, layer, checkpoint) for a zoom event on a layer panel, each checked; None
    when the event is not a zoom."""
    window = zoom_window(relayout)
    if window is None:
        return None
    index = validate.image(index, lens).value
    checkpoint = validate.checkpoint_view(view, lens)
    return window, index, layer_of(lens, layer, checkpoint), checkpoint


@shows_errors(lambda message: figures.message_figure(message, height=views.ACTIVATION_HEIGHT))
def zoom_activations(lens: Lens, relayout, index, layer, page=None, view=None):
    """Return the activation mosaic again, keeping the window the user zoomed to, with the tiles in it at full
    resolution; no_update where the layer's maps are drawn at full size already, or the event is not a zoom."""
    zoomed = _zoomed_layer(lens, relayout, index, layer, view)
    if zoomed is None or views.activation_block(zoomed[2]) == 1:
        return no_update
    window, index, info, checkpoint = zoomed
    return activation_panel(lens, info, index, checkpoint, channel_page_of(info, page), window)[0]


@shows_errors(lambda message: figures.message_figure(message, height=views.KERNEL_HEIGHT))
def zoom_kernels(lens: Lens, relayout, index, layer, input_channel, tab, view=None):
    """Return the filter panel's matrix again, keeping the window the user zoomed to, with the weights (or
    gradients) in it at full resolution; no_update where the panel is not a shrunk matrix or the event is not
    a zoom."""
    zoomed = _zoomed_layer(lens, relayout, index, layer, view)
    if zoomed is None:
        return no_update
    window, index, info, checkpoint = zoomed
    tab = validate.one_of(tab, [WEIGHTS_TAB, GRADIENTS_TAB], what="Tab")
    figure = kernel_panel(lens, info, index, tab, input_channel_of(info, input_channel), checkpoint, window)[0]
    shrunk = figure.data and figure.data[0].type == "heatmap" and (figure.data[0].meta or {}).get("block", 1) > 1
    return figure if shrunk else no_update


def register(app: Dash, catalog: Catalog) -> None:
    """Attach the layer callback to the app."""
    app.callback(
        Output(ids.ACTIVATION_FIGURE, "data"), Output(ids.ACTIVATION_CAPTION, "children"),
        Output(ids.ACTIVATION_TITLE, "children"),
        Output(ids.KERNEL_FIGURE, "data"), Output(ids.KERNEL_CAPTION, "children"), Output(ids.KERNEL_TITLE, "children"),
        Input(ids.DIGIT, "value"), Input(ids.SELECTED_LAYER, "data"), Input(ids.INPUT_CHANNEL, "value"),
        Input(ids.KERNEL_TAB, "value"), Input(ids.CHECKPOINT_VIEW, "data"), Input(ids.CHANNEL_PAGE, "value"),
        State(ids.ACTIVATION_TITLE, "children"), State(ids.KERNEL_TITLE, "children"), validate.model_state(),
    )(validate.bind(layer_views, catalog))
    # Only a zoom or a pan goes to the server: Plotly also reports every autosize (on each page load and
    # resize), which the browser drops here instead of sending requests that change nothing.
    for graph, window in ((ids.ACTIVATION_GRAPH, ids.ACTIVATION_ZOOM), (ids.KERNEL_GRAPH, ids.KERNEL_ZOOM)):
        app.clientside_callback(ClientsideFunction(NAMESPACE, "zoomWindow"), Output(window, "data"),
                                Input(graph, "relayoutData"), prevent_initial_call=True)
    app.callback(
        Output(ids.ACTIVATION_FIGURE, "data", allow_duplicate=True),
        Input(ids.ACTIVATION_ZOOM, "data"), State(ids.DIGIT, "value"), State(ids.SELECTED_LAYER, "data"),
        State(ids.CHANNEL_PAGE, "value"), State(ids.CHECKPOINT_VIEW, "data"), validate.model_state(),
        prevent_initial_call=True,
    )(validate.bind(zoom_activations, catalog))
    app.callback(
        Output(ids.KERNEL_FIGURE, "data", allow_duplicate=True),
        Input(ids.KERNEL_ZOOM, "data"), State(ids.DIGIT, "value"), State(ids.SELECTED_LAYER, "data"),
        State(ids.INPUT_CHANNEL, "value"), State(ids.KERNEL_TAB, "value"), State(ids.CHECKPOINT_VIEW, "data"),
        validate.model_state(), prevent_initial_call=True,
    )(validate.bind(zoom_kernels, catalog))
