"""Small Keras image classifiers outside the seed CNN's shape, built in code for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _randomise_batch_norm(model, seed: int = 1) -> None:
    """Give every BatchNormalization layer non-trivial statistics, so its arithmetic is really tested."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.2, beta.shape),
                               rng.normal(0, 0.3, mean.shape), rng.uniform(0.5, 2.0, variance.shape)])


def residual_cnn(seed: int = 0, input_shape=(32, 32, 3), classes: int = 10):
    """Return a residual CNN with BatchNormalization, a depthwise and a separable conv, and a nested block."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(2.0, offset=-1.0, name="scale")(inputs)
    x = layers.Conv2D(8, 3, padding="same", name="stem")(x)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    skip = x
    y = layers.Conv2D(8, 3, padding="same", name="block_conv")(x)
    y = layers.BatchNormalization(name="block_bn")(y)
    x = layers.Add(name="residual")([skip, y])
    x = layers.Activation("relu", name="block_relu")(x)
    x = layers.DepthwiseConv2D(3, depth_multiplier=2, name="depthwise")(x)
    x = layers.MaxPooling2D(2, name="pool")(x)
    block_in = keras.Input(x.shape[1:], name="inner_in")
    inner = layers.SeparableConv2D(12, 3, padding="same", activation="relu", name="separable")(block_in)
    nested = keras.Model(block_in, inner, name="inner")
    x = nested(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="residual_cnn")
    _randomise_batch_norm(model, seed + 1)
    return model


def sequential_cnn(seed: int = 0):
    """Return a Sequential 28x28x1 classifier with Dropout, LeakyReLU and global average pooling."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(8, 3, name="conv_a"),
        layers.LeakyReLU(negative_slope=0.1, name="leaky"),
        layers.Dropout(0.25, name="drop"),
        layers.Conv2D(16, 3, strides=2, name="conv_b"),
        layers.LeakyReLU(negative_slope=0.1, name="leaky_b"),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dense(10, activation="softmax", name="probabilities"),
    ], name="sequential_cnn")


def mobilenet_v2(seed: int = 0):
    """Return keras.applications.MobileNetV2 at 96x96x3 with ten classes and random weights (offline)."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10)


def save(model, folder: Path, name: str) -> Path:
    """Save a model as folder/name.keras and return the path."""
    path = Path(folder) / f"{name}.keras"
    model.save(path)
    return path
