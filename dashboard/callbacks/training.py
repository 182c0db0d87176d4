"""Callbacks for training from the page: the background job, cancel, the run list, deleting runs.

The training job is a Dash background callback. Its manager (diskcache by default, Celery with Redis when
configured) runs the job away from the web request: with diskcache a fork of the web worker, with Celery a
worker process. The job runs no TensorFlow itself: it starts ``python -m dashboard.training`` as a fresh
process and relays that process's progress file. Cancel writes the run's cancel file; the training stops
at its next step, records itself cancelled, and the job returns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from dash import Dash, Input, NoUpdate, Output, State, html, no_update

from dashboard import compare_layout, ids, runs, training_layout
from dashboard.callbacks import validate
from dashboard.callbacks.validate import InvalidInput, shows_errors
from dashboard.catalog import Catalog
from dashboard.config import Settings
from dashboard.lens import Lens
from dashboard.training_layout import SERVED, when_text

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


def training_options(epochs, batch_size, learning_rate, train_size, activation) -> runs.TrainingOptions:
    """Return checked training options from the form's values; raise InvalidInput with a message."""
    try:
        return runs.TrainingOptions(
            epochs=validate.integer(epochs, low=1, high=runs.MAX_EPOCHS, what="Epochs"),
            batch_size=validate.integer(batch_size, low=1, high=runs.MAX_BATCH_SIZE, what="Batch size"),
            learning_rate=validate.number(learning_rate, low=runs.LEARNING_RATES[0], high=runs.LEARNING_RATES[1],
                                          what="Learning rate"),
            train_size=None if train_size in (None, "") else validate.integer(train_size, low=runs.MIN_TRAIN_SIZE,
                                                                             high=10**7,
                                                                             what="Training digits"),
            activation=validate.one_of(activation, runs.ACTIVATIONS, what="Activation"),
        )
    except runs.RunError as error:
        raise InvalidInput(str(error)) from None


def _per_mille(fraction: float) -> str:
    """Return a fraction as the value of the page's progress bars (which take strings, out of 1000)."""
    return str(int(round(1000 * min(1.0, max(0.0, float(fraction))))))


def progress_text(progress: dict[str, Any] | None) -> str:
    """Return one line saying where a training is: epoch, step, latest losses and accuracies."""
    if not progress:
        return "Starting a fresh Python process and TensorFlow (a few seconds)…"
    parts = [f"epoch {progress['epoch']:.2f} of {progress['epochs']}",
             f"step {progress['step']:,}/{progress['steps']:,}"]
    if progress.get("train_loss") is not None:
        parts.append(f"train loss {progress['train_loss']:.4f}, accuracy {progress['train_accuracy']:.1%}")
    if progress.get("test_accuracy") is not None:
        parts.append(f"test loss {progress['test_loss']:.4f}, accuracy {progress['test_accuracy']:.1%}")
    return " · ".join(parts)


def outcome_text(record: dict[str, Any]) -> str:
    """Return what became of a run, in one sentence."""
    status, run_id = record.get("status"), record.get("id")
    if status == runs.FINISHED:
        return (f"Run {run_id} finished in {record.get('train_seconds', 0):.1f} s: test accuracy "
                f"{record['test_accuracy']:.2%}. It is now the served model.")
    if status == runs.CANCELLED:
        return f"Run {run_id} was cancelled; the previous model is still served."
    return f"Run {run_id} {status}: {record.get('error') or 'see the server log'}. The previous model is still served."


def run_training_job(settings: Settings, set_progress: Callable, request, epochs, batch_size, learning_rate,
                     train_size, activation) -> str:
    """The body of the background job: start a training process for this Start request (the token the
    browser drew), relay its progress, return its outcome."""
    from dashboard import training

    try:
        options = training_options(epochs, batch_size, learning_rate, train_size, activation)
        request = runs.check_request_token(request)
    except (InvalidInput, runs.RunError) as error:
        return f"Not started: {error}"
    try:
        run_id, process = training.start_run(settings, options, request=request)
    except runs.RunError as error:
        return f"Not started: {error}."
    store = runs.RunStore(settings.model_dir)
    set_progress((_per_mille(0.0), progress_text(None), run_id))
    last = None
    while process.poll() is None:
        time.sleep(POLL_SECONDS)
        progress = store.progress(run_id)
        if progress and progress != last:
            last = progress
            set_progress((_per_mille(progress["fraction"]), progress_text(progress), run_id))
    return outcome_text(store.record(run_id))


def _message(message: str):
    return message


@shows_errors(_message)
def cancel_training(lens: Lens, n_clicks, request) -> str | NoUpdate:
    """Stop the run this page's last Start launched, at its next step, or before it starts: Cancel names the
    Start request (a token), not a run, so it never reaches another run whatever the timing."""
    from dashboard import training

    if not n_clicks or request is None:
        return no_update
    run_id = training.cancel_request(lens.settings, request)  # RunError for a bad token: shown as a message
    if run_id is None:
        return "Cancelling: the training will not start."
    return f"Cancelling run {run_id}…"


def _run_table(records: list[dict[str, Any]], progress: dict[str, dict], served_run: str | None,
               ) -> html.Table | html.P:
    if not records:
        return html.P("No runs yet: start one above.", className="caption")
    header = html.Tr([html.Th(text) for text in ("Started", "Run", "Settings", "Status", "Test accuracy", "")])
    rows = []
    for record in records:
        run_id, status = record.get("id"), record.get("status")
        if status == runs.RUNNING:
            # Every listed record has an id: run_table keyed `progress` by record["id"].
            status = f"running ({progress[record['id']].get('fraction', 0):.0%})"
        elif status == runs.FAILED and record.get("error"):
            status = f"failed: {record['error']}"
        accuracy = record.get("test_accuracy")
        rows.append(html.Tr([
            html.Td(when_text(record.get("created"))), html.Td(run_id, className="mono"),
            html.Td(runs.describe_options(record)),
            html.Td(status, className=f"status-{record.get('status')}"),
            html.Td(f"{accuracy:.2%}" if isinstance(accuracy, float) else "–"),
            html.Td("served" if run_id == served_run else "", className="served-badge"),
        ]))
    return html.Table([html.Thead(header), html.Tbody(rows)])


def runs_signature(lens: Lens, _tick, _result, _message, signature) -> tuple:
    """Return a signature of all runs, the run choices and the comparison's B-checkpoint choices, or no update
    when nothing changed (most polls).

    The signature changes when a run's status or number of checkpoints does, or the served model; the
    page polls it every few seconds, so it is computed from file timestamps, reading only what changed.
    """
    try:
        new_signature = lens.run_signature()
    except Exception:  # noqa: BLE001 - a poll must never break the page; the log gets the details.
        log.exception("listing runs failed")
        return (no_update,) * 4
    if new_signature == signature:
        return (no_update,) * 4
    return (new_signature, *training_layout.run_choices(lens, new_signature),
            compare_layout.checkpoint_choices(lens))


def run_table(lens: Lens, gate) -> Any:
    """Return the run table, drawn while the training section is on screen and the runs changed."""
    if gate is None:
        return no_update
    try:
        records = lens.runs.list()
        progress = {r["id"]: lens.runs.progress(r["id"]) or {} for r in records}
    except Exception:  # noqa: BLE001 - as for the poll: a message in the log, the table stays.
        log.exception("listing runs failed")
        return no_update
    return _run_table(records, progress, lens.models.served_run)


def _delete_error(message: str):
    return message, no_update


@shows_errors(_delete_error)
def delete_run(lens: Lens, submitted, shown) -> tuple:
    """Delete the run the views show (after the browser's confirmation)."""
    if not submitted:
        return no_update, no_update
    if shown in (None, SERVED):
        raise InvalidInput("Pick a run in 'Views show' first: the served model itself cannot be deleted here.")
    try:
        lens.runs.delete(validate.text(shown, what="Run"),
                         served_runs={lens.models.served_run, lens.models.published_run()})
    except runs.RunError as error:
        raise InvalidInput(str(error)) from None
    return f"Deleted run {shown}.", SERVED


def model_status(lens: Lens, signature) -> tuple:
    """Return the header's status line and the digit pool, refreshed when the served model changed."""
    from dashboard.layout import status_line

    if not lens.ready:
        return no_update, no_update, no_update
    predictions = lens.predictions()
    status = status_line(lens)
    return status, status, {"size": lens.test_size, "misclassified": predictions.misclassified.tolist()}


def first_run(lens: Lens, _tick) -> tuple:
    """Return the first training's progress while no model is served, and a reload once one is."""
    if lens.ready:
        return _per_mille(1.0), "The model is ready: opening the page…", "/"
    active = lens.runs.active()
    if not active:
        recent = lens.runs.list()
        text = outcome_text(recent[0]) if recent else "Waiting for the training process to start…"
        return no_update, text, no_update
    progress = lens.runs.progress(active[0]["id"])
    return _per_mille((progress or {}).get("fraction", 0.0)), progress_text(progress), no_update


def register_background(app: Dash, settings: Settings, manager: Any = None) -> None:
    """Attach the training job: a background callback, also registered by the Celery worker."""

    @app.callback(
        Output(ids.TRAINING_RESULT, "children"),
        Input(ids.TRAINING_REQUEST, "data"),
        State(ids.TRAINING_EPOCHS, "value"), State(ids.TRAINING_BATCH, "value"), State(ids.TRAINING_RATE, "value"),
        State(ids.TRAINING_SIZE, "value"), State(ids.TRAINING_ACTIVATION, "value"),
        background=True, manager=manager, interval=500, prevent_initial_call=True,
        running=[(Output(ids.START_TRAINING, "disabled"), True, False),
                 (Output(ids.CANCEL_TRAINING, "disabled"), False, True)],
        progress=[Output(ids.TRAINING_PROGRESS, "value"), Output(ids.TRAINING_STATUS, "children"),
                  Output(ids.TRAINING_RUN, "data")],
    )
    def train_from_page(set_progress, request, epochs, batch_size, learning_rate, train_size, activation):
        return run_training_job(settings, set_progress, request, epochs, batch_size, learning_rate, train_size,
                                activation)


def register(app: Dash, catalog: Catalog, manager: Any = None) -> None:
    """Attach the training callbacks to the app."""
    bind = validate.bind
    register_background(app, catalog.default.settings, manager)
    app.callback(Output(ids.RUN_MESSAGE, "children", allow_duplicate=True),
                 Input(ids.CANCEL_TRAINING, "n_clicks"), State(ids.TRAINING_REQUEST, "data"), validate.model_state(),
                 prevent_initial_call=True)(bind(cancel_training, catalog))
    app.callback(
        Output(ids.RUNS_SIGNATURE, "data"), Output(ids.SHOWN_RUN, "options"), Output(ids.COMPARE_RUNS, "options"),
        Output(ids.AB_CHECKPOINT, "options"), Input(ids.RUNS_POLL, "n_intervals"),
        Input(ids.TRAINING_RESULT, "children"), Input(ids.RUN_MESSAGE, "children"),
        State(ids.RUNS_SIGNATURE, "data"),
        validate.model_state(), prevent_initial_call=True,  # the page ships with the signature
    )(bind(runs_signature, catalog))
    app.callback(Output(ids.RUN_TABLE, "children"), Input(ids.TRAINING_GATE, "data"), validate.model_state(),
                 prevent_initial_call=True)(bind(run_table, catalog))
    app.callback(
        Output(ids.RUN_MESSAGE, "children"), Output(ids.SHOWN_RUN, "value"),
        Input(ids.DELETE_CONFIRM, "submit_n_clicks"), State(ids.SHOWN_RUN, "value"),
        validate.model_state(), prevent_initial_call=True,
    )(bind(delete_run, catalog))
    app.callback(
        Output(ids.STATUS, "children"), Output(ids.STATUS, "title"), Output(ids.DIGIT_POOL, "data"),
        Input(ids.RUNS_SIGNATURE, "data"), validate.model_state(), prevent_initial_call=True,
    )(bind(model_status, catalog))
    app.callback(
        Output(ids.FIRST_RUN_PROGRESS, "value"), Output(ids.FIRST_RUN_STATUS, "children"),
        Output(ids.FIRST_RUN_RELOAD, "href"), Input(ids.FIRST_RUN_POLL, "n_intervals"), validate.model_state(),
    )(bind(first_run, catalog))
