"""The current view's numbers as one .npz file: what the panels show, for a person's own analysis.

NumPy only: arrays in, bytes out.
"""

from __future__ import annotations

import io

import numpy as np

from dashboard.tensors import DigitTensors


def tensors_npz(picture: np.ndarray, model_input: np.ndarray, label: int | None, tensors: DigitTensors,
                weights: dict[str, dict[str, np.ndarray]], class_names: tuple[str, ...]) -> bytes:
    """Return an .npz holding one image's view: "picture" (pixels in [0, 1]), "input" (as the model takes it),
    "label" (-1: an own image nobody labelled), "class_names", "probabilities", "saliency" and "saliency_class",
    "loss" and "loss_label" (the class the loss is against: the label, else the predicted class), and per layer
    "activation/<layer>", "weight/<layer>/<name>" and "weight_gradient/<layer>/<name>" (the loss's gradient for
    this image). Layer names keep their "/" (a nested model's layers)."""
    arrays: dict[str, np.ndarray] = {
        "picture": np.asarray(picture, np.float32), "input": np.asarray(model_input, np.float32),
        "label": np.asarray(-1 if label is None else label, np.int64),
        "class_names": np.asarray([str(n) for n in class_names]),
        "probabilities": np.asarray(tensors.probabilities, np.float32),
        "saliency": np.asarray(tensors.saliency, np.float32),
        "saliency_class": np.asarray(tensors.saliency_class, np.int64),
        "loss": np.asarray(tensors.loss, np.float32), "loss_label": np.asarray(tensors.loss_label, np.int64),
    }
    for layer, activation in tensors.activations.items():
        arrays[f"activation/{layer}"] = np.asarray(activation)
    for group, by_layer in (("weight", weights), ("weight_gradient", tensors.weight_gradients)):
        for layer, named in by_layer.items():
            for name, values in named.items():
                arrays[f"{group}/{layer}/{name}"] = np.asarray(values)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stubs read **arrays as allow_pickle
    return buffer.getvalue()
