"""Attribution methods against their definitions, with independent NumPy computations."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import attributions
from dashboard.attributions import AttributionEngine, AttributionRequest, class_score
from tests.numpy_reference import chain_of, forward


@pytest.fixture(scope="module")
def tiny_engine(tiny_model):
    return AttributionEngine(tiny_model)


@pytest.fixture(scope="module")
def seed_engine(lens):
    return AttributionEngine(lens.served.model)


def logit(chain, image, target):
    return forward(chain, image)[1][target]


@pytest.mark.parametrize("baseline", ["black", "blurred"])
def test_integrated_gradients_are_complete(lens, seed_engine, baseline):
    """Sum of attributions = f(x) - f(baseline) within 1 % (64 steps), f the class logit from NumPy."""
    chain = chain_of(lens.served.model)
    for index in (0, 5, 17):
        image, label = lens.image(index)
        request = AttributionRequest(class_weights=class_score(10, label), ig_steps=64, ig_baseline=baseline)
        maps = seed_engine.explain(image, request)
        start = seed_engine.baseline(image, baseline)
        difference = logit(chain, image, label) - logit(chain, start, label)
        assert abs(difference) > 0.2, "a tiny difference would make 1 % meaningless"
        assert maps["Integrated Gradients"].sum() == pytest.approx(difference, rel=0.01)


def test_grad_cam_equals_numpy(tiny_model, tiny_engine, tiny_image):
    chain = chain_of(tiny_model)
    outputs, _ = forward(chain, tiny_image)
    activation = outputs[2].copy()  # conv_b's output, (2, 2, 4)
    (_, hidden), (_, scores) = chain[5], chain[6]
    pooled = activation.reshape(1, 2, 1, 2, -1).max(axis=(1, 3)).reshape(-1)
    pre_hidden = pooled @ hidden["kernel"] + hidden["bias"]
    peaks = []
    for target in range(3):
        # d logit / d activation by backpropagation written out in NumPy for the tail of the tiny CNN:
        # max-pool 2x2 (gradient to the first maximum, as TensorFlow does) -> flatten -> Dense+ReLU -> Dense.
        d_pooled = hidden["kernel"] @ (scores["kernel"][:, target] * (pre_hidden > 0))
        gradient = np.zeros_like(activation)
        for channel in range(activation.shape[-1]):
            first_max = np.argmax(activation[:, :, channel])  # row-major: the first of any ties
            gradient[first_max // 2, first_max % 2, channel] = d_pooled[channel]
        cam = np.maximum((activation * gradient.mean(axis=(0, 1))).sum(axis=-1), 0)
        request = AttributionRequest(class_weights=class_score(3, target), smoothgrad_samples=2, ig_steps=2)
        gradients = tiny_engine.gradients(tiny_image, request)
        np.testing.assert_allclose(gradients.conv_activations["conv_b"], activation, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(gradients.conv_gradients["conv_b"], gradient, rtol=1e-3, atol=1e-6)
        expected = attributions.bilinear_resize(cam, (10, 10))
        np.testing.assert_allclose(attributions.grad_cam(gradients, "conv_b", (10, 10)), expected,
                                   rtol=1e-3, atol=1e-6)
        peaks.append(cam.max())
    assert max(peaks) > 0, "all-zero CAMs would make this test vacuous"


def test_bilinear_resize_matches_tensorflow():
    import tensorflow as tf

    small = np.random.default_rng(4).random((5, 5)).astype(np.float32)
    ours = attributions.bilinear_resize(small, (28, 28))
    theirs = tf.image.resize(small[None, :, :, None], (28, 28), method="bilinear").numpy()[0, :, :, 0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_smoothgrad_without_noise_is_the_gradient_and_is_reproducible(tiny_engine, tiny_image):
    weights = class_score(3, 2)
    no_noise = tiny_engine.explain(tiny_image, AttributionRequest(weights, smoothgrad_samples=5, smoothgrad_sigma=0.0))
    np.testing.assert_allclose(no_noise["SmoothGrad"], no_noise["gradient"], rtol=1e-5, atol=1e-7)
    first = tiny_engine.explain(tiny_image, AttributionRequest(weights, smoothgrad_samples=20, seed=3))
    again = tiny_engine.explain(tiny_image, AttributionRequest(weights, smoothgrad_samples=20, seed=3))
    other = tiny_engine.explain(tiny_image, AttributionRequest(weights, smoothgrad_samples=20, seed=4))
    np.testing.assert_array_equal(first["SmoothGrad"], again["SmoothGrad"])
    assert not np.allclose(first["SmoothGrad"], other["SmoothGrad"])


def test_gradient_and_gradient_times_input(tiny_model, tiny_engine, tiny_image):
    chain = chain_of(tiny_model)
    maps = tiny_engine.explain(tiny_image, AttributionRequest(class_score(3, 0), smoothgrad_samples=2, ig_steps=2))
    image = tiny_image.astype(np.float64)
    for row, col in [(2, 3), (5, 5), (7, 1)]:
        up, down = image.copy(), image.copy()
        up[row, col, 0] += 1e-5
        down[row, col, 0] -= 1e-5
        numeric = (logit(chain, up, 0) - logit(chain, down, 0)) / 2e-5
        assert maps["gradient"][row, col] == pytest.approx(numeric, rel=1e-3, abs=1e-6)
    np.testing.assert_allclose(maps["gradient × input"], maps["gradient"] * tiny_image[:, :, 0], rtol=1e-6)
    np.testing.assert_array_equal(maps["|gradient|"], np.abs(maps["gradient"]))


def test_a_contrast_explains_the_difference_of_two_logits(tiny_engine, tiny_image):
    def gradient(weights):
        request = AttributionRequest(weights, smoothgrad_samples=1, ig_steps=1)
        return tiny_engine.explain(tiny_image, request)["gradient"]

    contrast = gradient(class_score(3, 0, contrast=2))
    expected = gradient(class_score(3, 0)) - gradient(class_score(3, 2))
    np.testing.assert_allclose(contrast, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("arguments, message", [
    (dict(smoothgrad_samples=0), "SmoothGrad samples"),
    (dict(smoothgrad_sigma=-0.1), "SmoothGrad noise"),
    (dict(ig_steps=attributions.MAX_IG_STEPS + 1), "Integrated Gradients steps"),
    (dict(ig_baseline="white"), "baseline"),
])
def test_bad_parameters_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        AttributionRequest(class_weights=class_score(10, 0), **arguments)


def test_bad_class_and_layer_are_refused(tiny_engine, tiny_image):
    with pytest.raises(ValueError, match="class must be in 0..9, got 11"):
        class_score(10, 11)
    with pytest.raises(ValueError, match="conv layer"):
        tiny_engine.explain(tiny_image, AttributionRequest(class_score(3, 0)), grad_cam_layer="hidden")
