"""The parts of the page for training: the timeline bar, the training section, and the first-start page."""

from __future__ import annotations

import datetime
from typing import Any

from dash import dcc, html

from dashboard import components, ids, runs, training
from dashboard.lens import Lens

SERVED = "served"
PLAY_INTERVAL_MS = 900
RUNS_POLL_MS = 2000
PROGRESS_MAX = "1000"  # html.Progress takes its numbers as strings


FRACTION_LABELS = {0.125: "⅛", 0.25: "¼", 0.5: "½"}


def slider_for(snapshots: list[dict[str, Any]], keep_step: int | None = None) -> tuple:
    """Return the epoch slider for a run's snapshots: (max, value, marks, disabled, play disabled, steps).

    One evenly spaced stop per checkpoint, labelled by epoch; the value is a position, at `keep_step`'s
    checkpoint if it has one, else the last. No snapshots: one disabled stop.
    """
    if not snapshots:
        return 0, 0, {}, True, True, []
    steps = [int(s["step"]) for s in snapshots]
    marks = {}
    for position, snapshot in enumerate(snapshots):
        epoch = float(snapshot["epoch"])
        label = f"{epoch:g}" if epoch.is_integer() else FRACTION_LABELS.get(epoch, "")
        marks[position] = {"label": label or " "}
    value = steps.index(keep_step) if keep_step in steps else len(steps) - 1
    return len(steps) - 1, value, marks, False, len(steps) < 2, steps


def when_text(timestamp: Any) -> str:
    """Return a time stamp as the page writes it (local date and minute), "?" if it is not one."""
    if not isinstance(timestamp, (int, float)):
        return "?"
    return datetime.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M")


def run_label(record: dict[str, Any]) -> str:
    """Return a run as the run choices list it: when, settings, and its score or status."""
    options = runs.describe_options(record)
    accuracy = record.get("test_accuracy")
    score = f" · {accuracy:.1%}" if isinstance(accuracy, float) else f" · {record.get('status')}"
    return f"{when_text(record.get('created'))} · {options}{score}"


def run_choices(lens: Lens, signature: dict) -> tuple[list[dict], list[dict]]:
    """Return the options of "Views show" (the served model, then every run with checkpoints) and of
    "Compare runs" (every run with checkpoints)."""
    with_checkpoints = {run_id for run_id, _, count in signature["runs"] if count}
    choices = [{"label": run_label(r), "value": r["id"]} for r in lens.runs.list() if r["id"] in with_checkpoints]
    return [{"label": "the served model", "value": SERVED}] + choices, choices


def view_sentence(lens: Lens, checkpoint: tuple[str, int] | None) -> str:
    """Return a sentence saying which model and checkpoint the panels show."""
    if checkpoint is None:
        served, run_id = lens.served, lens.models.served_run
        where = (f", the last checkpoint of run {run_id}: move the slider to see it learn" if run_id and
                 lens.runs.history(run_id) else "; it was not trained from this page, so it has no checkpoints")
        return (f"The panels show the served model {served.version} "
                f"(test accuracy {lens.predictions().accuracy:.1%}){where}.")
    run_id, step = checkpoint
    snapshot = next((s for s in lens.runs.history(run_id) if s["step"] == step), None)
    if snapshot is None:
        return f"The panels show run {run_id} after {step:,} steps."
    return (f"The panels show run {run_id} at epoch {snapshot['epoch']:.3g} (step {step:,}): test accuracy "
            f"{snapshot['test_accuracy']:.1%}, test loss {snapshot['test_loss']:.4f}. The digit list still gives "
            "the served model's predictions.")


def timeline_bar(lens: Lens, signature: dict, shown_options: list[dict],
                 checkpoint: tuple[str, int] | None = None) -> html.Section:
    """The bar that picks what the main panels show: the served model, or any checkpoint of any run (the page
    opens on `checkpoint`, (run, step), when a link names one).

    Everything it shows at first is in the page itself (the run choices, the served run's slider, the
    sentence), so the first screen's panels need no round trip to learn what to show.
    """
    served_run = lens.models.served_run
    run = checkpoint[0] if checkpoint else served_run
    maximum, value, marks, disabled, play_disabled, steps = slider_for(
        lens.runs.history(run) if run else [], checkpoint[1] if checkpoint else None)
    shown = SERVED if run == served_run else run
    view: dict[str, Any] = ({"model": lens.served.version} if not run or checkpoint is None
                            or (shown == SERVED and value == maximum) else {"run": run, "step": steps[value]})
    shown_checkpoint = None if "model" in view else (str(run), int(steps[value]))
    return html.Section([
        html.Div([html.Label("Views show", htmlFor=ids.SHOWN_RUN),
                  dcc.Dropdown(id=ids.SHOWN_RUN, value=shown, clearable=False, searchable=False,
                               options=shown_options, className="run-dropdown")],
                 className="inline-field"),
        html.Div([
            html.Button("▶ Play", id=ids.PLAY_BUTTON, n_clicks=0, className="button step", disabled=play_disabled,
                        title="Step through the checkpoints"),
            html.Div(dcc.Slider(id=ids.EPOCH_SLIDER, min=0, max=maximum, step=1, value=value, marks=marks,
                                disabled=disabled, included=False, allow_direct_input=False),
                     className="epoch-slider"),
        ], id=ids.EPOCH_FIELD, className="timeline-slider"),
        html.P(view_sentence(lens, shown_checkpoint), id=ids.VIEW_LABEL,
               className="view-label",
               **components.html_attributes({"aria-live": "polite"})),
        dcc.Interval(id=ids.PLAY_TIMER, interval=PLAY_INTERVAL_MS, disabled=True),
        dcc.Store(id=ids.CHECKPOINT_VIEW, data=view),
        dcc.Store(id=ids.EXPLAIN_VIEW, data=view),
        dcc.Store(id=ids.TIMELINE_STEPS, data=steps),
        # The run list's signature and the training job's stores live here, outside the (closed) training
        # section: the run choices above and Start/Cancel depend on them whether or not it is open.
        dcc.Store(id=ids.RUNS_SIGNATURE, data=signature),
        # A model nobody trains from the page (a user's own) has no runs to poll for.
        dcc.Interval(id=ids.RUNS_POLL, interval=RUNS_POLL_MS, disabled=not lens.trainable),
        dcc.Store(id=ids.TRAINING_RUN),
        dcc.Store(id=ids.TRAINING_REQUEST),
    ], className="timeline")


def _options_form() -> html.Div:
    return html.Div([
        components.number_field("Epochs", ids.TRAINING_EPOCHS, 3, 1, runs.MAX_EPOCHS, 1),
        components.number_field("Batch size", ids.TRAINING_BATCH, 128, 1, runs.MAX_BATCH_SIZE, 1),
        components.number_field("Learning rate", ids.TRAINING_RATE, 0.001, *runs.LEARNING_RATES, "any"),
        components.number_field("Training digits (empty: all)", ids.TRAINING_SIZE, None, runs.MIN_TRAIN_SIZE, None, 1),
        html.Div([html.Label("Hidden activation", htmlFor=ids.TRAINING_ACTIVATION),
                  dcc.Dropdown(id=ids.TRAINING_ACTIVATION, value="relu", clearable=False, searchable=False,
                               options=list(runs.ACTIVATIONS), className="small-dropdown")], className="field"),
        html.Button("Start training", id=ids.START_TRAINING, n_clicks=0, className="button primary"),
        html.Button("Cancel", id=ids.CANCEL_TRAINING, n_clicks=0, className="button", disabled=True),
    ], className="explain-controls")


def training_body(lens: Lens, compare_options: list[dict]) -> list:
    """Return the training section's contents: the form and its progress, the runs, curves, distributions and
    the run comparison. Its two lazy parts (training, compare) compute only while on screen."""
    layer_names = [info.name for info in lens.layers if info.has_weights]
    runs_and_curves = html.Div([
        _options_form(),
        html.Div([
            html.Progress(id=ids.TRAINING_PROGRESS, value="0", max=PROGRESS_MAX, className="progress"),
            html.Span("", id=ids.TRAINING_STATUS, className="training-status",
                      **components.html_attributes({"aria-live": "polite"})),
        ], className="progress-row"),
        html.P("", id=ids.TRAINING_RESULT, className="caption"),
        html.H3("Runs"),
        html.Div(id=ids.RUN_TABLE, className="run-table"),
        html.Div([
            html.Div([html.Label("Compare runs", htmlFor=ids.COMPARE_RUNS),
                      dcc.Dropdown(id=ids.COMPARE_RUNS, value=[], multi=True, options=compare_options,
                                   placeholder="pick runs to overlay…", className="run-dropdown")],
                     className="field grow"),
            dcc.ConfirmDialogProvider(html.Button("Delete the run the views show", id=ids.DELETE_RUN, n_clicks=0,
                                                  className="button"),
                                      id=ids.DELETE_CONFIRM, message="Delete this run and its checkpoints?"),
        ], className="controls flat"),
        html.P("", id=ids.RUN_MESSAGE, className="caption", role="status"),
        components.graph(ids.CURVES_GRAPH),
        html.P("Loss and accuracy at every checkpoint, for the run the views show and the runs picked to compare. "
               "Test (solid): the test digits at that checkpoint. Train (dashed): Keras's running mean over the "
               "epoch so far.", className="caption"),
        components.graph(ids.NORMS_GRAPH),
        html.P(f"Each layer's weight norm ‖w‖ and the norm of its loss gradient on a fixed batch of "
               f"{training.PROBE_TRAIN_DIGITS} training digits (log scale), at every checkpoint.", className="caption"),
        html.Div([html.Label("Distributions of layer", htmlFor=ids.DISTRIBUTION_LAYER),
                  dcc.Dropdown(id=ids.DISTRIBUTION_LAYER, value=layer_names[0] if layer_names else None,
                               clearable=False, searchable=False, options=layer_names, className="small-dropdown")],
                 className="inline-field"),
        html.Div([components.graph(ids.WEIGHT_DISTRIBUTION_GRAPH), components.graph(ids.GRADIENT_DISTRIBUTION_GRAPH)],
                 className="row two"),
        html.P("Histograms of every weight (left) and every probe-batch gradient (right) of the layer, one row "
               "per checkpoint, all rows on one value range; colour is the count on a log scale, hover gives "
               "the exact count.", className="caption"),
    ], className="lazy", **components.html_attributes({"data-lazy": "training"}))
    comparison = html.Div([
        html.H3("The same digit in each compared run"),
        components.graph(ids.COMPARE_GRAPH),
        html.P("", id=ids.COMPARE_CAPTION, className="caption"),
    ], className="lazy", **components.html_attributes({"data-lazy": "compare"}))
    return [runs_and_curves, comparison]


def waiting_layout(status: str) -> html.Div:
    """Return the page shown while the first model trains: its progress, then a reload when it is served."""
    from dashboard.lens import SEED_KEY

    return html.Div([
        dcc.Store(id=ids.MODEL_KEY, data=SEED_KEY),
        html.Header([html.Div([html.H1("CNN Lens"),
                               html.Span("look inside a convolutional network, layer by layer", className="tagline")],
                              className="brand")], className="top"),
        html.Section([
            html.H2("Training the first model"),
            html.P("There is no trained model in the cache yet, so one is training now in its own process. "
                   "The page opens on it as soon as it is ready.", className="caption"),
            html.Progress(id=ids.FIRST_RUN_PROGRESS, value="0", max=PROGRESS_MAX, className="progress"),
            html.P(status, id=ids.FIRST_RUN_STATUS, className="training-status",
                   **components.html_attributes({"aria-live": "polite"})),
            dcc.Interval(id=ids.FIRST_RUN_POLL, interval=1000),
            dcc.Location(id=ids.FIRST_RUN_RELOAD, refresh=True),
        ], className="panel waiting"),
    ], className="page")
