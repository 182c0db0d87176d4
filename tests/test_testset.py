"""The whole test set: confusion counts against an independent forward pass, a cell's images, the gallery."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import testset
from dashboard import testset_layout as tl
from dashboard.callbacks import testset as testset_callbacks

READY = {"view": None, "pass": "the served model's"}  # what the page's pass_status says once the pass is ready


def independent_predictions(lens) -> np.ndarray:
    """Return the served model's predicted class for every test image, through Keras's own call of the model
    (not the page's extraction graph)."""
    images = lens.scaling.apply(lens.data.x_test)
    return np.concatenate([np.asarray(lens.served.model(images[i:i + 256], training=False)).argmax(axis=1)
                           for i in range(0, len(images), 256)])


def test_confusion_counts_equal_a_direct_count(lens):
    predicted = independent_predictions(lens)
    labels = lens.data.y_test
    expected = np.zeros((10, 10), np.int64)
    for true_class, guess in zip(labels, predicted):
        expected[true_class, guess] += 1
    gate = {"mode": tl.COUNTS, "ready": READY}
    figure, caption = testset_callbacks.confusion_view(lens, gate)
    shown = np.asarray(figure.data[0].customdata)
    np.testing.assert_array_equal(shown[..., 0], expected)
    np.testing.assert_array_equal(np.asarray(figure.data[0].z), expected)
    assert f"Accuracy {np.trace(expected) / expected.sum():.1%}" in caption
    figure, _ = testset_callbacks.confusion_view(lens, {"mode": tl.SHARES, "ready": READY})
    np.testing.assert_allclose(np.asarray(figure.data[0].z), expected / expected.sum(axis=1, keepdims=True))
    table = testset.confusion(labels, predicted, 10)
    np.testing.assert_allclose(table.class_accuracy, np.diag(expected) / expected.sum(axis=1))


def test_a_cell_lists_its_images_most_confident_first_and_pages_them(lens):
    predictions = lens.predictions()
    labels = lens.data.y_test
    true_class = 4
    members = testset.cell_members(labels, predictions.predicted, predictions.confidence, true_class, true_class)
    brute = sorted((i for i in range(lens.test_size) if labels[i] == true_class == predictions.predicted[i]),
                   key=lambda i: (-predictions.confidence[i], i))
    assert members.tolist() == brute
    click = {"points": [{"x": str(true_class), "y": str(true_class)}]}
    figure, caption, options, page = testset_callbacks.gallery_view(lens, click, 1)
    assert page == 0  # a click outside a callback context: the first page
    trace = figure.data[0]
    where = np.asarray(trace.customdata)
    assert trace.meta["indices"] == brute[:testset.GALLERY_PAGE]
    # Each tile's cells name its test index; the browser finds a click's tile from the meta's layout.
    columns, (height, width) = trace.meta["columns"], trace.meta["tile"]
    for position, index in enumerate(brute[:testset.GALLERY_PAGE]):
        top, left = (position // columns) * (height + 1), (position % columns) * (width + 1)
        assert (where[top:top + height, left:left + width] == index).all()
    # The first tile holds the most confident image, pixel for pixel.
    first = lens.picture(brute[0])[..., 0]
    np.testing.assert_allclose(np.asarray(trace.z)[:28, :28], first, atol=1e-6)
    assert len(options) == testset.pages(len(brute)) and f"{len(brute):,} test digits" in caption


def test_gallery_and_matrix_refuse_what_no_browser_sends(lens):
    for click in (None, "x", {"points": []}, {"points": ["a"]}, {"points": [{"x": 1, "y": 2}]}):
        assert testset_callbacks.gallery_view(lens, click, 0)[0] is testset_callbacks.no_update
    figure, caption, *_ = testset_callbacks.gallery_view(lens, {"points": [{"x": "0", "y": "99"}]}, 0)
    assert "True class '99' is not one of" in caption
    figure, caption, *_ = testset_callbacks.gallery_view(lens, {"points": [{"x": "1", "y": "1"}]}, 10**6)
    assert "out of range" not in caption  # outside a request, as after a new cell: the first page
    _, caption = testset_callbacks.confusion_view(lens, {"mode": "pie", "ready": READY})
    assert "Matrix mode 'pie' is not one of" in caption


def test_the_test_set_pass_holds_each_images_true_summaries(lens):
    test_pass = lens.test_set.test_pass()
    assert test_pass.probabilities.shape == (lens.test_size, 10)
    np.testing.assert_allclose(test_pass.probabilities.argmax(axis=1), lens.predictions().predicted)
    for index in (0, 17, lens.test_size - 1):
        activations = lens.tensors(index).activations
        for layer in ("conv1", "pool2"):
            maps = activations[layer]
            flat = maps.reshape(-1, maps.shape[-1])
            np.testing.assert_allclose(test_pass.channel(layer, "max")[index], flat.max(axis=0), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(test_pass.channel(layer, "mean")[index], flat.mean(axis=0), rtol=1e-4,
                                       atol=1e-6)
            peaks = test_pass.channel(layer, "argmax")[index]
            np.testing.assert_allclose(flat[peaks, np.arange(flat.shape[1])], flat.max(axis=0), rtol=1e-5)
        np.testing.assert_allclose(test_pass.vector("dense")[index], activations["dense"], rtol=1e-4, atol=1e-6)
    assert lens.test_set.test_pass() is test_pass  # computed once per model


def test_dead_channels_against_a_direct_count(lens):
    import keras

    model = lens.served.model
    probe = keras.Model(model.inputs, [model.get_layer("conv1").output, model.get_layer("conv2").output])
    images = lens.scaling.apply(lens.data.x_test)
    for position, layer in enumerate(("conv1", "conv2")):
        outputs = np.concatenate([np.asarray(probe(images[i:i + 200], training=False)[position])
                                  for i in range(0, len(images), 200)])
        direct = [c for c in range(outputs.shape[-1]) if not (outputs[..., c] > 0).any()]
        assert testset.dead_channels(lens.test_set.test_pass().channel(layer, "max")).tolist() == direct


def test_pca_equals_the_covariance_eigenvectors_up_to_sign():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    coordinates, shares = testset.pca(values)
    centred = values - values.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    order = np.argsort(eigenvalues)[::-1][:2]
    expected = centred @ eigenvectors[:, order]
    for k in range(2):
        sign = np.sign(coordinates[:, k] @ expected[:, k])
        np.testing.assert_allclose(coordinates[:, k] * sign, expected[:, k], rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(shares, eigenvalues[order] / eigenvalues.sum(), rtol=1e-8)


def test_the_pass_is_kept_on_disk_and_recomputed_for_another_model(private_settings, model_dir, trained_run):
    import shutil

    from dashboard.lens import Lens
    from dashboard.model_service import ModelService

    first = Lens.start(private_settings).test_set.test_pass()
    kept = list((private_settings.model_dir / testset.CACHE_FOLDER).glob("*.npz"))
    assert len(kept) == 1 and kept[0].stem == first.version
    written = kept[0].stat().st_mtime_ns
    again = Lens.start(private_settings).test_set.test_pass()  # another process: read from disk, not computed
    assert kept[0].stat().st_mtime_ns == written and again.version == first.version
    np.testing.assert_array_equal(again.probabilities, first.probabilities)
    # A damaged file is computed again, not trusted.
    kept[0].write_bytes(b"not an npz")
    repaired = Lens.start(private_settings).test_set.test_pass()
    np.testing.assert_array_equal(repaired.probabilities, first.probabilities)
    assert testset.TestPass.load(kept[0], "") is not None
    # Another served model: its own pass.
    shutil.copytree(model_dir / "runs" / trained_run, private_settings.model_dir / "runs" / trained_run)
    ModelService(private_settings.model_dir).publish(trained_run)
    other = Lens.start(private_settings).test_set.test_pass()
    assert other.version != first.version
    assert not np.allclose(other.probabilities, first.probabilities)


def test_the_embedding_map_places_every_image_by_its_layers_pca(lens):
    gate = {"layer": "dense", "colour": tl.COLOUR_TRUE, "method": tl.PCA, "ready": READY}
    figure, caption, stop, _ = testset_callbacks.embedding_view(lens, gate, None, 7)
    assert stop
    test_pass = lens.test_set.test_pass()
    coordinates, _ = testset.pca(test_pass.vector("dense"))
    labels, predicted = lens.data.y_test, test_pass.probabilities.argmax(axis=1)
    seen = set()
    for trace in figure.data[:-1]:
        for x, y, (index, confidence), symbol in zip(trace.x, trace.y, trace.customdata, trace.marker.symbol):
            assert (x, y) == pytest.approx(tuple(coordinates[index]))
            assert trace.name == f"true {labels[index]}"
            assert (symbol == "x") == (predicted[index] != labels[index])
            assert confidence == pytest.approx(float(test_pass.probabilities[index].max()), abs=1e-4)
            seen.add(index)
    assert seen == set(range(lens.test_size))
    ring = figure.data[-1]
    assert (ring.x[0], ring.y[0]) == pytest.approx(tuple(coordinates[7]))
    assert "64 activations of dense" in caption and "PCA" in caption
    _, caption, *_ = testset_callbacks.embedding_view(lens, {**gate, "layer": "conv1"}, None, 7)
    assert "Embedding layer 'conv1' is not one of" in caption


def test_a_channels_top_images_equal_a_brute_force_ranking_and_frame_their_peak(lens):
    import keras

    model = lens.served.model
    probe = keras.Model(model.inputs, [model.get_layer("conv1").output, model.get_layer("conv2").output])
    images = lens.scaling.apply(lens.data.x_test)
    conv1, conv2 = (np.concatenate(parts) for parts in zip(*[
        [np.asarray(o) for o in probe(images[i:i + 200], training=False)] for i in range(0, len(images), 200)]))
    for layer, maps, size, stride in (("conv1", conv1, 3, 1), ("conv2", conv2, 8, 2)):
        channel = 5
        peaks = maps[..., channel].reshape(len(maps), -1).max(axis=1)
        brute = sorted(range(len(peaks)), key=lambda i: (-peaks[i], i))[:9]
        top = lens.test_set.channel_top(layer, channel)
        assert [index for index, _, _ in top] == brute
        for index, value, box in top[:3]:
            assert value == pytest.approx(float(peaks[index]), rel=1e-5)
            r, c = np.unravel_index(np.argmax(maps[index, ..., channel]), maps.shape[1:3])
            # The frame lies inside the peak's theoretical receptive field: size x size pixels from (r, c) * stride.
            top_row, left, bottom, right = box
            assert r * stride <= top_row <= bottom <= r * stride + size - 1
            assert c * stride <= left <= right <= c * stride + size - 1
            if layer == "conv1":  # one 3x3 kernel over the pixels: its whole window moves the value
                assert box == (r, c, r + 2, c + 2)


def insight_gate(layer: str, sort: str = tl.SORT_MEAN, class_index: int = 0) -> dict:
    return {"layer": layer, "sort": sort, "class": class_index, "ready": READY}


def test_channel_insight_sorts_by_the_test_set_mean_and_flags_dead_channels(lens):
    figure, caption, top, top_caption, weights, _, feature, feature_caption = testset_callbacks.channel_insight(
        lens, insight_gate("conv2"))
    test_pass = lens.test_set.test_pass()
    means = test_pass.channel("conv2", "mean").mean(axis=0)
    expected = sorted(range(64), key=lambda c: (-means[c], c))
    assert [int(x) for x in figure.data[0].x] == expected
    np.testing.assert_allclose(figure.data[0].y, means[expected], rtol=1e-6)
    dead = testset.dead_channels(test_pass.channel("conv2", "max"))
    assert f"{len(dead)} of 64 channels never activate" in caption
    assert top_caption.startswith(f"Channel {expected[0]} of conv2")
    assert top.data[0].meta["indices"] == [i for i, _, _ in lens.test_set.channel_top("conv2", expected[0])]
    pixels, _ = lens.test_set.feature_visualisation("conv2", sorted(expected))  # in channel order, whatever the sort
    np.testing.assert_allclose(np.asarray(feature.data[0].z), pixels[expected[0], :, :, 0], rtol=1e-6)
    assert f"What channel {expected[0]} of conv2 looks for" in feature_caption or "stayed at 0" in feature_caption
    _, caption, *_ = testset_callbacks.channel_insight(lens, insight_gate("dense"))
    assert "Select a layer with channels" in caption


def test_feature_visualisation_raises_each_channel_well_above_noise_and_is_reproducible(lens):
    import keras

    channels = list(range(64))
    pixels, reached = lens.test_set.feature_visualisation("conv2", channels)
    model = lens.served.model
    probe = keras.Model(model.inputs, model.get_layer("conv2").output)
    # The objective is the unit at the centre of each channel's 11 x 11 map: Keras's own value on the images found.
    found = np.asarray(probe(lens.scaling.apply(pixels), training=False))
    own = np.array([found[i, 5, 5, c] for i, c in enumerate(channels)])
    np.testing.assert_allclose(own, reached, rtol=1e-4, atol=1e-5)
    noise = np.random.default_rng(1).uniform(0, 1, (256, 28, 28, 1)).astype(np.float32)
    on_noise = np.asarray(probe(lens.scaling.apply(noise), training=False))[:, 5, 5, :].mean(axis=0)
    alive = [c for c in channels if reached[c] > 0]
    ratios = reached[alive] / np.maximum(on_noise[alive], 1e-6)
    assert len(alive) >= 32 and np.median(ratios) > 2, (len(alive), np.median(ratios))
    again, _ = lens.served.extractor.feature_images("conv2", channels, scaling=(1.0, 0.0, (0.0,), (1.0,)), seed=0)
    np.testing.assert_array_equal(again, pixels)  # the same seed, the same images


def test_a_large_map_draws_every_mistake_the_picked_image_and_a_fixed_sample():
    wrong = np.zeros(10_000, bool)
    wrong[np.random.default_rng(3).choice(10_000, 180, replace=False)] = True
    shown = testset.map_sample(10_000, wrong, 1000, seed=0, keep=42)
    assert len(shown) == 1000 == len(set(shown.tolist())) and (np.diff(shown) > 0).all()
    assert set(np.flatnonzero(wrong)) <= set(shown.tolist()) and 42 in shown
    np.testing.assert_array_equal(shown, testset.map_sample(10_000, wrong, 1000, seed=0, keep=42))
    assert testset.map_sample(900, wrong[:900], 1000).tolist() == list(range(900))  # small sets: every image
