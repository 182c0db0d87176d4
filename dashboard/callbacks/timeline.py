"""Callbacks for the timeline: which run and checkpoint the panels show, and the run's curves and distributions."""

from __future__ import annotations

import numpy as np
from dash import Dash, Input, Output, State, no_update

from dashboard import figures, gates, ids, runs, training_figures, training_layout, views
from dashboard.callbacks import validate
from dashboard.callbacks.validate import InvalidInput, shows_errors
from dashboard.catalog import Catalog
from dashboard.lens import Lens
from dashboard.training_layout import SERVED

MAX_COMPARED = 4


def _message(message: str):
    return message


def _shown_run(lens: Lens, shown) -> str | None:
    """Return the run whose timeline the views use: the chosen one, or the served model's run."""
    if shown in (None, SERVED):
        return lens.models.served_run
    lens.runs.folder(shown)  # raises RunError for a value that is not a run id
    return shown


def _slider_error(message: str):
    return training_layout.slider_for([])


@shows_errors(_slider_error)
def timeline(lens: Lens, shown, _signature, position, steps_shown) -> tuple:
    """Return the epoch slider for the chosen run (training_layout.slider_for).

    "The served model" scrubs the run that trained it, if any: its last stop is the served model itself.
    Choosing another run moves to its last checkpoint; new checkpoints of a running run keep the position.
    """
    run_id = _shown_run(lens, validate.text(shown, what="Run") if shown is not None else None)
    try:
        snapshots = lens.runs.history(run_id) if run_id else []
    except runs.RunError as error:
        raise InvalidInput(str(error)) from None
    run_changed = validate.triggered_by(ids.SHOWN_RUN) or not isinstance(steps_shown, list)
    keep = (None if run_changed or not isinstance(position, int) or not 0 <= position < len(steps_shown)
            else steps_shown[position])
    return training_layout.slider_for(snapshots, keep)


@shows_errors(_message)
def view_label(lens: Lens, view) -> str:
    """Return a sentence saying which model and checkpoint the panels show."""
    return training_layout.view_sentence(lens, validate.checkpoint_view(view, lens))


def _epoch_of(lens: Lens, checkpoint: tuple[str, int] | None) -> float | None:
    if checkpoint is None:
        return None
    return next((float(s["epoch"]) for s in lens.runs.history(checkpoint[0]) if s["step"] == checkpoint[1]), None)


def _compared(lens: Lens, shown, compare) -> list[str]:
    chosen = _shown_run(lens, shown)
    if compare is not None and not isinstance(compare, list):
        raise InvalidInput("Compared runs must be a list of run ids")
    picked = [chosen] if chosen else []
    for run_id in compare or []:
        lens.runs.folder(run_id)
        if run_id not in picked:
            picked.append(run_id)
    if len(picked) > MAX_COMPARED + 1:
        raise InvalidInput(f"Compare at most {MAX_COMPARED} runs at once")
    return picked


def _curve_errors(message: str):
    figure = figures.message_figure(message, height=training_figures.CURVE_HEIGHT)
    return figure, figure


def _run_error(error: runs.RunError) -> InvalidInput:
    return InvalidInput(str(error))


TRAINING_GATE_KEYS = gates.gate_keys(ids.TRAINING_GATE)
COMPARE_GATE_KEYS = gates.gate_keys(ids.COMPARE_GATE)


@shows_errors(_curve_errors)
def curves(lens: Lens, gate) -> tuple:
    """Return the loss/accuracy curves of the chosen and compared runs, and the chosen run's layer norms,
    for the gate the browser writes while the training section is on screen ({"shown", "compare", "signature"})."""
    request_for = validate.gate(gate, TRAINING_GATE_KEYS)
    if request_for is None:
        return no_update, no_update
    shown, compare = request_for["shown"], request_for["compare"]
    try:
        picked = _compared(lens, shown, compare)
        histories = {run_id: lens.runs.history(run_id) for run_id in picked}
    except runs.RunError as error:
        raise _run_error(error) from None
    histories = {run_id: history for run_id, history in histories.items() if history}
    if not histories:
        message = "No run to plot yet: train one below, or pick one above."
        return _curve_errors(message)
    lines = [training_figures.RunCurves(
        label=run_id, epochs=np.array([s["epoch"] for s in history]),
        train_loss=[s["train_loss"] for s in history], test_loss=[s["test_loss"] for s in history],
        train_accuracy=[s["train_accuracy"] for s in history], test_accuracy=[s["test_accuracy"] for s in history],
    ) for run_id, history in histories.items()]
    first = next(iter(histories.values()))
    layers = list(first[0]["layers"])
    norms = training_figures.layer_norm_curves(
        np.array([s["epoch"] for s in first]),
        {layer: [s["layers"][layer]["weight_norm"] for s in first] for layer in layers},
        {layer: [s["layers"][layer]["gradient_norm"] for s in first] for layer in layers},
    )
    return training_figures.training_curves(lines), norms


def _distribution_errors(message: str):
    figure = figures.message_figure(message, height=200)
    return figure, figure


@shows_errors(_distribution_errors)
def distributions(lens: Lens, gate, layer) -> tuple:
    """Return heatmaps of the layer's weight and gradient histograms by checkpoint, on one range each."""
    request_for = validate.gate(gate, TRAINING_GATE_KEYS)
    if request_for is None:
        return no_update, no_update
    shown = request_for["shown"]
    try:
        run_id = _shown_run(lens, shown)
        history = lens.runs.history(run_id) if run_id else []
    except runs.RunError as error:
        raise _run_error(error) from None
    if not run_id or not history:
        return _distribution_errors("No run to show yet: train one, or pick one above.")
    layer = validate.one_of(layer, list(history[0]["layers"]), what="Layer")
    # Read straight from the files, not through the panels' checkpoint cache: a long run has more
    # checkpoints than that cache holds, and would push out the ones the panels are using.
    stored = [lens.runs.checkpoint(run_id, int(s["step"])) for s in history]
    epochs = np.array([c.epoch for c in stored])
    shown_figures = []
    for kind, value_name in (("weights", "weight"), ("gradients", "∂L/∂w")):
        values = [np.concatenate([v.ravel() for v in getattr(c, kind)[layer].values()]) for c in stored]
        edges, counts = training_figures.common_histograms(values)
        shown_figures.append(training_figures.distribution_heatmap(
            epochs, edges, counts, value_name=value_name,
            title=f"{layer}: {kind} by checkpoint (run {run_id})"))
    return tuple(shown_figures)


def _compare_error(message: str):
    return figures.message_figure(message, height=200), message


def _pick_runs_message() -> tuple:
    return (figures.message_figure("Pick runs to compare above: this panel then shows the same digit in each "
                                   "of them, at the epoch the views show.", height=120), "")


@shows_errors(_compare_error)
def compare_runs(lens: Lens, gate) -> tuple:
    """Return the digit's saliency and gradient × input in each compared run, at the epoch the views show,
    for the gate the browser writes while the comparison is on screen ({"digit", "view", "shown", "compare"})."""
    request_for = validate.gate(gate, COMPARE_GATE_KEYS)
    if request_for is None:
        return no_update, no_update
    shown, compare, view = request_for["shown"], request_for["compare"], request_for["view"]
    if not compare:  # the browser sends no digit then (gates.IDLE_WHEN_EMPTY): the message does not depend on it
        return _pick_runs_message()
    shown = validate.image(request_for["digit"], lens)
    index = shown.value
    try:
        picked = _compared(lens, shown, compare)
        checkpoint = validate.checkpoint_view(view, lens)
    except runs.RunError as error:
        raise _run_error(error) from None
    if len(picked) < 2:
        return _pick_runs_message()
    epoch = _epoch_of(lens, checkpoint)
    image, label = lens.image(index)
    rows, verdicts = [], []
    for run_id in picked:
        history = lens.runs.history(run_id)
        if not history:
            continue
        epochs = np.array([s["epoch"] for s in history])
        nearest = history[int(np.argmin(np.abs(epochs - epoch)))] if epoch is not None else history[-1]
        tensors = lens.tensors(index, checkpoint=(run_id, int(nearest["step"])))
        short = f"…{run_id[-4:]}"  # row labels run vertically: the caption says the rest
        rows.append((f"{short} · epoch {nearest['epoch']:.3g}",
                     {"saliency": tensors.saliency.sum(axis=-1),
                      "gradient × input": (tensors.saliency * image).sum(axis=-1)}))
        verdicts.append(f"{short} ({runs.describe_options(lens.runs.record(run_id))}) says {tensors.predicted_class} "
                        f"({tensors.probabilities.max():.0%})")
    grid = figures.attribution_grid(views.backdrop(shown.picture, ink=lens.noun == "digit"), rows,
                                    signed=("saliency", "gradient × input"))
    truth = "no true label" if label is None else f"true label {label}"
    caption = (f"{shown.name[0].upper() + shown.name[1:]} ({truth}) in each run, at the checkpoint nearest epoch "
               f"{epoch if epoch is not None else 'last'}: " + "; ".join(verdicts) + ". Left: the gradient of the "
               "predicted class's logit; right: that gradient times the pixels. Red raises the score, blue lowers "
               "it; each map has its own range.")
    return grid, caption



def register(app: Dash, catalog: Catalog) -> None:
    """Attach the timeline callbacks to the app."""
    bind = validate.bind
    app.callback(
        Output(ids.EPOCH_SLIDER, "max"), Output(ids.EPOCH_SLIDER, "value"), Output(ids.EPOCH_SLIDER, "marks"),
        Output(ids.EPOCH_SLIDER, "disabled"), Output(ids.PLAY_BUTTON, "disabled"), Output(ids.TIMELINE_STEPS, "data"),
        Input(ids.SHOWN_RUN, "value"), Input(ids.RUNS_SIGNATURE, "data"), State(ids.EPOCH_SLIDER, "value"),
        State(ids.TIMELINE_STEPS, "data"),
        validate.model_state(), prevent_initial_call=True,  # the page ships with the served run's slider
    )(bind(timeline, catalog))
    app.callback(Output(ids.VIEW_LABEL, "children"), Input(ids.CHECKPOINT_VIEW, "data"), validate.model_state(),
                 prevent_initial_call=True)(bind(view_label, catalog))
    # The gated panels have nothing to draw until they are first on screen.
    app.callback(
        Output(ids.CURVES_GRAPH, "figure"), Output(ids.NORMS_GRAPH, "figure"),
        Input(ids.TRAINING_GATE, "data"), validate.model_state(), prevent_initial_call=True,
    )(bind(curves, catalog))
    app.callback(
        Output(ids.WEIGHT_DISTRIBUTION_GRAPH, "figure"), Output(ids.GRADIENT_DISTRIBUTION_GRAPH, "figure"),
        Input(ids.TRAINING_GATE, "data"), Input(ids.DISTRIBUTION_LAYER, "value"),
        validate.model_state(), prevent_initial_call=True,
    )(bind(distributions, catalog))
    app.callback(
        Output(ids.COMPARE_GRAPH, "figure"), Output(ids.COMPARE_CAPTION, "children"),
        Input(ids.COMPARE_GATE, "data"), validate.model_state(), prevent_initial_call=True,
    )(bind(compare_runs, catalog))
