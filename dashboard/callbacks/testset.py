"""The test-set section: the pass's progress, the confusion matrix and the gallery of the cell clicked, the
embedding map, and channel insight; for the served model or the checkpoint the views show."""

from __future__ import annotations

import numpy as np
from dash import ClientsideFunction, Dash, Input, Output, State, no_update

from dashboard import figures, gates, ids, testset, testset_figures, views
from dashboard import testset_layout as tl
from dashboard.callbacks import validate
from dashboard.callbacks.clientside import NAMESPACE
from dashboard.callbacks.validate import shows_errors
from dashboard.catalog import Catalog
from dashboard.graph import INPUT
from dashboard.lens import Lens

PASS_KEYS = gates.gate_keys(ids.TESTPASS_GATE)
GATE_KEYS = gates.gate_keys(ids.TESTSET_GATE)
EMBED_KEYS = gates.gate_keys(ids.EMBED_GATE)
CHANNEL_KEYS = gates.gate_keys(ids.CHANNEL_GATE)
CONFUSION_HEIGHT = GALLERY_HEIGHT = tl.MATRIX_HEIGHT
EMBED_HEIGHT = tl.MAP_HEIGHT
# Points the map draws at most (SVG: ~70 ms and ~28 KB gzipped per 1,000 here): a 10,000-image test set is drawn as
# every mistake plus a sample of the rest, the whole set still placed by the projection.
EMBED_POINTS = 1000
CHANNEL_HEIGHT = tl.INSIGHT_HEIGHT
TOP_COUNT = 9
# A pass that ends within this many seconds of the panel opening shows no progress bar at all.
QUIET_SECONDS = 1.0


def _pass_error(message: str) -> tuple:
    return no_update, True, "0", False, message


@shows_errors(_pass_error)
def pass_status(lens: Lens, gate, ticks=None) -> tuple:
    """Return (what is ready: the view and its pass, whether to stop polling, progress, whether to hide the
    progress bar, what it says): starts the pass over the whole test set for the view shown the first time
    the section is on screen, and reports its progress until it is ready."""
    wanted = validate.gate(gate, PASS_KEYS)
    if wanted is None:
        return no_update, True, no_update, no_update, no_update
    checkpoint = validate.checkpoint_view(wanted["view"], lens)
    triggered = validate.triggered_props()
    polled = triggered is not None and ids.TESTSET_POLL in triggered
    status = lens.test_set.test_pass_progress(checkpoint, wait=0.0 if polled else QUIET_SECONDS)
    if status is None:
        return {"view": wanted["view"], "pass": lens.test_set.pass_key(checkpoint)}, True, "1", True, ""
    done, doing = status
    return (no_update, False, f"{done:.3f}", False,
            f"Passing the test set through the model, once (then it is kept): {doing} ({done:.0%}).")


def _ready_checkpoint(ready, lens: Lens) -> tuple[str, int] | None:
    """Return the checkpoint (None: the served model) a ready pass is for, as TESTSET_READY carries it."""
    if not isinstance(ready, dict) or set(ready) != {"view", "pass"}:
        raise validate.InvalidInput(f"Test-set pass must name a view and a pass, got {type(ready).__name__}")
    return validate.checkpoint_view(ready["view"], lens)


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


@shows_errors(lambda message: (figures.message_figure(message, height=CONFUSION_HEIGHT), message))
def confusion_view(lens: Lens, gate, click=None) -> tuple:
    """Return the confusion matrix of the model the views show (counts or each row's shares, as the gate says),
    the cell whose images the gallery shows framed, and its caption with the accuracy per class; nothing while
    the panel is off screen or the pass is not ready."""
    wanted = validate.gate(gate, GATE_KEYS)
    if wanted is None or wanted["ready"] is None:
        return no_update, no_update
    mode = validate.one_of(wanted["mode"], [tl.COUNTS, tl.SHARES], what="Matrix mode")
    checkpoint = _ready_checkpoint(wanted["ready"], lens)
    names = lens.class_names
    predicted, _ = lens.test_set.verdicts(checkpoint)
    table = testset.confusion(lens.data.y_test, predicted, lens.data.classes)
    figure = testset_figures.confusion_heatmap(table.counts, table.by_row, class_names=names,
                                               normalised=mode == tl.SHARES, height=CONFUSION_HEIGHT,
                                               marked=_cell(click, tuple(str(n) for n in names)))
    accuracy = table.class_accuracy
    worst = [c for c in sorted(range(len(names)), key=lambda c: accuracy[c]) if accuracy[c] == accuracy[c]][:3]
    rows, columns = table.counts.shape
    off = table.counts * (1 - np.eye(rows, columns, dtype=np.int64))
    true_c, pred_c = divmod(int(off.argmax()), columns)
    model = "" if checkpoint is None else f" (run {checkpoint[0]} at step {checkpoint[1]:,})"
    caption = (f"Rows: the true class; columns: the prediction{model}; the diagonal is right. Accuracy "
               f"{table.accuracy:.1%} over {int(table.counts.sum()):,} test {lens.noun}s. Hardest classes: "
               + ", ".join(f"{names[c]} ({accuracy[c]:.1%})" for c in worst)
               + (f". Most frequent confusion: {names[true_c]} taken for {names[pred_c]} "
                  f"({int(off[true_c, pred_c])} times)." if off.max() else ". No confusions.")
               + " Click a cell for its images.")
    return figure, caption


@shows_errors(lambda message: (figures.message_figure(message, height=GALLERY_HEIGHT), message, no_update,
                               no_update))
def gallery_view(lens: Lens, click, page, ready=None) -> tuple:
    """Return the images of the confusion cell clicked, most confident first, a page of them as one mosaic;
    the caption; the page choices; and the page (back to the first when another cell is clicked)."""
    names = tuple(str(n) for n in lens.class_names)
    cell = _cell(click, names)
    if cell is None:
        return no_update, no_update, no_update, no_update
    checkpoint = _ready_checkpoint(ready, lens) if ready is not None else None
    true_class, predicted_class = cell
    predicted, confidence = lens.test_set.verdicts(checkpoint)
    members = testset.cell_members(lens.data.y_test, predicted, confidence, true_class, predicted_class)
    count = testset.pages(len(members))
    triggered = validate.triggered_props()
    if triggered is None or ids.CONFUSION_GRAPH in triggered or page is None:  # another cell: its first page
        page = 0
    page = min(validate.integer(page, low=0, high=10**9, what="Gallery page"), count - 1)
    shown = testset.page_of(members, page)
    what = (f"true {names[true_class]}, predicted right" if true_class == predicted_class
            else f"true {names[true_class]}, predicted {names[predicted_class]}")
    if not len(shown):
        return (figures.message_figure(f"No test {lens.noun}s are {what}.", height=GALLERY_HEIGHT),
                f"No test {lens.noun}s are {what}.", [{"label": "1 of 1", "value": 0}], 0)
    pictures = [_thumbnail(lens.picture(int(i))) for i in shown]
    figure = testset_figures.thumbnail_mosaic(np.stack(pictures), [int(i) for i in shown],
                                              ink=lens.noun == "digit", height=GALLERY_HEIGHT)
    first = page * testset.GALLERY_PAGE + 1
    caption = (f"{len(members):,} test {lens.noun}s {what}; {first}–{first + len(shown) - 1} shown, most confident "
               f"first ({confidence[shown].max():.1%} to {confidence[shown].min():.1%}). Click one to show it in "
               "every panel above.")
    options = [{"label": f"{p + 1} of {count}", "value": p} for p in range(count)]
    return figure, caption, options, page


def _thumbnail(picture, largest: int = 32):
    """Return a test picture at most `largest` pixels on a side (every n-th pixel): a gallery of 96×96 photos
    would be as large as the whole page's other panels."""
    step = max(1, -(-max(picture.shape[:2]) // largest))
    return picture[::step, ::step]


def _embed_error(message: str) -> tuple:
    return figures.message_figure(message, height=EMBED_HEIGHT), message, True, "0"


@shows_errors(_embed_error)
def embedding_view(lens: Lens, gate, ticks=None, digit=None) -> tuple:
    """Return (map, caption, whether to stop polling, progress): every test image's activations of the chosen
    vector layer placed in 2-D (PCA at once; t-SNE or UMAP computed in the background, PCA shown meanwhile),
    coloured by true or predicted class, mistakes as crosses, the picked image ringed."""
    wanted = validate.gate(gate, EMBED_KEYS)
    if wanted is None or wanted["ready"] is None:
        return no_update, no_update, True, no_update
    layer = validate.one_of(wanted["layer"], tl.embedding_layers(lens), what="Embedding layer")
    colour_by = validate.one_of(wanted["colour"], [tl.COLOUR_TRUE, tl.COLOUR_PREDICTED], what="Colour")
    method = validate.one_of(wanted["method"], list(tl.EMBED_METHODS), what="Projection")
    checkpoint = _ready_checkpoint(wanted["ready"], lens)
    test_pass = lens.test_set.test_pass(checkpoint)
    vectors = test_pass.vector(layer)
    waiting = None
    if method != tl.PCA:
        placed = lens.test_set.projection(layer, method, checkpoint)
        if isinstance(placed, tuple):
            waiting = placed
    triggered = validate.triggered_props()
    if waiting is not None and triggered is not None and ids.EMBED_POLL in triggered:  # still computing
        return no_update, _waiting_text(method, waiting), False, f"{waiting[0]:.3f}"
    if method == tl.PCA or waiting is not None:
        coordinates, shares = lens.test_set.pca(layer, checkpoint)
        how = (f"projected on their two principal directions (PCA; {shares[0]:.0%} and {shares[1]:.0%} of the "
               "variance)")
    else:
        coordinates = np.asarray(placed)
        how = ("placed by t-SNE (openTSNE: near points are near neighbours in the layer; distances between "
               "clusters and cluster sizes mean little)" if method == tl.TSNE else
               "placed by UMAP (umap-learn: near points are near neighbours in the layer; it keeps more of the "
               "global layout than t-SNE, but distances are still not the layer's)")
    labels = lens.data.y_test
    predicted = test_pass.probabilities.argmax(axis=1)
    confidence = test_pass.probabilities.max(axis=1)
    by_true = colour_by == tl.COLOUR_TRUE
    # Only a test image as it is has a point on the map (an own or edited image has none).
    picked = None if digit is None else validate.image(digit, lens).index
    wrong = predicted != labels
    shown = testset.map_sample(lens.test_size, wrong, EMBED_POINTS, seed=lens.settings.seed, keep=picked)
    colour, other = (labels, predicted) if by_true else (predicted, labels)
    figure = testset_figures.embedding_scatter(
        coordinates[shown], shown, colour[shown], other[shown], confidence[shown], wrong[shown],
        class_names=lens.class_names, colour_by="true" if by_true else "predicted",
        other="predicted" if by_true else "true", picked=picked if picked is None or picked in shown else None,
        height=EMBED_HEIGHT)
    sampled = ("" if len(shown) == lens.test_size else
               f" Drawn: {len(shown):,} of the {lens.test_size:,} (every mistake, and a random sample of the rest).")
    caption = (f"Each point is a test {lens.noun}: its {vectors.shape[1]:,} activations of {layer}, {how}.{sampled} "
               f"Colour: the {'true' if by_true else 'predicted'} class; crosses: mistakes "
               f"({int((predicted != labels).sum()):,}); the ring: the picked {lens.noun}. Nearby points are "
               f"{lens.noun}s this layer sees alike. Click a point to show it in every panel.")
    if waiting is not None:
        return figure, _waiting_text(method, waiting) + " " + caption, False, f"{waiting[0]:.3f}"
    return figure, caption, True, "1"


def _waiting_text(method: str, progress: tuple[float, str]) -> str:
    return (f"Computing the {tl.EMBED_METHODS[method]} map in the background, once (then it is kept): "
            f"{progress[1]} ({progress[0]:.0%}). The PCA map shows meanwhile.")


def _insight_error(message: str) -> tuple:
    figure = figures.message_figure(message, height=CHANNEL_HEIGHT)
    return figure, message, figure, "", figure, "", figure, ""


def _ranking(lens: Lens, name: str, sort: str, class_index: int, checkpoint) -> tuple[np.ndarray, np.ndarray, str,
                                                                                         str]:
    """Return (channel order, the value each channel is drawn with, what the value is, how they are sorted)."""
    means = lens.test_set.test_pass(checkpoint).channel(name, "mean").mean(axis=0)
    over_all = f"mean activation over the {lens.test_size:,} test {lens.noun}s"
    if sort == tl.SORT_INDEX:
        return np.arange(means.size), means, over_all, "by number"
    if sort == tl.SORT_CONTRIBUTION:
        values = lens.test_set.channel_contributions(name, class_index, checkpoint)
        class_name = lens.class_names[class_index]
        members = int(np.sum(lens.data.y_test == class_index))
        return (np.lexsort((np.arange(values.size), -values)), values,
                f"activation × gradient of class {class_name}, mean over its {members:,} test {lens.noun}s",
                f"most for {class_name} first")
    return np.lexsort((np.arange(means.size), -means)), means, over_all, "strongest first"


@shows_errors(_insight_error)
def channel_insight(lens: Lens, gate, click=None) -> tuple:
    """Return the selected layer's channels as bars (sorted by mean activation over the test set, by activation ×
    gradient for a class, or by number; at most views.PAGE_CHANNELS; dead ones grey), and for the chosen
    channel (the first until a bar is clicked) its nine strongest test images with the input box its peak
    depends on framed, its weights, and the input that maximises it."""
    wanted = validate.gate(gate, CHANNEL_KEYS)
    if wanted is None or wanted["ready"] is None:
        return (no_update,) * 8
    checkpoint = _ready_checkpoint(wanted["ready"], lens)
    names = [info.name for info in lens.layers]
    name = validate.one_of(wanted["layer"], [*names, INPUT], what="Layer")
    sort = validate.one_of(wanted["sort"], [tl.SORT_MEAN, tl.SORT_CONTRIBUTION, tl.SORT_INDEX], what="Sort")
    class_index = validate.integer(wanted["class"], low=0, high=lens.data.classes - 1, what="Class")
    info = lens.layer(name, checkpoint) if name != INPUT else None
    if info is None or len(info.output_shape) != 3:
        return _insight_error("Select a layer with channels above (a convolution, pooling or normalisation layer).")
    test_pass = lens.test_set.test_pass(checkpoint)
    peaks = test_pass.channel(name, "max")
    dead = testset.dead_channels(peaks) if testset.is_relu_family(info.activation, info.kind) else np.array([], int)
    order, values, value_name, order_name = _ranking(lens, name, sort, class_index, checkpoint)
    shown = order[:views.PAGE_CHANNELS]
    channel = int(order[0])
    triggered = validate.triggered_props()
    if triggered is not None and ids.CHANNEL_BARS in triggered:
        points = click.get("points") if isinstance(click, dict) else None
        said = points[0].get("x") if isinstance(points, list) and points and isinstance(points[0], dict) else None
        # The bars' categories are channel numbers written as text.
        said = int(said) if isinstance(said, str) and said.isdigit() else said
        channel = validate.integer(said, low=0, high=values.size - 1, what="Channel")
    dead_set = set(dead.tolist())
    bars = testset_figures.channel_strength_bars(shown.tolist(), values[shown], [c in dead_set for c in shown],
                                                 chosen=channel, height=CHANNEL_HEIGHT, value_name=value_name,
                                                 order_name=order_name)
    dead_text = (f" {len(dead)} of {values.size} channels never activate on the test set (dead ReLUs, grey)."
                 if testset.is_relu_family(info.activation, info.kind) else "")
    bars_caption = (f"{name}: {len(shown)} of {values.size} channels shown, {order_name}; a bar is the channel's "
                    f"{value_name}.{dead_text} Click a bar for that channel.")
    if sort == tl.SORT_CONTRIBUTION:
        bars_caption += (" That is how much the channel raises the class's score (its logit where the model's "
                         "softmax can be read) to first order: the sum over its map of activation × gradient.")
    top = lens.test_set.channel_top(name, channel, TOP_COUNT, checkpoint)
    pictures = [_thumbnail(lens.picture(index)) for index, _, _ in top]
    figure = testset_figures.thumbnail_mosaic(np.stack(pictures), [index for index, _, _ in top], columns=3,
                                              ink=lens.noun == "digit", height=CHANNEL_HEIGHT,
                                              boxes=[box for _, _, box in top], box_scale=lens.picture(0).shape[0])
    top_caption = (f"Channel {channel} of {name}: the {len(top)} test {lens.noun}s where its largest activation is "
                   f"highest ({top[0][1]:.4g} down to {top[-1][1]:.4g}); the red frame is the part of the input "
                   "that peak depends on (where its gradient is not zero). Click one to show it in every panel.")
    weights, weights_caption = views.filter_view(info, lens.weights(checkpoint).get(name), channel,
                                                 height=CHANNEL_HEIGHT)
    feature, feature_caption = _feature_view(lens, name, shown.tolist(), channel, checkpoint)
    return bars, bars_caption, figure, top_caption, weights, weights_caption, feature, feature_caption


def _feature_view(lens: Lens, name: str, shown: list[int], channel: int, checkpoint) -> tuple:
    """Return the input that maximises the chosen channel (computed with every channel shown in one call)."""
    if channel not in shown:
        return figures.message_figure("Pick one of the channels shown.", height=CHANNEL_HEIGHT), ""
    pixels, reached = lens.test_set.feature_visualisation(name, sorted(shown), checkpoint)
    at = sorted(shown).index(channel)
    figure = views.input_view(pixels[at], ink=lens.noun == "digit", height=CHANNEL_HEIGHT)
    if reached[at] <= 0:
        return figure, (f"Channel {channel} of {name} stayed at 0 from the starting noise: no gradient reached it, "
                        "so there is no picture of what it looks for.")
    return (figure,
            f"What channel {channel} of {name} looks for: the input that makes the unit at the centre of its map "
            f"largest ({reached[at]:.4g}), found by gradient ascent from noise with small random shifts and a "
            f"smoothness penalty; all {len(shown)} channels shown were computed in one batched call.")


def _no_counts(message: str) -> object:
    return no_update


@shows_errors(_no_counts)
def dead_counts(lens: Lens, ready) -> object:
    """Return {layer: "k of C dead"} for every ReLU map layer with channels that never activate on the test set
    (the layer cards and the layer graph's nodes show it, in the browser), once the pass for the view is ready."""
    if ready is None:
        return no_update
    checkpoint = _ready_checkpoint(ready, lens)
    test_pass = lens.test_set.test_pass(checkpoint)
    counts = {}
    for info in lens.layers:
        if len(info.output_shape) == 3 and testset.is_relu_family(info.activation, info.kind):
            peaks = test_pass.channel(info.name, "max")
            dead = len(testset.dead_channels(peaks))
            if dead:
                counts[info.name] = f"{dead} of {peaks.shape[1]} dead"
    return counts


def register(app: Dash, catalog: Catalog) -> None:
    """Attach the test-set callbacks to the app."""
    app.callback(
        Output(ids.TESTSET_READY, "data"), Output(ids.TESTSET_POLL, "disabled"),
        Output(ids.TESTSET_PROGRESS, "value"), Output(ids.TESTSET_STATUS_BOX, "hidden"),
        Output(ids.TESTSET_STATUS, "children"),
        Input(ids.TESTPASS_GATE, "data"), Input(ids.TESTSET_POLL, "n_intervals"), validate.model_state(),
        prevent_initial_call=True,
    )(validate.bind(pass_status, catalog))
    app.callback(
        Output(ids.CONFUSION_GRAPH, "figure"), Output(ids.CONFUSION_CAPTION, "children"),
        Input(ids.TESTSET_GATE, "data"), State(ids.CONFUSION_GRAPH, "clickData"), validate.model_state(),
        prevent_initial_call=True,
    )(validate.bind(confusion_view, catalog))
    # The cell whose images the gallery shows is framed, in the browser, once the gallery has drawn them.
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "markCell"),
        Output(ids.CONFUSION_GRAPH, "figure", allow_duplicate=True), Input(ids.GALLERY_GRAPH, "figure"),
        State(ids.CONFUSION_GRAPH, "clickData"), State(ids.CONFUSION_GRAPH, "figure"),
        State(ids.CLIENT_CONSTANTS, "data"), prevent_initial_call=True,
    )
    app.callback(
        Output(ids.GALLERY_GRAPH, "figure"), Output(ids.GALLERY_CAPTION, "children"),
        Output(ids.GALLERY_PAGE, "options"), Output(ids.GALLERY_PAGE, "value"),
        Input(ids.CONFUSION_GRAPH, "clickData"), Input(ids.GALLERY_PAGE, "value"), Input(ids.TESTSET_READY, "data"),
        validate.model_state(), prevent_initial_call=True,
    )(validate.bind(gallery_view, catalog))
    # A thumbnail clicked becomes the picked image: in the browser, no request of its own.
    for mosaic in (ids.GALLERY_GRAPH, ids.CHANNEL_TOP):
        app.clientside_callback(
            ClientsideFunction(NAMESPACE, "pickFromGallery"),
            Output(ids.DIGIT, "value", allow_duplicate=True), Input(mosaic, "clickData"),
            State(mosaic, "figure"), prevent_initial_call=True,
        )
    app.callback(
        Output(ids.EMBED_GRAPH, "figure"), Output(ids.EMBED_CAPTION, "children"), Output(ids.EMBED_POLL, "disabled"),
        Output(ids.EMBED_PROGRESS, "value"),
        Input(ids.EMBED_GATE, "data"), Input(ids.EMBED_POLL, "n_intervals"), State(ids.DIGIT, "value"),
        validate.model_state(), prevent_initial_call=True,
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
        Output(ids.CHANNEL_WEIGHTS, "figure"), Output(ids.CHANNEL_WEIGHTS_CAPTION, "children"),
        Output(ids.CHANNEL_FEATURE, "figure"), Output(ids.CHANNEL_FEATURE_CAPTION, "children"),
        Input(ids.CHANNEL_GATE, "data"), Input(ids.CHANNEL_BARS, "clickData"), validate.model_state(),
        prevent_initial_call=True,
    )(validate.bind(channel_insight, catalog))
    app.callback(
        Output(ids.DEAD_COUNTS, "data"), Input(ids.TESTSET_READY, "data"), validate.model_state(),
        prevent_initial_call=True,
    )(validate.bind(dead_counts, catalog))
    # The counts go into the layer cards, or the layer graph's nodes, in the browser.
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "deadCountsInCards"),
        Output(ids.ALL_DEAD_COUNTS, "children"), Input(ids.DEAD_COUNTS, "data"), prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "deadCountsInGraph"),
        Output(ids.LAYER_GRAPH, "figure", allow_duplicate=True), Input(ids.DEAD_COUNTS, "data"),
        State(ids.LAYER_GRAPH, "figure"), prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "classFieldHidden"),
        Output(ids.CHANNEL_CLASS_FIELD, "hidden"), Input(ids.CHANNEL_SORT, "value"),
        State(ids.CLIENT_CONSTANTS, "data"),
    )
