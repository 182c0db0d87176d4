"""An independent NumPy (float64) forward pass of a Conv/MaxPool/Flatten/Dense chain.

The tests compare TensorFlow's activations and gradients with this code and with
finite differences through it; it shares nothing with dashboard.tensors.
"""

from __future__ import annotations

import numpy as np


def conv2d_valid(image: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Return the 'valid' cross-correlation of (H, W, Cin) with (kh, kw, Cin, Cout), plus bias."""
    kh, kw, _, cout = kernel.shape
    height, width = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((height, width, cout))
    for r in range(height):
        for c in range(width):
            patch = image[r:r + kh, c:c + kw, :]
            out[r, c, :] = np.tensordot(patch, kernel, axes=([0, 1, 2], [0, 1, 2])) + bias
    return out


def max_pool_2x2(maps: np.ndarray) -> np.ndarray:
    """Return 2x2 max pooling with stride 2 (floor), as Keras's default MaxPooling2D."""
    height, width = maps.shape[0] // 2, maps.shape[1] // 2
    trimmed = maps[:height * 2, :width * 2, :]
    return trimmed.reshape(height, 2, width, 2, -1).max(axis=(1, 3))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


HIDDEN = {"relu": lambda x: np.maximum(x, 0.0), "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)), "tanh": np.tanh}


def forward(model_weights: list[tuple[str, dict]], image: np.ndarray, hidden: str = "relu",
            ) -> tuple[list[np.ndarray], np.ndarray]:
    """Return (every layer's output, final logits) for a chain described as [(kind, weights)]."""
    relu = HIDDEN[hidden]  # the hidden layers' activation (ReLU in the seed CNN)
    x = image.astype(np.float64)
    outputs, logits = [], None
    for position, (kind, weights) in enumerate(model_weights):
        last = position == len(model_weights) - 1
        if kind == "Conv2D":
            x = relu(conv2d_valid(x, weights["kernel"].astype(np.float64), weights["bias"].astype(np.float64)))
        elif kind == "MaxPooling2D":
            x = max_pool_2x2(x)
        elif kind == "Flatten":
            x = x.reshape(-1)
        elif kind == "Dense":
            z = x @ weights["kernel"].astype(np.float64) + weights["bias"].astype(np.float64)
            if last:
                logits = z
                x = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
            else:
                x = relu(z)
        else:
            raise ValueError(f"no reference for {kind}")
        outputs.append(x)
    return outputs, logits


def cross_entropy(logits: np.ndarray, label: int) -> float:
    """Return -log softmax(logits)[label], computed stably."""
    top = logits.max()
    return float(top + np.log(np.exp(logits - top).sum()) - logits[label])


def chain_of(model) -> list[tuple[str, dict]]:
    """Return a Keras model's layers as [(kind, {"kernel": ..., "bias": ...})] copies in float64."""
    chain = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        weights = {}
        if layer.trainable_weights:
            kernel, bias = layer.get_weights()
            weights = {"kernel": np.array(kernel, dtype=np.float64), "bias": np.array(bias, dtype=np.float64)}
        chain.append((kind, weights))
    return chain


SEED_CHAIN = ("conv1", "pool1", "conv2", "pool2", "flatten", "dense", "probabilities")
_KINDS = {"conv": "Conv2D", "pool": "MaxPooling2D", "flatten": "Flatten", "dense": "Dense", "probabilities": "Dense"}


def seed_chain(weights: dict[str, dict[str, np.ndarray]]) -> list[tuple[str, dict]]:
    """Return the seed CNN as [(kind, weights)] from {layer: {"kernel", "bias"}} (a checkpoint's arrays)."""
    chain = []
    for name in SEED_CHAIN:
        kind = next(kind for prefix, kind in _KINDS.items() if name.startswith(prefix))
        chain.append((kind, {k: np.asarray(v, np.float64) for k, v in weights.get(name, {}).items()}))
    return chain
