"""Thin callbacks, one module per concern. ``register_all`` wires them to an app."""

from __future__ import annotations

from typing import Any

from dash import Dash

from dashboard.lens import Lens


def register_all(app: Dash, lens: Lens, manager: Any = None) -> None:
    """Attach every callback of the page to the app, bound to this lens (`manager` runs training jobs)."""
    from dashboard.callbacks import clientside, digit, explanations, layers, timeline, training

    clientside.register(app)
    training.register(app, lens, manager)
    timeline.register(app, lens)
    explanations.register(app, lens)
    digit.register(app, lens)
    layers.register(app, lens)
