"""Every layer kind the issue lists, in one Functional model saved as .keras and opened as --model opens it:
each layer's activation against Keras's own output for it (and merges against NumPy), every panel on both tabs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from dashboard import views
from dashboard.callbacks import layers as layer_callbacks
from dashboard.layout import GRADIENTS_TAB, WEIGHTS_TAB
from tests import user_models

KINDS = {"Normalization", "Resizing", "Conv2D", "LayerNormalization", "Activation", "ReLU", "LeakyReLU",
         "AveragePooling2D", "MaxPooling2D", "ZeroPadding2D", "DepthwiseConv2D", "SeparableConv2D", "Concatenate",
         "Multiply", "Add", "Reshape", "Dropout", "GlobalMaxPooling2D", "Flatten", "Dense", "BatchNormalization"}


def zoo_model(x_train: np.ndarray):
    import keras
    from keras import layers

    keras.utils.set_random_seed(5)
    inputs = keras.Input((32, 32, 3))
    normal = layers.Normalization(name="normal")
    normal.adapt(x_train[:64].astype("float32"))
    x = normal(inputs)
    x = layers.Resizing(24, 24, name="resize")(x)
    x = layers.Conv2D(6, 3, name="conv")(x)                                   # 22x22x6
    x = layers.LayerNormalization(name="layer_norm")(x)
    x = layers.Activation("relu6", name="relu6")(x)
    left = layers.AveragePooling2D(2, name="avg_pool")(x)                     # 11x11x6
    right = layers.MaxPooling2D(2, name="max_pool")(layers.LeakyReLU(0.2, name="leaky")(x))
    joined = layers.Concatenate(name="concat")([left, right])                 # 11x11x12
    gate = layers.ReLU(max_value=6.0, name="relu_cap")(layers.DepthwiseConv2D(3, padding="same", name="dw")(joined))
    x = layers.Multiply(name="multiply")([joined, gate])
    x = layers.ZeroPadding2D(1, name="pad")(x)                                # 13x13x12
    x = layers.SeparableConv2D(8, 3, name="sep")(x)                           # 11x11x8
    x = layers.BatchNormalization(name="bn")(x)
    skip = layers.Conv2D(8, 1, name="skip")(layers.Cropping2D(((0, 0), (0, 0)), name="same")(x))
    x = layers.Add(name="add")([x, skip])
    x = layers.Reshape((11, 11, 8), name="reshape")(x)
    x = layers.Dropout(0.2, name="drop")(x)
    pooled = layers.GlobalMaxPooling2D(name="gmp")(x)
    flat = layers.Flatten(name="flat")(layers.MaxPooling2D(4, name="pool4")(x))
    x = layers.Concatenate(name="features")([pooled, flat])
    outputs = layers.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def zoo(test_settings, lens, tmp_path_factory):
    from dashboard.catalog import Catalog

    folder = tmp_path_factory.mktemp("zoo")
    data = user_models.write_rgb_npz(folder / "shapes.npz", n_train=100, n_test=20)
    with np.load(data) as arrays:
        model = zoo_model(arrays["x_train"] / 255.0)
    user_models.save(model, folder, "zoo")
    (folder / "zoo.json").write_text(json.dumps({"data": "shapes.npz", "scaling": "0-1"}))
    catalog = Catalog.start(dataclasses.replace(test_settings, models=(folder,)), lens)
    return model, catalog.resolve("zoo")


def test_every_listed_layer_kind_is_shown_with_keras_own_values(zoo):
    import keras

    model, served = zoo
    kinds = {info.kind for info in served.layers}
    assert KINDS <= kinds, KINDS - kinds
    image = served.image(4)[0]
    activations = served.tensors(4).activations
    # Keras's own output of every layer for this image, from the model as built (not the loaded file).
    named = [layer for layer in model.layers if layer.name in activations]
    probe = keras.Model(model.inputs, [layer.output for layer in named])
    for layer, expected in zip(named, probe(image[None], training=False)):
        np.testing.assert_allclose(activations[layer.name], np.asarray(expected)[0], rtol=1e-4, atol=1e-5,
                                   err_msg=layer.name)
    # The merges, in NumPy.
    a = activations
    np.testing.assert_allclose(a["concat"], np.concatenate([a["avg_pool"], a["max_pool"]], axis=-1), atol=1e-6)
    np.testing.assert_allclose(a["multiply"], a["concat"] * a["relu_cap"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a["relu_cap"], np.clip(a["dw"], 0, 6), atol=1e-6)
    np.testing.assert_allclose(a["add"], a["bn"] + a["skip"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a["gmp"], a["drop"].max(axis=(0, 1)), atol=1e-6)


def test_every_layer_on_both_tabs_with_every_choice(zoo):
    _, served = zoo
    for info in served.layers:
        choices = [o["value"] for o in views.channel_options(info)] or [None]
        for tab in (WEIGHTS_TAB, GRADIENTS_TAB):
            for channel in choices:
                answer = layer_callbacks.layer_views(served, 2, info.name, channel, tab)
                text = json.dumps([part for part in answer if isinstance(part, str)])
                assert "went wrong" not in text and "no view yet" not in text, (info.name, tab, channel, text)
