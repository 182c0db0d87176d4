"""The report button: the view the page shows, as one HTML file that opens offline (dashboard/report.py)."""

from __future__ import annotations

import time

import flask
from dash import Dash, Input, Output, State, dcc, no_update

from dashboard import ids, report
from dashboard.callbacks import validate
from dashboard.callbacks.digit import digit_views, file_part
from dashboard.callbacks.layers import activation_panel, channel_page_of, input_channel_of, kernel_panel, layer_of
from dashboard.callbacks.validate import shows_errors
from dashboard.catalog import Catalog
from dashboard.layout import GRADIENTS_TAB, WEIGHTS_TAB
from dashboard.lens import Lens


def _caption(value) -> str:
    return value if isinstance(value, str) else ""


@shows_errors(lambda message: (no_update, message))
def view_report(lens: Lens, clicks, image, saliency_class, view, layer, channel, page) -> tuple:
    """Return (a download of the view as a self-contained HTML report, a note): the picture, saliency and
    probabilities of the image, and the selected layer's activations, filters and weight gradients, each with
    the caption the page gives it, computed by the same code that draws the panels."""
    if not clicks:
        return no_update, no_update
    started = time.perf_counter()
    shown = validate.image(image, lens)
    checkpoint = validate.checkpoint_view(view, lens)
    info = layer_of(lens, layer, checkpoint)
    channel, page = input_channel_of(info, channel), channel_page_of(info, page)
    picture, probabilities, summary, saliency, saliency_caption, _ = digit_views(lens, shown.value, saliency_class,
                                                                                 view)
    activation, activation_caption, activation_title = activation_panel(lens, info, shown.value, checkpoint, page)
    figures = [report.ReportFigure("Input", picture, summary),
               report.ReportFigure("Saliency", saliency, _caption(saliency_caption)),
               report.ReportFigure("Class probabilities", probabilities,
                                   "Blue: the prediction; green outline: the true label."),
               report.ReportFigure(activation_title, activation, _caption(activation_caption))]
    for tab in (WEIGHTS_TAB, GRADIENTS_TAB):
        figure, caption, title = kernel_panel(lens, info, shown.value, tab, channel, checkpoint)
        figures.append(report.ReportFigure(title, figure, _caption(caption)))
    where = ("the served model" if checkpoint is None else f"run {checkpoint[0]} at step {checkpoint[1]:,}")
    # The page's address, which holds the view (view_state), as the browser sends it with every request.
    link = flask.request.referrer if flask.has_request_context() else None
    facts = [("Model", f"{lens.name} ({lens.key}), {where}"), ("Image", shown.name), ("Layer", info.name),
             ("Data", lens.data.describe())]
    html_text = report.build_report(f"CNN Lens: {shown.name}", f"{lens.name} · layer {info.name}", figures,
                                    facts=facts, link=link)
    filename = report.report_filename(lens.key, file_part(shown))
    seconds = time.perf_counter() - started
    return (dcc.send_string(html_text, filename, type="text/html"),
            f"{filename}: {len(html_text.encode('utf-8')) / 2**20:.1f} MB, built in {seconds:.2f} s")


def register(app: Dash, catalog: Catalog) -> None:
    """Attach the report callback to the app."""
    app.callback(
        Output(ids.REPORT_DOWNLOAD, "data"), Output(ids.EXPORT_NOTE, "children", allow_duplicate=True),
        Input(ids.REPORT_BUTTON, "n_clicks"), State(ids.DIGIT, "value"), State(ids.SALIENCY_CLASS, "value"),
        State(ids.CHECKPOINT_VIEW, "data"), State(ids.SELECTED_LAYER, "data"), State(ids.INPUT_CHANNEL, "value"),
        State(ids.CHANNEL_PAGE, "value"), validate.model_state(),
        prevent_initial_call=True,
    )(validate.bind(view_report, catalog))
