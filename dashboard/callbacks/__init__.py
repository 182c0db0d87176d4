"""Thin callbacks, one module per concern. ``register_all`` wires them to an app."""

from __future__ import annotations

from dash import Dash

from dashboard.lens import Lens


def register_all(app: Dash, lens: Lens) -> None:
    """Attach every callback of the page to the app, bound to this lens."""
    from dashboard.callbacks import clientside, digit, explanations, layers

    clientside.register(app)
    explanations.register(app, lens)
    digit.register(app, lens)
    layers.register(app, lens)
