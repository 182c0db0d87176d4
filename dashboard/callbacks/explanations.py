"""The explanations panel: every attribution method for the digit, deletion curves, sanity check."""

from __future__ import annotations

from dash import Dash, Input, Output, no_update

from dashboard import attributions, figures, gates, ids, views
from dashboard.callbacks import validate
from dashboard.callbacks.validate import shows_errors
from dashboard.catalog import Catalog
from dashboard.layout import NO_CONTRAST, PREDICTED, TRUE
from dashboard.lens import Lens


def _explanation_error(message: str):
    return figures.message_figure(message, height=200), message, figures.message_figure(message, height=200), ""


GATE_KEYS = gates.gate_keys(ids.EXPLAIN_GATE)


@shows_errors(_explanation_error)
def explanations(lens: Lens, gate, target, contrast, samples, sigma, steps, baseline, grad_cam_layer, opacity,
                 sanity) -> tuple:
    """Return the maps of every method (and of a randomized model), the deletion curves, and captions, for
    the digit and the model (the served one, or a run's checkpoint) the gate names: {"digit", "view"},
    written by the browser while the panel is on screen."""
    request_for = validate.gate(gate, GATE_KEYS)
    if request_for is None:
        return (no_update,) * 4
    shown = validate.image(request_for["digit"], lens)
    index = shown.value
    checkpoint = validate.checkpoint_view(request_for["view"], lens)
    classes = lens.served.extractor.classes
    choice = validate.one_of(target, [PREDICTED, TRUE, *range(classes)], what="Class to explain")
    predicted = lens.tensors(index, checkpoint=checkpoint).predicted_class
    # An own image with no true label: "true" explains the prediction (the caption names the class).
    target_class = {PREDICTED: predicted, TRUE: predicted if shown.label is None else shown.label}.get(choice, choice)
    contrast = validate.one_of(contrast, [NO_CONTRAST, *range(classes)], what="Contrast class")
    contrast_class = None if contrast == NO_CONTRAST else int(contrast)
    try:
        request = attributions.AttributionRequest(
            class_weights=attributions.class_score(classes, int(target_class), contrast_class),
            smoothgrad_samples=validate.integer(samples, low=1, high=attributions.MAX_SMOOTHGRAD_SAMPLES,
                                                what="SmoothGrad samples"),
            smoothgrad_sigma=validate.number(sigma, low=0.0, high=1.0, what="SmoothGrad noise σ"),
            ig_steps=validate.integer(steps, low=1, high=attributions.MAX_IG_STEPS, what="IG steps"),
            ig_baseline=validate.one_of(baseline, list(attributions.BASELINES), what="IG baseline"),
        )
    except ValueError as error:
        raise validate.InvalidInput(str(error)) from None
    layer = validate.one_of(grad_cam_layer, lens.conv_layer_names, what="Grad-CAM layer")
    alpha = validate.number(opacity, low=0.0, high=1.0, what="Overlay opacity")
    check = validate.flag_list(sanity, what="Sanity check switch")
    result = lens.explain(index, request, grad_cam_layer=layer, sanity_check=check, target=int(target_class),
                          checkpoint=checkpoint)
    rows = [("trained model" if checkpoint is None else f"step {checkpoint[1]:,}", result.maps)]
    if result.random_maps is not None:
        rows.append(("randomized weights", result.random_maps))
    backdrop = views.backdrop(shown.picture, ink=lens.noun == "digit")
    grid = figures.attribution_grid(backdrop, rows, signed=attributions.SIGNED_METHODS, opacity=alpha)
    score = f"the class-{target_class} logit" + (f" minus the class-{contrast_class} logit"
                                                 if contrast_class not in (None, target_class) else "")
    caption = (f"Attributions of {score} for {shown.name}. Red: raises the score, blue: lowers it; |gradient| "
               f"and Grad-CAM ({layer}) are non-negative. SmoothGrad averages {request.smoothgrad_samples} noisy "
               f"copies (σ = {request.smoothgrad_sigma:g}); Integrated Gradients integrates from a "
               f"{request.ig_baseline} baseline in {request.ig_steps} steps. Each map has its own colour range; "
               "hover for true values.")
    if check:
        caption += (" The second row is the same methods on a copy of the network with random weights: a map "
                    "that looks the same there does not depend on what the model learned.")
    curves = figures.deletion_curves(result.fractions, result.deletion, result.deletion_auc, target=int(target_class))
    best = min(result.deletion_auc, key=result.deletion_auc.__getitem__)
    deletion_caption = (f"Deletion test: remove the pixels each method ranks highest (set them to 0) and watch "
                        f"p(class {target_class}) fall. The smaller the area under the curve, the more faithful "
                        f"the map for this digit; here: {best} ({result.deletion_auc[best]:.3f}).")
    return grid, caption, curves, deletion_caption


def register(app: Dash, catalog: Catalog) -> None:
    """Attach the explanations callback to the app."""
    app.callback(
        Output(ids.EXPLANATION_GRAPH, "figure"), Output(ids.EXPLANATION_CAPTION, "children"),
        Output(ids.DELETION_GRAPH, "figure"), Output(ids.DELETION_CAPTION, "children"),
        Input(ids.EXPLAIN_GATE, "data"), Input(ids.EXPLAIN_TARGET, "value"), Input(ids.EXPLAIN_CONTRAST, "value"),
        Input(ids.SMOOTHGRAD_SAMPLES, "value"), Input(ids.SMOOTHGRAD_SIGMA, "value"), Input(ids.IG_STEPS, "value"),
        Input(ids.IG_BASELINE, "value"), Input(ids.GRADCAM_LAYER, "value"), Input(ids.OVERLAY_OPACITY, "value"),
        Input(ids.SANITY_CHECK, "value"), validate.model_state(),
        # Nothing to draw until the panel is first on screen and its gate is written.
        prevent_initial_call=True,
    )(validate.bind(explanations, catalog))
