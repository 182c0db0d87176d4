"""Cell explanations against independent arithmetic: every forward decomposition recomputes the cell's value as a
NumPy computation written here does; the backward decomposition of ∂L/∂w matches central finite differences of a
float64 NumPy forward pass; the theoretical receptive field matches brute-force perturbation."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import backward, cells, decompose, receptive
from dashboard.callbacks import cells as cell_callbacks
from dashboard.tensors import TensorExtractor
from tests.numpy_reference import SEED_CHAIN, conv2d_valid, cross_entropy, forward, seed_chain


def _cells_of(shape: tuple[int, ...], rng: np.random.Generator, count: int = 5) -> list[tuple[int, ...]]:
    """Return a few cells of a layer's output: its corners and random ones."""
    if len(shape) == 3:
        height, width, channels = shape
        corners = [(0, 0, 0), (channels - 1, height - 1, width - 1)]
        return corners + [(int(rng.integers(channels)), int(rng.integers(height)), int(rng.integers(width)))
                          for _ in range(count)]
    return [(0,), (shape[0] - 1,)] + [(int(rng.integers(shape[0])),) for _ in range(count)]


def _at(values: np.ndarray, cell: tuple[int, ...]) -> float:
    return float(values[cell[1], cell[2], cell[0]] if len(cell) == 3 else values.reshape(-1)[cell[0]])


@pytest.fixture(scope="module")
def unsure_digit(lens):
    """The test digit the model is least sure of: its gradients are far from zero."""
    return int(np.argmin(lens.predictions().confidence))


def test_every_seed_layer_cell_is_recomputed_as_numpy_computes_it(lens, unsure_digit):
    image, _ = lens.image(unsure_digit)
    reference, _ = forward(seed_chain(lens.weights()), image)
    by_layer = dict(zip(SEED_CHAIN, reference))
    rng = np.random.default_rng(0)
    for info in lens.layers:
        for cell in _cells_of(info.output_shape, rng):
            explained = cells.explain(lens, unsure_digit, info, cells.Cell("a", cell))
            d = explained.forward
            truth = _at(by_layer[info.name], cell)
            assert d.result == pytest.approx(truth, rel=1e-4, abs=1e-5), (info.name, cell)
            assert d.value == pytest.approx(truth, rel=1e-4, abs=1e-5), (info.name, cell)
            assert d.matches
            if d.total is not None:  # the parts shown and the rest add up to the sum
                assert sum(p.value for p in d.parts) + d.rest == pytest.approx(d.total, rel=1e-9, abs=1e-12)
                assert d.pre_activation == pytest.approx(d.total + (d.bias or 0.0))
            for part in d.parts:
                if part.products is not None and d.kind == "conv":
                    assert float(part.products.sum()) == pytest.approx(part.value, rel=1e-9, abs=1e-12)


def test_a_conv_cell_names_its_window_and_the_top_channels(lens):
    conv2 = lens.layer("conv2")
    d = cells.explain(lens, 0, conv2, cells.Cell("a", (5, 3, 7))).forward
    assert d.kind == "conv" and d.source == "pool1"
    assert d.window == (3, 7, 5, 9)  # 3×3, stride 1, valid: rows 3..5, cols 7..9 of pool1
    assert len(d.parts) == decompose.TOP_CHANNELS and d.rest_count == 32 - decompose.TOP_CHANNELS
    magnitudes = [abs(p.value) for p in d.parts]
    assert magnitudes == sorted(magnitudes, reverse=True)
    pool1 = lens.tensors(0).activations["pool1"]
    kernel = lens.weights()["conv2"]["kernel"]
    for part in d.parts:  # each channel's window and kernel slice are the layer's own
        np.testing.assert_allclose(part.window, pool1[3:6, 7:10, part.channel])
        np.testing.assert_allclose(part.weights, kernel[:, :, part.channel, 5])


def test_max_pooling_names_the_winner_and_softmax_its_steps(lens):
    d = cells.explain(lens, 0, lens.layer("pool1"), cells.Cell("a", (2, 4, 5))).forward
    conv1 = lens.tensors(0).activations["conv1"]
    window = conv1[8:10, 10:12, 2]
    row, col = np.unravel_index(int(np.argmax(window)), window.shape)
    assert d.extra["winner"] == [8 + row, 10 + col] and d.result == pytest.approx(float(window.max()))
    output = cells.explain(lens, 0, lens.layers[0], cells.Cell("p", (3,))).forward
    probabilities = lens.tensors(0).probabilities
    logits = np.asarray(output.extra["logits"])
    assert output.kind == "dense" and output.activation == "softmax"
    np.testing.assert_allclose(np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum(), probabilities,
                               rtol=1e-4, atol=1e-7)
    assert output.result == pytest.approx(float(probabilities[3]), rel=1e-4, abs=1e-7)


def _same_pad(x: np.ndarray, kernel_size: int, stride: int) -> np.ndarray:
    """Pad as 'same' does, written here: half the total before, the extra one after."""
    out = -(-x.shape[0] // stride)
    total = max((out - 1) * stride + kernel_size - x.shape[0], 0)
    return np.pad(x, ((total // 2, total - total // 2), (total // 2, total - total // 2), (0, 0)))


def _conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """'same' convolution: pad, convolve, then keep every stride-th output."""
    return conv2d_valid(_same_pad(x, kernel.shape[0], stride), kernel, bias)[::stride, ::stride]


def _depthwise_same(x: np.ndarray, kernel: np.ndarray, stride: int = 1) -> np.ndarray:
    """'same' depthwise convolution (multiplier 1): each channel filtered by its own kernel, no mixing."""
    padded = _same_pad(x, kernel.shape[0], stride)
    size = -(-x.shape[0] // stride)
    out = np.zeros((size, size, x.shape[2]))
    for c in range(x.shape[2]):
        for r in range(size):
            for s in range(size):
                window = padded[r * stride:r * stride + kernel.shape[0], s * stride:s * stride + kernel.shape[1], c]
                out[r, s, c] = np.sum(window * kernel[:, :, c, 0])
    return out


def _residual_model():
    """A BatchNormalization + residual model with depthwise and separable convolutions, built in code."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(12, 12, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="stem")(inputs)
    x = layers.BatchNormalization(name="norm")(x)
    branch = layers.Conv2D(4, 3, padding="same", name="branch")(x)
    x = layers.Add(name="join")([x, branch])
    x = layers.Activation("tanh", name="squash")(x)
    x = layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = layers.SeparableConv2D(5, 3, strides=2, padding="same", activation="relu", name="separable")(x)
    x = layers.AveragePooling2D(2, padding="same", name="average")(x)
    x = layers.GlobalAveragePooling2D(name="global")(x)
    outputs = layers.Dense(3, activation="softmax", name="scores")(x)
    model = keras.Model(inputs, outputs)
    norm = model.get_layer("norm")
    rng = np.random.default_rng(1)
    norm.set_weights([rng.uniform(0.5, 2.0, 4), rng.normal(0, 0.3, 4), rng.normal(0, 0.5, 4), rng.uniform(0.2, 3, 4)])
    return model


def test_batchnorm_residual_depthwise_and_separable_cells_match_numpy():
    model = _residual_model()
    extractor = TensorExtractor(model)
    image = np.random.default_rng(5).random((12, 12, 1)).astype(np.float32)
    tensors = extractor.digit_tensors(image, label=1)
    values = {**tensors.activations, "input": image.astype(np.float64)}
    weights = {name: {k: np.asarray(v, np.float64) for k, v in w.items()} for name, w in extractor.weights().items()}
    norm = model.get_layer("norm")
    gamma, beta, mean, variance = (np.asarray(v, np.float64) for v in norm.get_weights())
    a = {name: np.asarray(v, np.float64) for name, v in values.items()}
    separable_depthwise = _depthwise_same(a["depthwise"], weights["separable"]["depthwise_kernel"], stride=2)
    pointwise = weights["separable"]["pointwise_kernel"][0, 0]
    separable = np.maximum(separable_depthwise @ pointwise + weights["separable"]["bias"], 0.0)
    expected = {
        "stem": np.maximum(_conv_same(a["input"], weights["stem"]["kernel"], weights["stem"]["bias"], 1), 0.0),
        "norm": gamma * (a["stem"] - mean) / np.sqrt(variance + norm.epsilon) + beta,
        "branch": _conv_same(a["norm"], weights["branch"]["kernel"], weights["branch"]["bias"], 1),
        "join": a["norm"] + a["branch"],
        "squash": np.tanh(a["join"]),
        "depthwise": _depthwise_same(a["squash"], weights["depthwise"]["kernel"]) + weights["depthwise"]["bias"],
        "separable": separable,
        "average": a["separable"].reshape(3, 2, 3, 2, 5).mean(axis=(1, 3)),
        "global": a["average"].mean(axis=(0, 1)),
        "scores": None,
    }
    logits = a["global"] @ weights["scores"]["kernel"] + weights["scores"]["bias"]
    expected["scores"] = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    rng = np.random.default_rng(2)
    for info in extractor.layers:
        spec = extractor.spec(info.name)
        sources = {name: values[name] for name in spec.inputs}
        for cell in _cells_of(info.output_shape, rng):
            d = decompose.decompose(spec, weights.get(info.name, {}), sources, values[info.name], cell)
            truth = _at(expected[info.name], cell)
            assert d.kind != "none", info.name
            assert d.result == pytest.approx(truth, rel=1e-4, abs=1e-5), (info.name, cell, d.kind)
            assert d.value == pytest.approx(truth, rel=1e-4, abs=2e-5), (info.name, cell)


def test_a_layer_with_no_decomposition_says_so():
    from dashboard.layer_specs import LayerSpec

    spec = LayerSpec(name="odd", kind="Conv2DTranspose", inputs=("input",))
    d = decompose.decompose(spec, {}, {"input": np.ones((4, 4, 1))}, np.ones((8, 8, 2)), (1, 2, 3))
    assert d.kind == "none" and d.result is None and "Conv2DTranspose" in d.note and not d.matches
    with pytest.raises(ValueError, match="outside"):
        decompose.decompose(spec, {}, {"input": np.ones((4, 4, 1))}, np.ones((8, 8, 2)), (2, 0, 0))


def _loss_of(weights: dict, image: np.ndarray, label: int) -> float:
    _, logits = forward(seed_chain(weights), image)
    return cross_entropy(logits, label)


@pytest.mark.parametrize("layer, weight", [
    ("conv2", (1, 2, 5, 3)), ("conv2", (0, 0, 17, 40)), ("conv1", (2, 1, 0, 7)), ("dense", (1000, 12)),
    ("probabilities", (33, 4)),
])
def test_a_weight_gradient_written_out_equals_finite_differences(lens, unsure_digit, layer, weight):
    image, label = lens.image(unsure_digit)
    info = lens.layer(layer)
    if info.kind == "Conv2D":
        i, j, c, f = weight
        cell = cells.Cell("g", (f, i, j), channel=c)
    else:
        cell = cells.Cell("g", weight, matrix=True)
    explained = cells.explain(lens, unsure_digit, info, cell).gradient
    assert explained.weight == weight
    # The products sum to the model's own gradient...
    assert explained.total == pytest.approx(explained.value, rel=1e-4, abs=1e-9)
    # ...and to the slope of a float64 NumPy loss, by central differences.
    weights = {name: {k: np.asarray(v, np.float64).copy() for k, v in w.items()} for name, w in lens.weights().items()}
    step = 1e-4
    weights[layer]["kernel"][weight] += step
    above = _loss_of(weights, image, label)
    weights[layer]["kernel"][weight] -= 2 * step
    below = _loss_of(weights, image, label)
    slope = (above - below) / (2 * step)
    assert explained.total == pytest.approx(slope, rel=2e-3, abs=1e-7)
    if info.kind == "Conv2D":
        assert explained.products.shape == info.output_shape[:2]


def test_the_norm_view_explains_the_input_channel_of_largest_gradient(lens, unsure_digit):
    gradient = lens.tensors(unsure_digit).weight_gradients["conv2"]["kernel"]
    explained = cells.explain(lens, unsure_digit, lens.layer("conv2"), cells.Cell("g", (9, 1, 1))).gradient
    assert explained.weight[2] == int(np.argmax(np.abs(gradient[1, 1, :, 9])))


def test_a_saliency_pixel_splits_over_the_first_layers_filters(lens, unsure_digit):
    flow = cells.explain(lens, unsure_digit, lens.layers[0], cells.Cell("s", (13, 15))).flow
    saliency = lens.tensors(unsure_digit).saliency
    assert flow.per_filter.shape == (32,)
    assert flow.total == pytest.approx(float(saliency[13, 15, 0]), rel=1e-4, abs=1e-7)


def _field_model(activation: str):
    import keras
    from keras import layers

    keras.utils.set_random_seed(4)
    inputs = keras.Input(shape=(16, 16, 1))
    init = keras.initializers.RandomUniform(0.1, 1.0)
    x = layers.Conv2D(2, 3, activation=activation, kernel_initializer=init, name="a")(inputs)
    x = layers.AveragePooling2D(2, name="pool")(x)
    main = layers.Conv2D(2, 3, strides=2, padding="same", activation=activation, kernel_initializer=init, name="b")(x)
    side = layers.Conv2D(2, 1, strides=2, kernel_initializer=init, name="side")(x)
    x = layers.Add(name="add")([main, side])
    x = layers.Conv2D(1, 3, dilation_rate=2, padding="same", kernel_initializer=init, name="dilated")(x)
    x = layers.Flatten(name="flat")(x)
    outputs = layers.Dense(2, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_the_theoretical_receptive_field_is_what_perturbing_pixels_changes(activation):
    model = _field_model(activation)
    extractor = TensorExtractor(model)
    specs = {info.name: extractor.spec(info.name) for info in extractor.layers}
    shapes = {info.name: info.output_shape for info in extractor.layers} | {"input": extractor.input_shape}
    import keras

    from dashboard import graph

    fresh = keras.Input(shape=(16, 16, 1))
    symbolic = graph.run_steps(extractor.steps, fresh)
    names = [info.name for info in extractor.layers if len(info.output_shape) == 3]
    probe = keras.Model(fresh, [symbolic[name] for name in names])
    base = np.random.default_rng(0).random((16, 16, 1)).astype(np.float32) + 0.5
    batch = np.repeat(base[None], 257, axis=0)
    for k in range(256):  # one pixel raised per image; the last image is the base itself
        batch[k, k // 16, k % 16, 0] += 1.0
    outputs = dict(zip(names, (np.asarray(o) for o in probe(batch))))
    rng = np.random.default_rng(1)
    for name in names:
        for cell in _cells_of(shapes[name], rng, count=4):
            channel, row, col = cell
            moved = np.abs(outputs[name][:256, row, col, channel] - outputs[name][256, row, col, channel]) > 1e-6
            changed = np.zeros((16, 16), bool)
            changed.flat[np.flatnonzero(moved)] = True
            top, left, bottom, right = receptive.theoretical_field(specs, shapes, name, cell)
            inside = np.zeros((16, 16), bool)
            inside[top:bottom + 1, left:right + 1] = True
            assert not (changed & ~inside).any(), (name, cell)  # nothing outside the field changes the cell
            if activation == "linear":  # positive weights, no ReLU: the field is tight (a dilated kernel leaves
                rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))  # gaps in it)
                assert (rows[0], cols[0], rows[-1], cols[-1]) == (top, left, bottom, right), (name, cell)
    assert receptive.theoretical_field(specs, shapes, "out", (0,)) == (0, 0, 15, 15)


def test_cell_text_round_trips_and_bad_text_is_refused():
    for text in ("a:5,3,7", "a:12", "g:3,1,2;c=5", "g:3,1,2;c=all", "g:40,7;matrix", "s:12,14", "p:7"):
        assert cells.parse(text).text == text
    assert cells.parse("") is None and cells.parse(None) is None
    for bad in ("x:1", "a:", "a:1,2,3,4,5", "a:-1", "g:1;c=x", 5, ["a:1"], "a:1" * 40):
        with pytest.raises(cells.BadCell):
            cells.parse(bad)


@pytest.mark.parametrize("request_", [
    None, "a:1,2,3", {"cell": 5}, {"cell": "a:99,0,0", "image": 0, "layer": "conv1"},
    {"cell": "a:1,2,3", "image": 10**9, "layer": "conv1"}, {"cell": "a:1,2,3", "image": 0, "layer": "nope"},
    {"cell": "g:1,2,3;c=99", "image": 0, "layer": "conv2"}, {"cell": "s:99,0", "image": 0, "layer": "conv1"},
    {"cell": "a:1,2,3", "image": 0, "layer": "conv1", "view": "x"},
    {"cell": "a:1,2,3", "image": 0, "layer": "conv1", "effective": "yes"},
])
def test_a_bad_request_gets_a_message_not_a_traceback(lens, request_):
    title, body, figure, box = cell_callbacks.explain_cell(lens, request_)
    assert title == "This cell cannot be explained" and isinstance(body, str) and body and box == "hidden"
    assert "Traceback" not in body and "went wrong" not in body


def test_the_callback_explains_each_kind_of_cell(lens):
    for layer, cell in (("conv1", "a:3,4,5"), ("pool1", "a:3,4,5"), ("dense", "a:7"), ("conv2", "g:2,1,1;c=3"),
                        ("probabilities", "g:10,4;matrix"), ("conv1", "s:14,14"), ("conv1", "p:2")):
        title, body, figure, box = cell_callbacks.explain_cell(
            lens, {"cell": cell, "image": 3, "layer": layer, "view": None, "effective": ["on"],
                   "saliency": "predicted"})
        assert title != "This cell cannot be explained", (layer, cell, body)
        text = body.children  # one Markdown: HTML and formulas
        assert isinstance(text, str) and "$$" in text
        assert "cell-verdict ok" in text and "cell-verdict bad" not in text, (layer, cell)


def test_pre_activation_gradient_rules():
    from dashboard.layer_specs import LayerSpec

    z = np.array([-1.0, 0.5, 2.0])
    g = np.array([0.3, -0.2, 1.0])
    relu = LayerSpec(name="r", kind="Dense", inputs=("x",), activation="relu")
    np.testing.assert_allclose(backward.pre_activation_gradient(relu, z, g), [0.0, -0.2, 1.0])
    tanh = LayerSpec(name="t", kind="Dense", inputs=("x",), activation="tanh")
    step = 1e-6  # the derivative table against central differences of the activation itself
    slope = (np.tanh(z + step) - np.tanh(z - step)) / (2 * step)
    np.testing.assert_allclose(backward.pre_activation_gradient(tanh, z, g), g * slope, rtol=1e-6)
    softmax = LayerSpec(name="s", kind="Dense", inputs=("x",), activation="softmax")
    p = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(backward.pre_activation_gradient(softmax, z, g, p, label=2), p - [0, 0, 1])


def test_the_effective_field_lies_inside_the_theoretical_one(lens, unsure_digit):
    conv2 = lens.tensors(unsure_digit).activations["conv2"]
    row, col, channel = np.unravel_index(int(np.argmax(conv2)), conv2.shape)  # a live unit: its gradient moves
    explained = cells.explain(lens, unsure_digit, lens.layer("conv2"), cells.Cell("a", (channel, row, col)),
                              effective=True)
    top, left, bottom, right = explained.field
    # conv2 row r ← pool1 rows r..r+2 ← conv1 rows 2r..2r+5 ← input rows 2r..2r+7 (columns alike)
    assert (top, left, bottom, right) == (2 * row, 2 * col, 2 * row + 7, 2 * col + 7)
    inside = np.zeros(explained.effective.shape, bool)
    inside[top:bottom + 1, left:right + 1] = True
    assert explained.effective.shape == (28, 28) and (explained.effective[~inside] == 0).all()
    assert explained.effective[inside].max() > 0


def test_a_shrunk_bar_block_explains_its_unit_of_largest_magnitude(lens, monkeypatch):
    from dashboard import views

    monkeypatch.setattr(views, "BAR_BUDGET", 16)  # the dense layer's 64 units drawn 4 to a bar
    dense = lens.tensors(0).activations["dense"]
    d = cells.explain(lens, 0, lens.layer("dense"), cells.Cell("a", (8,))).forward
    assert d.cell == (8 + int(np.argmax(np.abs(dense[8:12]))),)


def test_the_input_card_says_nothing_computed_it(lens):
    from dashboard import views

    explained = cells.explain(lens, 0, views.input_info(lens.input_shape), cells.Cell("a", (0, 3, 4)))
    assert explained.forward is None and "the image itself" in explained.note
