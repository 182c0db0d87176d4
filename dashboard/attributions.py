"""Attribution maps for one image: which pixels made the network give its score.

Every method runs in ONE compiled TensorFlow call per request: the image, its SmoothGrad noisy
copies and its Integrated-Gradients path go through the network as one batch, and the gradients
of the chosen score come back for the inputs and for every conv layer's output. Each method is
then a small NumPy function of those gradients. NumPy out; nothing here knows Plotly or Dash.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, cast

import numpy as np

if TYPE_CHECKING:
    import keras

MAX_SMOOTHGRAD_SAMPLES = 200
MAX_IG_STEPS = 256
BASELINES = ("black", "blurred")


@dataclasses.dataclass(frozen=True)
class AttributionRequest:
    """What to explain: the score (weights over class logits) and each method's parameters."""

    class_weights: np.ndarray          # (classes,): one-hot for a class, e_A - e_B for "A rather than B"
    smoothgrad_samples: int = 50
    smoothgrad_sigma: float = 0.15     # noise standard deviation as a fraction of the input range
    ig_steps: int = 64
    ig_baseline: str = "black"
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.smoothgrad_samples <= MAX_SMOOTHGRAD_SAMPLES:
            raise ValueError(f"SmoothGrad samples must be between 1 and {MAX_SMOOTHGRAD_SAMPLES}, "
                             f"got {self.smoothgrad_samples}")
        if not 0.0 <= self.smoothgrad_sigma <= 1.0:
            raise ValueError("SmoothGrad noise must be between 0 and 1 of the input range, "
                             f"got {self.smoothgrad_sigma}")
        if not 1 <= self.ig_steps <= MAX_IG_STEPS:
            raise ValueError(f"Integrated Gradients steps must be between 1 and {MAX_IG_STEPS}, got {self.ig_steps}")
        if self.ig_baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, got {self.ig_baseline!r}")


def class_score(classes: int, target: int, contrast: int | None = None) -> np.ndarray:
    """Return score weights: the target's logit, or the target's minus the contrast class's."""
    for name, value in (("class", target), ("contrast class", contrast)):
        if value is not None and not 0 <= value < classes:
            raise ValueError(f"{name} must be in 0..{classes - 1}, got {value}")
    weights = np.zeros(classes, np.float32)
    weights[target] = 1.0
    if contrast is not None and contrast != target:
        weights[contrast] = -1.0
    return weights


def blurred(image: np.ndarray, passes: int = 8) -> np.ndarray:
    """Return the image blurred by repeated 3x3 box filters (edges replicated): a baseline with no strokes."""
    out: np.ndarray = image.astype(np.float32)
    for _ in range(passes):
        padded = np.pad(out, ((1, 1), (1, 1), (0, 0)), mode="edge")
        # cast: sum() of nine arrays is an array; its stub allows for the 0 it starts from (an empty sum).
        total = sum(padded[r:r + out.shape[0], c:c + out.shape[1]] for r in range(3) for c in range(3))
        out = cast(np.ndarray, total) / 9.0
    return out


@dataclasses.dataclass(frozen=True)
class Gradients:
    """The output of the one compiled call, split back into its parts."""

    scores: np.ndarray                       # (batch,) the score of every image in the batch
    input_gradients: np.ndarray              # (batch, H, W, C)
    conv_activations: dict[str, np.ndarray]  # layer -> (h, w, k) for the explained image
    conv_gradients: dict[str, np.ndarray]    # layer -> (h, w, k) d score / d activation, explained image


def vanilla_gradient(gradients: Gradients) -> np.ndarray:
    """Return d score / d input for the image itself (signed)."""
    return gradients.input_gradients[0]


def gradient_times_input(gradients: Gradients, image: np.ndarray) -> np.ndarray:
    """Return the element-wise product of the gradient and the input."""
    return gradients.input_gradients[0] * image


def smoothgrad(gradients: Gradients, samples: int) -> np.ndarray:
    """Return the mean gradient over the noisy copies (Smilkov et al., 2017)."""
    return gradients.input_gradients[1:1 + samples].mean(axis=0)


def integrated_gradients(gradients: Gradients, image: np.ndarray, baseline: np.ndarray, samples: int,
                         steps: int) -> np.ndarray:
    """Return (x - baseline) times the path integral of the gradient, trapezoid rule (Sundararajan et al., 2017)."""
    path = gradients.input_gradients[1 + samples:1 + samples + steps + 1]
    average = (path[:-1] + path[1:]).sum(axis=0) / (2.0 * steps)
    return (image - baseline) * average


def grad_cam(gradients: Gradients, layer: str, size: tuple[int, int]) -> np.ndarray:
    """Return Grad-CAM at a conv layer (Selvaraju et al., 2017), upsampled bilinearly to `size`."""
    if layer not in gradients.conv_activations:
        raise ValueError(f"Grad-CAM needs a conv layer; choose one of {', '.join(gradients.conv_activations)}")
    activation, gradient = gradients.conv_activations[layer], gradients.conv_gradients[layer]
    channel_weights = gradient.mean(axis=(0, 1))
    cam = np.maximum((activation * channel_weights).sum(axis=-1), 0.0)
    return bilinear_resize(cam, size)


def bilinear_resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Return a 2-D array resized with bilinear interpolation, pixel centres aligned (as image resizers do)."""
    height, width = array.shape
    rows = np.clip((np.arange(size[0]) + 0.5) * height / size[0] - 0.5, 0, height - 1)
    cols = np.clip((np.arange(size[1]) + 0.5) * width / size[1] - 0.5, 0, width - 1)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, height - 1), np.minimum(c0 + 1, width - 1)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = array[r0][:, c0] * (1 - fc) + array[r0][:, c1] * fc
    bottom = array[r1][:, c0] * (1 - fc) + array[r1][:, c1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)


CONV_KINDS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D")


class AttributionEngine:
    """Compiles the one batched call for a model (any Keras image classifier dashboard.graph accepts)."""

    def __init__(self, model: keras.Model) -> None:
        import tensorflow as tf

        from dashboard import graph
        from dashboard.tensors import class_scores

        steps, output = graph.layer_steps(model)
        self.input_shape = tuple(int(d) for d in model.input_shape[1:])
        self.classes = int(model.output_shape[-1])
        self.conv_layers = [step.name for step in steps if step.kind in CONV_KINDS]
        if not self.conv_layers:
            raise ValueError("attributions need a model with at least one convolution (for Grad-CAM)")
        _, scores_of = class_scores(steps, output)
        conv_names = list(self.conv_layers)

        @tf.function(input_signature=[tf.TensorSpec((None, *self.input_shape), tf.float32),
                                      tf.TensorSpec((self.classes,), tf.float32)], reduce_retracing=True)
        def batched(images, class_weights):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(images)
                values = graph.run_steps(steps, images)
                conv_outputs = [values[name] for name in conv_names]
                scores = tf.linalg.matvec(scores_of(values), class_weights)
                total = tf.reduce_sum(scores)
            input_gradients = tape.gradient(total, images)
            conv_gradients = tape.gradient(total, conv_outputs)
            del tape
            return scores, input_gradients, [a[0] for a in conv_outputs], [g[0] for g in conv_gradients]

        self._batched = batched

    def gradients(self, image: np.ndarray, request: AttributionRequest) -> Gradients:
        """Return every gradient the methods need, from one call over [image, noisy copies, IG path]."""
        image = np.asarray(image, np.float32)
        if image.shape != self.input_shape:
            raise ValueError(f"image must have shape {self.input_shape}, got {image.shape}")
        rng = np.random.default_rng(request.seed)
        value_range = float(image.max() - image.min()) or 1.0
        noise = rng.normal(0.0, request.smoothgrad_sigma * value_range,
                           (request.smoothgrad_samples, *self.input_shape)).astype(np.float32)
        baseline = self.baseline(image, request.ig_baseline)
        alphas = np.linspace(0.0, 1.0, request.ig_steps + 1, dtype=np.float32).reshape(-1, 1, 1, 1)
        batch = np.concatenate([image[None], image[None] + noise, baseline[None] + alphas * (image - baseline)[None]])
        scores, input_gradients, activations, conv_gradients = self._batched(batch, request.class_weights)
        return Gradients(
            scores=scores.numpy(), input_gradients=input_gradients.numpy(),
            conv_activations={name: a.numpy() for name, a in zip(self.conv_layers, activations)},
            conv_gradients={name: g.numpy() for name, g in zip(self.conv_layers, conv_gradients)},
        )

    @staticmethod
    def baseline(image: np.ndarray, kind: str) -> np.ndarray:
        """Return the Integrated-Gradients baseline: black (zeros) or the image blurred."""
        return np.zeros_like(image) if kind == "black" else blurred(image)

    def explain(self, image: np.ndarray, request: AttributionRequest, *, grad_cam_layer: str | None = None
                ) -> dict[str, np.ndarray]:
        """Return every method's map for the image, each (H, W) (channels summed), from one compiled call."""
        gradients = self.gradients(image, request)
        baseline = self.baseline(np.asarray(image, np.float32), request.ig_baseline)
        layer = grad_cam_layer or self.conv_layers[-1]
        size = (self.input_shape[0], self.input_shape[1])
        maps = {
            "gradient": vanilla_gradient(gradients),
            "gradient × input": gradient_times_input(gradients, image),
            "SmoothGrad": smoothgrad(gradients, request.smoothgrad_samples),
            "Integrated Gradients": integrated_gradients(gradients, image, baseline, request.smoothgrad_samples,
                                                         request.ig_steps),
        }
        maps = {name: value.sum(axis=-1) for name, value in maps.items()}
        maps["|gradient|"] = np.abs(maps["gradient"])
        maps["Grad-CAM"] = grad_cam(gradients, layer, size)
        return maps


SIGNED_METHODS = ("gradient", "gradient × input", "SmoothGrad", "Integrated Gradients")
METHODS = ("gradient", "|gradient|", "gradient × input", "SmoothGrad", "Integrated Gradients", "Grad-CAM")


def deletion_images(image: np.ndarray, attribution: np.ndarray, steps: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Return (fractions, images): the image with its most-attributed pixels set to 0, step by step.

    Pixels go in decreasing attribution order (ties broken by position), a fraction 0, 1/steps, ... 1
    of them removed; a faithful map makes the class probability fall fast (a small area under the curve).
    """
    order = np.argsort(-attribution.reshape(-1), kind="stable")
    fractions = np.linspace(0.0, 1.0, steps + 1)
    images = np.repeat(image[None], steps + 1, axis=0).reshape(steps + 1, -1, image.shape[-1])
    for step, fraction in enumerate(fractions):
        images[step, order[:int(round(fraction * order.size))], :] = 0.0
    return fractions, images.reshape(steps + 1, *image.shape)


def area_under_curve(fractions: np.ndarray, values: np.ndarray) -> float:
    """Return the trapezoid area under a curve sampled at fractions."""
    return float(np.sum((values[1:] + values[:-1]) * np.diff(fractions)) / 2.0)


def randomized_copy(model: keras.Model, seed: int = 0) -> keras.Model:
    """Return the same architecture with freshly initialised weights (Adebayo et al., 2018's sanity check)."""
    import keras

    keras.utils.set_random_seed(seed)
    copy = keras.models.clone_model(model)
    copy.build(model.input_shape)
    return copy
