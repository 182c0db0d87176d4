"""How one number of a layer's output was computed, forward: the terms, their sum, the bias, the activation.

Given a layer's settings (layer_specs.LayerSpec), its weights and the values of its inputs for one image,
``decompose`` returns the arithmetic behind one cell: for a convolution the receptive window on the layer's
input, the kernel slice and the element-wise products per input channel and their sums; for pooling the window
and the winner; for a dense unit its largest inputs × weights; for a softmax the logits, exponentials and
normalisation. NumPy only, float64, so the recomputed value can be checked against the value the model gave.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from dashboard.layer_specs import LayerSpec

TOP_CHANNELS = 6  # input channels shown in full; the rest summed in one line
TOP_INPUTS = 10  # a dense unit's inputs shown one by one
PASS_THROUGH = frozenset({
    "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast", "RandomBrightness",
    "Identity",
})
MERGE_KINDS = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")


def _gelu(z: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def activation_function(name: str | None, options: Mapping[str, float] | None = None
                        ) -> Callable[[np.ndarray], np.ndarray] | None:
    """Return the NumPy form of a Keras activation by name (None/"linear": the identity); None if unknown."""
    options = options or {}
    slope = options.get("negative_slope", 0.2)
    alpha = options.get("alpha", 1.0)
    selu_alpha, selu_scale = 1.6732632423543772, 1.0507009873554805
    table: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "linear": lambda z: z,
        "relu": lambda z: np.maximum(z, 0.0),
        "relu6": lambda z: np.clip(z, 0.0, 6.0),
        "sigmoid": _sigmoid,
        "tanh": np.tanh,
        "elu": lambda z: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0))),
        "selu": lambda z: selu_scale * np.where(z > 0, z, selu_alpha * np.expm1(np.minimum(z, 0.0))),
        "softplus": lambda z: np.logaddexp(0.0, z),
        "softsign": lambda z: z / (1.0 + np.abs(z)),
        "silu": lambda z: z * _sigmoid(z),
        "swish": lambda z: z * _sigmoid(z),
        "gelu": _gelu,
        "leaky_relu": lambda z: np.where(z > 0, z, slope * z),
        "exponential": np.exp,
    }
    return table.get("linear" if name is None else name)


@dataclasses.dataclass(frozen=True)
class Part:
    """One term of a sum: an input channel of a convolution, an input of a dense unit, a branch of a merge."""

    name: str
    value: float
    channel: int | None = None  # the input channel the window lies on
    window: np.ndarray | None = None  # the input values it multiplies (a conv's window on one channel)
    weights: np.ndarray | None = None  # the weights they are multiplied by
    scale: float | None = None  # a separable conv's pointwise weight on this channel's depthwise sum

    @property
    def products(self) -> np.ndarray | None:
        """Return the element-wise products window × weights (None without both)."""
        if self.window is None or self.weights is None:
            return None
        return self.window * self.weights


@dataclasses.dataclass(frozen=True)
class Decomposition:
    """The arithmetic behind one number of a layer's output for one image."""

    layer: str
    kind: str  # how it was computed: "conv", "depthwise", "separable", "max", "average", "dense", "softmax",
    # "batchnorm", "merge", "concatenate", "activation", "position", "scale", "identity", "input", "none"
    cell: tuple[int, ...]  # (channel, row, col) of a map, (unit,) of a vector
    value: float  # the number the model computed (what hover shows)
    result: float | None  # the same number recomputed here from the parts (None: not recomputed)
    parts: tuple[Part, ...] = ()
    rest: float = 0.0  # the sum of the parts not shown one by one
    rest_count: int = 0
    total: float | None = None  # the sum of every part
    bias: float | None = None
    pre_activation: float | None = None
    activation: str | None = None
    source: str | None = None  # the input the window lies on ("input": the image)
    window: tuple[int, int, int, int] | None = None  # top, left, bottom, right (inclusive) on the source
    extra: dict = dataclasses.field(default_factory=dict)
    note: str = ""

    @property
    def matches(self) -> bool:
        """Return whether the recomputed number equals the model's within float32 tolerance."""
        return self.result is not None and bool(np.isclose(self.result, self.value, rtol=1e-4, atol=1e-5))


def same_padding(size: int, out: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Return the rows (or columns) Keras's "same" padding adds before the input: half the total, rounded down."""
    extent = (kernel - 1) * dilation + 1
    return max((out - 1) * stride + extent - size, 0) // 2


def window_of(spec: LayerSpec, source_shape: Sequence[int], output_shape: Sequence[int], row: int, col: int,
              kernel: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Return (rows, cols): the input coordinates a kernel of this layer reads for output cell (row, col)
    (outside the input where the padding is)."""
    strides = spec.strides or kernel
    pads = (0, 0)
    if spec.padding == "same":
        pads = (same_padding(source_shape[0], output_shape[0], kernel[0], strides[0], spec.dilation[0]),
                same_padding(source_shape[1], output_shape[1], kernel[1], strides[1], spec.dilation[1]))
    rows = row * strides[0] - pads[0] + np.arange(kernel[0]) * spec.dilation[0]
    cols = col * strides[1] - pads[1] + np.arange(kernel[1]) * spec.dilation[1]
    return rows, cols


def read_window(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Return values[rows][:, cols] (H, W, ...) with `fill` where a coordinate falls outside (the padding)."""
    height, width = values.shape[:2]
    inside_r, inside_c = (rows >= 0) & (rows < height), (cols >= 0) & (cols < width)
    window = np.full((len(rows), len(cols), *values.shape[2:]), fill, dtype=np.float64)
    window[np.ix_(inside_r, inside_c)] = values[np.ix_(rows[inside_r], cols[inside_c])]
    return window


def _box(rows: np.ndarray, cols: np.ndarray, shape: Sequence[int]) -> tuple[int, int, int, int]:
    """Return the window's bounding box clipped to the input (top, left, bottom, right, inclusive)."""
    return (int(max(rows.min(), 0)), int(max(cols.min(), 0)), int(min(rows.max(), shape[0] - 1)),
            int(min(cols.max(), shape[1] - 1)))


def _top(parts: list[Part], count: int) -> tuple[tuple[Part, ...], float, int]:
    """Return the `count` parts of largest |value| (in that order), the sum of the others and how many."""
    order = sorted(range(len(parts)), key=lambda k: (-abs(parts[k].value), k))
    shown = [parts[k] for k in order[:count]]
    rest = [parts[k] for k in order[count:]]
    return tuple(shown), float(sum(p.value for p in rest)), len(rest)


def _finish(spec: LayerSpec, total: float, bias: float | None) -> tuple[float, float | None]:
    """Return (pre-activation, activation(pre-activation) or None when the activation is unknown)."""
    z = total + (bias or 0.0)
    function = activation_function(spec.activation, spec.options)
    return z, None if function is None else float(function(np.array([z]))[0])


def _conv(spec: LayerSpec, weights: Mapping[str, np.ndarray], x: np.ndarray, cell: tuple[int, ...],
          output_shape: Sequence[int], value: float) -> Decomposition:
    channel, row, col = cell
    kernel = np.asarray(weights["depthwise_kernel" if spec.kind == "SeparableConv2D" else "kernel"], np.float64)
    size = (kernel.shape[0], kernel.shape[1])
    rows, cols = window_of(spec, x.shape, output_shape, row, col, size)
    window = read_window(x, rows, cols)
    bias = float(weights["bias"][channel]) if "bias" in weights else None
    if spec.kind == "DepthwiseConv2D":
        source_channel, k = divmod(channel, spec.depth_multiplier)
        part = Part(f"input channel {source_channel}", float(np.sum(window[:, :, source_channel]
                                                                     * kernel[:, :, source_channel, k])),
                    source_channel, window[:, :, source_channel], kernel[:, :, source_channel, k])
        parts, total = [part], part.value
    elif spec.kind == "SeparableConv2D":
        pointwise = np.asarray(weights["pointwise_kernel"], np.float64)[0, 0, :, channel]
        depthwise = kernel
        parts = []
        for c in range(x.shape[-1]):
            for k in range(spec.depth_multiplier):
                inner = float(np.sum(window[:, :, c] * depthwise[:, :, c, k]))
                scale = float(pointwise[c * spec.depth_multiplier + k])
                name = f"input channel {c}" + (f" (depthwise {k})" if spec.depth_multiplier > 1 else "")
                parts.append(Part(name, inner * scale, c, window[:, :, c], depthwise[:, :, c, k], scale))
        total = float(sum(p.value for p in parts))
    else:
        sums = np.einsum("hwc,hwc->c", window, kernel[:, :, :, channel])
        parts = [Part(f"input channel {c}", float(sums[c]), c, window[:, :, c], kernel[:, :, c, channel])
                 for c in range(x.shape[-1])]
        total = float(sums.sum())
    shown, rest, rest_count = _top(parts, TOP_CHANNELS if len(parts) > TOP_CHANNELS + 2 else len(parts))
    z, result = _finish(spec, total, bias)
    kind = {"DepthwiseConv2D": "depthwise", "SeparableConv2D": "separable"}.get(spec.kind, "conv")
    return Decomposition(
        layer=spec.name, kind=kind, cell=cell, value=value, result=result, parts=shown, rest=rest,
        rest_count=rest_count, total=total, bias=bias, pre_activation=z, activation=spec.activation or "linear",
        source=spec.inputs[0], window=_box(rows, cols, x.shape),
        extra={"rows": rows.tolist(), "cols": cols.tolist(), "kernel": list(size),
               "strides": list(spec.strides or (1, 1)), "padding": spec.padding, "channels": int(x.shape[-1])})


def _pool(spec: LayerSpec, x: np.ndarray, cell: tuple[int, ...], output_shape: Sequence[int],
          value: float) -> Decomposition:
    channel, row, col = cell
    size = spec.pool_size or (2, 2)
    rows, cols = window_of(spec, x.shape, output_shape, row, col, size)
    maximum = spec.kind == "MaxPooling2D"
    window = read_window(x[:, :, channel], rows, cols, fill=np.nan)
    inside = ~np.isnan(window)
    extra: dict[str, Any]
    if maximum:  # padding never wins a max: it counts as -inf
        winner = np.unravel_index(int(np.nanargmax(window)), window.shape)
        result = float(window[winner])
        extra = {"winner": [int(rows[winner[0]]), int(cols[winner[1]])]}
    else:  # Keras's average pooling leaves the padding out of the count
        result = float(np.nanmean(window))
        extra = {"count": int(inside.sum())}
    extra.update(rows=rows.tolist(), cols=cols.tolist())
    return Decomposition(layer=spec.name, kind="max" if maximum else "average", cell=cell, value=value,
                         result=result, parts=(Part(f"channel {channel}", result, channel, window),),
                         source=spec.inputs[0], window=_box(rows, cols, x.shape), extra=extra)


def _global_pool(spec: LayerSpec, x: np.ndarray, unit: int, value: float) -> Decomposition:
    channel_map = np.asarray(x[:, :, unit], np.float64)
    maximum = spec.kind == "GlobalMaxPooling2D"
    result = float(channel_map.max() if maximum else channel_map.mean())
    extra: dict[str, Any] = {"count": int(channel_map.size)}
    if maximum:
        where = np.unravel_index(int(np.argmax(channel_map)), channel_map.shape)
        extra["winner"] = [int(where[0]), int(where[1])]
    return Decomposition(layer=spec.name, kind="max" if maximum else "average", cell=(unit,), value=value,
                         result=result, parts=(Part(f"channel {unit}", result, unit, channel_map),),
                         source=spec.inputs[0], window=(0, 0, x.shape[0] - 1, x.shape[1] - 1), extra=extra)


def unflatten_name(position: int, shape: Sequence[int] | None) -> str:
    """Return how a flattened input is named: "input 123 (row 1, col 2, channel 3)" for an (H, W, C) source."""
    if not shape or len(shape) != 3:
        return f"input {position}"
    row, col, channel = np.unravel_index(position, tuple(shape))
    return f"input {position} (row {row}, col {col}, channel {channel})"


def _dense(spec: LayerSpec, weights: Mapping[str, np.ndarray], x: np.ndarray, unit: int, value: float,
           source_shape: Sequence[int] | None) -> Decomposition:
    kernel = np.asarray(weights["kernel"], np.float64)
    inputs = np.asarray(x, np.float64).reshape(-1)
    products = inputs * kernel[:, unit]
    parts = [Part(unflatten_name(k, source_shape), float(products[k]), None, np.array([inputs[k]]),
                  np.array([kernel[k, unit]])) for k in range(inputs.size)]
    shown, rest, rest_count = _top(parts, TOP_INPUTS)
    bias = float(weights["bias"][unit]) if "bias" in weights else None
    total = float(products.sum())
    extra: dict = {"inputs": int(inputs.size)}
    if source_shape is not None and len(source_shape) == 3:
        extra["contribution_map"] = products.reshape(tuple(source_shape))
    if spec.activation == "softmax":
        logits = inputs @ kernel + (np.asarray(weights["bias"], np.float64) if "bias" in weights else 0.0)
        softmax = _softmax_extra(logits, unit)
        extra.update(softmax)
        return Decomposition(layer=spec.name, kind="dense", cell=(unit,), value=value, result=softmax["result"],
                             parts=shown, rest=rest, rest_count=rest_count, total=total, bias=bias,
                             pre_activation=total + (bias or 0.0), activation="softmax", source=spec.inputs[0],
                             extra=extra)
    z, result = _finish(spec, total, bias)
    return Decomposition(layer=spec.name, kind="dense", cell=(unit,), value=value, result=result, parts=shown,
                         rest=rest, rest_count=rest_count, total=total, bias=bias, pre_activation=z,
                         activation=spec.activation or "linear", source=spec.inputs[0], extra=extra)


def _softmax_extra(logits: np.ndarray, unit: int) -> dict:
    """Return the softmax's steps: logits, exp(logit − max logit), their sum and the unit's share."""
    logits = np.asarray(logits, np.float64).reshape(-1)
    shifted = np.exp(logits - logits.max())
    total = float(shifted.sum())
    return {"logits": logits.tolist(), "exponentials": shifted.tolist(), "normaliser": total,
            "max_logit": float(logits.max()), "result": float(shifted[unit] / total), "unit": unit}


def _batchnorm(spec: LayerSpec, x_value: float, cell: tuple[int, ...], value: float) -> Decomposition:
    constants = spec.constants
    channel = cell[0]
    mean = float(constants["moving_mean"][channel])
    variance = float(constants["moving_variance"][channel])
    gamma = float(constants["gamma"][channel]) if "gamma" in constants else 1.0
    beta = float(constants["beta"][channel]) if "beta" in constants else 0.0
    epsilon = float(constants["epsilon"])
    normalised = (x_value - mean) / math.sqrt(variance + epsilon)
    result = gamma * normalised + beta
    return Decomposition(layer=spec.name, kind="batchnorm", cell=cell, value=value, result=result,
                         source=spec.inputs[0], extra={"x": x_value, "mean": mean, "variance": variance,
                                                       "gamma": gamma, "beta": beta, "epsilon": epsilon,
                                                       "normalised": normalised})


def _at(values: np.ndarray, cell: tuple[int, ...]) -> float:
    """Return a layer's value at a cell: (channel, row, col) of a map or (unit,) of a vector."""
    if values.ndim == 3:
        channel, row, col = cell
        return float(values[row, col, channel])
    return float(values.reshape(-1)[cell[0]])


def decompose(spec: LayerSpec, weights: Mapping[str, np.ndarray], sources: Mapping[str, np.ndarray],
              output: np.ndarray, cell: tuple[int, ...], *, flattened_from: Sequence[int] | None = None
              ) -> Decomposition:
    """Return how `output` (the layer's output for one image, (H, W, C) or (units,)) got its value at `cell`,
    from the values of the layer's inputs (`sources`, by name; "input" is the image) and its weights.
    `flattened_from`: for a Dense layer fed by a Flatten, the (H, W, C) shape its input was flattened from.

    Raise ValueError when the cell is outside the output."""
    output = np.asarray(output)
    if output.ndim == 3:
        if len(cell) != 3:
            raise ValueError(f"a cell of {spec.name} is (channel, row, col), got {cell}")
        channel, row, col = cell
        if not (0 <= channel < output.shape[2] and 0 <= row < output.shape[0] and 0 <= col < output.shape[1]):
            raise ValueError(f"{cell} is outside {spec.name}'s output of shape {output.shape}")
    elif len(cell) != 1 or not 0 <= cell[0] < output.size:
        raise ValueError(f"unit {cell} is outside {spec.name}'s {output.size} units")
    value = _at(output, cell)
    inputs = [np.asarray(sources[name], np.float64) for name in spec.inputs]
    x = inputs[0] if inputs else None
    kind = spec.kind
    plain: dict[str, Any] = dict(layer=spec.name, cell=cell, value=value)
    if not spec.channels_last and kind not in ("Dense", "Flatten"):
        return Decomposition(**plain, kind="none", result=None,
                             note=f"{spec.name} reads channels first; its arithmetic is not spelled out here.")
    if x is None:
        return Decomposition(**plain, kind="input", result=value, note="This is the image itself, as the first layer "
                             "receives it: nothing computed it.")
    if kind in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D") and x.ndim == 3:
        return _conv(spec, weights, x, cell, output.shape, value)
    if kind in ("MaxPooling2D", "AveragePooling2D") and x.ndim == 3:
        return _pool(spec, x, cell, output.shape, value)
    if kind in ("GlobalMaxPooling2D", "GlobalAveragePooling2D") and x.ndim == 3:
        return _global_pool(spec, x, cell[0], value)
    if kind == "Dense" and x.ndim == 1:
        return _dense(spec, weights, x, cell[0], value, flattened_from)
    if kind == "Softmax" or (kind == "Activation" and spec.activation == "softmax"):
        if x.ndim != 1:
            return Decomposition(**plain, kind="none", result=None, note="A softmax over a map is not spelled out.")
        extra = _softmax_extra(x, cell[0])
        return Decomposition(**plain, kind="softmax", result=extra["result"], source=spec.inputs[0], extra=extra)
    if kind == "BatchNormalization" and "moving_mean" in spec.constants and spec.constants.get("axis") in (-1, x.ndim):
        return _batchnorm(spec, _at(x, cell), cell, value)
    if kind in MERGE_KINDS:
        values = [_at(v, cell) for v in inputs]
        combine: Any = {
            "Add": sum, "Subtract": lambda v: v[0] - v[1], "Average": lambda v: sum(v) / len(v), "Maximum": max,
            "Minimum": min, "Multiply": lambda v: float(np.prod(v))}[kind]
        parts = tuple(Part(name, v) for name, v in zip(spec.inputs, values))
        return Decomposition(**plain, kind="merge", result=float(combine(values)), parts=parts,
                             extra={"operation": kind})
    if kind == "Concatenate":
        return _concatenate(spec, inputs, cell, value)
    if kind in ("Activation", "ReLU", "LeakyReLU", "ELU"):
        name = spec.activation if kind == "Activation" else {"ReLU": "relu", "LeakyReLU": "leaky_relu",
                                                                 "ELU": "elu"}[kind]
        x_value = _at(x, cell)
        if kind == "ReLU" and spec.options.get("max_value") is not None:
            result: float | None = float(min(max(x_value, 0.0), spec.options["max_value"]))
        else:
            function = activation_function(name, spec.options)
            result = None if function is None else float(function(np.array([x_value]))[0])
        return Decomposition(**plain, kind="activation", result=result, pre_activation=x_value, activation=name,
                             source=spec.inputs[0])
    if kind == "Flatten":
        position = np.unravel_index(cell[0], x.shape)
        return Decomposition(**plain, kind="position", result=float(x[position]), source=spec.inputs[0],
                             extra={"from": [int(p) for p in position], "shape": list(x.shape)})
    if kind in PASS_THROUGH and x.shape == output.shape:
        return Decomposition(**plain, kind="identity", result=_at(x, cell), source=spec.inputs[0],
                             note=f"{kind} passes its input through unchanged when the network predicts "
                                  "(it acts only in training).")
    if kind == "Rescaling":
        x_value = _at(x, cell)
        scale, offset = spec.constants["scale"], spec.constants["offset"]
        return Decomposition(**plain, kind="scale", result=x_value * scale + offset, source=spec.inputs[0],
                             extra={"x": x_value, "scale": scale, "offset": offset})
    if kind == "ZeroPadding2D" and spec.amounts is not None and x.ndim == 3:
        channel, row, col = (int(n) for n in cell)
        r, c = row - spec.amounts[0][0], col - spec.amounts[1][0]
        inside = 0 <= r < x.shape[0] and 0 <= c < x.shape[1]
        return Decomposition(**plain, kind="position", result=float(x[r, c, channel]) if inside else 0.0,
                             source=spec.inputs[0], extra={"from": [r, c, channel] if inside else None,
                                                           "shape": list(x.shape)})
    return Decomposition(**plain, kind="none", result=None,
                         note=f"{spec.name} is a {kind} layer; its arithmetic is not spelled out step by step here. "
                              "The value is what Keras computed.")


def _concatenate(spec: LayerSpec, inputs: list[np.ndarray], cell: tuple[int, ...], value: float) -> Decomposition:
    """Return which input, and which of its channels (or units), a concatenation's cell was copied from."""
    plain: dict[str, Any] = dict(layer=spec.name, cell=cell, value=value)
    position = cell[0]
    for name, values in zip(spec.inputs, inputs):
        size = values.shape[-1]
        if position < size:
            source_cell = (position, *cell[1:]) if values.ndim == 3 else (position,)
            return Decomposition(**plain, kind="position", result=_at(values, source_cell), source=name,
                                 extra={"from": list(source_cell), "shape": list(values.shape)})
        position -= size
    return Decomposition(**plain, kind="none", result=None, note="The cell is past the concatenated inputs.")
