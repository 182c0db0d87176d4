"""Callbacks for choosing a digit and the views that depend on the digit alone."""

from __future__ import annotations

from dash import Dash, Input, Output, State, dcc, no_update

from dashboard import export, figures, ids, views
from dashboard.callbacks import validate
from dashboard.callbacks.validate import shows_errors
from dashboard.catalog import Catalog
from dashboard.layout import PREDICTED, TRUE
from dashboard.lens import InputImage, Lens
from dashboard.tensors import PREDICTED_CLASS


def digit_option(lens: Lens, value: int | str, query: str = "") -> dict:
    """Return one dropdown option; `search` repeats the query the server matched, so the browser keeps it. A
    person's own or edited image is named and its prediction shown, e.g. "your drawing · pred 7 (93.1%)"."""
    if not isinstance(value, int):
        shown = lens.resolve(value)
        probabilities = lens.tensors(shown.value).probabilities
        predicted = lens.class_names[int(probabilities.argmax())]
        label = f"{shown.name} · pred {predicted} ({probabilities.max():.1%})"
        return {"label": label, "value": shown.value, "search": f"{label} {query}".strip()}
    summary = lens.summary(value)
    label = views.digit_option_label(summary.index, summary.label, summary.predicted, summary.confidence,
                                     lens.class_names)
    # Dash 4's Dropdown filters options again in the browser by word; the server already did the matching.
    return {"label": label, "value": summary.index, "search": f"{label} {query}".strip()}


def _keep_options(message: str):
    return no_update


@shows_errors(_keep_options)
def digit_options(lens: Lens, search: str | None, misclassified: list | None, value: int | None) -> list[dict]:
    """Return at most ~50 dropdown options matching the search, always including the current digit."""
    query = validate.text(search, what="Search")
    only_wrong = validate.flag_list(misclassified, what="Misclassified switch")
    matches = [digit_option(lens, s.index, query) for s in lens.search(query, misclassified_only=only_wrong)]
    if value is not None:
        current = validate.image(value, lens).value
        if all(option["value"] != current for option in matches):
            matches.insert(0, digit_option(lens, current))
    return matches


def _digit_views_error(message: str):
    figure = figures.message_figure(message, height=views.SIDEBAR_HEIGHT)
    return figure, figure, message, figure, message, no_update


def _options_with(lens: Lens, index: int | str, options, search, misclassified) -> list[dict] | object:
    """Return no_update when the digit is among the dropdown's options already (picked from them); else the
    options for the search and switch as they are, which include it (picked by Random digit, say)."""
    if isinstance(options, list) and any(isinstance(o, dict) and o.get("value") == index for o in options):
        return no_update
    return digit_options(lens, search, misclassified, index)


def _score_class(lens: Lens, class_choice, label: int | None) -> int:
    """Return the class whose score the saliency follows: the predicted (PREDICTED_CLASS), the true (the predicted
    for an image with no true label: the caption names the class), or a number."""
    choice = validate.one_of(class_choice, [PREDICTED, TRUE, *range(lens.data.classes)], what="Class")
    if choice == TRUE:
        return PREDICTED_CLASS if label is None else label
    return PREDICTED_CLASS if choice == PREDICTED else int(choice)


def file_part(shown: InputImage) -> str:
    """Return how a file name names the image: "digit-42", or "own-<hash>" / "digit-42-edited-<hash>"."""
    import hashlib

    if shown.index is not None:
        return f"{shown.name.split(' #')[0]}-{shown.index}"
    digest = hashlib.sha256(str(shown.value).encode("utf-8")).hexdigest()[:8]
    base = "own" if shown.ref.index is None else f"{shown.name.split(' #')[0]}-{shown.ref.index}-edited"
    return f"{base}-{digest}"


def describe_prediction(lens: Lens, shown: InputImage, tensors) -> str:
    """Return the one-line verdict under the picture: the true label (if known), the prediction, the loss."""
    names = lens.class_names
    predicted, confidence = tensors.predicted_class, float(tensors.probabilities.max())
    name = shown.name[0].upper() + shown.name[1:]
    if shown.label is None:
        return (f"{name}: no true label given; predicted {names[predicted]} with {confidence:.1%} confidence; "
                f"cross-entropy loss against the prediction {tensors.loss:.4f} (the gradients use it).")
    verdict = "correct" if predicted == shown.label else "wrong"
    return (f"{name}: true label {names[shown.label]}, predicted {names[predicted]} with {confidence:.1%} "
            f"confidence ({verdict}); cross-entropy loss {tensors.loss:.4f}.")


@shows_errors(lambda message: (no_update, message))
def export_tensors(lens: Lens, clicks, index, class_choice, view=None) -> tuple:
    """Return (a download of the view's numbers as .npz, a note): the picture, the model's input, the
    probabilities, the saliency of the class chosen, every layer's activations, weights and loss gradients,
    for the image and model (or checkpoint) the panels show."""
    if not clicks:
        return no_update, no_update
    shown = validate.image(index, lens)
    checkpoint = validate.checkpoint_view(view, lens)
    image, label = lens.image(shown.value)
    tensors = lens.tensors(shown.value, _score_class(lens, class_choice, label), checkpoint=checkpoint)
    content = export.tensors_npz(shown.picture, image, label, tensors, lens.weights(checkpoint), lens.class_names)
    where = "" if checkpoint is None else f"-{checkpoint[0]}-step{checkpoint[1]}"
    filename = f"cnn-lens-{lens.key}{where}-{file_part(shown)}.npz"
    return (dcc.send_bytes(content, filename, type="application/octet-stream"),
            f"{filename}: {len(content) / 1024:,.0f} KB")


@shows_errors(_digit_views_error)
def digit_views(lens: Lens, index, class_choice, view=None, options=None, search=None, misclassified=None) -> tuple:
    """Return the input digit, the probability bars, a one-line verdict, the saliency of the chosen class
    and its caption, and the dropdown's options when the digit is not among them yet.

    The digit's views always change together, so they are one request; a new saliency class or a new
    checkpoint leaves the pixels (the same at every checkpoint) as they are.
    """
    shown = validate.image(index, lens)
    index, label = shown.value, shown.label
    checkpoint = validate.checkpoint_view(view, lens)
    tensors = lens.tensors(index, _score_class(lens, class_choice, label), checkpoint=checkpoint)
    saliency_figure, saliency_caption = views.saliency_view(
        tensors.saliency, score_class=tensors.saliency_class, score_kind=tensors.score_kind,
        class_names=lens.class_names, ink=lens.noun == "digit")
    if validate.triggered_by(ids.SALIENCY_CLASS):
        return no_update, no_update, no_update, saliency_figure, saliency_caption, no_update
    summary = describe_prediction(lens, shown, tensors)
    reference = None
    if not shown.ref.edit.is_identity:  # an edit: the probabilities before it, on the bars and in words
        before = lens.tensors(shown.ref.base, checkpoint=checkpoint).probabilities
        reference, predicted = before, tensors.predicted_class
        summary += (f" Before the edit: predicted {lens.class_names[int(before.argmax())]} ({before.max():.1%}); "
                    f"the {lens.class_names[predicted]} probability went from {before[predicted]:.1%} to "
                    f"{tensors.probabilities[predicted]:.1%}.")
    picture = (no_update if validate.triggered_by(ids.CHECKPOINT_VIEW)
               else views.input_view(shown.picture, ink=lens.noun == "digit"))
    probabilities = views.probability_view(tensors.probabilities, true_label=label, class_names=lens.class_names,
                                           reference=reference)
    return (picture, probabilities, summary, saliency_figure,
            saliency_caption, _options_with(lens, index, options, search, misclassified))


def register(app: Dash, catalog: Catalog) -> None:
    """Attach the digit callbacks to the app."""
    bind = validate.bind
    # The options follow the search and the switch; a digit picked some other way (Random digit, a link)
    # is added by digit_views, in the same request as its views.
    app.callback(
        Output(ids.DIGIT, "options", allow_duplicate=True),
        Input(ids.DIGIT, "search_value"), Input(ids.MISCLASSIFIED_ONLY, "value"), State(ids.DIGIT, "value"),
        validate.model_state(),
        prevent_initial_call=True,
    )(bind(digit_options, catalog))
    app.callback(
        Output(ids.TENSORS_DOWNLOAD, "data"), Output(ids.EXPORT_NOTE, "children"),
        Input(ids.EXPORT_BUTTON, "n_clicks"), State(ids.DIGIT, "value"), State(ids.SALIENCY_CLASS, "value"),
        State(ids.CHECKPOINT_VIEW, "data"), validate.model_state(), prevent_initial_call=True,
    )(bind(export_tensors, catalog))
    app.callback(
        Output(ids.INPUT_GRAPH, "figure"), Output(ids.PROBABILITY_GRAPH, "figure"),
        Output(ids.DIGIT_SUMMARY, "children"),
        Output(ids.SALIENCY_GRAPH, "figure"), Output(ids.SALIENCY_CAPTION, "children"), Output(ids.DIGIT, "options"),
        Input(ids.DIGIT, "value"), Input(ids.SALIENCY_CLASS, "value"), Input(ids.CHECKPOINT_VIEW, "data"),
        State(ids.DIGIT, "options"), State(ids.DIGIT, "search_value"), State(ids.MISCLASSIFIED_ONLY, "value"),
        validate.model_state(),
    )(bind(digit_views, catalog))
