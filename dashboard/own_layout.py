"""The workbench: a person's own input (drawn on a pad or uploaded) and what-if edits of the picked image.

It opens at the top of the sidebar, beside the panels it changes, so every stroke's effect is in view.
No callbacks here (callbacks/own.py, and the browser-side ones in assets/clientside.js).
"""

from __future__ import annotations

from dash import dcc, html

from dashboard import components, edits, ids, inputs, pad_figures

DRAW, UPLOAD, EDIT = "draw", "upload", "edit"
NOT_SAID = "none"
_PAD_CONFIG: dcc.Graph.Config = {"displayModeBar": False, "scrollZoom": False, "doubleClick": False,
                                 "displaylogo": False}


def draws(noun: str, input_shape: tuple[int, ...]) -> bool:
    """Return whether the pad is offered: for greyscale digit models (a colour model takes uploads only)."""
    return noun == "digit" and len(input_shape) == 3 and input_shape[-1] == 1


def tab_modes(noun: str, input_shape: tuple[int, ...]) -> list[str]:
    """Return the workbench's tabs for a model: Draw (greyscale digit models only), Upload, Edit."""
    return ([DRAW] if draws(noun, input_shape) else []) + [UPLOAD, EDIT]


def workbench_buttons(noun: str, input_shape: tuple[int, ...]) -> list[html.Button]:
    """Return the controls' buttons that open the workbench."""
    own = "Draw…" if draws(noun, input_shape) else "Upload…"
    return [html.Button(own, id=ids.workbench_button(DRAW if draws(noun, input_shape) else UPLOAD), n_clicks=0,
                        className="button", title="Your own input: every panel shows what the network makes of it"),
            html.Button("What if…", id=ids.workbench_button(EDIT), n_clicks=0, className="button",
                        title="Shift, rotate, scale, add noise or erase part of the picked image, and watch "
                              "every layer answer")]


def _slider(label: str, edit: str, low: float, high: float, step: float, value: float, marks: dict) -> html.Div:
    return html.Div([html.Label(label),
                     dcc.Slider(id=ids.edit_slider(edit), min=low, max=high, step=step, value=value, marks=marks,
                                updatemode="mouseup", tooltip={"placement": "bottom", "always_visible": False})],
                    id=ids.EDIT_FIELDS[edit], className="edit-slider")


def _draw_tab(class_names: tuple[str, ...], hidden: bool) -> html.Div:
    labels = [{"label": "—", "value": NOT_SAID}] + [{"label": n, "value": c} for c, n in enumerate(class_names)]
    return html.Div([
        html.Div([
            html.Div(dcc.Graph(id=ids.PAD, figure=pad_figures.drawing_pad(), config=_PAD_CONFIG, responsive=False,
                               className="pad-graph"), className="pad"),
            html.Div([
                html.Button("Undo", id=ids.PAD_UNDO, n_clicks=0, className="button small"),
                html.Button("Clear", id=ids.PAD_CLEAR, n_clicks=0, className="button small"),
                html.Label("it is a", htmlFor=ids.PAD_LABEL),
                dcc.Dropdown(id=ids.PAD_LABEL, value=NOT_SAID, options=labels, clearable=False, searchable=False,
                             className="small-dropdown pad-label"),
            ], className="pad-tools"),
        ], className="pad-row"),
        dcc.Store(id=ids.PAD_STROKES, data=[]),
        html.P("Draw a digit with the mouse or a finger: every panel follows each stroke. It is prepared as "
               "MNIST's were (fitted into 20×20, centred by its mass).", id=ids.PAD_NOTE,
               className="caption", role="status"),
    ], id=ids.workbench_tab(DRAW), className="workbench-tab", hidden=hidden)


def _upload_tab(hidden: bool) -> html.Div:
    return html.Div([
        dcc.Upload(html.Div(["Drop a PNG or JPEG here, or ", html.Span("choose a file", className="link")]),
                   id=ids.IMAGE_UPLOAD, accept="image/png,image/jpeg", multiple=False, max_size=-1,
                   className="image-upload"),
        dcc.Store(id=ids.IMAGE_UPLOAD_PAYLOAD),
        html.P(f"At most {inputs.MAX_UPLOAD_BYTES / 2**20:g} MB. A photo of a digit on paper is inverted and centred "
               "like MNIST's; any other image is resized to the model's input.", id=ids.IMAGE_UPLOAD_NOTE,
               className="caption", role="status"),
    ], id=ids.workbench_tab(UPLOAD), className="workbench-tab", hidden=hidden)


def _edit_tab(hidden: bool) -> html.Div:
    return html.Div([
        _slider("shift right", "x", -edits.MAX_SHIFT // 2, edits.MAX_SHIFT // 2, 1, 0, {-7: "-7", 0: "0", 7: "7"}),
        _slider("shift down", "y", -edits.MAX_SHIFT // 2, edits.MAX_SHIFT // 2, 1, 0, {-7: "-7", 0: "0", 7: "7"}),
        _slider("rotate °", "r", -90, 90, 5, 0, {-90: "-90", 0: "0", 90: "90"}),
        _slider("scale ×", "s", 0.5, 2.0, 0.05, 1.0, {0.5: "0.5", 1: "1", 2: "2"}),
        _slider("noise σ", "n", 0.0, 0.5, 0.05, 0.0, {0: "0", 0.5: "0.5"}),
        html.P("Drag a rectangle on the picture to erase it:", className="caption"),
        html.Div(dcc.Graph(id=ids.EDIT_ERASE_GRAPH, figure={}, config=_PAD_CONFIG, responsive=False,
                           className="erase-graph"), id=ids.EDIT_ERASE_FIELD),
        html.Div([html.Button("Undo the edits", id=ids.EDIT_RESET, n_clicks=0, className="button small")],
                 className="pad-row"),
        html.P("Each edit applies to the picked image; the probability bars mark where each class was before.",
               id=ids.EDIT_NOTE, className="caption", role="status"),
    ], id=ids.workbench_tab(EDIT), className="workbench-tab", hidden=hidden)


def workbench_tabs(noun: str, input_shape: tuple[int, ...], class_names: tuple[str, ...], mode: str) -> list:
    """Return the workbench's tabs, `mode`'s shown: built when the workbench first opens (callbacks/own.py)."""
    tabs = [_upload_tab(mode != UPLOAD), _edit_tab(mode != EDIT)]
    return ([_draw_tab(class_names, mode != DRAW)] if draws(noun, input_shape) else []) + tabs


def workbench(noun: str, input_shape: tuple[int, ...]) -> html.Section:
    """Return the workbench panel, closed and empty; the controls' buttons open it on a tab, and its tabs are
    built then: a page with ~40 more components pays for them in every click (Dash visits each on every
    update), so a workbench nobody opened costs nothing."""
    modes = [{"label": mode.capitalize(), "value": mode} for mode in tab_modes(noun, input_shape)]
    head = html.Div([
        dcc.RadioItems(id=ids.WORKBENCH_MODE, value=modes[0]["value"], options=modes, inline=True, className="tabs"),
        html.Button("×", id=ids.WORKBENCH_CLOSE, n_clicks=0, className="button small close",
                    title="Close", **components.html_attributes({"aria-label": "Close the workbench"})),
    ], className="panel-head")
    return html.Section([head, html.Div([], id=ids.WORKBENCH_BODY), dcc.Store(id=ids.WORKBENCH_BUILT, data=False)],
                        id=ids.WORKBENCH, className="panel workbench", hidden=True)
