"""Activations, weights and gradients of a Keras model for one input, as NumPy arrays.

The contract with the figures: plain dicts ``{layer name: numpy array}``. Nothing
here knows Plotly or Dash; nothing downstream knows TensorFlow.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

PREDICTED_CLASS = -1


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    """What the page needs to know about one layer, read from the model itself."""

    name: str
    kind: str
    output_shape: tuple[int, ...]
    parameters: int
    weight_shapes: dict[str, tuple[int, ...]]
    activation: str | None
    # For a Dense layer right after a Flatten: the (H, W, C) shape its 1-D input was flattened from,
    # so each unit's weights can be shown as C maps of H x W.
    unflattened_input: tuple[int, ...] | None = None
    # For a pooling layer: its window and stride (rows, columns).
    pool_size: tuple[int, ...] | None = None
    strides: tuple[int, ...] | None = None

    @property
    def has_weights(self) -> bool:
        """Return whether the layer has trainable weights."""
        return bool(self.weight_shapes)


@dataclasses.dataclass(frozen=True)
class DigitTensors:
    """Everything the network computes for one input image."""

    probabilities: np.ndarray
    activations: dict[str, np.ndarray]
    saliency: np.ndarray
    saliency_class: int
    score_kind: str
    loss: float
    loss_label: int
    weight_gradients: dict[str, dict[str, np.ndarray]]

    @property
    def predicted_class(self) -> int:
        """Return the class with the highest probability."""
        return int(np.argmax(self.probabilities))


def _activation_name(layer: keras.layers.Layer) -> str | None:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) if activation is not None else None


def dense_logits(layer: keras.layers.Layer, inputs):
    """Return a Dense layer's pre-activation W · x + b (the logits, when its activation is softmax)."""
    import tensorflow as tf

    logits = tf.matmul(inputs, layer.kernel)
    return logits + layer.bias if layer.bias is not None else logits


def short_weight_name(variable) -> str:
    """Return a weight variable's own name ("kernel", "bias") without its layer path."""
    return str(getattr(variable, "path", variable.name)).split("/")[-1]


def weight_variables(model: keras.Model) -> list[tuple[str, str, keras.Variable]]:
    """Return (layer name, weight name, variable) for every trainable weight, layer by layer."""
    return [(layer.name, short_weight_name(w), w) for layer in model.layers for w in layer.trainable_weights]


def by_layer(keys: list[tuple[str, str]], values) -> dict[str, dict[str, np.ndarray]]:
    """Return {layer: {weight name: array}} from (layer, weight name) keys and their values, in step."""
    nested: dict[str, dict[str, np.ndarray]] = {}
    for (layer_name, weight_name), value in zip(keys, values, strict=True):
        nested.setdefault(layer_name, {})[weight_name] = np.asarray(value)
    return nested


def describe_layers(model: keras.Model) -> list[LayerInfo]:
    """Return one LayerInfo per layer after the input, in order."""
    infos = []
    previous = None
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            continue
        shape = tuple(int(d) for d in layer.output.shape[1:])
        unflattened = None
        if type(layer).__name__ == "Dense" and previous is not None and type(previous).__name__ == "Flatten":
            source = tuple(int(d) for d in previous.input.shape[1:])
            unflattened = source if len(source) == 3 else None
        previous = layer
        infos.append(LayerInfo(
            name=layer.name,
            kind=type(layer).__name__,
            output_shape=shape,
            parameters=int(layer.count_params()),
            weight_shapes={short_weight_name(w): tuple(int(d) for d in w.shape) for w in layer.trainable_weights},
            activation=_activation_name(layer),
            unflattened_input=unflattened,
            pool_size=_pair(getattr(layer, "pool_size", None)),
            strides=_pair(getattr(layer, "strides", None)) if hasattr(layer, "pool_size") else None,
        ))
    return infos


def _pair(value) -> tuple[int, ...] | None:
    """Return a Keras size or stride setting as a tuple of ints (None stays None)."""
    if value is None:
        return None
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value), int(value))


class TensorExtractor:
    """Computes every layer's tensors for one image in one compiled TensorFlow call.

    The extraction graph is rebuilt by calling the model's own layers on a fresh
    ``keras.Input``: wrapping a loaded model as ``keras.Model(model.inputs, [...])``
    gives ``None`` gradients in Keras 3. The layer list is read from the model, so
    any chain of Keras layers works, not only the seed CNN.
    """

    def __init__(self, model: keras.Model) -> None:
        import keras
        import tensorflow as tf

        self.model = model
        self.layers = describe_layers(model)
        self.input_shape = tuple(int(d) for d in model.input_shape[1:])
        self.classes = int(model.output_shape[-1])
        chain = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
        fresh_input = keras.Input(shape=self.input_shape)
        outputs, x = [], fresh_input
        for layer in chain:
            x = layer(x)
            outputs.append(x)
        graph = keras.Model(fresh_input, outputs)

        last = chain[-1]
        # Saliency is the gradient of the class score before the softmax (Simonyan et al., 2014):
        # after the softmax, one class can only rise by pushing others down.
        logits_available = len(chain) >= 2 and type(last).__name__ == "Dense" and _activation_name(last) == "softmax"
        self.score_kind = "logit" if logits_available else "output"
        variables = weight_variables(model)
        self._variable_keys = [(layer_name, weight_name) for layer_name, weight_name, _ in variables]
        trainable = [w for _, _, w in variables]

        def scores_of(layer_outputs):
            return dense_logits(last, layer_outputs[-2]) if logits_available else layer_outputs[-1]

        spec = tf.TensorSpec((1, *self.input_shape), tf.float32)
        scalar = tf.TensorSpec((), tf.int32)

        @tf.function(input_signature=[spec, scalar, scalar], reduce_retracing=True)
        def one_pass(image, score_class, label):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(image)
                layer_outputs = graph(image, training=False)
                scores = scores_of(layer_outputs)[0]
                probabilities = layer_outputs[-1][0]
                chosen = tf.where(score_class < 0, tf.argmax(probabilities, output_type=tf.int32), score_class)
                score = scores[chosen]
                if logits_available:
                    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=label, logits=scores)
                else:
                    loss = -tf.math.log(tf.maximum(probabilities[label], 1e-12))
            saliency = tape.gradient(score, image)[0]
            weight_gradients = tape.gradient(loss, trainable)
            del tape
            return probabilities, layer_outputs, saliency, chosen, loss, weight_gradients

        @tf.function(input_signature=[tf.TensorSpec((None, *self.input_shape), tf.float32)], reduce_retracing=True)
        def probabilities_of(images):
            return graph(images, training=False)[-1]

        self._one_pass = one_pass
        self._probabilities_of = probabilities_of
        self._weights_lock = threading.Lock()
        self._weights: dict[str, dict[str, np.ndarray]] | None = None

    def layer(self, name: str) -> LayerInfo:
        """Return the LayerInfo of the named layer; raise KeyError if there is none."""
        for info in self.layers:
            if info.name == name:
                return info
        raise KeyError(name)

    def weights(self) -> dict[str, dict[str, np.ndarray]]:
        """Return {layer: {"kernel": array, "bias": array}} for every layer with weights (cached)."""
        with self._weights_lock:
            if self._weights is None:
                self._weights = by_layer(self._variable_keys,
                                         [np.array(variable.numpy())
                                          for _, _, variable in weight_variables(self.model)])
            return self._weights

    def digit_tensors(self, image: np.ndarray, *, label: int, score_class: int = PREDICTED_CLASS) -> DigitTensors:
        """Return activations, probabilities, saliency and weight gradients for one image.

        ``score_class`` picks the class whose score the saliency differentiates (-1: the
        predicted class); ``label`` is the class the loss for the weight gradients uses.
        """
        image = np.asarray(image, dtype=np.float32)
        if image.shape != self.input_shape:
            raise ValueError(f"image must have shape {self.input_shape}, got {image.shape}")
        if not PREDICTED_CLASS <= score_class < self.classes:
            raise ValueError(f"score class must be -1 or 0..{self.classes - 1}, got {score_class}")
        if not 0 <= label < self.classes:
            raise ValueError(f"label must be in 0..{self.classes - 1}, got {label}")
        probabilities, outputs, saliency, chosen, loss, gradients = self._one_pass(
            image[np.newaxis], np.int32(score_class), np.int32(label)
        )
        activations = {info.name: output.numpy()[0] for info, output in zip(self.layers, outputs)}
        weight_gradients = by_layer(self._variable_keys, [gradient.numpy() for gradient in gradients])
        return DigitTensors(
            probabilities=probabilities.numpy(),
            activations=activations,
            saliency=saliency.numpy(),
            saliency_class=int(chosen),
            score_kind=self.score_kind,
            loss=float(loss),
            loss_label=int(label),
            weight_gradients=weight_gradients,
        )

    def probabilities(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Return class probabilities (N, classes) for many images, in fixed-size batches."""
        images = np.asarray(images, dtype=np.float32)
        parts = [self._probabilities_of(images[start:start + batch_size]).numpy()
                 for start in range(0, len(images), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.classes), np.float32)
