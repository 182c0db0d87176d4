"""The component tree of the page. No callbacks here."""

from __future__ import annotations

from dash import dcc, html

from dashboard import (
    cell_layout,
    cells,
    compare_layout,
    components,
    gates,
    ids,
    image_keys,
    inputs,
    layer_graph,
    own_layout,
    pad_figures,
    testset,
    testset_figures,
    testset_layout,
    training_layout,
    view_state,
    views,
)
from dashboard.gates import EXPLANATIONS, SECTIONS, TRAINING
from dashboard.graph import INPUT
from dashboard.lens import Lens

SHARED_SCALE, PER_CHANNEL_SCALE = "shared", "per-channel"
PREDICTED = "predicted"
TRUE = "true"


def status_line(lens: Lens) -> str:
    """Return the header's line about the served model and the data."""
    served, predictions = lens.served, lens.predictions()
    accuracy = (f"test accuracy {predictions.accuracy:.1%} ({len(predictions.misclassified):,} of "
                f"{lens.test_size:,} misclassified)")
    if not lens.trainable:
        return (f"{lens.name} ({served.model.count_params():,} parameters, {len(lens.layers)} layers, input: "
                f"{lens.scaling.describe()}) · {accuracy} · data: {lens.data.describe()}")
    epochs = served.metadata.get("epochs", "?")
    activation = served.metadata.get("activation", "relu")
    run = served.metadata.get("run")
    origin = f"run {run}" if run else "trained at start-up"
    return (f"Model {served.version} ({origin}, {activation}, {epochs} epoch(s)) · {accuracy} · "
            f"data: {lens.data.describe()}")


def view_defaults(lens: Lens) -> dict:
    """Return the view the page opens on without a link: what view_state leaves out of the address."""
    from dashboard import attributions

    conv_layers = lens.conv_layer_names
    return {"image": 0, "layer": lens.layers[0].name, "scale": SHARED_SCALE, "saliency": PREDICTED,
            "tab": WEIGHTS_TAB, "explain": PREDICTED, "contrast": NO_CONTRAST, "samples": 50, "sigma": 0.15,
            "steps": 64, "baseline": attributions.BASELINES[0], "gradcam": conv_layers[-1] if conv_layers else None,
            "opacity": 0.7, "sanity": [], "open": [], "run": None, "step": None,
            "bmode": compare_layout.OTHER_IMAGE, "b": min(1, lens.test_size - 1),
            "bcheck": compare_layout.SERVED_CHECKPOINT, "cell": "", "field": []}


def view_checks(lens: Lens) -> dict:
    """Return, per view field, whether a value read from a link is one this model's page can show."""
    from dashboard import attributions
    from dashboard.image_keys import BadImageKey

    def shows_image(value) -> bool:
        try:
            lens.resolve(value)
        except BadImageKey:
            return False
        return True

    def is_run(value) -> bool:
        try:
            lens.runs.folder(value)
        except Exception:  # noqa: BLE001 - any value that names no run folder (RunError, a bad type)
            return False
        return True

    def is_cell(value) -> bool:
        try:
            cells.parse(value)
        except cells.BadCell:
            return False
        return True

    classes = [PREDICTED, TRUE, *range(lens.data.classes)]
    layer_names = [name for name, _ in layer_table_names(lens)]
    return {
        "image": shows_image, "layer": lambda v: v in layer_names,
        "scale": lambda v: v in (SHARED_SCALE, PER_CHANNEL_SCALE), "saliency": lambda v: v in classes,
        "tab": lambda v: v in (WEIGHTS_TAB, GRADIENTS_TAB), "explain": lambda v: v in classes,
        "contrast": lambda v: v == NO_CONTRAST or v in range(lens.data.classes),
        "samples": lambda v: 1 <= v <= attributions.MAX_SMOOTHGRAD_SAMPLES, "sigma": lambda v: 0 <= v <= 1,
        "steps": lambda v: 1 <= v <= attributions.MAX_IG_STEPS, "baseline": lambda v: v in attributions.BASELINES,
        "gradcam": lambda v: v in lens.conv_layer_names, "opacity": lambda v: 0 <= v <= 1,
        "sanity": lambda v: set(v) <= {"on"}, "open": lambda v: set(v) <= set(SECTIONS),
        "run": lambda v: lens.trainable and isinstance(v, str) and is_run(v), "step": lambda v: v >= 0,
        "b": shows_image, "bmode": lambda v: v == compare_layout.OTHER_IMAGE or (
            v == compare_layout.OTHER_CHECKPOINT and lens.trainable),
        "bcheck": lambda v: v in {c["value"] for c in compare_layout.checkpoint_choices(lens)},
        "cell": is_cell, "field": lambda v: set(v) <= {"on"},
    }


def layer_table_names(lens: Lens) -> list[tuple[str, object]]:
    """Return (name, layer info) for every layer the page can select, the input first where it is shown."""
    named: list[tuple[str, object]] = [(info.name, info) for info in lens.layers]
    if layer_graph.shows_input(lens.layers, lens.input_shape):
        named.insert(0, (INPUT, views.input_info(lens.input_shape)))
    return named


def _layer_info(lens: Lens, name: str):
    return dict(layer_table_names(lens)).get(name, lens.layers[0])


def _digit_controls(lens: Lens, digit_choices: list[dict], view: dict) -> html.Section:
    return html.Section([
        html.Div([
            html.Label(f"Test {lens.noun}", htmlFor=ids.DIGIT),
            # The first options ship with the page (Dash 4's Dropdown drops a value missing from its options);
            # the server sends others as the user searches.
            dcc.Dropdown(id=ids.DIGIT, value=view["image"], clearable=False, searchable=True,
                         maxHeight=320, placeholder="Type an index, or 'true 7', 'pred 3'…",
                         options=digit_choices, className="digit-dropdown"),
        ], className="inline-field grow"),
        html.Button(f"Random {lens.noun}", id=ids.RANDOM_DIGIT, n_clicks=0, className="button"),
        *own_layout.workbench_buttons(lens.noun, lens.data.image_shape),
        dcc.Checklist(id=ids.MISCLASSIFIED_ONLY, options=[{"label": "only misclassified", "value": "on"}],
                      value=[], className="switch"),
        html.Div([
            html.Label("Colour scale"),
            dcc.RadioItems(id=ids.SCALE_MODE, value=view["scale"], inline=True, className="radio",
                           options=[{"label": "shared", "value": SHARED_SCALE},
                                    {"label": "per channel", "value": PER_CHANNEL_SCALE}]),
        ], className="inline-field"),
    ], className="controls")


def _layer_graph(lens: Lens, selected: str) -> html.Div:
    """Return a branched model's layers as a graph; a click on a node selects the layer."""
    figure = layer_graph.layer_graph_figure(lens.layers, lens.input_shape, selected)
    return html.Div(dcc.Graph(id=ids.LAYER_GRAPH, figure=figure, responsive=False,
                              config={"displayModeBar": False, "scrollZoom": False},
                              style={"width": f"{figure.layout.width}px", "height": f"{figure.layout.height}px"}),
                    className="layer-graph", title="Click a layer to show it")


def _architecture_strip(lens: Lens, selected: str) -> html.Nav:
    if layer_graph.is_branched(lens.layers):
        return _architecture_nav(_layer_graph(lens, selected))
    cards: list[html.Button | html.Span] = []
    if layer_graph.shows_input(lens.layers, lens.input_shape):  # a chain over colour images: its channels
        shape = views.shape_text(lens.input_shape)
        cards += [html.Button([html.Span("input", className="card-name"), html.Span("the image", className="card-kind"),
                               html.Span(f"{shape} · its channels", className="card-details")],
                              id=ids.layer_card(INPUT), n_clicks=0,
                              className="layer-card selected" if selected == INPUT else "layer-card",
                              title=f"Show the input, {shape}, channel by channel"),
                  html.Span("→", className="arrow", **components.html_attributes({"aria-hidden": "true"}))]
    for position, info in enumerate(lens.layers):
        name, kind, shape, parameters = views.layer_card_text(info)
        # A ReLU layer's channels that never fire on the test set, counted once the test-set pass is ready.
        dead = ([html.Span("", id=ids.dead_count(info.name), className="card-dead")]
                if len(info.output_shape) == 3 and testset.is_relu_family(info.activation, info.kind) else [])
        cards.append(html.Button(
            [html.Span(name, className="card-name"), html.Span(kind, className="card-kind"),
             html.Span(f"{shape} · {parameters}", className="card-details"), *dead],
            id=ids.layer_card(info.name), n_clicks=0, title=f"Show layer {name}: {kind}, output {shape}, {parameters}",
            className="layer-card selected" if info.name == selected else "layer-card",
        ))
        if position < len(lens.layers) - 1:
            cards.append(html.Span("→", className="arrow", **components.html_attributes({"aria-hidden": "true"})))
    # A chain has no graph; the hidden one keeps the layer callback's inputs the same for every model.
    no_graph = html.Div(dcc.Graph(id=ids.LAYER_GRAPH, figure={}, config={"displayModeBar": False}), hidden=True)
    return _architecture_nav(html.Div([*cards, no_graph], className="cards"))


def _architecture_nav(layers: html.Div) -> html.Nav:
    return html.Nav([
        html.Button("◀", id=ids.PREVIOUS_LAYER, n_clicks=0, className="button step", title="Previous layer",
                    **components.html_attributes({"aria-label": "Previous layer"})),
        layers,
        html.Button("▶", id=ids.NEXT_LAYER, n_clicks=0, className="button step", title="Next layer",
                    **components.html_attributes({"aria-label": "Next layer"})),
    ], className="architecture", **components.html_attributes({"aria-label": "Layers of the network"}))


def class_label(names: tuple[str, ...], c: int) -> str:
    """Return how the page names class c: "class 7" where the names are the indices, else "3: cat"."""
    return f"class {c}" if names[c] == str(c) else f"{c}: {names[c]}"


def _class_options(names: tuple[str, ...], *, short: bool = False) -> list[dict]:
    return ([{"label": "predicted" if short else "predicted class", "value": PREDICTED},
             {"label": "true label" if short else "true class", "value": TRUE}]
            + [{"label": class_label(names, c), "value": c} for c in range(len(names))])


NO_CONTRAST = "none"


def _explanation_controls(lens: Lens, view: dict) -> html.Div:
    from dashboard import attributions

    names = lens.class_names
    conv_layers = lens.conv_layer_names
    return html.Div([
        html.Div([html.Label("Explain", htmlFor=ids.EXPLAIN_TARGET),
                  dcc.Dropdown(id=ids.EXPLAIN_TARGET, value=view["explain"], clearable=False, searchable=False,
                               options=_class_options(names), className="small-dropdown")], className="field"),
        html.Div([html.Label("rather than", htmlFor=ids.EXPLAIN_CONTRAST),
                  dcc.Dropdown(id=ids.EXPLAIN_CONTRAST, value=view["contrast"], clearable=False, searchable=False,
                               options=[{"label": "(no contrast)", "value": NO_CONTRAST}]
                               + [{"label": class_label(names, c), "value": c} for c in range(len(names))],
                               className="small-dropdown")], className="field"),
        components.number_field("SmoothGrad samples", ids.SMOOTHGRAD_SAMPLES, view["samples"], 1,
                                attributions.MAX_SMOOTHGRAD_SAMPLES, 1),
        components.number_field("SmoothGrad noise σ", ids.SMOOTHGRAD_SIGMA, view["sigma"], 0, 1, 0.05),
        components.number_field("IG steps", ids.IG_STEPS, view["steps"], 1, attributions.MAX_IG_STEPS, 1),
        html.Div([html.Label("IG baseline", htmlFor=ids.IG_BASELINE),
                  dcc.Dropdown(id=ids.IG_BASELINE, value=view["baseline"], clearable=False, searchable=False,
                               options=[{"label": b, "value": b} for b in attributions.BASELINES],
                               className="small-dropdown")], className="field"),
        html.Div([html.Label("Grad-CAM layer", htmlFor=ids.GRADCAM_LAYER),
                  dcc.Dropdown(id=ids.GRADCAM_LAYER, value=view["gradcam"], clearable=False,
                               searchable=False, options=conv_layers, className="small-dropdown")], className="field"),
        html.Div([html.Label("Overlay opacity"),
                  dcc.Slider(id=ids.OVERLAY_OPACITY, min=0, max=1, step=0.1, value=view["opacity"],
                             marks={0: "0", 0.5: "0.5", 1: "1"})], className="field slider-field"),
        dcc.Checklist(id=ids.SANITY_CHECK, options=[{"label": "sanity check: same maps on a randomized model",
                                                     "value": "on"}], value=view["sanity"], className="switch"),
    ], className="explain-controls")


def layer_table(lens: Lens) -> list[dict]:
    """Return what the browser needs to step through layers and offer their input channels."""
    table = [{"name": info.name, "channel_options": views.channel_options(info),
              "page_options": views.page_options(info)} for info in lens.layers]
    if layer_graph.shows_input(lens.layers, lens.input_shape):  # the input node or card: the input's channels
        table.insert(0, {"name": INPUT, "channel_options": [], "page_options": []})
    return table


def _layer_choices(lens: Lens, name: str) -> tuple[list[dict], list[dict]]:
    """Return the input-channel and page choices of the layer the page opens on."""
    row = next((r for r in layer_table(lens) if r["name"] == name), layer_table(lens)[0])
    return row["channel_options"], row["page_options"]


WEIGHTS_TAB, GRADIENTS_TAB = "weights", "gradients"


def client_constants(lens: Lens) -> dict:
    """Return the ids and values that assets/clientside.js compares against, so they are written once, here."""
    from dashboard.training_layout import SERVED

    upload_chars = 4 * (inputs.MAX_UPLOAD_BYTES // 3 + 1) + 100  # the data URL's header is short
    return {"view": view_state.client_view(lens.key, view_defaults(lens)), "digit": ids.DIGIT,
            "abOtherImage": compare_layout.OTHER_IMAGE, "editReset": ids.EDIT_RESET,
            "editMode": own_layout.EDIT, "editPictureType": ids.EDIT_PICTURE_TYPE,
            "pad": ids.PAD, "padUndo": ids.PAD_UNDO, "padClear": ids.PAD_CLEAR, "padLabel": ids.PAD_LABEL,
            "notSaid": own_layout.NOT_SAID, "padSize": pad_figures.PAD_SIZE,
            "strokeWidth": pad_figures.STROKE_WIDTH, "maxStrokes": image_keys.MAX_STROKES,
            "maxPoints": image_keys.MAX_POINTS, "maxCode": image_keys.MAX_CODE,
            "imageSize": list(lens.data.image_shape[:2]), "maxUploadChars": upload_chars,
            "maxUploadMb": inputs.MAX_UPLOAD_BYTES / 2**20,
            "previousLayer": ids.PREVIOUS_LAYER, "nextLayer": ids.NEXT_LAYER, "layerGraph": ids.LAYER_GRAPH,
            "perChannel": PER_CHANNEL_SCALE,
            "served": SERVED, "sortContribution": testset_layout.SORT_CONTRIBUTION,
            "cellFrame": testset_figures.cell_frame(0, 0), "visiblePanels": ids.VISIBLE_PANELS,
            "sectionLinkType": ids.SECTION_LINK_TYPE,
            "sectionIds": {name: components.section_id(name) for name in SECTIONS},
            "sectionOpen": components.SECTION_OPEN, "sectionClosed": components.SECTION_CLOSED,
            "gates": gates.client_gates(),
            "cells": {"activation": ids.ACTIVATION_GRAPH, "kernel": ids.KERNEL_GRAPH, "saliency": ids.SALIENCY_GRAPH,
                      "probability": ids.PROBABILITY_GRAPH, "close": ids.CELL_CLOSE, "layer": ids.SELECTED_LAYER,
                      "cell": ids.CELL,
                      "colour": views.COLOUR, "openClass": cell_layout.DRAWER_OPEN,
                      "closedClass": cell_layout.DRAWER_CLOSED}}


def _sidebar(lens: Lens, view: dict) -> html.Aside:
    saliency_class = html.Div([
        html.Label("saliency of", htmlFor=ids.SALIENCY_CLASS),
        dcc.Dropdown(id=ids.SALIENCY_CLASS, value=view["saliency"], clearable=False, searchable=False,
                     options=_class_options(lens.class_names, short=True), className="small-dropdown"),
    ], className="inline-field")
    digit = html.Section([
        html.Div([html.H2("Input"), saliency_class], className="panel-head"),
        html.Div([components.graph(ids.INPUT_GRAPH), components.graph(ids.SALIENCY_GRAPH)], className="pair"),
        html.P("", id=ids.SALIENCY_CAPTION, className="caption"),
        html.P("", id=ids.DIGIT_SUMMARY, className="digit-summary",
               **components.html_attributes({"aria-live": "polite"})),
        html.Div([html.Button("Copy link", id=ids.COPY_LINK, n_clicks=0, className="button small",
                              title="The address holds this view (the model, image, layer, settings and checkpoint): "
                                    "copy it to share it"),
                  html.Button("Report (.html)", id=ids.REPORT_BUTTON, n_clicks=0, className="button small",
                              title="Every figure of this view with its caption, in one file that opens offline"),
                  html.Button("Numbers (.npz)", id=ids.EXPORT_BUTTON, n_clicks=0, className="button small",
                              title="The picture, the model's input, the probabilities, the saliency and every "
                                    "layer's activations, weights and gradients, as NumPy arrays"),
                  dcc.Input(id=ids.COPY_LINK_NOTE, value="", readOnly=True, className="link-box hidden",
                            name="view-link"),
                  html.Span("", id=ids.EXPORT_NOTE, className="export-note"), dcc.Download(id=ids.TENSORS_DOWNLOAD),
                  dcc.Download(id=ids.REPORT_DOWNLOAD)],
                 className="export-row"),
    ], className="panel digit-panel")
    return html.Aside([
        own_layout.workbench(lens.noun, lens.data.image_shape),
        digit,
        components.panel("Class probabilities", ids.PROBABILITY_GRAPH, "Blue: the prediction; green outline: the "
                         "true label.", class_name="probability-panel"),
    ], className="sidebar")


def _kernel_panel(lens: Lens, view: dict) -> html.Section:
    tabs = dcc.RadioItems(id=ids.KERNEL_TAB, value=view["tab"], inline=True, className="tabs",
                          options=[{"label": "Filters", "value": WEIGHTS_TAB},
                                   {"label": "Gradients", "value": GRADIENTS_TAB}])
    # The first layer's input-channel choices ship with the page; the browser swaps them per layer.
    first_choices = _layer_choices(lens, view["layer"])[0]
    channel_controls = html.Div([
        html.Label("input channel", htmlFor=ids.INPUT_CHANNEL),
        # No value where there is nothing to choose: Dash 4's Dropdown would drop it, and that looks like a change.
        dcc.Dropdown(id=ids.INPUT_CHANNEL, value=first_choices[0]["value"] if first_choices else None,
                     clearable=False, options=first_choices, className="small-dropdown"),
    ], id=ids.INPUT_CHANNEL_FIELD, className="inline-field" if first_choices else "inline-field hidden")
    return html.Section([
        html.Div([tabs], className="panel-head"),
        html.Div([html.H2("", id=ids.KERNEL_TITLE, className="panel-subtitle"), channel_controls],
                 className="kernel-title-row"),
        components.graph(ids.KERNEL_GRAPH, ids.KERNEL_FIGURE, fill=True),
        html.P("", id=ids.KERNEL_CAPTION, className="caption"),
    ], className="panel kernel-panel")


def _page_control(lens: Lens, view: dict) -> html.Div:
    """Return the activation panel's page control for layers with more channels than one page shows."""
    first_pages = _layer_choices(lens, view["layer"])[1]
    return html.Div([
        html.Label("channels", htmlFor=ids.CHANNEL_PAGE),
        dcc.Dropdown(id=ids.CHANNEL_PAGE, value=0 if first_pages else None, clearable=False, searchable=False,
                     options=first_pages, className="small-dropdown page-dropdown"),
    ], id=ids.CHANNEL_PAGE_FIELD, className="inline-field" if first_pages else "inline-field hidden")


def _explanations_section(lens: Lens, view: dict) -> html.Section:
    return components.section(EXPLANATIONS, "Explanations: which pixels made the network say this?", [
        html.Div([
            _explanation_controls(lens, view),
            components.graph(ids.EXPLANATION_GRAPH),
            html.P("", id=ids.EXPLANATION_CAPTION, className="caption"),
            components.graph(ids.DELETION_GRAPH),
            html.P("", id=ids.DELETION_CAPTION, className="caption"),
        ], className="lazy", **components.html_attributes({"data-lazy": EXPLANATIONS})),
    ])


def model_picker(lens: Lens, choices: list[dict], *, upload_mb: float | None = None) -> html.Div:
    """Return the header's model picker (hidden with one model and no upload): choosing a model opens the page
    on it. With `upload_mb` (the operator allowed uploads), a button to upload a .keras file of at most that."""
    upload = [] if upload_mb is None else [
        dcc.Upload(html.Button("Upload a model…", className="button", title=f"A .keras image classifier of at "
                               f"most {upload_mb:g} MB; it gets the same checks as the server's own models"),
                   id=ids.MODEL_UPLOAD, accept=".keras", multiple=False, max_size=int(upload_mb * 1024 * 1024),
                   className="model-upload"),
        dcc.Loading(html.Span("", id=ids.UPLOAD_MESSAGE, className="upload-message", role="status", n_clicks=0,
                              title="Click to close"),
                    type="dot", delay_show=250, color="#2563eb"),
    ]
    return html.Div([
        html.Label("Model", htmlFor=ids.MODEL_PICKER),
        dcc.Dropdown(id=ids.MODEL_PICKER, value=lens.key, clearable=False, searchable=False, options=choices,
                     optionHeight=44, className="model-dropdown"),
        *upload,
        dcc.Store(id=ids.MODEL_KEY, data=lens.key),
        dcc.Location(id=ids.MODEL_LOCATION, refresh=True),
    ], className="inline-field model-field", hidden=len(choices) < 2 and upload_mb is None)


def _header(lens: Lens, model_choices: list[dict], upload_mb: float | None) -> html.Header:
    links = [html.Button(title, id=ids.section_link(name), n_clicks=0, className="section-link",
                         title=f"Open {title.lower()} below the lens", hidden=name == TRAINING and not lens.trainable)
             for name, title in SECTIONS.items()]
    status = status_line(lens)
    return html.Header([
        html.Div([html.H1("CNN Lens"),
                  html.Span("look inside a convolutional network, layer by layer", className="tagline")],
                 className="brand"),
        model_picker(lens, model_choices, upload_mb=upload_mb),
        html.P(status, id=ids.STATUS, className="status", title=status),
        html.Nav(links, className="section-links", **components.html_attributes({"aria-label": "More views"})),
    ], className="top")


def built_later(lens: Lens) -> list:
    """Return the components callbacks build into the page after it loads (the workbench's tabs), for Dash's
    check of every callback's ids (app.validation_layout)."""
    return own_layout.workbench_tabs(lens.noun, lens.data.image_shape, lens.class_names, own_layout.UPLOAD)


def build_layout(lens: Lens, digit_choices: list[dict], model_choices: list[dict] | None = None,
                 notice: str = "", upload_mb: float | None = None, view: dict | None = None,
                 b_choices: list[dict] | None = None) -> html.Div:
    """Return the whole page for the lens's current model, opening on `view` (view_state: the image, layer,
    settings and checkpoint a link names; the defaults without one); `digit_choices`: the dropdown's first
    options, which must hold the view's image; `model_choices` fill the model picker (the catalog's choices);
    `upload_mb`: the operator allows uploading models of at most that size; `b_choices`: the first options of the
    comparison's B image, which must hold the view's B.

    The first screen is the lens: the digit, the layer strip, the selected layer's activations with its
    filters or gradients beside them, and the input, probabilities and saliency. Everything else is in
    sections below that compute only while open and on screen.
    """
    view = {**view_defaults(lens), **(view or {})}
    checkpoint = (view["run"], view["step"]) if view["run"] is not None and view["step"] is not None else None
    # What the page knows of the runs when it opens; the poll (runs_signature) brings changes.
    signature = lens.run_signature()
    shown_options, compare_options = training_layout.run_choices(lens, signature)
    return html.Div([
        cell_layout.drawer(view["field"]),  # first: while open, everything after it makes room (style.css)
        _header(lens, model_choices or [], upload_mb),
        html.Div(notice, id=ids.ERROR_BANNER, className="error-banner", role="alert"),
        _digit_controls(lens, digit_choices, view),
        _architecture_strip(lens, view["layer"]),
        html.Div(training_layout.timeline_bar(lens, signature, shown_options, checkpoint), hidden=not lens.trainable),
        dcc.Store(id=ids.ADDRESS_WRITTEN),
        dcc.Store(id=ids.SELECTED_LAYER, data=view["layer"]),
        dcc.Store(id=ids.CELL, data=view["cell"]),
        dcc.Store(id=ids.CELL_REQUEST),
        dcc.Store(id=ids.LAYER_TABLE, data=layer_table(lens)),
        dcc.Store(id=ids.DIGIT_POOL, data={"size": lens.test_size,
                                           "misclassified": lens.predictions().misclassified.tolist()}),
        dcc.Store(id=ids.CLIENT_CONSTANTS, data=client_constants(lens)),
        dcc.Store(id=ids.OPEN_SECTIONS, data=view["open"]),
        dcc.Store(id=ids.VISIBLE_PANELS, data=[]),
        dcc.Store(id=ids.EXPLAIN_GATE),
        dcc.Store(id=ids.ACTIVATION_ZOOM),
        dcc.Store(id=ids.KERNEL_ZOOM),
        # Already answered when the served model's pass is kept: the panels need not wait for pass_status.
        dcc.Store(id=ids.TESTPASS_GATE, data=None if checkpoint else testset_layout.pass_gate_answered(lens)),
        dcc.Store(id=ids.TESTSET_GATE),
        dcc.Store(id=ids.EMBED_GATE),
        dcc.Store(id=ids.CHANNEL_GATE),
        dcc.Store(id=ids.COMPARE_GATE),
        dcc.Store(id=ids.AB_GATE),
        dcc.Store(id=ids.TRAINING_GATE),
        html.Main([
            _sidebar(lens, view),
            components.panel("Activations", ids.ACTIVATION_GRAPH, "", caption_id=ids.ACTIVATION_CAPTION,
                             title_id=ids.ACTIVATION_TITLE, figure_store=ids.ACTIVATION_FIGURE,
                             controls=_page_control(lens, view), class_name="activation-panel", fill=True),
            _kernel_panel(lens, view),
        ], className="lens"),
        _explanations_section(lens, view),
        compare_layout.compare_section(lens, view, b_choices or []),
        testset_layout.testset_section(lens),
        html.Div(components.section(TRAINING, "Training and runs: watch the network learn",
                          training_layout.training_body(lens, compare_options)), hidden=not lens.trainable),
        html.Footer("CNN Lens · every number on hover is the model's true value.", className="footer"),
    ], className="page")
