"""Thin callbacks, one module per concern. ``register_all`` wires them to an app."""

from __future__ import annotations

from typing import Any

from dash import Dash

from dashboard.catalog import Catalog


def register_all(app: Dash, catalog: Catalog, manager: Any = None) -> None:
    """Attach every callback of the page to the app, each resolving the page's model in the catalog (`manager`
    runs training jobs)."""
    from dashboard.callbacks import (
        cells,
        clientside,
        compare_ab,
        digit,
        explanations,
        layers,
        own,
        report,
        testset,
        timeline,
        training,
        upload,
    )

    clientside.register(app)
    training.register(app, catalog, manager)
    timeline.register(app, catalog)
    explanations.register(app, catalog)
    compare_ab.register(app, catalog)
    digit.register(app, catalog)
    own.register(app, catalog)
    report.register(app, catalog)
    layers.register(app, catalog)
    cells.register(app, catalog)
    testset.register(app, catalog)
    if catalog.uploads is not None:
        upload.register(app, catalog)
