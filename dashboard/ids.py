"""Every component id in one place. Repeated components use dict ids for pattern matching."""

from __future__ import annotations

from dash import ALL

# Header and messages.
STATUS = "status-line"
ERROR_BANNER = "error-banner"

# Digit controls.
DIGIT = "digit-dropdown"
RANDOM_DIGIT = "random-digit-button"
MISCLASSIFIED_ONLY = "misclassified-only"
DIGIT_SUMMARY = "digit-summary"
SCALE_MODE = "scale-mode"

# Layer selection.
SELECTED_LAYER = "selected-layer"
LAYER_TABLE = "layer-table"
DIGIT_POOL = "digit-pool"
PREVIOUS_LAYER = "previous-layer-button"
NEXT_LAYER = "next-layer-button"
LAYER_CARD_TYPE = "layer-card"


def layer_card(name: str) -> dict[str, str]:
    """Return the id of the architecture card for the named layer."""
    return {"type": LAYER_CARD_TYPE, "layer": name}


ALL_LAYER_CARDS = {"type": LAYER_CARD_TYPE, "layer": ALL}

# Panels: each has a graph and a caption.
INPUT_GRAPH = "input-graph"
PROBABILITY_GRAPH = "probability-graph"
SALIENCY_GRAPH = "saliency-graph"
SALIENCY_CAPTION = "saliency-caption"
SALIENCY_CLASS = "saliency-class"
ACTIVATION_GRAPH = "activation-graph"
# The server's figure for each layer panel; the browser recolours it for the scale switch.
ACTIVATION_FIGURE = "activation-figure"
WEIGHT_FIGURE = "weight-figure"
GRADIENT_FIGURE = "gradient-figure"
ACTIVATION_CAPTION = "activation-caption"
ACTIVATION_TITLE = "activation-title"
WEIGHT_GRAPH = "weight-graph"
WEIGHT_CAPTION = "weight-caption"
WEIGHT_TITLE = "weight-title"
GRADIENT_GRAPH = "gradient-graph"
GRADIENT_CAPTION = "gradient-caption"
GRADIENT_TITLE = "gradient-title"
INPUT_CHANNEL = "input-channel"
INPUT_CHANNEL_FIELD = "input-channel-field"

# Explanations (attribution methods).
EXPLAIN_TARGET = "explain-target"
EXPLAIN_CONTRAST = "explain-contrast"
SMOOTHGRAD_SAMPLES = "smoothgrad-samples"
SMOOTHGRAD_SIGMA = "smoothgrad-sigma"
IG_STEPS = "ig-steps"
IG_BASELINE = "ig-baseline"
GRADCAM_LAYER = "gradcam-layer"
OVERLAY_OPACITY = "overlay-opacity"
SANITY_CHECK = "sanity-check"
EXPLANATION_GRAPH = "explanation-graph"
EXPLANATION_CAPTION = "explanation-caption"
DELETION_GRAPH = "deletion-graph"
DELETION_CAPTION = "deletion-caption"
