"""Models beyond the seed chain: branches, nested models, BatchNormalization and depthwise convolutions,
each saved to .keras, loaded back safely, and checked against NumPy written out here."""

from __future__ import annotations

import numpy as np
import pytest

from tests import user_models

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def residual(tmp_path_factory):
    import keras

    from dashboard.tensors import TensorExtractor

    path = user_models.save(user_models.residual_cnn(), tmp_path_factory.mktemp("models"), "residual")
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    return model, TensorExtractor(model)


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(3).uniform(0, 255, (32, 32, 3)).astype(np.float32)  # raw pixels: see "scale"


def test_branches_and_nested_models_become_named_steps(residual):
    _, extractor = residual
    names = [info.name for info in extractor.layers]
    assert names == ["scale", "stem", "stem_bn", "stem_relu", "block_conv", "block_bn", "residual", "block_relu",
                     "depthwise", "pool", "inner/separable", "dropout", "gap", "probabilities"]
    by_name = {info.name: info for info in extractor.layers}
    assert by_name["residual"].inputs == ("stem_relu", "block_bn")
    assert by_name["scale"].inputs == ("input",)
    assert by_name["inner/separable"].kind == "SeparableConv2D"
    assert by_name["depthwise"].output_shape == (30, 30, 16)


def _conv_same(x, kernel, bias):
    """A direct 'same'-padded 3x3 convolution (kh, kw, C, F), written out."""
    kh, kw = kernel.shape[:2]
    padded = np.pad(x, ((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros((*x.shape[:2], kernel.shape[3]), np.float64)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = np.tensordot(padded[i:i + kh, j:j + kw], kernel, axes=([0, 1, 2], [0, 1, 2]))
    return out + bias


def _batch_norm(x, gamma, beta, mean, variance, epsilon):
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def test_batch_norm_add_depthwise_and_global_pooling_equal_numpy(residual, image):
    model, extractor = residual
    acts = extractor.digit_tensors(image, label=0).activations
    weights = {layer.name: layer.get_weights() for layer in model.layers}
    scaled = image.astype(np.float64) * 2.0 / 255.0 - 1.0
    np.testing.assert_allclose(acts["scale"], scaled, atol=1e-6)
    stem = _conv_same(scaled, *weights["stem"])
    np.testing.assert_allclose(acts["stem"], stem, atol=1e-4)
    epsilon = model.get_layer("stem_bn").epsilon
    stem_bn = _batch_norm(stem, *weights["stem_bn"], epsilon)
    np.testing.assert_allclose(acts["stem_bn"], stem_bn, atol=1e-4)
    relu = np.maximum(stem_bn, 0)
    block = _batch_norm(_conv_same(relu, *weights["block_conv"]), *weights["block_bn"], epsilon)
    np.testing.assert_allclose(acts["residual"], relu + block, atol=1e-4)
    after = np.maximum(relu + block, 0)
    # Depthwise, valid padding, multiplier 2: output channel c * 2 + m filters input channel c alone.
    kernel, bias = weights["depthwise"]
    depthwise = np.zeros((30, 30, 16))
    for c in range(8):
        for m in range(2):
            for i in range(30):
                for j in range(30):
                    depthwise[i, j, c * 2 + m] = np.sum(after[i:i + 3, j:j + 3, c] * kernel[:, :, c, m])
    np.testing.assert_allclose(acts["depthwise"], depthwise + bias, atol=1e-4)
    np.testing.assert_allclose(acts["gap"], acts["dropout"].mean(axis=(0, 1)), atol=1e-5)
    # Dropout is the identity at inference.
    np.testing.assert_array_equal(acts["dropout"], acts["inner/separable"])


def test_residual_saliency_matches_finite_differences(residual, image):
    model, extractor = residual
    tensors = extractor.digit_tensors(image, label=2, score_class=4)
    assert tensors.score_kind == "logit"
    import keras

    # Keras's own forward pass up to the pooled features (forward only: no gradients are needed here).
    features = keras.Model(model.inputs, model.get_layer("gap").output)
    kernel, bias = model.get_layer("probabilities").get_weights()

    def logit(x):
        pooled = np.asarray(features(x[None].astype(np.float32), training=False), np.float64)[0]
        return float(pooled @ kernel[:, 4] + bias[4])

    step = 1.0  # of 255: 0.008 after the model's own Rescaling
    # The five most sensitive pixels: their logit changes are far above float32 noise, so the check has teeth.
    strongest = np.argsort(-np.abs(tensors.saliency).reshape(-1))[:5]
    for r, c, ch in zip(*np.unravel_index(strongest, image.shape)):
        up, down = image.astype(np.float64).copy(), image.astype(np.float64).copy()
        up[r, c, ch] += step
        down[r, c, ch] -= step
        numeric = (logit(up) - logit(down)) / (2 * step)
        assert tensors.saliency[r, c, ch] == pytest.approx(numeric, rel=0.05)


def test_sequential_with_dropout_leaky_relu_and_global_pooling(tmp_path):
    import keras

    from dashboard.tensors import TensorExtractor

    path = user_models.save(user_models.sequential_cnn(), tmp_path, "sequential")
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    extractor = TensorExtractor(model)
    assert [info.kind for info in extractor.layers] == [
        "Conv2D", "LeakyReLU", "Dropout", "Conv2D", "LeakyReLU", "GlobalAveragePooling2D", "Dense"]
    x = np.random.default_rng(1).uniform(0, 1, (28, 28, 1)).astype(np.float32)
    acts = extractor.digit_tensors(x, label=3).activations
    conv = acts["conv_a"]
    np.testing.assert_allclose(acts["leaky"], np.where(conv > 0, conv, 0.1 * conv), atol=1e-6)
    np.testing.assert_allclose(acts["gap"], acts["leaky_b"].mean(axis=(0, 1)), atol=1e-5)
    probabilities = np.asarray(model(x[None], training=False))[0]
    np.testing.assert_allclose(acts["probabilities"], probabilities, atol=1e-6)


def test_mobilenet_v2_runs_through_every_panel_computation(tmp_path):
    import keras

    from dashboard.attributions import AttributionEngine, AttributionRequest, class_score
    from dashboard.tensors import TensorExtractor

    path = user_models.save(user_models.mobilenet_v2(), tmp_path, "mobilenet")
    model = keras.saving.load_model(path, safe_mode=True, compile=False)
    extractor = TensorExtractor(model)
    assert len(extractor.layers) > 150
    x = np.random.default_rng(2).uniform(0, 1, (96, 96, 3)).astype(np.float32)
    tensors = extractor.digit_tensors(x, label=1)
    expected = np.asarray(model(x[None], training=False))[0]
    np.testing.assert_allclose(tensors.probabilities, expected, atol=1e-5)
    kinds = {info.kind for info in extractor.layers}
    assert {"DepthwiseConv2D", "BatchNormalization", "ReLU", "Add", "ZeroPadding2D", "GlobalAveragePooling2D"} <= kinds
    assert set(tensors.weight_gradients) == {info.name for info in extractor.layers if info.has_weights}
    maps = AttributionEngine(model).explain(x, AttributionRequest(class_score(10, 1), smoothgrad_samples=2,
                                                                  ig_steps=2))
    assert all(m.shape == (96, 96) for m in maps.values())
