"""The "Compare A and B" section: its controls and panels (no callbacks: callbacks/compare_ab.py).

A is always what the lens shows (the picked image, at the checkpoint the panels show); B is another image, or
the same image at another checkpoint. The layer is the lens's selected layer.
"""

from __future__ import annotations

from dash import dcc, html

from dashboard import components, ids
from dashboard.lens import Lens

AB = "ab"
OTHER_IMAGE, OTHER_CHECKPOINT = "image", "checkpoint"
SERVED_CHECKPOINT = "served"
CHECKPOINT_SEPARATOR = "@"


def checkpoint_value(run_id: str, step: int) -> str:
    """Return a checkpoint's value in the B-checkpoint dropdown and in links: "<run>@<step>"."""
    return f"{run_id}{CHECKPOINT_SEPARATOR}{step}"


def checkpoint_choices(lens: Lens) -> list[dict]:
    """Return the B-checkpoint choices: the served model, then every saved checkpoint of every run, newest run
    first, each with its epoch and test accuracy."""
    choices = [{"label": "the served model", "value": SERVED_CHECKPOINT}]
    if not lens.trainable:
        return choices
    for run in lens.runs.list():
        for snapshot in lens.runs.history(run["id"]):
            accuracy = snapshot.get("test_accuracy")
            said = f", test accuracy {accuracy:.1%}" if isinstance(accuracy, float) else ""
            choices.append({"label": f"run {run['id']} · epoch {snapshot['epoch']:.3g} (step {snapshot['step']:,})"
                                     f"{said}", "value": checkpoint_value(run["id"], int(snapshot["step"]))})
    return choices


def compare_section(lens: Lens, view: dict, b_choices: list[dict]) -> html.Section:
    """Return the section; `b_choices`: the B-image dropdown's first options (they must hold view["b"])."""
    modes = [{"label": f"another {lens.noun}", "value": OTHER_IMAGE},
             {"label": f"this {lens.noun} at another checkpoint", "value": OTHER_CHECKPOINT,
              "disabled": not lens.trainable}]
    controls = html.Div([
        html.Div([html.Label("B is"),
                  dcc.RadioItems(id=ids.AB_MODE, options=modes, value=view["bmode"], inline=True,
                                 className="radio-row")], className="field"),
        html.Div([html.Label(f"B {lens.noun}", htmlFor=ids.AB_IMAGE),
                  dcc.Dropdown(id=ids.AB_IMAGE, value=view["b"], options=b_choices, clearable=False,
                               placeholder=f"Search {lens.noun}s…", className="ab-dropdown")],
                 className="field", hidden=view["bmode"] != OTHER_IMAGE, id=f"{ids.AB_IMAGE}-field"),
        html.Div([html.Label("B checkpoint", htmlFor=ids.AB_CHECKPOINT),
                  dcc.Dropdown(id=ids.AB_CHECKPOINT, value=view["bcheck"], options=checkpoint_choices(lens),
                               clearable=False, searchable=False, className="ab-dropdown")],
                 className="field", hidden=view["bmode"] != OTHER_CHECKPOINT, id=f"{ids.AB_CHECKPOINT}-field"),
        html.Button("Swap A and B", id=ids.AB_SHOW_B, n_clicks=0, className="button",
                    title=f"Make B the picked {lens.noun}, and A the {lens.noun} compared with it"),
    ], className="explain-controls ab-controls")
    column = "ab-column"
    return components.section(AB, "Compare A and B: the selected layer for two inputs or two checkpoints", [
        html.Div([
            controls,
            html.P("", id=ids.AB_CAPTION, className="caption", role="status"),
            html.Div([
                html.Div([html.H3("A", id=ids.AB_TITLE_A, className="ab-title"),
                          components.graph(ids.AB_GRAPH_A)], className=column),
                html.Div([html.H3("B", id=ids.AB_TITLE_B, className="ab-title"),
                          components.graph(ids.AB_GRAPH_B)], className=column),
                html.Div([html.H3("A − B", className="ab-title"),
                          components.graph(ids.AB_GRAPH_DIFFERENCE)], className=column),
            ], className="ab-row"),
            components.graph(ids.AB_PROBABILITIES),
        ], className="lazy", **components.html_attributes({"data-lazy": AB})),
    ])
