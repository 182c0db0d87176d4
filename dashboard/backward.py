"""How one gradient was computed, backward: the chain rule written out for one weight or one input pixel.

A weight's loss gradient is a sum over the positions where the weight was used: for a convolution,
∂L/∂w[i, j, c, f] = Σ over output positions (r, s) of x_c[r·stride + i, s·stride + j] · δ_f[r, s], where
δ = ∂L/∂z is the upstream gradient at the filter's pre-activation z, itself ∂L/∂a ⊙ f′(z) (the activation's
derivative). For a dense weight the sum has one term: x_k · δ_u. A saliency pixel's gradient flows back
through every filter of the first convolution that saw it. NumPy only; the gradients ∂L/∂a come from the
model (tensors.TensorExtractor.output_gradients).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

import numpy as np

from dashboard import decompose
from dashboard.layer_specs import LayerSpec


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _gelu_derivative(z: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * (1.0 + erf(z / math.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def activation_derivative(name: str | None, options: Mapping[str, float] | None = None
                          ) -> Callable[[np.ndarray], np.ndarray] | None:
    """Return f′ of a Keras activation as a function of its input z (None if unknown here)."""
    options = options or {}
    slope, alpha = options.get("negative_slope", 0.2), options.get("alpha", 1.0)
    selu_alpha, selu_scale = 1.6732632423543772, 1.0507009873554805
    table: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "linear": lambda z: np.ones_like(z),
        "relu": lambda z: (z > 0).astype(np.float64),
        "relu6": lambda z: ((z > 0) & (z < 6)).astype(np.float64),
        "sigmoid": lambda z: _sigmoid(z) * (1.0 - _sigmoid(z)),
        "tanh": lambda z: 1.0 - np.tanh(z) ** 2,
        "elu": lambda z: np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0))),
        "selu": lambda z: selu_scale * np.where(z > 0, 1.0, selu_alpha * np.exp(np.minimum(z, 0.0))),
        "softplus": _sigmoid,
        "softsign": lambda z: 1.0 / (1.0 + np.abs(z)) ** 2,
        "silu": lambda z: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z))),
        "swish": lambda z: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z))),
        "gelu": _gelu_derivative,
        "leaky_relu": lambda z: np.where(z > 0, 1.0, slope),
        "exponential": np.exp,
    }
    return table.get("linear" if name is None else name)


def conv_pre_activation(spec: LayerSpec, weights: Mapping[str, np.ndarray], x: np.ndarray,
                        output_shape: tuple[int, ...]) -> np.ndarray:
    """Return a Conv2D's z = Σ window × kernel + bias at every output cell (oh, ow, filters), in float64."""
    kernel = np.asarray(weights["kernel"], np.float64)
    x = np.asarray(x, np.float64)
    out_h, out_w = output_shape[:2]
    rows, cols = decompose.window_of(spec, x.shape, output_shape, 0, 0, kernel.shape[:2])
    strides = spec.strides or (1, 1)
    all_rows = rows[None, :] + strides[0] * np.arange(out_h)[:, None]  # (oh, kh)
    all_cols = cols[None, :] + strides[1] * np.arange(out_w)[:, None]  # (ow, kw)
    pad = kernel.shape[0] * spec.dilation[0] + kernel.shape[1] * spec.dilation[1]  # enough zeros on every side
    padded = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    windows = padded[(all_rows + pad)[:, None, :, None], (all_cols + pad)[None, :, None, :]]  # (oh, ow, kh, kw, C)
    z = np.einsum("abhwc,hwcf->abf", windows, kernel)
    return z + np.asarray(weights["bias"], np.float64) if "bias" in weights else z


def pre_activation_gradient(spec: LayerSpec, z: np.ndarray, output_gradient: np.ndarray,
                            outputs: np.ndarray | None = None, label: int | None = None) -> np.ndarray | None:
    """Return δ = ∂L/∂z from ∂L/∂a (the gradient at the layer's output) and z: ∂L/∂a ⊙ f′(z). For a softmax
    output whose loss is the cross-entropy against `label`, δ = p − one-hot(label); for another softmax, the
    Jacobian's product p ⊙ (g − Σ g·p). None: f′ unknown here."""
    g = np.asarray(output_gradient, np.float64)
    if spec.activation == "softmax":
        p = np.asarray(outputs, np.float64).reshape(g.shape)
        if label is not None:
            return p - np.eye(p.size)[label]
        return p * (g - np.sum(g * p))
    derivative = activation_derivative(spec.activation, spec.options)
    return None if derivative is None else g * derivative(np.asarray(z, np.float64))


@dataclasses.dataclass(frozen=True)
class WeightGradient:
    """∂L/∂w for one weight written out as Σ input × upstream gradient over the positions it was used at."""

    layer: str
    kind: str  # "conv" or "dense"
    weight: tuple[int, ...]  # (row, col, input channel, filter) of a conv kernel; (input, unit) of a dense one
    inputs: np.ndarray  # the input value each output position saw through this weight (oh, ow) or (1,)
    upstream: np.ndarray  # δ = ∂L/∂z of the filter at each output position (oh, ow) or (1,)
    output_gradient: np.ndarray  # ∂L/∂a at the same positions, before the activation's derivative
    value: float  # the gradient the model gave (what hover shows)
    activation: str | None
    stride: tuple[int, int] = (1, 1)
    # A dense weight: f′(z_u), the activation's slope at the unit (None for a softmax: δ = p − y there), the
    # output's probability and one-hot target (softmax), and how its input is named.
    slope: float | None = None
    softmax: tuple[float, float] | None = None
    input_name: str = ""

    @property
    def products(self) -> np.ndarray:
        """Return input × δ at every position."""
        return self.inputs * self.upstream

    @property
    def total(self) -> float:
        """Return the sum of the products: the weight's gradient recomputed."""
        return float(np.sum(self.products))


def conv_weight_gradient(spec: LayerSpec, x: np.ndarray, delta: np.ndarray, output_gradient: np.ndarray,
                         weight: tuple[int, int, int, int], value: float) -> WeightGradient:
    """Return ∂L/∂w[i, j, c, f] of a Conv2D as its input map (what the weight multiplied at each output
    position) and the filter's δ map, given the layer's input x (H, W, C) and δ (oh, ow, F)."""
    i, j, c, f = weight
    out_h, out_w = delta.shape[:2]
    strides = spec.strides or (1, 1)
    first_rows, first_cols = decompose.window_of(spec, x.shape, delta.shape, 0, 0, spec.kernel_size or (1, 1))
    rows, cols = np.arange(out_h) * strides[0] + first_rows[i], np.arange(out_w) * strides[1] + first_cols[j]
    seen = decompose.read_window(np.asarray(x, np.float64)[:, :, c], rows, cols)
    return WeightGradient(layer=spec.name, kind="conv", weight=weight, inputs=seen,
                          upstream=np.asarray(delta, np.float64)[:, :, f],
                          output_gradient=np.asarray(output_gradient, np.float64)[:, :, f], value=value,
                          activation=spec.activation, stride=(int(strides[0]), int(strides[1])))


def dense_weight_gradient(spec: LayerSpec, x: np.ndarray, z: np.ndarray, delta: np.ndarray,
                          output_gradient: np.ndarray, weight: tuple[int, int], value: float, *,
                          outputs: np.ndarray | None = None, label: int | None = None,
                          input_name: str = "") -> WeightGradient:
    """Return ∂L/∂W[k, u] of a Dense layer: its one term x_k · δ_u, with what δ_u is made of (∂L/∂a_u and
    f′(z_u); for a softmax output under the cross-entropy, p_u and y_u)."""
    k, u = weight
    inputs = np.asarray(x, np.float64).reshape(-1)
    slope, softmax = None, None
    if spec.activation == "softmax" and outputs is not None and label is not None:
        softmax = (float(np.asarray(outputs).reshape(-1)[u]), float(u == label))
    else:
        derivative = activation_derivative(spec.activation, spec.options)
        slope = None if derivative is None else float(derivative(np.asarray(z, np.float64).reshape(-1)[u:u + 1])[0])
    return WeightGradient(layer=spec.name, kind="dense", weight=weight, inputs=np.array([inputs[k]]),
                          upstream=np.array([float(np.asarray(delta).reshape(-1)[u])]),
                          output_gradient=np.array([float(np.asarray(output_gradient).reshape(-1)[u])]), value=value,
                          activation=spec.activation, slope=slope, softmax=softmax, input_name=input_name)


@dataclasses.dataclass(frozen=True)
class PixelFlow:
    """A saliency pixel's gradient split by the first convolution's filters it flows back through."""

    layer: str
    pixel: tuple[int, int, int]  # row, col, colour channel
    per_filter: np.ndarray  # (F,) each filter's share of the pixel's gradient
    value: float  # the saliency the model gave

    @property
    def total(self) -> float:
        """Return the sum over filters: the pixel's gradient recomputed."""
        return float(self.per_filter.sum())


def pixel_flow(spec: LayerSpec, kernel: np.ndarray, delta: np.ndarray, pixel: tuple[int, int, int],
               image_shape: tuple[int, ...], value: float) -> PixelFlow:
    """Return how ∂S/∂x at one pixel splits over the first Conv2D's filters: for filter f, the sum over the
    output positions whose window covers the pixel of the kernel weight there × δ_f (δ = ∂S/∂z of that layer)."""
    row, col, colour = pixel
    kernel = np.asarray(kernel, np.float64)
    out_h, out_w = delta.shape[:2]
    rows, cols = decompose.window_of(spec, image_shape, delta.shape, 0, 0, kernel.shape[:2])
    strides = spec.strides or (1, 1)
    per_filter = np.zeros(kernel.shape[3])
    for i in range(kernel.shape[0]):
        offset = row - rows[i]
        if offset % strides[0] or not 0 <= offset // strides[0] < out_h:
            continue
        r = offset // strides[0]
        for j in range(kernel.shape[1]):
            offset_c = col - cols[j]
            if offset_c % strides[1] or not 0 <= offset_c // strides[1] < out_w:
                continue
            s = offset_c // strides[1]
            per_filter += kernel[i, j, colour, :] * np.asarray(delta, np.float64)[r, s, :]
    return PixelFlow(layer=spec.name, pixel=pixel, per_filter=per_filter, value=value)
