"""TensorFlow's activations and gradients against an independent NumPy computation."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.tensors import PREDICTED_CLASS, TensorExtractor, describe_layers
from tests.conftest import build_tiny_model
from tests.numpy_reference import chain_of, conv2d_valid, cross_entropy, forward, relu

PIXELS = [(2, 3), (4, 4), (5, 7), (7, 2), (8, 8), (3, 6)]


def finite_difference(function, array: np.ndarray, position: tuple, eps: float = 1e-5) -> float:
    """Return the central difference of function() with respect to array[position]."""
    original = array[position]
    array[position] = original + eps
    up = function()
    array[position] = original - eps
    down = function()
    array[position] = original
    return (up - down) / (2 * eps)


@pytest.fixture(scope="module")
def tiny_extractor(tiny_model):
    return TensorExtractor(tiny_model)


def test_layers_are_read_from_the_model(tiny_extractor):
    names = [info.name for info in tiny_extractor.layers]
    assert names == ["conv_a", "pool_a", "conv_b", "pool_b", "flat", "hidden", "scores"]
    conv = tiny_extractor.layer("conv_b")
    assert conv.output_shape == (2, 2, 4)
    assert conv.weight_shapes == {"kernel": (3, 3, 3, 4), "bias": (4,)}
    assert conv.parameters == 3 * 3 * 3 * 4 + 4
    assert tiny_extractor.layer("pool_a").has_weights is False
    with pytest.raises(KeyError):
        tiny_extractor.layer("conv1")


def test_every_activation_matches_numpy(tiny_model, tiny_extractor, tiny_image):
    expected, _ = forward(chain_of(tiny_model), tiny_image)
    result = tiny_extractor.digit_tensors(tiny_image, label=1)
    for info, reference in zip(tiny_extractor.layers, expected):
        np.testing.assert_allclose(result.activations[info.name], reference, rtol=1e-4, atol=1e-6,
                                   err_msg=info.name)
    np.testing.assert_allclose(result.probabilities, expected[-1], rtol=1e-4, atol=1e-6)


def test_saliency_matches_finite_differences_of_the_logit(tiny_model, tiny_extractor, tiny_image):
    chain = chain_of(tiny_model)
    image = tiny_image.astype(np.float64)
    for target in range(3):
        result = tiny_extractor.digit_tensors(tiny_image, label=0, score_class=target)
        assert result.saliency_class == target and result.score_kind == "logit"
        for row, col in PIXELS:
            numeric = finite_difference(lambda target=target: forward(chain, image)[1][target], image, (row, col, 0))
            assert result.saliency[row, col, 0] == pytest.approx(numeric, rel=1e-3, abs=1e-6), (target, row, col)
    assert np.any(np.abs(result.saliency) > 1e-4), "a saliency of all zeros would make this test vacuous"


def test_default_saliency_class_is_the_prediction(tiny_extractor, tiny_image):
    result = tiny_extractor.digit_tensors(tiny_image, label=0, score_class=PREDICTED_CLASS)
    assert result.saliency_class == result.predicted_class == int(np.argmax(result.probabilities))


def test_weight_gradients_match_finite_differences_of_the_loss(tiny_model, tiny_extractor, tiny_image):
    label = 2
    chain = chain_of(tiny_model)
    result = tiny_extractor.digit_tensors(tiny_image, label=label)
    assert result.loss == pytest.approx(cross_entropy(forward(chain, tiny_image)[1], label), rel=1e-4)
    rng = np.random.default_rng(3)
    checked = 0
    for position, (_kind, weights) in enumerate(chain):
        if not weights:
            continue
        name = tiny_extractor.layers[position].name
        for weight_name in ("kernel", "bias"):
            array = weights[weight_name]
            gradient = result.weight_gradients[name][weight_name]
            assert gradient.shape == array.shape
            for _ in range(4):
                index = tuple(int(rng.integers(0, n)) for n in array.shape)
                numeric = finite_difference(lambda: cross_entropy(forward(chain, tiny_image)[1], label), array, index)
                assert gradient[index] == pytest.approx(numeric, rel=2e-3, abs=1e-6), (name, weight_name, index)
                checked += 1
    assert checked == 4 * 2 * 4


def test_extraction_gives_gradients_for_a_model_loaded_from_disk(tmp_path, tiny_model, tiny_extractor, tiny_image):
    import keras

    path = tmp_path / "tiny.keras"
    tiny_model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    reloaded = TensorExtractor(loaded).digit_tensors(tiny_image, label=1)
    original = tiny_extractor.digit_tensors(tiny_image, label=1)
    np.testing.assert_allclose(reloaded.saliency, original.saliency, rtol=1e-5, atol=1e-7)
    for name, gradients in original.weight_gradients.items():
        for weight_name, gradient in gradients.items():
            np.testing.assert_allclose(reloaded.weight_gradients[name][weight_name], gradient, rtol=1e-5, atol=1e-7)


def test_weights_are_the_model_weights(tiny_model, tiny_extractor):
    weights = tiny_extractor.weights()
    assert set(weights) == {"conv_a", "conv_b", "hidden", "scores"}
    kernel, bias = tiny_model.get_layer("hidden").get_weights()
    np.testing.assert_array_equal(weights["hidden"]["kernel"], kernel)
    np.testing.assert_array_equal(weights["hidden"]["bias"], bias)


def test_bad_arguments_are_refused(tiny_extractor, tiny_image):
    with pytest.raises(ValueError, match="shape"):
        tiny_extractor.digit_tensors(np.zeros((28, 28, 1)), label=0)
    with pytest.raises(ValueError, match="score class"):
        tiny_extractor.digit_tensors(tiny_image, label=0, score_class=3)
    with pytest.raises(ValueError, match="label"):
        tiny_extractor.digit_tensors(tiny_image, label=-1)


def test_batched_probabilities_equal_single_passes(tiny_extractor):
    images = np.random.default_rng(1).random((7, 10, 10, 1)).astype(np.float32)
    batched = tiny_extractor.probabilities(images, batch_size=3)
    single = np.stack([tiny_extractor.digit_tensors(image, label=0).probabilities for image in images])
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-7)


# The seed CNN, trained for one epoch on real digits.

def test_seed_conv1_equals_numpy_convolution_on_a_real_digit(lens):
    index = 3
    image, label = lens.image(index)
    kernel, bias = lens.weights()["conv1"]["kernel"], lens.weights()["conv1"]["bias"]
    expected = relu(conv2d_valid(image.astype(np.float64), kernel.astype(np.float64), bias.astype(np.float64)))
    actual = lens.tensors(index).activations["conv1"]
    assert actual.shape == (26, 26, 32)
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)
    assert np.count_nonzero(expected) > 1000


def test_seed_saliency_matches_finite_differences_on_a_real_digit(lens):
    index = 11
    image, _ = lens.image(index)
    chain = chain_of(lens.served.model)
    result = lens.tensors(index)
    target = result.saliency_class
    work = image.astype(np.float64)
    # Pixels on and beside the stroke, where the gradient is not zero.
    ink = np.argwhere(image[:, :, 0] > 0.3)
    picks = [tuple(ink[i]) for i in np.linspace(0, len(ink) - 1, 5).astype(int)]
    for row, col in picks:
        numeric = finite_difference(lambda: forward(chain, work)[1][target], work, (row, col, 0), eps=1e-4)
        assert result.saliency[row, col, 0] == pytest.approx(numeric, rel=5e-3, abs=1e-5), (row, col)


def test_describe_layers_works_on_other_chains():
    model = build_tiny_model(seed=1)
    assert [info.kind for info in describe_layers(model)] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense"]


def test_compiled_calls_do_not_retrace(lens):
    """Fixed input signatures: many digits and classes, one trace of each compiled function."""
    extractor = lens.served.extractor
    for index in range(60):
        extractor.digit_tensors(lens.image(index)[0], label=index % 10, score_class=(index % 11) - 1)
    extractor.probabilities(lens.data.x_test[:7])
    extractor.probabilities(lens.data.x_test[:300], batch_size=128)
    assert extractor._one_pass.experimental_get_tracing_count() == 1
    assert extractor._probabilities_of.experimental_get_tracing_count() <= 1
