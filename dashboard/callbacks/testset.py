"""The test-set section: the confusion matrix of the served model, and the gallery of the cell clicked."""

from __future__ import annotations

import numpy as np
from dash import ClientsideFunction, Dash, Input, Output, State, no_update

from dashboard import figures, ids, layout, testset, testset_figures, views
from dashboard.callbacks import validate
from dashboard.callbacks.clientside import NAMESPACE
from dashboard.callbacks.validate import shows_errors
from dashboard.catalog import Catalog
from dashboard.graph import INPUT
from dashboard.lens import Lens

GATE_KEYS = layout.gate_keys(ids.TESTSET_GATE)
CONFUSION_HEIGHT = 420
GALLERY_HEIGHT = 420


def _confusion_for(lens: Lens) -> testset.Confusion:
    predictions = lens.predictions()
    return testset.confusion(lens.data.y_test, predictions.predicted, lens.data.classes)


@shows_errors(lambda message: (figures.message_figure(message, height=CONFUSION_HEIGHT), message))
def confusion_view(lens: Lens, gate) -> tuple:
    """Return the served model's confusion matrix (counts or each row's shares, as the gate says) and its
    caption with the accuracy per class; nothing while the panel is off screen."""
    wanted = validate.gate(gate, GATE_KEYS)
    if wanted is None:
        return no_update, no_update
    mode = validate.one_of(wanted["mode"], [layout.COUNTS, layout.SHARES], what="Matrix mode")
    table = _confusion_for(lens)
    names = lens.class_names
    figure = testset_figures.confusion_heatmap(table.counts, table.by_row, class_names=names,
                                               normalised=mode == layout.SHARES, height=CONFUSION_HEIGHT)
    accuracy = table.class_accuracy
    worst = [c for c in sorted(range(len(names)), key=lambda c: accuracy[c]) if accuracy[c] == accuracy[c]][:3]
    rows, columns = table.counts.shape
    off = table.counts * (1 - np.eye(rows, columns, dtype=np.int64))
    true_c, pred_c = divmod(int(off.argmax()), columns)
    caption = (f"Rows: the true class; columns: the prediction; the diagonal is right. Accuracy "
               f"{table.accuracy:.1%} over {int(table.counts.sum()):,} test {lens.noun}s. Hardest classes: "
               + ", ".join(f"{names[c]} ({accuracy[c]:.1%})" for c in worst)
               + (f". Most frequent confusion: {names[true_c]} taken for {names[pred_c]} "
                  f"({int(off[true_c, pred_c])} times)." if off.max() else ". No confusions."))
    return figure, caption


def _cell(click, names: tuple[str, ...]) -> tuple[int, int] | None:
    """Return (true, predicted) of the confusion cell a click carries (its y and x: the class names on the
    axes), or None for anything else."""
    if not isinstance(click, dict) or not isinstance(click.get("points"), list) or not click["points"]:
        return None
    point = click["points"][0]
    if not isinstance(point, dict):
        return None
    true_name, predicted_name = point.get("y"), point.get("x")
    if not isinstance(true_name, str) or not isinstance(predicted_name, str):
        return None
    true_class = validate.one_of(true_name, list(names), what="True class")
    predicted_class = validate.one_of(predicted_name, list(names), what="Predicted class")
    return names.index(true_class), names.index(predicted_class)


@shows_errors(lambda message: (figures.message_figure(message, height=GALLERY_HEIGHT), message, no_update,
                               no_update))
def gallery_view(lens: Lens, click, page) -> tuple:
    """Return the images of the confusion cell clicked, most confident first, a page of them as one mosaic;
    the caption; the page choices; and the page (back to the first when another cell is clicked)."""
    names = tuple(str(n) for n in lens.class_names)
    cell = _cell(click, names)
    if cell is None:
        return no_update, no_update, no_update, no_update
    true_class, predicted_class = cell
    predictions = lens.predictions()
    members = testset.cell_members(lens.data.y_test, predictions.predicted, predictions.confidence, true_class,
                                   predicted_class)
    count = testset.pages(len(members))
    triggered = validate.triggered_props()
    if triggered is None or ids.CONFUSION_GRAPH in triggered or page is None:  # another cell: its first page
        page = 0
    page = validate.integer(page, low=0, high=count - 1, what="Gallery page")
    shown = testset.page_of(members, page)
    what = (f"true {names[true_class]}, predicted right" if true_class == predicted_class
            else f"true {names[true_class]}, predicted {names[predicted_class]}")
    if not len(shown):
        return (figures.message_figure(f"No test {lens.noun}s are {what}.", height=GALLERY_HEIGHT),
                f"No test {lens.noun}s are {what}.", [{"label": "1 of 1", "value": 0}], 0)
    pictures = [_thumbnail(lens.picture(int(i))) for i in shown]
    figure = testset_figures.thumbnail_mosaic(np.stack(pictures), [int(i) for i in shown],
                                      ink=lens.noun == "digit", height=GALLERY_HEIGHT)
    confidence = predictions.confidence[shown]
    first = page * testset.GALLERY_PAGE + 1
    caption = (f"{len(members):,} test {lens.noun}s {what}; {first}–{first + len(shown) - 1} shown, most confident "
               f"first ({confidence.max():.1%} to {confidence.min():.1%}). Click one to show it in every panel "
               "above.")
    options = [{"label": f"{p + 1} of {count}", "value": p} for p in range(count)]
    return figure, caption, options, page


def _thumbnail(picture, largest: int = 32):
    """Return a test picture at most `largest` pixels on a side (every n-th pixel): a gallery of 96×96 photos
    would be as large as the whole page's other panels."""
    step = max(1, -(-max(picture.shape[:2]) // largest))
    return picture[::step, ::step]


EMBED_KEYS = layout.gate_keys(ids.EMBED_GATE)
EMBED_HEIGHT = 460


@shows_errors(lambda message: (figures.message_figure(message, height=EMBED_HEIGHT), message))
def embedding_view(lens: Lens, gate, digit=None) -> tuple:
    """Return every test image's activations of the chosen vector layer projected to 2-D (PCA) and coloured
    by true or predicted class, mistakes as crosses, the picked image ringed; and the caption."""
    wanted = validate.gate(gate, EMBED_KEYS)
    if wanted is None:
        return no_update, no_update
    layer = validate.one_of(wanted["layer"], layout.embedding_layers(lens), what="Embedding layer")
    colour_by = validate.one_of(wanted["colour"], [layout.TRUE, layout.PREDICTED], what="Colour")
    test_pass = lens.test_pass()
    coordinates, shares = testset.pca(test_pass.vector(layer))
    labels = lens.data.y_test
    predicted = test_pass.probabilities.argmax(axis=1)
    confidence = test_pass.probabilities.max(axis=1)
    by_true = colour_by == layout.TRUE
    picked = None if digit is None else validate.digit_index(digit, lens.test_size)
    figure = testset_figures.embedding_scatter(
        coordinates, np.arange(lens.test_size), labels if by_true else predicted, predicted if by_true else labels,
        confidence, predicted != labels, class_names=lens.class_names, colour_by="true" if by_true else "predicted",
        other="predicted" if by_true else "true", picked=picked, height=EMBED_HEIGHT)
    caption = (f"Each point is a test {lens.noun}: its {test_pass.vector(layer).shape[1]:,} activations of {layer}, "
               f"projected on their two principal directions (PCA; {shares[0]:.0%} and {shares[1]:.0%} of the "
               f"variance). Colour: the {'true' if by_true else 'predicted'} class; crosses: mistakes "
               f"({int((predicted != labels).sum()):,}); the ring: the picked {lens.noun}. Nearby points are "
               f"{lens.noun}s this layer sees alike. Click a point to show it in every panel.")
    return figure, caption


CHANNEL_KEYS = layout.gate_keys(ids.CHANNEL_GATE)
CHANNEL_HEIGHT = 320
TOP_COUNT = 9


def _insight_error(message: str) -> tuple:
    figure = figures.message_figure(message, height=CHANNEL_HEIGHT)
    return figure, message, figure, "", figure, ""


def is_relu_family(info) -> bool:
    """Return whether a layer's output is a ReLU's (zero means "not active"), so a channel never above zero over
    the test set is dead."""
    return (info.activation or "") in testset.RELU_KINDS or info.kind == "ReLU"


@shows_errors(_insight_error)
def channel_insight(lens: Lens, gate, click=None) -> tuple:
    """Return the selected layer's channels as bars of their mean activation over the test set (strongest first,
    at most views.PAGE_CHANNELS, dead ones grey), and the chosen channel's nine strongest test images with the
    input box its peak depends on framed; the strongest channel until a bar is clicked."""
    wanted = validate.gate(gate, CHANNEL_KEYS)
    if wanted is None:
        return (no_update,) * 6
    names = [info.name for info in lens.layers]
    name = validate.one_of(wanted["layer"], [*names, INPUT], what="Layer")
    info = lens.layer(name) if name != INPUT else None
    if info is None or len(info.output_shape) != 3:
        message = "Select a layer with channels above (a convolution, pooling or normalisation layer)."
        return _insight_error(message)
    test_pass = lens.test_pass()
    means = test_pass.channel(name, "mean").mean(axis=0)
    dead = testset.dead_channels(test_pass.channel(name, "max")) if is_relu_family(info) else np.array([], int)
    order = np.lexsort((np.arange(means.size), -means))
    shown = order[:views.PAGE_CHANNELS]
    channel = int(order[0])
    triggered = validate.triggered_props()
    if triggered is not None and ids.CHANNEL_BARS in triggered:
        points = click.get("points") if isinstance(click, dict) else None
        said = points[0].get("x") if isinstance(points, list) and points and isinstance(points[0], dict) else None
        # The bars' categories are channel numbers written as text.
        said = int(said) if isinstance(said, str) and said.isdigit() else said
        channel = validate.integer(said, low=0, high=means.size - 1, what="Channel")
    dead_set = set(dead.tolist())
    bars = testset_figures.channel_strength_bars(shown.tolist(), means[shown], [c in dead_set for c in shown],
                                         chosen=channel, height=CHANNEL_HEIGHT)
    dead_text = (f" {len(dead)} of {means.size} channels never activate on the test set (dead ReLUs, grey)."
                 if is_relu_family(info) else "")
    bars_caption = (f"{name}: {len(shown)} of {means.size} channels shown, strongest first by mean activation over "
                    f"the {lens.test_size:,} test {lens.noun}s.{dead_text} Click a bar for that channel's "
                    "strongest images.")
    top = lens.channel_top(name, channel, TOP_COUNT)
    pictures = [_thumbnail(lens.picture(index)) for index, _, _ in top]
    figure = testset_figures.thumbnail_mosaic(np.stack(pictures), [index for index, _, _ in top], columns=3,
                                      ink=lens.noun == "digit", height=CHANNEL_HEIGHT,
                                      boxes=[box for _, _, box in top], box_scale=lens.picture(0).shape[0])
    top_caption = (f"Channel {channel} of {name}: the {len(top)} test {lens.noun}s where its largest activation is "
                   f"highest ({top[0][1]:.4g} down to {top[-1][1]:.4g}); the red frame is the part of the input "
                   "that peak depends on (where its gradient is not zero). Click one to show it in every panel.")
    pixels, reached = lens.feature_visualisation(name, shown.tolist())
    at = shown.tolist().index(channel) if channel in shown.tolist() else None
    if at is None:
        feature, feature_caption = figures.message_figure("Pick one of the channels shown.", height=CHANNEL_HEIGHT), ""
    else:
        feature = views.input_view(pixels[at], ink=lens.noun == "digit", height=CHANNEL_HEIGHT)
        feature_caption = (f"What channel {channel} of {name} looks for: the input that makes the unit at the centre "
                           f"of its map largest ({reached[at]:.4g}), found by gradient ascent from noise with small "
                           "random shifts and a smoothness penalty; all "
                           f"{len(shown)} channels shown were computed in one batched call.")
        if reached[at] <= 0:
            feature_caption = (f"Channel {channel} of {name} stayed at 0 from the starting noise: no gradient reached "
                               "it, so there is no picture of what it looks for.")
    return bars, bars_caption, figure, top_caption, feature, feature_caption


def register(app: Dash, catalog: Catalog) -> None:
    """Attach the test-set callbacks to the app."""
    app.callback(
        Output(ids.CONFUSION_GRAPH, "figure"), Output(ids.CONFUSION_CAPTION, "children"),
        Input(ids.TESTSET_GATE, "data"), validate.model_state(), prevent_initial_call=True,
    )(validate.bind(confusion_view, catalog))
    app.callback(
        Output(ids.GALLERY_GRAPH, "figure"), Output(ids.GALLERY_CAPTION, "children"),
        Output(ids.GALLERY_PAGE, "options"), Output(ids.GALLERY_PAGE, "value"),
        Input(ids.CONFUSION_GRAPH, "clickData"), Input(ids.GALLERY_PAGE, "value"), validate.model_state(),
        prevent_initial_call=True,
    )(validate.bind(gallery_view, catalog))
    # A thumbnail clicked becomes the picked image: in the browser, no request of its own.
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "pickFromGallery"),
        Output(ids.DIGIT, "value", allow_duplicate=True), Input(ids.GALLERY_GRAPH, "clickData"),
        State(ids.GALLERY_GRAPH, "figure"), prevent_initial_call=True,
    )
    app.callback(
        Output(ids.EMBED_GRAPH, "figure"), Output(ids.EMBED_CAPTION, "children"),
        Input(ids.EMBED_GATE, "data"), State(ids.DIGIT, "value"), validate.model_state(), prevent_initial_call=True,
    )(validate.bind(embedding_view, catalog))
    # A point clicked becomes the picked image; the picked image's ring follows the digit, in the browser.
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "pickFromMap"),
        Output(ids.DIGIT, "value", allow_duplicate=True), Input(ids.EMBED_GRAPH, "clickData"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "markPicked"),
        Output(ids.EMBED_GRAPH, "figure", allow_duplicate=True), Input(ids.DIGIT, "value"),
        State(ids.EMBED_GRAPH, "figure"), prevent_initial_call=True,
    )
    app.callback(
        Output(ids.CHANNEL_BARS, "figure"), Output(ids.CHANNEL_BARS_CAPTION, "children"),
        Output(ids.CHANNEL_TOP, "figure"), Output(ids.CHANNEL_TOP_CAPTION, "children"),
        Output(ids.CHANNEL_FEATURE, "figure"), Output(ids.CHANNEL_FEATURE_CAPTION, "children"),
        Input(ids.CHANNEL_GATE, "data"), Input(ids.CHANNEL_BARS, "clickData"), validate.model_state(),
        prevent_initial_call=True,
    )(validate.bind(channel_insight, catalog))
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "pickFromGallery"),
        Output(ids.DIGIT, "value", allow_duplicate=True), Input(ids.CHANNEL_TOP, "clickData"),
        State(ids.CHANNEL_TOP, "figure"), prevent_initial_call=True,
    )
