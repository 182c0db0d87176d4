"""The model upload (only when the operator runs with --allow-model-upload): a visitor's .keras file goes
through the same checks as a --model file (size cap, a separate short-lived process with time and memory
limits, safe_mode=True, every layer supported, the input fitting the server's data); accepted, the page opens
on it."""

from __future__ import annotations

import base64
import binascii
import logging

from dash import ClientsideFunction, Dash, Input, Output, State, no_update

from dashboard import ids
from dashboard.callbacks.clientside import NAMESPACE
from dashboard.catalog import Catalog
from dashboard.data import DataError
from dashboard.model_files import ModelFileError

log = logging.getLogger(__name__)


def upload_model(catalog: Catalog, contents, filename) -> tuple:
    """Return (the page's new ?model= address, a message): the uploaded model's page, or no_update and why not."""
    if not isinstance(filename, str) or not filename.lower().endswith(".keras"):
        return no_update, "Choose a .keras file (a Keras 3 model saved with model.save(\"name.keras\"))."
    if not isinstance(contents, str) or not contents.startswith("data:") or ";base64," not in contents:
        return no_update, "The upload did not arrive as a file; please try again."
    encoded = contents.split(";base64,", 1)[1]
    settings = catalog.settings
    limit_mb = settings.max_model_mb if settings is not None else 0
    if len(encoded) * 3 / 4 > limit_mb * 1024 * 1024:
        return no_update, f"{filename} is larger than this server's limit of {limit_mb:g} MB."
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return no_update, "The upload is not valid base64; please try again."
    try:
        key = catalog.add_upload(content, filename)
    except (ModelFileError, DataError) as error:
        log.info("refused an uploaded model %r: %s", filename[:80], error)
        return no_update, f"{filename[:80]} cannot be shown: {error}"
    return f"?model={key}", f"Opening {filename[:80]}…"


def register(app: Dash, catalog: Catalog) -> None:
    """Attach the upload callback (only called when uploads are allowed)."""
    app.callback(
        Output(ids.MODEL_LOCATION, "search", allow_duplicate=True), Output(ids.UPLOAD_MESSAGE, "children"),
        Input(ids.MODEL_UPLOAD, "contents"), State(ids.MODEL_UPLOAD, "filename"), prevent_initial_call=True,
    )(lambda contents, filename: upload_model(catalog, contents, filename))
    # A click on the note closes it (in the browser: nothing to ask the server).
    app.clientside_callback(
        ClientsideFunction(NAMESPACE, "closeNote"),
        Output(ids.UPLOAD_MESSAGE, "children", allow_duplicate=True), Input(ids.UPLOAD_MESSAGE, "n_clicks"),
        prevent_initial_call=True,
    )
