"""Callbacks that run in the browser (assets/clientside.js): choices that need no model.

Selecting a layer, offering its input channels and drawing a random digit take no server
round trip, so a click starts the panel requests at once instead of after a chain of them.
The colour-scale switch recolours the layer panels in place: the server sends each mosaic
once, with every channel's peak, whatever the scale. Opening and closing the sections below
the lens, and the gates that let their panels compute only while on screen, run here too.
"""

from __future__ import annotations

from dash import ClientsideFunction, Dash, Input, Output, State

from dashboard import ids, view_state
from dashboard.gates import LAZY_GATE_GROUPS, gate_group_inputs

NAMESPACE = "cnnLens"


def register(app: Dash) -> None:
    """Attach the browser-side callbacks to the app."""
    constants = State(ids.CLIENT_CONSTANTS, "data")
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "selectLayer"),
        Output(ids.SELECTED_LAYER, "data"), Output(ids.ALL_LAYER_CARDS, "className"),
        Input(ids.ALL_LAYER_CARDS, "n_clicks"), Input(ids.PREVIOUS_LAYER, "n_clicks"),
        Input(ids.NEXT_LAYER, "n_clicks"), Input(ids.LAYER_GRAPH, "clickData"), State(ids.SELECTED_LAYER, "data"),
        State(ids.LAYER_TABLE, "data"), constants, prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "markLayerNode"),
        Output(ids.LAYER_GRAPH, "figure"), Input(ids.SELECTED_LAYER, "data"), State(ids.LAYER_GRAPH, "figure"),
        prevent_initial_call=True,
    )
    # The first layer's choices ship with the page, so this runs only when the layer changes.
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "inputChannelControl"),
        Output(ids.INPUT_CHANNEL, "options"), Output(ids.INPUT_CHANNEL, "value"),
        Output(ids.INPUT_CHANNEL_FIELD, "className"),
        Input(ids.SELECTED_LAYER, "data"), State(ids.INPUT_CHANNEL, "value"), State(ids.LAYER_TABLE, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "channelPageControl"),
        Output(ids.CHANNEL_PAGE, "options"), Output(ids.CHANNEL_PAGE, "value"),
        Output(ids.CHANNEL_PAGE_FIELD, "className"),
        Input(ids.SELECTED_LAYER, "data"), State(ids.CHANNEL_PAGE, "value"), State(ids.LAYER_TABLE, "data"),
        prevent_initial_call=True,
    )
    for figure_store, graph in [(ids.ACTIVATION_FIGURE, ids.ACTIVATION_GRAPH), (ids.KERNEL_FIGURE, ids.KERNEL_GRAPH)]:
        app.clientside_callback(
            ClientsideFunction(NAMESPACE, "applyColourScale"),
            Output(graph, "figure"), Input(figure_store, "data"), Input(ids.SCALE_MODE, "value"), constants,
        )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "openModel"),
        Output(ids.MODEL_LOCATION, "search"), Input(ids.MODEL_PICKER, "value"), State(ids.MODEL_KEY, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "randomDigit"),
        Output(ids.DIGIT, "value"),
        Input(ids.RANDOM_DIGIT, "n_clicks"), State(ids.MISCLASSIFIED_ONLY, "value"), State(ids.DIGIT_POOL, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "checkpointView"),
        Output(ids.CHECKPOINT_VIEW, "data"),
        Input(ids.EPOCH_SLIDER, "value"), Input(ids.TIMELINE_STEPS, "data"), Input(ids.SHOWN_RUN, "value"),
        Input(ids.RUNS_SIGNATURE, "data"), State(ids.CHECKPOINT_VIEW, "data"), constants,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "playTimeline"),
        Output(ids.EPOCH_SLIDER, "value", allow_duplicate=True), Output(ids.PLAY_TIMER, "disabled"),
        Output(ids.PLAY_BUTTON, "children"),
        Input(ids.PLAY_BUTTON, "n_clicks"), Input(ids.PLAY_TIMER, "n_intervals"), State(ids.EPOCH_SLIDER, "value"),
        State(ids.EPOCH_SLIDER, "marks"), State(ids.PLAY_TIMER, "disabled"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "deferView"),
        Output(ids.EXPLAIN_VIEW, "data"),
        Input(ids.ACTIVATION_FIGURE, "data"), State(ids.CHECKPOINT_VIEW, "data"), State(ids.EXPLAIN_VIEW, "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "toggleSections"),
        Output(ids.OPEN_SECTIONS, "data"), Output(ids.ALL_SECTION_BODIES, "className"),
        Output(ids.ALL_SECTION_TOGGLES, "aria-expanded"), Output(ids.ALL_SECTION_SWITCHES, "value"),
        Input(ids.ALL_SECTION_TOGGLES, "n_clicks"), Input(ids.ALL_SECTION_LINKS, "n_clicks"),
        State(ids.OPEN_SECTIONS, "data"), constants,
    )
    for group in LAZY_GATE_GROUPS:
        app.clientside_callback(
            ClientsideFunction(NAMESPACE, "lazyGates"),
            *[Output(gate, "data") for gate in group],
            Input(ids.VISIBLE_PANELS, "data"),
            *[Input(component, prop) for component, prop in gate_group_inputs(group)],
            *[State(gate, "data") for gate in group], constants,
        )
    _register_own_input(app, constants)
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "startRequest"),
        Output(ids.TRAINING_REQUEST, "data"), Input(ids.START_TRAINING, "n_clicks"), prevent_initial_call=True,
    )


def _register_own_input(app: Dash, constants: State) -> None:
    """The workbench's tabs, the what-if edits, the upload's size check, the address bar and Copy link."""
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "workbench"),
        Output(ids.WORKBENCH, "hidden"), Output(ids.WORKBENCH_MODE, "value"), Output(ids.ALL_WORKBENCH_TABS, "hidden"),
        Input(ids.ALL_WORKBENCH_BUTTONS, "n_clicks"), Input(ids.WORKBENCH_CLOSE, "n_clicks"),
        Input(ids.WORKBENCH_MODE, "value"), prevent_initial_call=True,
    )
    # A stroke, Undo, Clear or a label makes the drawing's value here, so the panels' requests leave at once (the
    # server's pad_input then names it and redraws the pad).
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "padDraw"),
        Output(ids.PAD_STROKES, "data"), Output(ids.DIGIT, "value", allow_duplicate=True),
        Input(ids.PAD, "relayoutData"), Input(ids.PAD_UNDO, "n_clicks"), Input(ids.PAD_CLEAR, "n_clicks"),
        Input(ids.PAD_LABEL, "value"), State(ids.PAD_STROKES, "data"), constants, prevent_initial_call=True,
    )
    # The edits make the picked image's value; the sliders follow the value and the erase picker the picture
    # (while the workbench is not built yet, they are empty ALL lists: nothing to do).
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "whatIf"),
        Output(ids.DIGIT, "value", allow_duplicate=True), Output(ids.DIGIT, "options", allow_duplicate=True),
        Input(ids.ALL_EDIT_SLIDERS, "value"), Input(ids.EDIT_ERASE_GRAPH, "relayoutData"),
        Input(ids.EDIT_RESET, "n_clicks"), State(ids.DIGIT, "value"), State(ids.DIGIT, "options"),
        constants, prevent_initial_call=True,
    )
    # At once, not after the picture's round trip: a slider moved meanwhile would be set back.
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "editSliders"),
        Output(ids.ALL_EDIT_SLIDERS, "value"), Input(ids.DIGIT, "value"), Input(ids.WORKBENCH_BUILT, "data"),
        State(ids.ALL_EDIT_SLIDERS, "value"), prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "erasePicture"),
        Output(ids.ALL_EDIT_PICTURES, "figure"), Input(ids.INPUT_GRAPH, "figure"), Input(ids.WORKBENCH_MODE, "value"),
        Input(ids.WORKBENCH_BUILT, "data"), constants, prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "uploadGate"),
        Output(ids.IMAGE_UPLOAD_PAYLOAD, "data"), Output(ids.IMAGE_UPLOAD_NOTE, "children"),
        Input(ids.IMAGE_UPLOAD, "contents"), State(ids.IMAGE_UPLOAD, "filename"), constants,
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "syncAddress"),
        Output(ids.ADDRESS_WRITTEN, "data"),
        *[Input(component, prop) for component, prop in view_state.inputs()],
        constants, prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "abMode"),
        Output(f"{ids.AB_IMAGE}-field", "hidden"), Output(f"{ids.AB_CHECKPOINT}-field", "hidden"),
        Output(ids.AB_SHOW_B, "hidden"), Input(ids.AB_MODE, "value"), constants,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "swapAB"),
        Output(ids.DIGIT, "value", allow_duplicate=True), Output(ids.AB_IMAGE, "value"),
        Input(ids.AB_SHOW_B, "n_clicks"), State(ids.DIGIT, "value"), State(ids.AB_IMAGE, "value"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "copyLink"),
        Output(ids.COPY_LINK_NOTE, "value"), Output(ids.COPY_LINK_NOTE, "className"), Input(ids.COPY_LINK, "n_clicks"),
        prevent_initial_call=True,
    )

