"""What a layer computes, read from the Keras layer into plain values: its kind, sizes, strides, padding,
activation, and the constants that are not trainable weights (a BatchNormalization's moving statistics).

The cell explanations (dashboard.decompose, dashboard.backward, dashboard.receptive) work from these and
NumPy arrays only; nothing there knows Keras.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One layer call's settings, as plain values (None where the layer has no such setting)."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    activation: str | None = None
    kernel_size: tuple[int, int] | None = None
    strides: tuple[int, int] | None = None
    dilation: tuple[int, int] = (1, 1)
    padding: str = "valid"
    pool_size: tuple[int, int] | None = None
    depth_multiplier: int = 1
    channels_last: bool = True
    # Activation layers' own settings (LeakyReLU's slope, ELU's alpha, ReLU's max value and threshold).
    options: dict[str, float] = dataclasses.field(default_factory=dict)
    # ZeroPadding2D / Cropping2D: ((top, bottom), (left, right)); UpSampling2D: its size.
    amounts: tuple[tuple[int, int], tuple[int, int]] | None = None
    # Non-trainable constants: a BatchNormalization's moving mean and variance; Rescaling's scale and offset.
    constants: dict[str, Any] = dataclasses.field(default_factory=dict)


def _pair(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[-1])
    return int(value), int(value)


def _activation(layer: Any) -> str | None:
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    if isinstance(activation, str):
        return activation
    return getattr(activation, "__name__", None)


def _amounts(value: Any) -> tuple[tuple[int, int], tuple[int, int]] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value), (value, value)
    rows, columns = value
    rows = (rows, rows) if isinstance(rows, int) else tuple(rows)
    columns = (columns, columns) if isinstance(columns, int) else tuple(columns)
    return (int(rows[0]), int(rows[1])), (int(columns[0]), int(columns[1]))


def spec_of(name: str, layer: Any, inputs: tuple[str, ...]) -> LayerSpec:
    """Return the LayerSpec of one layer call (a graph.Step's name, layer and inputs)."""
    kind = type(layer).__name__
    options: dict[str, float] = {}
    for key in ("negative_slope", "alpha", "max_value", "threshold"):
        value = getattr(layer, key, None)
        if isinstance(value, (int, float, np.floating)) and not isinstance(value, bool):
            options[key] = float(value)
    constants: dict[str, Any] = {}
    if kind == "BatchNormalization":
        for key in ("moving_mean", "moving_variance", "gamma", "beta"):
            variable = getattr(layer, key, None)
            if variable is not None:
                constants[key] = np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, np.float64)
        constants["epsilon"] = float(layer.epsilon)
        axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
        constants["axis"] = int(axis)
    elif kind == "Rescaling":
        constants = {"scale": float(np.asarray(layer.scale).reshape(-1)[0]),
                     "offset": float(np.asarray(layer.offset).reshape(-1)[0])}
    amounts = None
    if kind == "ZeroPadding2D":
        amounts = _amounts(layer.padding)
    elif kind == "Cropping2D":
        amounts = _amounts(layer.cropping)
    elif kind == "UpSampling2D":
        size = _pair(layer.size)
        amounts = (size, size) if size else None
    padding = getattr(layer, "padding", "valid")
    return LayerSpec(
        name=name, kind=kind, inputs=tuple(inputs), activation=_activation(layer),
        kernel_size=_pair(getattr(layer, "kernel_size", None)),
        strides=_pair(getattr(layer, "strides", None)),
        dilation=_pair(getattr(layer, "dilation_rate", None)) or (1, 1),
        padding=padding.lower() if isinstance(padding, str) else "valid",
        pool_size=_pair(getattr(layer, "pool_size", None)),
        depth_multiplier=int(getattr(layer, "depth_multiplier", 1) or 1),
        channels_last=getattr(layer, "data_format", "channels_last") != "channels_first",
        options=options, amounts=amounts, constants=constants,
    )
