"""Activations, weights and gradients of a Keras model for one input, as NumPy arrays.

The contract with the figures: plain dicts ``{layer name: numpy array}``. Nothing
here knows Plotly or Dash; nothing downstream knows TensorFlow.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from dashboard import graph, layer_specs

if TYPE_CHECKING:
    import keras

PREDICTED_CLASS = -1
# A vector layer of at most this many units keeps its activations for every test image (the embedding map).
MAX_EMBEDDING_UNITS = 2048


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
    # The layers feeding this one ("input": the model's input); more than one where branches meet.
    inputs: tuple[str, ...] = ()

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


def _weight_variables_of(steps: list[graph.Step]) -> list[tuple[str, str, keras.Variable]]:
    seen: set[int] = set()
    variables = []
    for step in steps:
        if id(step.layer) in seen:  # a layer called twice: its weights belong to its first call
            continue
        seen.add(id(step.layer))
        variables += [(step.name, short_weight_name(w), w) for w in step.layer.trainable_weights]
    return variables


def weight_variables(model: keras.Model) -> list[tuple[str, str, keras.Variable]]:
    """Return (layer name, weight name, variable) for every trainable weight, layer by layer."""
    return _weight_variables_of(graph.layer_steps(model)[0])


def by_layer(keys: list[tuple[str, str]], values) -> dict[str, dict[str, np.ndarray]]:
    """Return {layer: {weight name: array}} from (layer, weight name) keys and their values, in step."""
    nested: dict[str, dict[str, np.ndarray]] = {}
    for (layer_name, weight_name), value in zip(keys, values, strict=True):
        nested.setdefault(layer_name, {})[weight_name] = np.asarray(value)
    return nested


def _shape(tensor) -> tuple[int, ...]:
    return tuple(int(d) for d in tensor.shape[1:])


def describe_steps(steps: list[graph.Step], symbolic: dict) -> list[LayerInfo]:
    """Return one LayerInfo per step, given every step's symbolic output (graph.run_steps on a keras.Input)."""
    kinds = {step.name: step.kind for step in steps}
    feeding = {step.name: step.inputs for step in steps}
    infos = []
    for step in steps:
        layer = step.layer
        unflattened = None
        if step.kind == "Dense" and len(step.inputs) == 1 and kinds.get(step.inputs[0]) == "Flatten":
            source = _shape(symbolic[feeding[step.inputs[0]][0]])
            unflattened = source if len(source) == 3 else None
        pooling = hasattr(layer, "pool_size")
        infos.append(LayerInfo(
            name=step.name,
            kind=step.kind,
            output_shape=_shape(symbolic[step.name]),
            parameters=int(layer.count_params()) if layer.built else 0,
            weight_shapes={short_weight_name(w): tuple(int(d) for d in w.shape) for w in layer.trainable_weights},
            activation=_activation_name(layer),
            unflattened_input=unflattened,
            pool_size=_pair(getattr(layer, "pool_size", None)),
            strides=_pair(getattr(layer, "strides", None)) if pooling else None,
            inputs=step.inputs,
        ))
    return infos


def describe_layers(model: keras.Model) -> list[LayerInfo]:
    """Return one LayerInfo per layer call after the input, in an order where inputs come first."""
    import keras

    steps = graph.all_steps(model)
    symbolic = graph.run_steps(steps, keras.Input(shape=tuple(int(d) for d in model.inputs[0].shape[1:])))
    return describe_steps(steps, symbolic)


def _pair(value) -> tuple[int, ...] | None:
    """Return a Keras size or stride setting as a tuple of ints (None stays None)."""
    if value is None:
        return None
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value), int(value))


def class_scores(steps: list[graph.Step], output: str):
    """Return (kind, function of the step values -> class scores): "logit" when the output is a softmax whose
    input can be read (a Dense with softmax, or a softmax activation layer), else "output" (the output itself).

    Saliency differentiates the score before the softmax (Simonyan et al., 2014): after it, one class can
    only rise by pushing others down.
    """
    last = next(step for step in steps if step.name == output)
    softmax_layer = last.kind == "Softmax" or (last.kind == "Activation" and _activation_name(last.layer) == "softmax")
    if len(last.inputs) == 1 and last.kind == "Dense" and _activation_name(last.layer) == "softmax":
        return "logit", lambda values: dense_logits(last.layer, values[last.inputs[0]])
    if len(last.inputs) == 1 and softmax_layer:
        return "logit", lambda values: values[last.inputs[0]]
    return "output", lambda values: values[output]


def is_embedding_layer(info: LayerInfo) -> bool:
    """Return whether the test-set pass keeps a layer's activations for every image (the embedding map's
    layers): a vector of at most MAX_EMBEDDING_UNITS units."""
    return len(info.output_shape) == 1 and info.output_shape[0] <= MAX_EMBEDDING_UNITS


class TensorExtractor:
    """Computes every layer's tensors for one image in one compiled TensorFlow call.

    The extraction graph is rebuilt by running the model's own layers on a fresh ``keras.Input``
    (see dashboard.graph), so any Keras image classifier the graph module accepts works: chains,
    branches, nested sub-models.
    """

    def __init__(self, model: keras.Model) -> None:
        import keras
        import tensorflow as tf

        self.model = model
        self.steps, output = graph.layer_steps(model)
        self.input_shape = tuple(int(d) for d in model.input_shape[1:])
        self.classes = int(model.output_shape[-1])
        fresh_input = keras.Input(shape=self.input_shape)
        symbolic = graph.run_steps(self.steps, fresh_input)
        self.layers = describe_steps(self.steps, symbolic)
        names = [info.name for info in self.layers]
        extraction = keras.Model(fresh_input, [symbolic[name] for name in names])
        self.score_kind, scores_of = class_scores(self.steps, output)
        output_position = names.index(output)
        variables = _weight_variables_of(self.steps)
        self._variables = variables
        self._variable_keys = [(layer_name, weight_name) for layer_name, weight_name, _ in variables]
        trainable = [w for _, _, w in variables]
        logits_available = self.score_kind == "logit"

        spec = tf.TensorSpec((1, *self.input_shape), tf.float32)
        scalar = tf.TensorSpec((), tf.int32)

        @tf.function(input_signature=[spec, scalar, scalar], reduce_retracing=True)
        def one_pass(image, score_class, label):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(image)
                layer_outputs = extraction(image, training=False)
                values = {**dict(zip(names, layer_outputs)), graph.INPUT: image}
                scores = scores_of(values)[0]
                probabilities = layer_outputs[output_position][0]
                predicted = tf.argmax(probabilities, output_type=tf.int32)
                chosen = tf.where(score_class < 0, predicted, score_class)
                # An image with no true label (a person's own) gets the loss against the predicted class.
                label = tf.where(label < 0, predicted, label)
                score = scores[chosen]
                if logits_available:
                    loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=label, logits=scores)
                else:
                    loss = -tf.math.log(tf.maximum(probabilities[label], 1e-12))
            saliency = tape.gradient(score, image)[0]
            weight_gradients = tape.gradient(loss, trainable)
            del tape
            return probabilities, layer_outputs, saliency, chosen, loss, weight_gradients, label

        @tf.function(input_signature=[tf.TensorSpec((None, *self.input_shape), tf.float32)], reduce_retracing=True)
        def probabilities_of(images):
            return extraction(images, training=False)[output_position]

        # The whole-test-set pass: per image, each map layer's per-channel max, mean and where the max is, and the
        # activations of every vector layer small enough to keep; reduced in TensorFlow, so no map leaves it.
        maps = [i for i, info in enumerate(self.layers) if len(info.output_shape) == 3]
        vectors = [i for i, info in enumerate(self.layers) if is_embedding_layer(info)]
        self.summary_maps = [names[i] for i in maps]
        self.summary_vectors = [names[i] for i in vectors]

        @tf.function(input_signature=[tf.TensorSpec((None, *self.input_shape), tf.float32)], reduce_retracing=True)
        def summaries_of(images):
            outputs = extraction(images, training=False)
            reduced = []
            for i in maps:
                flat = tf.reshape(outputs[i], (tf.shape(outputs[i])[0], -1, self.layers[i].output_shape[-1]))
                reduced += [tf.reduce_max(flat, axis=1), tf.reduce_mean(flat, axis=1),
                            tf.argmax(flat, axis=1, output_type=tf.int32)]
            return outputs[output_position], reduced, [outputs[i] for i in vectors]

        map_outputs = {names[i]: i for i in maps}
        image_spec = tf.TensorSpec((1, *self.input_shape), tf.float32)

        def field_of(position):
            @tf.function(input_signature=[image_spec, scalar, scalar], reduce_retracing=True)
            def field(image, flat_position, channel):
                with tf.GradientTape() as tape:
                    tape.watch(image)
                    out = extraction(image, training=False)[position]
                    flat = tf.reshape(out, (-1, tf.shape(out)[-1]))
                    value = flat[flat_position, channel]
                return tape.gradient(value, image)[0]
            return field

        height, width, colours = self.input_shape

        def visualiser_of(position):
            @tf.function(reduce_retracing=True)
            def visualise(channels, seed, steps, multiply, add, mean, std, smoothness, rate):
                count = tf.shape(channels)[0]
                # Pixels are sigmoid(z): a grey image with a little noise at first, always in [0, 1].
                z = tf.random.stateless_normal((count, height, width, colours), seed=seed, stddev=0.2)
                for step in tf.range(steps):
                    shift = tf.random.stateless_uniform((2,), seed=seed + tf.stack([step + 1, 0]), minval=-2,
                                                        maxval=3, dtype=tf.int32)
                    with tf.GradientTape() as tape:
                        tape.watch(z)
                        pixels = tf.sigmoid(z)
                        jittered = tf.roll(pixels, shift=shift, axis=[1, 2])  # jitter: no pixel-exact tricks
                        inputs = (jittered * multiply + add - mean) / std
                        chosen = tf.gather(extraction(inputs, training=False)[position], channels, axis=3,
                                           batch_dims=1)
                        smooth = tf.image.total_variation(pixels) / float(height * width)
                        loss = -tf.reduce_sum(centre_of(chosen)) + smoothness * tf.reduce_sum(smooth)
                    gradient = tape.gradient(loss, z)
                    z = z - rate * gradient / (tf.math.reduce_std(gradient, axis=[1, 2, 3], keepdims=True) + 1e-8)
                pixels = tf.sigmoid(z)
                final = tf.gather(extraction((pixels * multiply + add - mean) / std, training=False)[position],
                                  channels, axis=3, batch_dims=1)
                return pixels, centre_of(final)
            return visualise

        batch_spec = tf.TensorSpec((None, *self.input_shape), tf.float32)

        def contributor_of(position):
            @tf.function(input_signature=[batch_spec, scalar], reduce_retracing=True)
            def contributions(images, class_index):
                with tf.GradientTape() as tape:
                    tape.watch(images)  # so a layer before any weight is on the tape too
                    outputs = extraction(images, training=False)
                    score = tf.reduce_sum(scores_of({**dict(zip(names, outputs)), graph.INPUT: images})[:, class_index])
                gradient = tape.gradient(score, outputs[position])
                return tf.reduce_sum(outputs[position] * gradient, axis=[1, 2])
            return contributions

        def centre_of(maps):
            # The unit at the centre of each channel's map: its receptive field sits in the middle of the input.
            return maps[:, (tf.shape(maps)[1] - 1) // 2, (tf.shape(maps)[2] - 1) // 2]

        def gradients_of(position):
            @tf.function(input_signature=[image_spec, scalar, scalar], reduce_retracing=True)
            def gradients(image, score_class, label):
                with tf.GradientTape(persistent=True) as tape:
                    layer_outputs = extraction(image, training=False)
                    values = {**dict(zip(names, layer_outputs)), graph.INPUT: image}
                    scores = scores_of(values)[0]
                    probabilities = layer_outputs[output_position][0]
                    predicted = tf.argmax(probabilities, output_type=tf.int32)
                    score = scores[tf.where(score_class < 0, predicted, score_class)]
                    label = tf.where(label < 0, predicted, label)
                    if logits_available:
                        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=label, logits=scores)
                    else:
                        loss = -tf.math.log(tf.maximum(probabilities[label], 1e-12))
                # The output layer's softmax is not on the path to a loss or score read from its logits: zeros.
                zero = tf.UnconnectedGradients.ZERO
                loss_gradient = tape.gradient(loss, layer_outputs[position], unconnected_gradients=zero)
                score_gradient = tape.gradient(score, layer_outputs[position], unconnected_gradients=zero)
                del tape
                return loss_gradient[0], score_gradient[0]
            return gradients

        self._gradients_of = gradients_of
        self._gradients: dict[str, Any] = {}
        self._positions = {name: k for k, name in enumerate(names)}
        self._visualiser_of = visualiser_of
        self._visualisers: dict[str, Any] = {}
        self._field_of = field_of
        self._map_positions = map_outputs
        self._fields: dict[str, Any] = {}
        self._contributor_of = contributor_of
        self._contributors: dict[str, Any] = {}
        self._one_pass = one_pass
        self._probabilities_of = probabilities_of
        self._summaries_of = summaries_of
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
                                         [np.array(variable.numpy()) for _, _, variable in self._variables])
            return self._weights

    def digit_tensors(self, image: np.ndarray, *, label: int | None,
                      score_class: int = PREDICTED_CLASS) -> DigitTensors:
        """Return activations, probabilities, saliency and weight gradients for one image.

        ``score_class`` picks the class whose score the saliency differentiates (-1: the
        predicted class); ``label`` is the class the loss for the weight gradients uses (None: the
        predicted class, for an image with no true label).
        """
        image = np.asarray(image, dtype=np.float32)
        if image.shape != self.input_shape:
            raise ValueError(f"image must have shape {self.input_shape}, got {image.shape}")
        if not PREDICTED_CLASS <= score_class < self.classes:
            raise ValueError(f"score class must be -1 or 0..{self.classes - 1}, got {score_class}")
        if label is not None and not 0 <= label < self.classes:
            raise ValueError(f"label must be in 0..{self.classes - 1}, got {label}")
        probabilities, outputs, saliency, chosen, loss, gradients, loss_label = self._one_pass(
            image[np.newaxis], np.int32(score_class), np.int32(-1 if label is None else label)
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
            loss_label=int(loss_label),
            weight_gradients=weight_gradients,
        )

    def summaries(self, images: np.ndarray, batch_size: int = 250) -> dict[str, np.ndarray]:
        """Return, for many images in fixed-size batches: "probabilities" (N, classes); for each map layer L,
        "L/max", "L/mean" (N, C) and "L/argmax" (N, C, the flat H×W position of each channel's max); for each
        vector layer of at most MAX_EMBEDDING_UNITS units, "L/vector" (N, units)."""
        images = np.asarray(images, dtype=np.float32)
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(images), batch_size):
            probabilities, reduced, vectors = self._summaries_of(images[start:start + batch_size])
            named = {"probabilities": probabilities}
            for position, name in enumerate(self.summary_maps):
                for offset, kind in enumerate(("max", "mean", "argmax")):
                    named[f"{name}/{kind}"] = reduced[3 * position + offset]
            named.update({f"{name}/vector": vector for name, vector in zip(self.summary_vectors, vectors)})
            for key, value in named.items():
                parts.setdefault(key, []).append(value.numpy())
        return {key: np.concatenate(values) for key, values in parts.items()}

    def receptive_box(self, image: np.ndarray, layer: str, flat_position: int, channel: int
                      ) -> tuple[int, int, int, int] | None:
        """Return (top, left, bottom, right), inclusive, of the input pixels that one activation of a map layer
        depends on for this image: where its gradient with respect to the input is not zero (its effective
        receptive field); None when no pixel moves it (a dead unit)."""
        gradient = self.field_gradient(image, layer, flat_position, channel)
        moved = np.abs(gradient).reshape(gradient.shape[0], gradient.shape[1], -1).max(axis=-1) > 0
        rows, columns = np.flatnonzero(moved.any(axis=1)), np.flatnonzero(moved.any(axis=0))
        if not len(rows):
            return None
        return int(rows[0]), int(columns[0]), int(rows[-1]), int(columns[-1])

    def output_gradients(self, image: np.ndarray, layer: str, *, label: int | None,
                         score_class: int = PREDICTED_CLASS) -> tuple[np.ndarray, np.ndarray]:
        """Return (∂L/∂a, ∂S/∂a) at a layer's output for one image: the loss's gradient (against `label`, or the
        predicted class) and the chosen class score's (the one saliency differentiates), each the output's shape."""
        if layer not in self._positions:
            raise KeyError(layer)
        if layer not in self._gradients:
            self._gradients[layer] = self._gradients_of(self._positions[layer])
        loss_gradient, score_gradient = self._gradients[layer](
            np.asarray(image, np.float32)[np.newaxis], np.int32(score_class), np.int32(-1 if label is None else label))
        return loss_gradient.numpy(), score_gradient.numpy()

    def field_gradient(self, image: np.ndarray, layer: str, flat_position: int, channel: int) -> np.ndarray:
        """Return the gradient of one activation of a map layer with respect to the input image (H, W, colours):
        the cell's effective receptive field."""
        if layer not in self._map_positions:
            raise KeyError(layer)
        if layer not in self._fields:
            self._fields[layer] = self._field_of(self._map_positions[layer])
        return self._fields[layer](np.asarray(image, np.float32)[np.newaxis], np.int32(flat_position),
                                   np.int32(channel)).numpy()

    def spec(self, name: str) -> layer_specs.LayerSpec:
        """Return a layer's settings (and, read now, its non-trainable constants) as plain values."""
        for step in self.steps:
            if step.name == name:
                return layer_specs.spec_of(step.name, step.layer, step.inputs)
        raise KeyError(name)

    def channel_contributions(self, images: np.ndarray, layer: str, class_index: int) -> np.ndarray:
        """Return (N, C): for each image and each channel of a map layer, the sum over the map of activation ×
        the gradient of the class's score (its logit where the softmax's input can be read) with respect to it."""
        if layer not in self._map_positions:
            raise KeyError(layer)
        if not 0 <= class_index < self.classes:
            raise ValueError(f"class {class_index} is not one of the model's {self.classes}")
        if layer not in self._contributors:
            self._contributors[layer] = self._contributor_of(self._map_positions[layer])
        return self._contributors[layer](np.asarray(images, np.float32), np.int32(class_index)).numpy()

    def feature_images(self, layer: str, channels: list[int], *, scaling: tuple, seed: int = 0, steps: int = 96,
                       smoothness: float = 0.05, rate: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Return (pixels (C, H, W, colours) in [0, 1], the value each reaches): for each channel of a map layer,
        the input that maximises the unit at the centre of its map, found by gradient ascent from seeded noise
        with jitter and a smoothness (total variation) penalty, all channels in one batched compiled call.
        `scaling` is (multiply, add, mean, std): how pixels become the model's input."""
        import tensorflow as tf

        if layer not in self._map_positions:
            raise KeyError(layer)
        if layer not in self._visualisers:
            self._visualisers[layer] = self._visualiser_of(self._map_positions[layer])
        multiply, add, mean, std = (tf.constant(np.asarray(v, np.float32)) for v in scaling)
        pixels, reached = self._visualisers[layer](
            tf.constant(np.asarray(channels, np.int32)), tf.constant([seed, 0], tf.int32), tf.constant(steps),
            multiply, add, mean, std, tf.constant(smoothness, tf.float32), tf.constant(rate, tf.float32))
        return pixels.numpy(), reached.numpy()

    def probabilities(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Return class probabilities (N, classes) for many images, in fixed-size batches."""
        images = np.asarray(images, dtype=np.float32)
        parts = [self._probabilities_of(images[start:start + batch_size]).numpy()
                 for start in range(0, len(images), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.classes), np.float32)
