"""The view in the address bar: which model, image, layer, settings and checkpoint the page shows.

A link (?model=seed&image=42&layer=conv2&scale=per-channel…) opens the page as it was: the server builds the
layout with these values (no extra round trip), and the browser keeps the address in step as the person clicks
(assets/clientside.js: syncAddress writes it, one history entry per change; restoreView reads it on back and
forward), so back and forward step through views.
Only values that differ from the page's defaults are written, so a link stays short.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from dashboard import ids

# How a value is written in the address and read back: "int", "float", "text", "list" (comma-separated text),
# "image" (a test index, or an image value: image_keys).
KINDS = ("int", "float", "text", "list", "image")


@dataclasses.dataclass(frozen=True)
class Field:
    """One part of the view: its name in the address, the component and property holding it, how it is written,
    and whether the page can change it in place (False: a new value reloads the page, which builds it)."""

    key: str
    component: str
    prop: str
    kind: str
    in_place: bool = True
    part: str | None = None  # the key inside the property's value (a dict), if the field is one part of it
    # Written into the address by the browser code that changes it (assets/clientside.js, pickCell), not by
    # syncAddress as one of its inputs: a click on a cell must not wait for a second callback.
    by_browser: bool = False


FIELDS = (
    Field("image", ids.DIGIT, "value", "image"),
    Field("layer", ids.SELECTED_LAYER, "data", "text"),
    Field("scale", ids.SCALE_MODE, "value", "text"),
    Field("saliency", ids.SALIENCY_CLASS, "value", "text"),
    Field("tab", ids.KERNEL_TAB, "value", "text"),
    Field("explain", ids.EXPLAIN_TARGET, "value", "text"),
    Field("contrast", ids.EXPLAIN_CONTRAST, "value", "text"),
    Field("samples", ids.SMOOTHGRAD_SAMPLES, "value", "int"),
    Field("sigma", ids.SMOOTHGRAD_SIGMA, "value", "float"),
    Field("steps", ids.IG_STEPS, "value", "int"),
    Field("baseline", ids.IG_BASELINE, "value", "text"),
    Field("gradcam", ids.GRADCAM_LAYER, "value", "text"),
    Field("opacity", ids.OVERLAY_OPACITY, "value", "float"),
    Field("sanity", ids.SANITY_CHECK, "value", "list"),
    Field("bmode", ids.AB_MODE, "value", "text"),
    Field("b", ids.AB_IMAGE, "value", "image"),
    Field("bcheck", ids.AB_CHECKPOINT, "value", "text"),
    Field("cell", ids.CELL, "data", "text", by_browser=True),
    Field("field", ids.CELL_EFFECTIVE, "value", "list"),
    # Which sections are open and which checkpoint the views show are built with the page.
    Field("open", ids.OPEN_SECTIONS, "data", "list", in_place=False),
    Field("run", ids.CHECKPOINT_VIEW, "data", "text", in_place=False, part="run"),
    Field("step", ids.CHECKPOINT_VIEW, "data", "int", in_place=False, part="step"),
)
BY_KEY = {field.key: field for field in FIELDS}
MAX_VALUE = 5000  # characters: an own image's code is at most image_keys.MAX_CODE


def parse_value(kind: str, text: str) -> Any:
    """Return a value read from the address as its kind holds it; raise ValueError if it is not one."""
    if len(text) > MAX_VALUE:
        raise ValueError("too long")
    if kind == "int":
        if not text.lstrip("-").isdigit() or len(text) > 12:
            raise ValueError(f"{text!r} is not a whole number")
        return int(text)
    if kind == "float":
        number = float(text)
        if not math.isfinite(number):
            raise ValueError(f"{text!r} is not a number")
        return number
    if kind == "list":
        return [part for part in text.split(",") if part]
    if kind == "image":
        return int(text) if text.isdigit() and len(text) < 10 else text
    if kind == "text":
        # A class number stays a number (the class choices hold ints beside "predicted" and "true").
        return int(text) if text.isdigit() and len(text) < 10 else text
    raise ValueError(f"unknown kind {kind!r}")


def format_value(kind: str, value: Any) -> str:
    """Return a value as the address writes it (the inverse of parse_value)."""
    if kind == "list":
        return ",".join(str(part) for part in value or [])
    if kind == "float":
        return format(float(value), "g")
    return str(value)


def read(query: Mapping[str, str], defaults: Mapping[str, Any],
         checks: Mapping[str, Callable[[Any], bool]]) -> tuple[dict[str, Any], list[str]]:
    """Return the view a query names: each field's value (its default when absent or refused), and a note for
    each value refused (a link from another model, an index out of range, a hand-edited address)."""
    view, refused = dict(defaults), []
    for key, text in query.items():
        field = BY_KEY.get(key)
        if field is None:
            continue  # "model", read by the catalog, and anything a future version writes
        try:
            value = parse_value(field.kind, text)
        except ValueError:
            refused.append(key)
            continue
        check = checks.get(key)
        if check is not None and not check(value):
            refused.append(key)
            continue
        view[key] = value
    return view, refused


def to_query(model: str, view: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, str]:
    """Return the address's query for a view: the model, then every field that differs from its default."""
    query = {"model": model}
    for field in FIELDS:
        if field.key in view and view[field.key] != defaults.get(field.key):
            query[field.key] = format_value(field.kind, view[field.key])
    return query


def inputs() -> list[tuple[str, str]]:
    """Return the (component, property) pairs the fields are read from, each once, in a fixed order."""
    pairs: list[tuple[str, str]] = []
    for field in FIELDS:
        if not field.by_browser and (field.component, field.prop) not in pairs:
            pairs.append((field.component, field.prop))
    return pairs


def client_view(model: str, defaults: Mapping[str, Any]) -> dict:
    """Return what assets/clientside.js needs to keep the address in step (client constants)."""
    pairs = inputs()
    return {"model": model, "defaults": dict(defaults),
            "fields": [{**dataclasses.asdict(field),
                        "input": -1 if field.by_browser else pairs.index((field.component, field.prop))}
                       for field in FIELDS]}
