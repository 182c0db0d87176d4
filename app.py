"""CNN Lens: create the Dash app and serve it.

    python app.py [--host 127.0.0.1] [--port 8050] [--model-dir DIR] [--data PATH|NAME] [--model FILE.keras ...]
                  [--epochs N] [--retrain]
    gunicorn app:server        (settings from CNNLENS_* environment variables)
"""

from __future__ import annotations

import logging
import sys
import urllib.parse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dashboard.config import Settings, settings_from_args, settings_from_env

if TYPE_CHECKING:
    import dash

    from dashboard.catalog import Catalog
    from dashboard.lens import Lens

log = logging.getLogger("cnn_lens")


def _report_unexpected_error(error: Exception) -> None:
    """Dash's global on_error hook: the log gets the traceback, the page a short message."""
    from dash import set_props

    from dashboard import ids

    log.exception("callback failed", exc_info=error)
    set_props(ids.ERROR_BANNER, {"children": "Something went wrong while updating this view; the details are in "
                                             "the server log. Try another digit or layer."})


def requested_view() -> dict[str, str]:
    """Return the query of the page's address: the model (?model=key) and the view a link holds (view_state).
    Dash's renderer fetches the layout from /_dash-layout without the page's query, so it is read from the
    page's address in the Referer header (sent for same-origin requests: serving's Referrer-Policy is
    same-origin)."""
    import flask

    query = flask.request.args
    if "model" not in query and flask.request.referrer:
        parsed = urllib.parse.parse_qs(urllib.parse.urlsplit(flask.request.referrer).query)
        return {key: values[0] for key, values in parsed.items()}
    return {key: query[key] for key in query}


def requested_model() -> str | None:
    """Return the model the page's URL names (?model=key), or None."""
    return requested_view().get("model")


def create_app(settings: Settings, lens: Lens | None = None, catalog: Catalog | None = None) -> dash.Dash:
    """Return the Dash app for these settings (loading data and the models unless a lens or a catalog is given)."""
    import dash
    import flask

    from dashboard import layout, serving, training_layout, view_state, worker
    from dashboard.callbacks import register_all
    from dashboard.callbacks.digit import digit_options
    from dashboard.callbacks.training import first_run
    from dashboard.catalog import Catalog, CatalogError
    from dashboard.lens import Lens

    if catalog is None:
        lens = lens or Lens.start(settings)
        catalog = Catalog.start(settings, lens) if settings.models or settings.allow_upload else Catalog(lens)
    lens = catalog.default
    manager = worker.background_manager(settings)
    # The page is one of two layouts: the dashboard, or the first training's progress until a model is
    # served. Dash checks every callback's ids against both (validation_layout) while one is shown; with
    # no model yet the dashboard's layout cannot be built, so those checks are off until a restart.
    app = dash.Dash(
        __name__, title="CNN Lens", compress=True, on_error=_report_unexpected_error,
        update_title=None, assets_folder="assets", background_callback_manager=manager,
        suppress_callback_exceptions=not lens.ready,
    )

    def page():
        # The URL names the model (?model=key, as the model picker sets it); without one, the seed CNN.
        query = requested_view() if flask.has_request_context() else {}
        key = query.get("model")
        notice = ""
        try:
            shown = catalog.resolve(key)
        except CatalogError as error:
            log.info("page asked for a model it cannot show: %s", error)
            shown, notice = lens, f"{error}. Showing the {lens.name} instead."
        if shown.ready:
            upload_mb = settings.max_model_mb if catalog.uploads is not None else None
            view, refused = view_state.read(query, layout.view_defaults(shown), layout.view_checks(shown))
            if refused:
                log.info("a link's %s could not be shown", ", ".join(refused))
                notice = (f"{notice} " if notice else "") + (
                    f"This link's {', '.join(refused)} could not be shown with this model; the page shows its "
                    "defaults there instead.")
            choices = digit_options(shown, "", [], view["image"])
            # The comparison's B is usually among the first digits listed (by default: #1); else its own list.
            b_choices = (choices if any(option["value"] == view["b"] for option in choices)
                         else digit_options(shown, "", [], view["b"]))
            return layout.build_layout(shown, choices, catalog.choices(), notice, upload_mb, view,
                                       b_choices=b_choices)
        return training_layout.waiting_layout(first_run(shown, 0)[1])

    app.layout = page
    if lens.ready:
        app.validation_layout = dash.html.Div([page(), *layout.built_later(lens), training_layout.waiting_layout("")])
    # Level 1 gzip: measured on a 230 KB activation update, 3 ms and 95 KB against level 6's 7 ms and 89 KB.
    # Browsers that accept zstd get it first (flask-compress's order), at its fast default level.
    app.server.config["COMPRESS_LEVEL"] = 1
    serving.harden(app, secret=serving.secret_key(settings.model_dir, settings.secret_key),
                   max_body_bytes=serving.upload_body_bytes(settings.max_model_mb) if catalog.uploads else None)
    register_all(app, catalog, manager)
    return app


def configure_logging() -> None:
    """Log INFO and above to stderr with timestamps (once per process); keep TensorFlow's C++ INFO lines out."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def __getattr__(name: str):
    # gunicorn imports `app:server`; build the app only then, so importing app.py stays cheap.
    if name == "server":
        configure_logging()
        app = create_app(settings_from_env())
        globals()["server"] = app.server
        return app.server
    raise AttributeError(name)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, build the app and serve it; return the exit status."""
    try:
        settings = settings_from_args(argv)
    except ValueError as error:
        print(f"app.py: error: {error}", file=sys.stderr)  # noqa: T201 - CLI usage error, before logging.
        return 2
    configure_logging()
    app = create_app(settings)
    log.info("serving CNN Lens on http://%s:%d/", settings.host, settings.port)
    app.run(host=settings.host, port=settings.port, debug=settings.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
