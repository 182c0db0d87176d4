"""Deletion curves and the randomized-model sanity check."""

from __future__ import annotations

import numpy as np

from dashboard import attributions


def test_deletion_removes_pixels_in_attribution_order():
    image = np.arange(1, 17, dtype=np.float32).reshape(4, 4, 1)
    attribution = image[:, :, 0].copy()  # the brightest pixels are the most attributed
    fractions, images = attributions.deletion_images(image, attribution, steps=4)
    assert fractions.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    np.testing.assert_array_equal(images[0], image)
    assert np.all(images[-1] == 0)
    removed = images[1][:, :, 0] == 0
    assert removed.sum() == 4 and set(image[removed, 0]) == {13, 14, 15, 16}


def test_area_under_curve():
    assert attributions.area_under_curve(np.array([0, 0.5, 1.0]), np.array([1.0, 0.5, 0.0])) == 0.5


def test_randomized_copy_has_the_architecture_but_other_weights(lens):
    model = lens.served.model
    copy = attributions.randomized_copy(model)
    assert [type(layer).__name__ for layer in copy.layers] == [type(layer).__name__ for layer in model.layers]
    kernel, random_kernel = model.get_layer("conv1").get_weights()[0], copy.get_layer("conv1").get_weights()[0]
    assert kernel.shape == random_kernel.shape and not np.allclose(kernel, random_kernel)
