"""The sections below the lens, and the lazy panels inside them: what each panel's gate carries.

A lazy panel (an element with data-lazy=<key>) computes only while it is on screen: the browser writes its gate
store then (assets/clientside.js, lazyGates), and the panel's server callbacks read only the gate. No callbacks
here; layout.py builds the page from these names, callbacks/clientside.py registers the gates' writers.
"""

from __future__ import annotations

from dashboard import ids
from dashboard.compare_layout import AB
from dashboard.testset_layout import TESTSET, TESTSET_CHANNELS, TESTSET_MAP

EXPLANATIONS, TRAINING, COMPARE = "explanations", "training", "compare"
SECTIONS = {EXPLANATIONS: "Explanations", AB: "Compare A and B", TESTSET: "Test set", TRAINING: "Training and runs"}
# Each lazy panel's gate store: the panel it belongs to, and what it carries from which component. The
# browser writes the gate while the panel is on screen; the panel's server callbacks read only the gate.
LAZY_GATES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    ids.EXPLAIN_GATE: (EXPLANATIONS, {"digit": (ids.DIGIT, "value"), "view": (ids.EXPLAIN_VIEW, "data")}),
    # The test set's panels wait for its pass (TESTSET_READY names the pass once it is ready, for the view shown).
    ids.TESTPASS_GATE: (TESTSET, {"view": (ids.EXPLAIN_VIEW, "data")}),
    ids.TESTSET_GATE: (TESTSET, {"mode": (ids.CONFUSION_MODE, "value"), "ready": (ids.TESTSET_READY, "data")}),
    ids.CHANNEL_GATE: (TESTSET_CHANNELS, {"layer": (ids.SELECTED_LAYER, "data"), "sort": (ids.CHANNEL_SORT, "value"),
                                          "class": (ids.CHANNEL_CLASS, "value"), "ready": (ids.TESTSET_READY, "data")}),
    ids.EMBED_GATE: (TESTSET_MAP, {"layer": (ids.EMBED_LAYER, "value"), "colour": (ids.EMBED_COLOUR, "value"),
                                   "method": (ids.EMBED_METHOD, "value"), "ready": (ids.TESTSET_READY, "data")}),
    ids.COMPARE_GATE: (COMPARE, {"compare": (ids.COMPARE_RUNS, "value"), "digit": (ids.DIGIT, "value"),
                                 "view": (ids.EXPLAIN_VIEW, "data"), "shown": (ids.SHOWN_RUN, "value")}),
    ids.AB_GATE: (AB, {"digit": (ids.DIGIT, "value"), "view": (ids.EXPLAIN_VIEW, "data"),
                       "layer": (ids.SELECTED_LAYER, "data"), "page": (ids.CHANNEL_PAGE, "value"),
                       "mode": (ids.AB_MODE, "value"), "b": (ids.AB_IMAGE, "value"),
                       "bcheck": (ids.AB_CHECKPOINT, "value")}),
    ids.TRAINING_GATE: (TRAINING, {"shown": (ids.SHOWN_RUN, "value"), "compare": (ids.COMPARE_RUNS, "value"),
                                   "signature": (ids.RUNS_SIGNATURE, "data")}),
}
# A gate whose value under this key is empty carries nothing else (null): with no runs picked to compare,
# the comparison shows the same message whatever the digit, so a digit change sends nothing for it.
IDLE_WHEN_EMPTY = {ids.COMPARE_GATE: "compare", ids.TESTSET_GATE: "ready", ids.CHANNEL_GATE: "ready",
                   ids.EMBED_GATE: "ready"}


# The gates are written by one browser-side callback per group (Dash's own work per callback, ~3-4 ms here, was
# most of the delay between a panel coming on screen and its request). The test set's panels wait for its pass,
# so they are a group of their own, and the pass's gate another (it must not wait for the pass it starts).
LAZY_GATE_GROUPS = ((ids.TESTPASS_GATE,), (ids.TESTSET_GATE, ids.CHANNEL_GATE, ids.EMBED_GATE),
                    (ids.EXPLAIN_GATE, ids.AB_GATE, ids.COMPARE_GATE, ids.TRAINING_GATE))


def gate_group_inputs(group: tuple[str, ...]) -> list[tuple[str, str]]:
    """Return the (component, property) pairs a group of gates carries, each once, in a fixed order."""
    pairs: list[tuple[str, str]] = []
    for gate in group:
        for pair in LAZY_GATES[gate][1].values():
            if pair not in pairs:
                pairs.append(pair)
    return pairs


def _group_inputs_of(gate: str) -> list[tuple[str, str]]:
    return gate_group_inputs(next(group for group in LAZY_GATE_GROUPS if gate in group))


def gate_keys(gate_id: str) -> tuple[str, ...]:
    """Return the names of what a lazy panel's gate carries."""
    return tuple(LAZY_GATES[gate_id][1])


def client_gates() -> dict:
    """Return each gate as the browser's lazyGates reads it: its panel, its keys, the key that idles it, and
    where each key's value is among its group's inputs (after the visible panels)."""
    return {gate: {"panel": panel, "keys": list(carries), "idleWhenEmpty": IDLE_WHEN_EMPTY.get(gate),
                   "inputs": [_group_inputs_of(gate).index(pair) for pair in carries.values()]}
            for gate, (panel, carries) in LAZY_GATES.items()}
