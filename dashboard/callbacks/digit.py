"""Callbacks for choosing a digit and the views that depend on the digit alone."""

from __future__ import annotations

from dash import Dash, Input, Output, no_update

from dashboard import figures, ids, views
from dashboard.callbacks import validate
from dashboard.callbacks.validate import shows_errors
from dashboard.layout import PREDICTED, TRUE
from dashboard.lens import Lens
from dashboard.tensors import PREDICTED_CLASS


def digit_option(lens: Lens, index: int, query: str = "") -> dict:
    """Return one dropdown option; `search` repeats the query the server matched, so the browser keeps it."""
    summary = lens.summary(index)
    label = views.digit_option_label(summary.index, summary.label, summary.predicted, summary.confidence)
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
        current = validate.digit_index(value, lens.test_size)
        if all(option["value"] != current for option in matches):
            matches.insert(0, digit_option(lens, current))
    return matches


def _overview_error(message: str):
    figure = figures.message_figure(message)
    return figure, figure, message


@shows_errors(_overview_error)
def digit_overview(lens: Lens, index, view=None) -> tuple:
    """Return the input digit heatmap, the probability bars and a one-line verdict."""
    index = validate.digit_index(index, lens.test_size)
    checkpoint = validate.checkpoint_view(view, lens)
    image, label = lens.image(index)
    tensors = lens.tensors(index, checkpoint=checkpoint)
    predicted, confidence = tensors.predicted_class, float(tensors.probabilities.max())
    verdict = "correct" if predicted == label else "wrong"
    summary = (f"Digit #{index}: true label {label}, predicted {predicted} with {confidence:.1%} "
               f"confidence ({verdict}); cross-entropy loss {tensors.loss:.4f}.")
    # Moving through checkpoints leaves the pixels as they are: one redraw fewer per slider step.
    picture = no_update if validate.triggered_by(ids.CHECKPOINT_VIEW) else figures.digit_heatmap(image)
    return picture, figures.probability_bars(tensors.probabilities, true_label=label), summary


def _saliency_error(message: str):
    return figures.message_figure(message), message


@shows_errors(_saliency_error)
def saliency(lens: Lens, index, class_choice, view=None) -> tuple:
    """Return the saliency map of the chosen class score for the digit, and its caption."""
    index = validate.digit_index(index, lens.test_size)
    checkpoint = validate.checkpoint_view(view, lens)
    classes = lens.served.extractor.classes
    choice = validate.one_of(class_choice, [PREDICTED, TRUE, *range(classes)], what="Class")
    if choice == PREDICTED:
        score_class = PREDICTED_CLASS
    elif choice == TRUE:
        score_class = lens.image(index)[1]
    else:
        score_class = int(choice)
    tensors = lens.tensors(index, score_class, checkpoint=checkpoint)
    return views.saliency_view(tensors.saliency, score_class=tensors.saliency_class, score_kind=tensors.score_kind)


def register(app: Dash, lens: Lens) -> None:
    """Attach the digit callbacks to the app."""
    bind = validate.bind
    app.callback(
        Output(ids.DIGIT, "options"),
        Input(ids.DIGIT, "search_value"), Input(ids.MISCLASSIFIED_ONLY, "value"), Input(ids.DIGIT, "value"),
    )(bind(digit_options, lens))
    app.callback(
        Output(ids.INPUT_GRAPH, "figure"), Output(ids.PROBABILITY_GRAPH, "figure"), Output(ids.DIGIT_SUMMARY, "children"),
        Input(ids.DIGIT, "value"), Input(ids.CHECKPOINT_VIEW, "data"),
    )(bind(digit_overview, lens))
    app.callback(
        Output(ids.SALIENCY_GRAPH, "figure"), Output(ids.SALIENCY_CAPTION, "children"),
        Input(ids.DIGIT, "value"), Input(ids.SALIENCY_CLASS, "value"), Input(ids.CHECKPOINT_VIEW, "data"),
    )(bind(saliency, lens))
