"""The component tree of the page. No callbacks here."""

from __future__ import annotations

from dash import dcc, html

from dashboard import ids, views
from dashboard.lens import Lens

GRAPH_CONFIG = {"displayModeBar": "hover", "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"], "scrollZoom": False}
SHARED_SCALE, PER_CHANNEL_SCALE = "shared", "per-channel"
PREDICTED = "predicted"
TRUE = "true"


def _graph(graph_id: str, figure_store: str | None = None) -> dcc.Loading:
    # A panel whose figure the browser recolours gets it from a store inside the same Loading,
    # so the spinner still shows while the server computes.
    children = [dcc.Graph(id=graph_id, config=GRAPH_CONFIG, className="panel-graph")]
    if figure_store:
        children.insert(0, dcc.Store(id=figure_store))
    return dcc.Loading(children, type="circle", delay_show=250, color="#2563eb")


def panel(title, graph_id: str, caption, *, caption_id: str | None = None, controls=None,
          title_id: str | None = None, figure_store: str | None = None, class_name: str = "") -> html.Section:
    """Return one panel: a title, optional controls, a graph with a loading indicator, a caption."""
    heading = html.H2(title, id=title_id) if title_id else html.H2(title)
    caption_props = {"id": caption_id} if caption_id else {}
    return html.Section(
        [html.Div([heading, controls] if controls is not None else [heading], className="panel-head"),
         _graph(graph_id, figure_store),
         html.P(caption, className="caption", **caption_props)],
        className=f"panel {class_name}".strip(),
    )


def status_line(lens: Lens) -> str:
    """Return the header's line about the served model and the data."""
    served, predictions = lens.served, lens.predictions()
    epochs = served.metadata.get("epochs", "?")
    activation = served.metadata.get("activation", "relu")
    run = served.metadata.get("run")
    origin = f"run {run}" if run else "trained at start-up"
    return (f"Model {served.version} ({origin}, {activation}, {epochs} epoch(s)) · test accuracy "
            f"{predictions.accuracy:.1%} ({len(predictions.misclassified):,} of {lens.test_size:,} misclassified) · "
            f"data: {lens.data.describe()}")


def _header(lens: Lens) -> html.Header:
    status = status_line(lens)
    return html.Header([
        html.Div([html.H1("CNN Lens"),
                  html.Span("look inside a convolutional network, layer by layer", className="tagline")],
                 className="brand"),
        html.P(status, id=ids.STATUS, className="status"),
    ], className="top")


def _digit_controls(lens: Lens, first_digit: dict) -> html.Section:
    return html.Section([
        html.Div([
            html.Label("Test digit", htmlFor=ids.DIGIT),
            # The first digit's option ships with the page: Dash 4's Dropdown drops a value missing from options.
            dcc.Dropdown(id=ids.DIGIT, value=first_digit["value"], clearable=False, searchable=True, maxHeight=320,
                         placeholder="Type an index, or 'true 7', 'pred 3'…",
                         options=[first_digit], className="digit-dropdown"),
        ], className="field grow"),
        html.Button("Random digit", id=ids.RANDOM_DIGIT, n_clicks=0, className="button"),
        dcc.Checklist(id=ids.MISCLASSIFIED_ONLY, options=[{"label": "only misclassified", "value": "on"}],
                      value=[], className="switch"),
        html.Div([
            html.Label("Colour scale"),
            dcc.RadioItems(id=ids.SCALE_MODE, value=SHARED_SCALE, inline=True, className="radio",
                           options=[{"label": "shared", "value": SHARED_SCALE},
                                    {"label": "per channel", "value": PER_CHANNEL_SCALE}]),
        ], className="field"),
        html.P(id=ids.DIGIT_SUMMARY, className="digit-summary", **{"aria-live": "polite"}),
    ], className="controls")


def _architecture_strip(lens: Lens) -> html.Nav:
    cards = []
    for position, info in enumerate(lens.layers):
        name, kind, shape, parameters = views.layer_card_text(info)
        cards.append(html.Button(
            [html.Span(name, className="card-name"), html.Span(kind, className="card-kind"),
             html.Span(shape, className="card-details"), html.Span(parameters, className="card-details")],
            id=ids.layer_card(info.name), n_clicks=0, title=f"Show layer {name}",
            className="layer-card selected" if position == 0 else "layer-card",
        ))
        if position < len(lens.layers) - 1:
            cards.append(html.Span("→", className="arrow", **{"aria-hidden": "true"}))
    return html.Nav([
        html.Button("◀ Previous", id=ids.PREVIOUS_LAYER, n_clicks=0, className="button step"),
        html.Div(cards, className="cards"),
        html.Button("Next ▶", id=ids.NEXT_LAYER, n_clicks=0, className="button step"),
    ], className="architecture", **{"aria-label": "Layers of the network"})


def _class_options(classes: int) -> list[dict]:
    return ([{"label": "predicted class", "value": PREDICTED}, {"label": "true class", "value": TRUE}]
            + [{"label": f"class {c}", "value": c} for c in range(classes)])


NO_CONTRAST = "none"


def _number_field(label: str, component_id: str, value, low, high, step) -> html.Div:
    return html.Div([html.Label(label, htmlFor=component_id),
                     dcc.Input(id=component_id, type="number", value=value, min=low, max=high, step=step,
                               debounce=True, className="number-input")], className="field")


def _explanation_controls(lens: Lens) -> html.Div:
    from dashboard import attributions

    classes = lens.served.extractor.classes
    conv_layers = lens.conv_layer_names
    return html.Div([
        html.Div([html.Label("Explain", htmlFor=ids.EXPLAIN_TARGET),
                  dcc.Dropdown(id=ids.EXPLAIN_TARGET, value=PREDICTED, clearable=False, searchable=False,
                               options=_class_options(classes), className="small-dropdown")], className="field"),
        html.Div([html.Label("rather than", htmlFor=ids.EXPLAIN_CONTRAST),
                  dcc.Dropdown(id=ids.EXPLAIN_CONTRAST, value=NO_CONTRAST, clearable=False, searchable=False,
                               options=[{"label": "(no contrast)", "value": NO_CONTRAST}]
                               + [{"label": f"class {c}", "value": c} for c in range(classes)],
                               className="small-dropdown")], className="field"),
        _number_field("SmoothGrad samples", ids.SMOOTHGRAD_SAMPLES, 50, 1, attributions.MAX_SMOOTHGRAD_SAMPLES, 1),
        _number_field("SmoothGrad noise σ", ids.SMOOTHGRAD_SIGMA, 0.15, 0, 1, 0.05),
        _number_field("IG steps", ids.IG_STEPS, 64, 1, attributions.MAX_IG_STEPS, 1),
        html.Div([html.Label("IG baseline", htmlFor=ids.IG_BASELINE),
                  dcc.Dropdown(id=ids.IG_BASELINE, value="black", clearable=False, searchable=False,
                               options=[{"label": b, "value": b} for b in attributions.BASELINES],
                               className="small-dropdown")], className="field"),
        html.Div([html.Label("Grad-CAM layer", htmlFor=ids.GRADCAM_LAYER),
                  dcc.Dropdown(id=ids.GRADCAM_LAYER, value=conv_layers[-1] if conv_layers else None, clearable=False,
                               searchable=False, options=conv_layers, className="small-dropdown")], className="field"),
        html.Div([html.Label("Overlay opacity"),
                  dcc.Slider(id=ids.OVERLAY_OPACITY, min=0, max=1, step=0.1, value=0.7,
                             marks={0: "0", 0.5: "0.5", 1: "1"})], className="field slider-field"),
        dcc.Checklist(id=ids.SANITY_CHECK, options=[{"label": "sanity check: same maps on a randomized model",
                                                     "value": "on"}], value=[], className="switch"),
    ], className="explain-controls")


SERVED = "served"
PLAY_INTERVAL_MS = 900
PROGRESS_MAX = "1000"  # html.Progress takes its numbers as strings


def _timeline(lens: Lens) -> html.Section:
    """The bar that picks what the main panels show: the served model, or any checkpoint of any run."""
    return html.Section([
        html.Div([html.Label("Views show", htmlFor=ids.SHOWN_RUN),
                  dcc.Dropdown(id=ids.SHOWN_RUN, value=SERVED, clearable=False, searchable=False,
                               options=[{"label": "the served model", "value": SERVED}], className="run-dropdown")],
                 className="field"),
        html.Div([
            html.Button("▶ Play", id=ids.PLAY_BUTTON, n_clicks=0, className="button step", disabled=True,
                        title="Step through the checkpoints"),
            html.Div(dcc.Slider(id=ids.EPOCH_SLIDER, min=0, max=0, step=1, value=0, marks={}, disabled=True,
                                updatemode="drag", included=False, allow_direct_input=False),
                     className="epoch-slider"),
        ], id=ids.EPOCH_FIELD, className="timeline-slider"),
        html.P("The panels show the served model.", id=ids.VIEW_LABEL, className="view-label",
               **{"aria-live": "polite"}),
        dcc.Interval(id=ids.PLAY_TIMER, interval=PLAY_INTERVAL_MS, disabled=True),
        dcc.Store(id=ids.CHECKPOINT_VIEW, data={"model": lens.served.version}),
        dcc.Store(id=ids.TIMELINE_STEPS, data=[]),
    ], className="timeline")


def _options_form() -> html.Div:
    from dashboard import runs

    return html.Div([
        _number_field("Epochs", ids.TRAINING_EPOCHS, 3, 1, runs.MAX_EPOCHS, 1),
        _number_field("Batch size", ids.TRAINING_BATCH, 128, 1, 4096, 1),
        _number_field("Learning rate", ids.TRAINING_RATE, 0.001, 0.000001, 1, "any"),
        _number_field("Training digits (empty: all)", ids.TRAINING_SIZE, None, 10, None, 1),
        html.Div([html.Label("Hidden activation", htmlFor=ids.TRAINING_ACTIVATION),
                  dcc.Dropdown(id=ids.TRAINING_ACTIVATION, value="relu", clearable=False, searchable=False,
                               options=list(runs.ACTIVATIONS), className="small-dropdown")], className="field"),
        html.Button("Start training", id=ids.START_TRAINING, n_clicks=0, className="button primary"),
        html.Button("Cancel", id=ids.CANCEL_TRAINING, n_clicks=0, className="button", disabled=True),
    ], className="explain-controls")


def _training_section(lens: Lens) -> html.Section:
    layer_names = [info.name for info in lens.layers if info.has_weights]
    return html.Section([
        html.Div([html.H2("Training: watch the network learn")], className="panel-head"),
        _options_form(),
        html.Div([
            html.Progress(id=ids.TRAINING_PROGRESS, value="0", max=PROGRESS_MAX, className="progress"),
            html.Span("", id=ids.TRAINING_STATUS, className="training-status", **{"aria-live": "polite"}),
        ], className="progress-row"),
        html.P("", id=ids.TRAINING_RESULT, className="caption"),
        dcc.Store(id=ids.TRAINING_RUN),
        dcc.Store(id=ids.RUNS_SIGNATURE),
        dcc.Interval(id=ids.RUNS_POLL, interval=2000),
        html.H3("Runs"),
        html.Div(id=ids.RUN_TABLE, className="run-table"),
        html.Div([
            html.Div([html.Label("Compare runs", htmlFor=ids.COMPARE_RUNS),
                      dcc.Dropdown(id=ids.COMPARE_RUNS, value=[], multi=True, options=[],
                                   placeholder="pick runs to overlay…", className="run-dropdown")],
                     className="field grow"),
            dcc.ConfirmDialogProvider(html.Button("Delete the run the views show", id=ids.DELETE_RUN, n_clicks=0,
                                                  className="button"),
                                      id=ids.DELETE_CONFIRM, message="Delete this run and its checkpoints?"),
        ], className="controls flat"),
        html.P("", id=ids.RUN_MESSAGE, className="caption", role="status"),
        _graph(ids.CURVES_GRAPH),
        html.P("Loss and accuracy at every checkpoint, for the run the views show and the runs picked to compare. "
               "Test (solid): the test digits at that checkpoint. Train (dashed): Keras's running mean over the "
               "epoch so far. The dotted line is the epoch the views show.", className="caption"),
        _graph(ids.NORMS_GRAPH),
        html.P("Each layer's weight norm ‖w‖ and the norm of its loss gradient on a fixed batch of 256 training "
               "digits (log scale), at every checkpoint.", className="caption"),
        html.Div([html.Label("Distributions of layer", htmlFor=ids.DISTRIBUTION_LAYER),
                  dcc.Dropdown(id=ids.DISTRIBUTION_LAYER, value=layer_names[0] if layer_names else None,
                               clearable=False, searchable=False, options=layer_names, className="small-dropdown")],
                 className="inline-field"),
        html.Div([_graph(ids.WEIGHT_DISTRIBUTION_GRAPH), _graph(ids.GRADIENT_DISTRIBUTION_GRAPH)],
                 className="row two"),
        html.P("Histograms of every weight (left) and every probe-batch gradient (right) of the layer, one row "
               "per checkpoint, all rows on one value range; colour is the count on a log scale, hover gives "
               "the exact count.", className="caption"),
        _graph(ids.COMPARE_GRAPH),
        html.P("", id=ids.COMPARE_CAPTION, className="caption"),
    ], className="panel", id="training")


def waiting_layout(status: str) -> html.Div:
    """Return the page shown while the first model trains: its progress, then a reload when it is served."""
    return html.Div([
        html.Header([html.Div([html.H1("CNN Lens"),
                               html.Span("look inside a convolutional network, layer by layer", className="tagline")],
                              className="brand")], className="top"),
        html.Section([
            html.H2("Training the first model"),
            html.P("There is no trained model in the cache yet, so one is training now in its own process. "
                   "The page opens on it as soon as it is ready.", className="caption"),
            html.Progress(id=ids.FIRST_RUN_PROGRESS, value="0", max=PROGRESS_MAX, className="progress"),
            html.P(status, id=ids.FIRST_RUN_STATUS, className="training-status", **{"aria-live": "polite"}),
            dcc.Interval(id=ids.FIRST_RUN_POLL, interval=1000),
            dcc.Location(id=ids.FIRST_RUN_RELOAD, refresh=True),
        ], className="panel waiting"),
    ], className="page")


def layer_table(lens: Lens) -> list[dict]:
    """Return what the browser needs to step through layers and offer their input channels."""
    return [{"name": info.name, "channel_options": views.channel_options(info)} for info in lens.layers]


def build_layout(lens: Lens, first_digit: dict) -> html.Div:
    """Return the whole page for the lens's current model, opening on `first_digit` (a dropdown option)."""
    first_layer = lens.layers[0].name
    saliency_controls = dcc.Dropdown(id=ids.SALIENCY_CLASS, value=PREDICTED, clearable=False, searchable=False,
                                     options=_class_options(lens.served.extractor.classes), className="small-dropdown")
    channel_controls = html.Div([
        html.Label("Input channel", htmlFor=ids.INPUT_CHANNEL),
        dcc.Dropdown(id=ids.INPUT_CHANNEL, value=views.SUMMARY_CHANNEL, clearable=False, options=[],
                     className="small-dropdown"),
    ], id=ids.INPUT_CHANNEL_FIELD, className="inline-field hidden")
    return html.Div([
        _header(lens),
        html.Div(id=ids.ERROR_BANNER, className="error-banner", role="alert"),
        _digit_controls(lens, first_digit),
        _architecture_strip(lens),
        _timeline(lens),
        dcc.Store(id=ids.SELECTED_LAYER, data=first_layer),
        dcc.Store(id=ids.LAYER_TABLE, data=layer_table(lens)),
        dcc.Store(id=ids.DIGIT_POOL, data={"size": lens.test_size,
                                           "misclassified": lens.predictions().misclassified.tolist()}),
        html.Main([
            html.Div([
                panel("Input digit", ids.INPUT_GRAPH,
                      "The 28×28 pixels the network sees, scaled to 0–1: white = 0 (paper), black = 1 (ink)."),
                panel("Class probabilities", ids.PROBABILITY_GRAPH,
                      "The softmax output: blue = predicted class, green outline = true label."),
                panel("Saliency", ids.SALIENCY_GRAPH, "", caption_id=ids.SALIENCY_CAPTION,
                      controls=saliency_controls),
            ], className="row three"),
            html.Div([
                panel("Activations", ids.ACTIVATION_GRAPH, "", caption_id=ids.ACTIVATION_CAPTION,
                      title_id=ids.ACTIVATION_TITLE, figure_store=ids.ACTIVATION_FIGURE),
            ], className="row one"),
            html.Div([
                panel("Filters and weights", ids.WEIGHT_GRAPH, "", caption_id=ids.WEIGHT_CAPTION,
                      title_id=ids.WEIGHT_TITLE, controls=channel_controls, figure_store=ids.WEIGHT_FIGURE),
                panel("Weight gradients for this digit", ids.GRADIENT_GRAPH, "", caption_id=ids.GRADIENT_CAPTION,
                      title_id=ids.GRADIENT_TITLE, figure_store=ids.GRADIENT_FIGURE),
            ], className="row two"),
            html.Div([
                html.Section([
                    html.Div([html.H2("Explanations: which pixels made the network say this?")],
                             className="panel-head"),
                    _explanation_controls(lens),
                    _graph(ids.EXPLANATION_GRAPH),
                    html.P("", id=ids.EXPLANATION_CAPTION, className="caption"),
                    _graph(ids.DELETION_GRAPH),
                    html.P("", id=ids.DELETION_CAPTION, className="caption"),
                ], className="panel"),
            ], className="row one"),
            html.Div([_training_section(lens)], className="row one"),
        ]),
        html.Footer("CNN Lens · every number on hover is the model's true value.", className="footer"),
    ], className="page")
