"""The test-set section's component tree: the pass's progress, the confusion matrix and its gallery, the
embedding map, and channel insight. No callbacks."""

from __future__ import annotations

from dash import dcc, html

from dashboard import components, figures, ids
from dashboard.lens import Lens

TESTSET = "testset"  # the section's key (its lazy panel and header link)
# The map and channel insight are lazy panels of their own: below the matrix, they cost nothing until scrolled to.
TESTSET_MAP, TESTSET_CHANNELS = "testset-map", "testset-channels"
COUNTS, SHARES = "counts", "shares"
COLOUR_TRUE, COLOUR_PREDICTED = "true", "predicted"
PCA, TSNE, UMAP = "pca", "tsne", "umap"
EMBED_METHODS = {PCA: "PCA", TSNE: "t-SNE", UMAP: "UMAP"}
SORT_MEAN, SORT_CONTRIBUTION, SORT_INDEX = "mean", "contribution", "index"
POLL_MS = 400  # how often the page asks how far a background computation is
MATRIX_HEIGHT, MAP_HEIGHT, INSIGHT_HEIGHT = 420, 460, 320  # the graphs' heights (px), before and after they draw


def _graph(graph_id: str, height: int, text: str = ""):
    """Return a test-set graph that starts blank, without axes, at its final height: Plotly lays a hidden
    graph out again when its section opens, and an empty default figure (axes, ticks, margins) costs ~20 ms
    each time, seven times over, before the first answer can be drawn."""
    return components.graph(graph_id, figure=figures.message_figure(text, height=height))


def embedding_layers(lens: Lens) -> list[str]:
    """Return the layers whose activations the embedding map can project: vector layers small enough for the
    test-set pass to keep (tensors.MAX_EMBEDDING_UNITS), the output last."""
    from dashboard.tensors import is_embedding_layer

    return [info.name for info in lens.layers if is_embedding_layer(info)]


def pass_gate_answered(lens: Lens) -> dict | None:
    """Return the pass gate's value for the served model when its pass is already kept (the page then holds it
    as already asked, so opening the section sends no pass request, and the panels, whose gates carry the
    pass's readiness, need not wait for one); None otherwise."""
    marker = lens.test_set.ready_marker()
    return None if marker is None else {"view": marker["view"]}


def _progress(progress_id: str, text_id: str | None = None) -> list:
    """Return a progress bar (and the line that says what is being done)."""
    bar: list = [html.Progress(id=progress_id, max="1", value="0")]
    return bar + ([html.Span("", id=text_id)] if text_id else [])


def testset_section(lens: Lens) -> html.Section:
    """Return the section on the whole test set: the pass's progress, the confusion matrix and the images of the
    cell clicked, the embedding map, and what the selected layer's channels respond to."""
    mode = dcc.RadioItems(id=ids.CONFUSION_MODE, value=SHARES, inline=True, className="radio",
                          options=[{"label": "share of each true class", "value": SHARES},
                                   {"label": "counts", "value": COUNTS}])
    page = html.Div([html.Label("page", htmlFor=ids.GALLERY_PAGE),
                     dcc.Dropdown(id=ids.GALLERY_PAGE, value=0, clearable=False, searchable=False,
                                  options=[{"label": "1 of 1", "value": 0}], className="small-dropdown")],
                    className="inline-field")
    return components.section(TESTSET, f"Test set: where does the network go wrong? ({lens.test_size:,} test "
                                       f"{lens.noun}s)", [
        html.Div([
            # Ready at once when the served model's pass is already kept; else once pass_status says so.
            dcc.Store(id=ids.TESTSET_READY, data=lens.test_set.ready_marker()),
            dcc.Store(id=ids.DEAD_COUNTS),
            dcc.Interval(id=ids.TESTSET_POLL, interval=POLL_MS, disabled=True),
            html.Div(_progress(ids.TESTSET_PROGRESS, ids.TESTSET_STATUS), id=ids.TESTSET_STATUS_BOX,
                     className="pass-status", hidden=True),
            html.Div([
                html.Div([html.H3("Confusion matrix"), mode], className="panel-head"),
                _graph(ids.CONFUSION_GRAPH, MATRIX_HEIGHT),
                html.P("", id=ids.CONFUSION_CAPTION, className="caption"),
            ], className="testset-matrix"),
            html.Div([
                html.Div([html.H3("The images of a cell"), page], className="panel-head"),
                _graph(ids.GALLERY_GRAPH, MATRIX_HEIGHT,
                       f"Click a cell of the confusion matrix<br>to see its {lens.noun}s here."),
                html.P(f"Click a cell of the matrix to see its {lens.noun}s here, most confident first; click one "
                       "to show it in every panel above.", id=ids.GALLERY_CAPTION, className="caption"),
            ], className="testset-gallery"),
            _embedding_panel(lens),
            _channel_panel(lens),
        ], className="testset lazy", **components.html_attributes({"data-lazy": TESTSET})),
    ])


def _embedding_panel(lens: Lens) -> html.Div:
    """Return the embedding map's panel: a layer, the projection, what the colours say, the map, its caption."""
    choices = embedding_layers(lens)
    default = choices[-2] if len(choices) > 1 else (choices[0] if choices else None)
    controls = html.Div([
        html.Div([html.Label("layer", htmlFor=ids.EMBED_LAYER),
                  dcc.Dropdown(id=ids.EMBED_LAYER, value=default, clearable=False, searchable=False,
                               options=choices, className="small-dropdown")], className="inline-field"),
        dcc.RadioItems(id=ids.EMBED_METHOD, value=PCA, inline=True, className="radio",
                       options=[{"label": label, "value": value} for value, label in EMBED_METHODS.items()]),
        dcc.RadioItems(id=ids.EMBED_COLOUR, value=COLOUR_TRUE, inline=True, className="radio",
                       options=[{"label": "colour: true class", "value": COLOUR_TRUE},
                                {"label": "predicted class", "value": COLOUR_PREDICTED}]),
    ], className="embed-controls")
    return html.Div([
        html.Div([html.H3("Embedding map: every test image, by what one layer makes of it"), controls],
                 className="panel-head"),
        dcc.Interval(id=ids.EMBED_POLL, interval=POLL_MS, disabled=True),
        _graph(ids.EMBED_GRAPH, MAP_HEIGHT),
        html.Div(_progress(ids.EMBED_PROGRESS), className="embed-progress"),
        html.P("", id=ids.EMBED_CAPTION, className="caption"),
    ], className="testset-embedding", **components.html_attributes({"data-lazy": TESTSET_MAP}))


def _channel_panel(lens: Lens) -> html.Div:
    """Return channel insight: how to sort the channels (and for which class), the channels' bars, and for the
    channel chosen its strongest test images, its weights and the input it looks for."""
    names = lens.class_names
    controls = html.Div([
        html.Div([html.Label("sort", htmlFor=ids.CHANNEL_SORT),
                  dcc.Dropdown(id=ids.CHANNEL_SORT, value=SORT_MEAN, clearable=False, searchable=False,
                               className="medium-dropdown",
                               options=[{"label": "mean activation over the test set", "value": SORT_MEAN},
                                        {"label": "activation × gradient for a class", "value": SORT_CONTRIBUTION},
                                        {"label": "channel number", "value": SORT_INDEX}])],
                 className="inline-field"),
        html.Div([html.Label("class", htmlFor=ids.CHANNEL_CLASS),
                  dcc.Dropdown(id=ids.CHANNEL_CLASS, value=0, clearable=False, searchable=len(names) > 12,
                               className="small-dropdown",
                               options=[{"label": str(name), "value": c} for c, name in enumerate(names)])],
                 id=ids.CHANNEL_CLASS_FIELD, className="inline-field", hidden=True),
    ], className="embed-controls")

    def tile(graph_id: str, caption_id: str) -> html.Div:
        return html.Div([_graph(graph_id, INSIGHT_HEIGHT), html.P("", id=caption_id, className="caption")])

    return html.Div([
        html.Div([html.H3("Channel insight: what the channels of the layer selected above respond to"), controls],
                 className="panel-head"),
        tile(ids.CHANNEL_BARS, ids.CHANNEL_BARS_CAPTION),
        html.Div([tile(ids.CHANNEL_TOP, ids.CHANNEL_TOP_CAPTION),
                  tile(ids.CHANNEL_WEIGHTS, ids.CHANNEL_WEIGHTS_CAPTION),
                  tile(ids.CHANNEL_FEATURE, ids.CHANNEL_FEATURE_CAPTION)], className="channel-insight-row"),
    ], className="testset-channels", **components.html_attributes({"data-lazy": TESTSET_CHANNELS}))
