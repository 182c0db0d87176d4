"""The explanation drawer: a clicked cell of the activations, the filters or gradients, the saliency or the
probabilities, taken apart. The browser turns a click into the cell's text (assets/clientside.js, pickCell) and
asks the server only while a cell is open; the answer follows the picked image, layer and checkpoint."""

from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State, no_update

from dashboard import cell_layout, cells, figures, ids
from dashboard.callbacks import validate
from dashboard.callbacks.digit import _score_class
from dashboard.callbacks.layers import layer_of
from dashboard.callbacks.validate import InvalidInput, shows_errors
from dashboard.catalog import Catalog
from dashboard.lens import Lens

NAMESPACE = "cnnLens"


def _cell_error(message: str):
    return "This cell cannot be explained", message, no_update, "hidden"


def _title(explained: cells.CellExplanation) -> str:
    d, g, flow = explained.forward, explained.gradient, explained.flow
    if d is not None:
        where = (f"channel {d.cell[0]}, row {d.cell[1]}, col {d.cell[2]}" if len(d.cell) == 3 else
                 f"unit {d.cell[0]}")
        return f"{d.layer} · {where} = {d.value:.4g}"
    if g is not None:
        if g.kind == "conv":
            i, j, c, f = g.weight
            return f"∂L/∂w of {g.layer} · filter {f}, input channel {c}, w[{i},{j}] = {g.value:.4g}"
        return f"∂L/∂W of {g.layer} · {g.input_name or f'input {g.weight[0]}'}, unit {g.weight[1]} = {g.value:.4g}"
    if flow is not None:
        return f"Saliency at row {flow.pixel[0]}, col {flow.pixel[1]} = {flow.value:.4g}"
    return explained.layer.name if explained.layer else "This cell"


@shows_errors(_cell_error)
def explain_cell(lens: Lens, request) -> tuple:
    """Return the drawer's (title, body, figure, figure box class) for the open cell and the view it belongs to."""
    if not isinstance(request, dict):
        raise InvalidInput("The explanation request must be a mapping.")
    try:
        cell = cells.parse(request.get("cell"))
    except cells.BadCell as error:
        raise InvalidInput(str(error)) from None
    if cell is None:
        raise InvalidInput("Click a cell of the activations, the filters or gradients, the saliency or the "
                           "probabilities to see how it was computed.")
    shown = validate.image(request.get("image"), lens)
    checkpoint = validate.checkpoint_view(request.get("view"), lens)
    layer = layer_of(lens, request.get("layer"), checkpoint)
    score_class = _score_class(lens, request.get("saliency", "predicted"), shown.label)
    effective = validate.flag_list(request.get("effective") or [], what="Effective field switch")
    try:
        explained = cells.explain(lens, shown.value, layer, cell, checkpoint, effective=bool(effective),
                                  score_class=score_class)
    except cells.BadCell as error:
        raise InvalidInput(str(error)) from None
    tensors = lens.tensors(shown.value, score_class, checkpoint=checkpoint)
    figure = None
    if explained.forward is not None:
        body = cell_layout.forward_body(explained.forward)
        figure = cell_layout.forward_figure(explained)
    elif explained.gradient is not None:
        against = ("the true label" if shown.label is not None else "the predicted class (no true label)")
        body = cell_layout.gradient_body(explained.gradient, f"L: the cross-entropy against {against} "
                                         f"{tensors.loss_label}, L = {tensors.loss:.4f}; {explained.note}.")
        figure = cell_layout.gradient_figure(explained.gradient)
    elif explained.flow is not None:
        body = cell_layout.flow_body(explained.flow, f"S: the score of class {tensors.saliency_class} "
                                     f"({tensors.score_kind}) that the saliency differentiates.")
    else:
        return (_title(explained), cell_layout.note_body(explained.note), figures.message_figure("", height=10),
                "hidden")
    blank = figures.message_figure("", height=10)
    return (_title(explained), cell_layout.markdown(body), figure if figure is not None else blank,
            "" if figure is not None else "hidden")


def register(app: Dash, catalog: Catalog) -> None:
    """Attach the drawer's callbacks to the app."""
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "pickCell"),
        Output(ids.CELL, "data"), Output(ids.CELL_REQUEST, "data"), Output(ids.CELL_DRAWER, "className"),
        Input(ids.ACTIVATION_GRAPH, "clickData"), Input(ids.KERNEL_GRAPH, "clickData"),
        Input(ids.SALIENCY_GRAPH, "clickData"), Input(ids.PROBABILITY_GRAPH, "clickData"),
        Input(ids.CELL_CLOSE, "n_clicks"), Input(ids.SELECTED_LAYER, "data"), Input(ids.DIGIT, "value"),
        Input(ids.CHECKPOINT_VIEW, "data"), Input(ids.CELL_EFFECTIVE, "value"), Input(ids.SALIENCY_CLASS, "value"),
        Input(ids.CELL, "data"), State(ids.INPUT_CHANNEL, "value"), State(ids.CELL_DRAWER, "className"),
        State(ids.CLIENT_CONSTANTS, "data"),
    )
    app.callback(
        Output(ids.CELL_TITLE, "children"), Output(ids.CELL_BODY, "children"), Output(ids.CELL_GRAPH, "figure"),
        Output(ids.CELL_GRAPH_BOX, "className"),
        Input(ids.CELL_REQUEST, "data"), validate.model_state(), prevent_initial_call=True,
    )(validate.bind(explain_cell, catalog))
