"""The test set beyond the served model's pass: background jobs and their progress, checkpoints, channel rankings
by activation x gradient, a channel's weights, dead counts in the cards, and t-SNE maps kept on disk."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from dashboard import jobs, testset
from dashboard import testset_layout as tl
from dashboard.callbacks import testset as testset_callbacks
from tests.numpy_reference import conv2d_valid, relu

READY = {"view": None, "pass": "the served model's"}


def test_a_job_runs_once_reports_progress_and_waits_for_another_process(tmp_path):
    from filelock import FileLock

    result = tmp_path / "result.npy"
    started = threading.Event()
    proceed = threading.Event()
    calls = []

    def compute(report):
        calls.append(1)
        report(0.0, "starting")
        started.set()
        proceed.wait(5)
        report(0.5, "half way")
        time.sleep(jobs.PROGRESS_INTERVAL + 0.05)
        report(0.75, "three quarters")
        np.save(result, np.arange(3))

    runner = jobs.Jobs()
    assert runner.ensure(result, compute) is not None
    assert started.wait(5)
    assert runner.ensure(result, compute) is not None  # asked again while it runs: not started twice
    proceed.set()
    assert runner.wait(result, 5) and runner.ensure(result, compute) is None
    assert calls == [1] and not jobs.progress_path(result).exists()

    # Another process holds the job's lock: this one computes nothing and reads that job's progress file.
    other = tmp_path / "other.npy"
    held = FileLock(str(other) + ".lock")
    held.acquire()
    try:
        jobs.progress_path(other).write_text('{"done": 0.4, "doing": "elsewhere"}')
        runner.ensure(other, lambda report: calls.append(2))
        runner.wait(other, 2)
        assert runner.ensure(other, lambda report: calls.append(2)) == (0.4, "elsewhere") and calls == [1]
        np.save(other, np.zeros(1))  # that process finishes
    finally:
        held.release()
    assert runner.ensure(other, lambda report: calls.append(2)) is None and calls == [1]


def test_a_failed_job_says_why_and_can_be_tried_again(tmp_path):
    result = tmp_path / "result.npy"
    runner = jobs.Jobs()

    def fails(report):
        raise jobs.JobFailed("the numbers did not add up")

    runner.ensure(result, fails)
    runner.wait(result, 5)
    with pytest.raises(jobs.JobFailed, match="did not add up"):
        runner.ensure(result, fails)
    runner.forget_failure(result)
    runner.ensure(result, lambda report: np.save(result, np.ones(1)))
    assert runner.wait(result, 5)


def test_the_page_shows_progress_until_the_pass_is_ready(private_settings):
    from dashboard.lens import Lens

    lens = Lens.start(private_settings)
    gate = {"view": {"model": lens.served.version}}
    ready = None
    for _ in range(200):
        ready, stop, value, hidden, text = testset_callbacks.pass_status(lens, gate)
        if ready is not testset_callbacks.no_update:
            break
        assert not stop and not hidden and "Passing the test set" in text and 0 <= float(value) <= 1
    assert ready == {"view": gate["view"], "pass": lens.test_set.pass_key()} and stop and hidden
    _, _, _, _, message = testset_callbacks.pass_status(lens, {"view": {"run": "nope", "step": 0}})
    assert "nope" in message


def test_a_checkpoints_confusion_matrix_equals_keras_with_its_weights(lens, trained_run):
    from dashboard.model_service import build_seed_model

    step = lens.runs.history(trained_run)[1]["step"]  # early in the first epoch: far from the served model
    stored = lens.runs.checkpoint(trained_run, step)
    model = build_seed_model()
    for layer in model.layers:
        if layer.name in stored.weights:
            layer.set_weights([stored.weights[layer.name][name] for name in ("kernel", "bias")])
    images = lens.scaling.apply(lens.data.x_test)
    predicted = np.asarray(model(images, training=False)).argmax(axis=1)
    expected = testset.confusion(lens.data.y_test, predicted, 10).counts
    ready = {"view": {"run": trained_run, "step": step}, "pass": "any"}
    figure, caption = testset_callbacks.confusion_view(lens, {"mode": tl.COUNTS, "ready": ready})
    np.testing.assert_array_equal(np.asarray(figure.data[0].z), expected)
    assert f"run {trained_run} at step {step:,}" in caption
    served, _ = testset_callbacks.confusion_view(lens, {"mode": tl.COUNTS, "ready": READY})
    assert not np.array_equal(np.asarray(served.data[0].z), expected)  # the served model is another one


def test_activation_times_gradient_through_a_linear_head_is_the_weight_times_the_mean_activation():
    import keras

    from dashboard.tensors import TensorExtractor

    keras.utils.set_random_seed(4)
    inputs = keras.Input((8, 8, 1))
    maps = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(maps)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(pooled))
    images = np.random.default_rng(0).uniform(0, 1, (5, 8, 8, 1)).astype(np.float32)
    kernel, bias = model.get_layer("conv").get_weights()
    weights, _ = model.get_layer("out").get_weights()
    extractor = TensorExtractor(model)
    for class_index in range(3):
        found = extractor.channel_contributions(images, "conv", class_index)
        # The class's logit is sum_k w[k, c] * mean over the map of channel k, so d logit / d a[k, h, w] is
        # w[k, c] / (H * W), and the sum over the map of a * gradient is w[k, c] * mean of channel k.
        activations = np.stack([relu(conv2d_valid(image.astype(np.float64), kernel, bias)) for image in images])
        expected = activations.mean(axis=(1, 2)) * weights[:, class_index]
        np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="class 3"):
        extractor.channel_contributions(images, "conv", 3)


def insight_gate(layer: str, sort: str = tl.SORT_MEAN, class_index: int = 0) -> dict:
    return {"layer": layer, "sort": sort, "class": class_index, "ready": READY}


def test_channels_sort_by_number_or_by_their_push_on_a_class(lens):
    bars, caption, *_ = testset_callbacks.channel_insight(lens, insight_gate("conv2", tl.SORT_INDEX))
    assert [int(x) for x in bars.data[0].x] == list(range(64)) and "by number" in caption
    bars, caption, *_ = testset_callbacks.channel_insight(lens, insight_gate("conv2", tl.SORT_CONTRIBUTION, 7))
    members = np.flatnonzero(lens.data.y_test == 7)
    direct = lens.served.extractor.channel_contributions(lens.scaling.apply(lens.data.x_test[members]), "conv2", 7)
    expected = direct.mean(axis=0)
    order = sorted(range(64), key=lambda c: (-expected[c], c))
    assert [int(x) for x in bars.data[0].x] == order
    np.testing.assert_allclose(bars.data[0].y, expected[order], rtol=1e-4, atol=1e-7)
    assert "most for 7 first" in caption and "activation × gradient of class 7" in caption
    _, caption, *_ = testset_callbacks.channel_insight(lens, insight_gate("conv2", "by mood"))
    assert "Sort 'by mood' is not one of" in caption
    _, caption, *_ = testset_callbacks.channel_insight(lens, insight_gate("conv2", tl.SORT_CONTRIBUTION, 10))
    assert "Class" in caption and "10" in caption


def test_a_channels_weights_are_its_filter_over_every_input_channel(lens):
    kernel, bias = lens.served.model.get_layer("conv2").get_weights()
    click = {"points": [{"x": "9"}]}
    outputs = testset_callbacks.channel_insight(lens, insight_gate("conv2"), click)
    weights, caption = outputs[4], outputs[5]
    # Outside a request no bar counts as clicked: the first channel of the sort is shown.
    channel = int(outputs[0].data[0].x[0])
    shown = np.asarray(weights.data[0].z, np.float64)
    np.testing.assert_allclose(np.sort(shown[np.isfinite(shown)]), np.sort(kernel[:, :, :, channel].ravel()),
                               rtol=1e-6)
    assert caption.startswith(f"Filter {channel} of conv2: a 3×3 kernel for each of its 32 input channels")
    assert f"{bias[channel]:.4g}" in caption
    pooled = testset_callbacks.channel_insight(lens, insight_gate("pool2"))
    assert "has no weights" in pooled[4].layout.annotations[0].text


def test_the_cards_count_dead_channels_as_a_direct_count_does(lens):
    import keras

    model = lens.served.model
    probe = keras.Model(model.inputs, [model.get_layer("conv1").output, model.get_layer("conv2").output])
    images = lens.scaling.apply(lens.data.x_test)
    counts = testset_callbacks.dead_counts(lens, READY)
    for position, layer in enumerate(("conv1", "conv2")):
        outputs = np.asarray(probe(images, training=False)[position])
        dead = sum(1 for c in range(outputs.shape[-1]) if not (outputs[..., c] > 0).any())
        assert counts.get(layer) == (f"{dead} of {outputs.shape[-1]} dead" if dead else None)
    assert set(counts) <= {"conv1", "conv2"}  # only ReLU map layers have channels to be dead
    assert testset_callbacks.dead_counts(lens, None) is testset_callbacks.no_update
    for bad in ("x", {"view": None}):  # nothing a browser sends: the cards stay as they are
        assert testset_callbacks.dead_counts(lens, bad) is testset_callbacks.no_update


def test_a_tsne_map_is_computed_in_the_background_once_and_kept(private_settings):
    from dashboard.lens import Lens
    from dashboard.testset_views import TestSetViews

    lens = Lens.start(private_settings)  # a model folder of its own: no map kept by another test

    gate = {"layer": "dense", "colour": tl.COLOUR_TRUE, "method": tl.TSNE, "ready": READY}
    figure, caption, stop, progress = testset_callbacks.embedding_view(lens, gate, None, 3)
    assert not stop and "Computing the t-SNE map in the background" in caption and "PCA" in caption
    deadline = time.monotonic() + 120
    placed = lens.test_set.projection("dense", tl.TSNE)
    while isinstance(placed, tuple):
        assert time.monotonic() < deadline, placed
        time.sleep(0.3)
        placed = lens.test_set.projection("dense", tl.TSNE)
    assert placed.shape == (lens.test_size, 2) and np.isfinite(placed).all()
    # The map keeps neighbours: most images' nearest point on the map has their true class (a 10-class set).
    distances = ((placed[:, None, :] - placed[None, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(distances, np.inf)
    labels = lens.data.y_test
    assert np.mean(labels[distances.argmin(axis=1)] == labels) > 0.8
    figure, caption, stop, progress = testset_callbacks.embedding_view(lens, gate, None, 3)
    assert stop and progress == "1" and "placed by t-SNE" in caption
    xs = np.concatenate([trace.x for trace in figure.data[:-1]])
    assert sorted(xs) == pytest.approx(sorted(placed[:, 0]))
    # Another process's view of the same model: read from disk at once, not computed again.
    again = TestSetViews(lens).projection("dense", tl.TSNE)
    np.testing.assert_array_equal(again, placed)


def test_a_users_colour_model_gets_the_same_views_with_its_class_names(catalog):
    residual = catalog.resolve("residual")
    images = residual.scaling.apply(residual.data.x_test)
    predicted = np.asarray(residual.served.model(images, training=False)).argmax(axis=1)  # Keras's own call
    expected = testset.confusion(residual.data.y_test, predicted, residual.data.classes).counts
    figure, caption = testset_callbacks.confusion_view(residual, {"mode": tl.COUNTS, "ready": READY})
    np.testing.assert_array_equal(np.asarray(figure.data[0].z), expected)
    assert list(figure.data[0].x) == [str(name) for name in residual.class_names]
    layer = next(info.name for info in residual.layers if len(info.output_shape) == 3 and info.kind == "Conv2D")
    outputs = testset_callbacks.channel_insight(residual, insight_gate(layer, tl.SORT_CONTRIBUTION, 1))
    assert f"most for {residual.class_names[1]} first" in outputs[1]
    assert outputs[5].startswith("Filter ") and "input channels" in outputs[5]  # RGB in: one slice per colour
    vector = tl.embedding_layers(residual)[-1]
    _, caption, stop, _ = testset_callbacks.embedding_view(
        residual, {"layer": vector, "colour": tl.COLOUR_PREDICTED, "method": tl.PCA, "ready": READY}, None, 0)
    assert stop and f"activations of {vector}" in caption
