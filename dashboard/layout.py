"""The component tree of the page. No callbacks here."""

from __future__ import annotations

from dash import dcc, html

from dashboard import components, ids, training_layout, views
from dashboard.lens import Lens

SHARED_SCALE, PER_CHANNEL_SCALE = "shared", "per-channel"
PREDICTED = "predicted"
TRUE = "true"


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
        components.number_field("SmoothGrad samples", ids.SMOOTHGRAD_SAMPLES, 50, 1, attributions.MAX_SMOOTHGRAD_SAMPLES, 1),
        components.number_field("SmoothGrad noise σ", ids.SMOOTHGRAD_SIGMA, 0.15, 0, 1, 0.05),
        components.number_field("IG steps", ids.IG_STEPS, 64, 1, attributions.MAX_IG_STEPS, 1),
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
        training_layout.timeline_bar(lens),
        dcc.Store(id=ids.SELECTED_LAYER, data=first_layer),
        dcc.Store(id=ids.LAYER_TABLE, data=layer_table(lens)),
        dcc.Store(id=ids.DIGIT_POOL, data={"size": lens.test_size,
                                           "misclassified": lens.predictions().misclassified.tolist()}),
        html.Main([
            html.Div([
                components.panel("Input digit", ids.INPUT_GRAPH,
                      "The 28×28 pixels the network sees, scaled to 0–1: white = 0 (paper), black = 1 (ink)."),
                components.panel("Class probabilities", ids.PROBABILITY_GRAPH,
                      "The softmax output: blue = predicted class, green outline = true label."),
                components.panel("Saliency", ids.SALIENCY_GRAPH, "", caption_id=ids.SALIENCY_CAPTION,
                      controls=saliency_controls),
            ], className="row three"),
            html.Div([
                components.panel("Activations", ids.ACTIVATION_GRAPH, "", caption_id=ids.ACTIVATION_CAPTION,
                      title_id=ids.ACTIVATION_TITLE, figure_store=ids.ACTIVATION_FIGURE),
            ], className="row one"),
            html.Div([
                components.panel("Filters and weights", ids.WEIGHT_GRAPH, "", caption_id=ids.WEIGHT_CAPTION,
                      title_id=ids.WEIGHT_TITLE, controls=channel_controls, figure_store=ids.WEIGHT_FIGURE),
                components.panel("Weight gradients for this digit", ids.GRADIENT_GRAPH, "", caption_id=ids.GRADIENT_CAPTION,
                      title_id=ids.GRADIENT_TITLE, figure_store=ids.GRADIENT_FIGURE),
            ], className="row two"),
            html.Div([
                html.Section([
                    html.Div([html.H2("Explanations: which pixels made the network say this?")],
                             className="panel-head"),
                    _explanation_controls(lens),
                    components.graph(ids.EXPLANATION_GRAPH),
                    html.P("", id=ids.EXPLANATION_CAPTION, className="caption"),
                    components.graph(ids.DELETION_GRAPH),
                    html.P("", id=ids.DELETION_CAPTION, className="caption"),
                ], className="panel"),
            ], className="row one"),
            html.Div([training_layout.training_section(lens)], className="row one"),
        ]),
        html.Footer("CNN Lens · every number on hover is the model's true value.", className="footer"),
    ], className="page")
