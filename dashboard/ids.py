"""Every component id in one place. Repeated components use dict ids for pattern matching."""

from __future__ import annotations

from dash import ALL

# Header and messages.
STATUS = "status-line"
ERROR_BANNER = "error-banner"
# Which model of the catalog the page shows (every server callback reads it), and the picker that changes it.
MODEL_KEY = "model-key"
MODEL_PICKER = "model-picker"
MODEL_LOCATION = "model-location"
# Only with --allow-model-upload: a visitor's .keras file, and what became of it.
MODEL_UPLOAD = "model-upload"
UPLOAD_MESSAGE = "upload-message"
# Values the browser-side callbacks need from Python (assets/clientside.js reads ids and choices from it).
CLIENT_CONSTANTS = "client-constants"

# Digit controls.
DIGIT = "digit-dropdown"
RANDOM_DIGIT = "random-digit-button"
MISCLASSIFIED_ONLY = "misclassified-only"
DIGIT_SUMMARY = "digit-summary"
SCALE_MODE = "scale-mode"

# A person's own input: the workbench under the controls (draw, upload, what-if edits), opened by its buttons.
WORKBENCH = "workbench"
WORKBENCH_MODE = "workbench-mode"      # which tab is open: "draw", "upload", "edit", or "" (closed)
WORKBENCH_BUTTON_TYPE = "workbench-button"


def workbench_button(mode: str) -> dict[str, str]:
    """Return the id of the controls' button that opens the workbench on one tab."""
    return {"type": WORKBENCH_BUTTON_TYPE, "mode": mode}


ALL_WORKBENCH_BUTTONS = {"type": WORKBENCH_BUTTON_TYPE, "mode": ALL}
WORKBENCH_TAB_TYPE = "workbench-tab"


def workbench_tab(mode: str) -> dict[str, str]:
    """Return the id of one tab's body in the workbench."""
    return {"type": WORKBENCH_TAB_TYPE, "mode": mode}


ALL_WORKBENCH_TABS = {"type": WORKBENCH_TAB_TYPE, "mode": ALL}
WORKBENCH_CLOSE = "workbench-close"
PAD = "drawing-pad"
PAD_STROKES = "pad-strokes"
PAD_UNDO = "pad-undo"
PAD_CLEAR = "pad-clear"
PAD_LABEL = "pad-label"
PAD_NOTE = "pad-note"
IMAGE_UPLOAD = "image-upload"
IMAGE_UPLOAD_PAYLOAD = "image-upload-payload"
IMAGE_UPLOAD_NOTE = "image-upload-note"
# The workbench's tabs are built when it first opens (a closed workbench costs the page nothing): its body, and
# whether it is built (a store). Callbacks that run while it may be closed reach into it by ALL-pattern ids only.
WORKBENCH_BODY = "workbench-body"
WORKBENCH_BUILT = "workbench-built"
# The what-if sliders: each in a field with a plain id (EDIT_FIELDS), the slider itself by pattern.
EDIT_SLIDER_TYPE = "edit-slider"
EDIT_FIELDS = {"x": "edit-shift-x", "y": "edit-shift-y", "r": "edit-rotate", "s": "edit-scale", "n": "edit-noise"}


def edit_slider(edit: str) -> dict[str, str]:
    """Return the id of one what-if slider: edit is "x", "y", "r", "s" or "n" (edits.to_text's keys)."""
    return {"type": EDIT_SLIDER_TYPE, "edit": edit}


ALL_EDIT_SLIDERS = {"type": EDIT_SLIDER_TYPE, "edit": ALL}
EDIT_ERASE_FIELD = "edit-erase-graph"  # the erase picker's box
EDIT_PICTURE_TYPE = "edit-picture"
EDIT_ERASE_GRAPH = {"type": EDIT_PICTURE_TYPE, "role": "erase"}
ALL_EDIT_PICTURES = {"type": EDIT_PICTURE_TYPE, "role": ALL}
EDIT_RESET = "edit-reset"
EDIT_NOTE = "edit-note"
# The view in the address bar (?model=…&image=…&layer=…), kept in step both ways; and the copy-link button.
ADDRESS_WRITTEN = "address-written"    # the query the browser last wrote into the address (a store)
COPY_LINK = "copy-link"
COPY_LINK_NOTE = "copy-link-note"
REPORT_BUTTON = "report-button"
REPORT_DOWNLOAD = "report-download"

# Layer selection.
SELECTED_LAYER = "selected-layer"
LAYER_TABLE = "layer-table"
DIGIT_POOL = "digit-pool"
EXPORT_BUTTON = "export-button"
EXPORT_NOTE = "export-note"
TENSORS_DOWNLOAD = "tensors-download"
PREVIOUS_LAYER = "previous-layer-button"
NEXT_LAYER = "next-layer-button"
LAYER_CARD_TYPE = "layer-card"


def layer_card(name: str) -> dict[str, str]:
    """Return the id of the architecture card for the named layer."""
    return {"type": LAYER_CARD_TYPE, "layer": name}


ALL_LAYER_CARDS = {"type": LAYER_CARD_TYPE, "layer": ALL}
DEAD_COUNT_TYPE = "dead-count"


def dead_count(name: str) -> dict[str, str]:
    """Return the id of the line in a layer's card that counts its channels dead on the test set."""
    return {"type": DEAD_COUNT_TYPE, "layer": name}


ALL_DEAD_COUNTS = {"type": DEAD_COUNT_TYPE, "layer": ALL}
DEAD_COUNTS = "dead-counts"  # {layer: "k of C dead"} once the test-set pass is ready

# Panels: each has a graph and a caption.
INPUT_GRAPH = "input-graph"
PROBABILITY_GRAPH = "probability-graph"
SALIENCY_GRAPH = "saliency-graph"
SALIENCY_CAPTION = "saliency-caption"
SALIENCY_CLASS = "saliency-class"
ACTIVATION_GRAPH = "activation-graph"
# The server's figure for each layer panel; the browser recolours it for the scale switch.
ACTIVATION_FIGURE = "activation-figure"
ACTIVATION_ZOOM = "activation-zoom"
ACTIVATION_CAPTION = "activation-caption"
ACTIVATION_TITLE = "activation-title"
# Beside the activations: the layer's filters or their gradients for this digit, one at a time (KERNEL_TAB).
KERNEL_TAB = "kernel-tab"
KERNEL_GRAPH = "kernel-graph"
KERNEL_FIGURE = "kernel-figure"
KERNEL_ZOOM = "kernel-zoom"
KERNEL_CAPTION = "kernel-caption"
KERNEL_TITLE = "kernel-title"
INPUT_CHANNEL = "input-channel"
INPUT_CHANNEL_FIELD = "input-channel-field"
# A branched model's layers drawn as a graph (instead of the strip of cards); a node click selects a layer.
LAYER_GRAPH = "layer-graph"
# Which page of a wide layer's channels the activation panel shows (strongest first).
CHANNEL_PAGE = "channel-page"
CHANNEL_PAGE_FIELD = "channel-page-field"

# Sections below the lens, closed until opened; each computes only while it is open and on screen.
SECTION_TOGGLE_TYPE = "section-toggle"
SECTION_LINK_TYPE = "section-link"
SECTION_BODY_TYPE = "section-body"
SECTION_SWITCH_TYPE = "section-switch"


def section_toggle(name: str) -> dict[str, str]:
    """Return the id of the button in a section's header that opens and closes it."""
    return {"type": SECTION_TOGGLE_TYPE, "section": name}


def section_link(name: str) -> dict[str, str]:
    """Return the id of the header link that opens a section and scrolls to it."""
    return {"type": SECTION_LINK_TYPE, "section": name}


def section_body(name: str) -> dict[str, str]:
    """Return the id of a section's body (hidden while the section is closed)."""
    return {"type": SECTION_BODY_TYPE, "section": name}


def section_switch(name: str) -> dict[str, str]:
    """Return the id of the switch that puts a section's contents in the page only while it is open."""
    return {"type": SECTION_SWITCH_TYPE, "section": name}


ALL_SECTION_TOGGLES = {"type": SECTION_TOGGLE_TYPE, "section": ALL}
ALL_SECTION_LINKS = {"type": SECTION_LINK_TYPE, "section": ALL}
ALL_SECTION_BODIES = {"type": SECTION_BODY_TYPE, "section": ALL}
ALL_SECTION_SWITCHES = {"type": SECTION_SWITCH_TYPE, "section": ALL}
OPEN_SECTIONS = "open-sections"        # the names of the open sections (a store)
# The lazy panels on screen now, as the browser's IntersectionObserver sees them (a store).
VISIBLE_PANELS = "visible-panels"
# What each lazy panel should show, written by the browser only while the panel is on screen (stores):
# a digit change with the panel off screen sends nothing; scrolling it into view catches it up.
EXPLAIN_GATE = "explain-gate"
# The test-set section: the confusion matrix (counts or shares of each row) and the gallery of a cell's images.
TESTSET_GATE = "testset-gate"
TESTPASS_GATE = "testpass-gate"
TESTSET_READY = "testset-ready"
TESTSET_POLL = "testset-poll"
TESTSET_PROGRESS = "testset-progress"
TESTSET_STATUS = "testset-status"
TESTSET_STATUS_BOX = "testset-status-box"
CONFUSION_MODE = "confusion-mode"
CONFUSION_GRAPH = "confusion-graph"
CONFUSION_CAPTION = "confusion-caption"
GALLERY_GRAPH = "gallery-graph"
GALLERY_CAPTION = "gallery-caption"
GALLERY_PAGE = "gallery-page"
# The embedding map: every test image's activations of one vector layer, projected to 2-D.
EMBED_GATE = "embed-gate"
EMBED_LAYER = "embed-layer"
EMBED_COLOUR = "embed-colour"
EMBED_METHOD = "embed-method"
EMBED_POLL = "embed-poll"
EMBED_PROGRESS = "embed-progress"
EMBED_GRAPH = "embed-graph"
EMBED_CAPTION = "embed-caption"
# Channel insight: the selected layer's channels over the test set, and one channel's strongest images.
CHANNEL_GATE = "channel-gate"
CHANNEL_BARS = "channel-bars"
CHANNEL_BARS_CAPTION = "channel-bars-caption"
CHANNEL_TOP = "channel-top"
CHANNEL_TOP_CAPTION = "channel-top-caption"
CHANNEL_FEATURE = "channel-feature"
CHANNEL_FEATURE_CAPTION = "channel-feature-caption"
CHANNEL_WEIGHTS = "channel-weights"
CHANNEL_WEIGHTS_CAPTION = "channel-weights-caption"
CHANNEL_SORT = "channel-sort"
CHANNEL_CLASS = "channel-class"
CHANNEL_CLASS_FIELD = "channel-class-field"
COMPARE_GATE = "compare-gate"
TRAINING_GATE = "training-gate"

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

# Training: options, the background job, the run list, curves and the timeline.
TRAINING_SECTION = "training"
TRAINING_EPOCHS = "training-epochs"
TRAINING_BATCH = "training-batch-size"
TRAINING_RATE = "training-learning-rate"
TRAINING_SIZE = "training-set-size"
TRAINING_ACTIVATION = "training-activation"
START_TRAINING = "start-training-button"
CANCEL_TRAINING = "cancel-training-button"
TRAINING_PROGRESS = "training-progress"
TRAINING_STATUS = "training-status"
TRAINING_RESULT = "training-result"
TRAINING_RUN = "training-run"          # the id of the run this page started (a store)
# A token the browser draws when Start is clicked; the run is created with it, and Cancel names it, so Cancel
# reaches the run that this Start launched however early it is pressed (a store).
TRAINING_REQUEST = "training-request"
RUNS_POLL = "runs-poll"
RUNS_SIGNATURE = "runs-signature"      # changes whenever a run's status or progress does (a store)
RUN_TABLE = "run-table"
RUN_MESSAGE = "run-message"
SHOWN_RUN = "shown-run"
COMPARE_RUNS = "compare-runs"
DELETE_RUN = "delete-run-button"
DELETE_CONFIRM = "delete-run-confirm"
CURVES_GRAPH = "curves-graph"
NORMS_GRAPH = "norms-graph"
DISTRIBUTION_LAYER = "distribution-layer"
WEIGHT_DISTRIBUTION_GRAPH = "weight-distribution-graph"
GRADIENT_DISTRIBUTION_GRAPH = "gradient-distribution-graph"
COMPARE_GRAPH = "compare-graph"
COMPARE_CAPTION = "compare-caption"
EPOCH_SLIDER = "epoch-slider"
EPOCH_FIELD = "epoch-field"
TIMELINE_STEPS = "timeline-steps"      # the training step of each slider position (a store)
PLAY_BUTTON = "play-button"
PLAY_TIMER = "play-timer"
VIEW_LABEL = "view-label"
# What the main panels show: {"model": served version} or {"run": id, "step": n} (a store).
CHECKPOINT_VIEW = "checkpoint-view"
# The same view, passed on once the activation panel has its figure: the explanations (the slowest
# request) and the run comparison then start after the main panels' requests, not competing with them.
EXPLAIN_VIEW = "explain-view"
FIRST_RUN_POLL = "first-run-poll"
FIRST_RUN_STATUS = "first-run-status"
FIRST_RUN_PROGRESS = "first-run-progress"
FIRST_RUN_RELOAD = "first-run-reload"
# Compare A and B (a section): A is the picked image as the panels show it; B another image, or the same image
# at another checkpoint; the selected layer's channels side by side with A − B, and both predictions.
AB_MODE = "ab-mode"
AB_IMAGE = "ab-image"
AB_CHECKPOINT = "ab-checkpoint"
AB_GATE = "ab-gate"
AB_GRAPH_A = "ab-graph-a"
AB_GRAPH_B = "ab-graph-b"
AB_GRAPH_DIFFERENCE = "ab-graph-difference"
AB_PROBABILITIES = "ab-probabilities"
AB_CAPTION = "ab-caption"
AB_TITLE_A = "ab-title-a"
AB_TITLE_B = "ab-title-b"
AB_SHOW_B = "ab-show-b"
# A clicked cell taken apart (the explanation drawer): the cell as text (cells.parse; it belongs to the link),
# the request the browser sends only while a cell is open, and the drawer's parts.
CELL = "cell"
CELL_REQUEST = "cell-request"
CELL_DRAWER = "cell-drawer"
CELL_TITLE = "cell-title"
CELL_CLOSE = "cell-close"
CELL_EFFECTIVE = "cell-effective"
CELL_GRAPH = "cell-graph"
CELL_GRAPH_BOX = "cell-graph-box"
CELL_BODY = "cell-body"
