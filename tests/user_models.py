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


def residual_cnn(seed: int = 0, input_shape=(32, 32, 3), classes: int = 10, *, random_statistics: bool = True):
    """Return a residual CNN with BatchNormalization, a depthwise and a separable conv, and a nested block."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(2.0 / 255.0, offset=-1.0, name="scale")(inputs)  # raw pixels 0-255 in
    x = layers.Conv2D(8, 3, padding="same", name="stem")(x)
    x = layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = layers.ReLU(name="stem_relu")(x)
    skip = x
    y = layers.Conv2D(8, 3, padding="same", name="block_conv")(x)
    y = layers.BatchNormalization(momentum=0.9, name="block_bn")(y)
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
    if random_statistics:
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


def synthetic_rgb(n: int, size: int = 32, classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return (uint8 images (n, size, size, 3), labels): class c is a bright square of colour c at place c on noise,
    so a small CNN learns it in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    images = rng.integers(0, 60, (n, size, size, 3)).astype(np.uint8)
    step = max(1, (size - size // 4) // classes)
    for i, label in enumerate(labels):
        top = left = int(label) * step
        colour = np.array([(label * 97) % 256, (label * 57 + 80) % 256, (label * 151 + 40) % 256], np.uint8)
        images[i, top:top + size // 4, left:left + size // 4] = np.maximum(colour, 90)
    return images, labels


def write_rgb_npz(path: Path, *, size: int = 32, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """Write an .npz of synthetic RGB images in Keras's layout (x_train, y_train, x_test, y_test)."""
    x_train, y_train = synthetic_rgb(n_train, size, seed=seed)
    x_test, y_test = synthetic_rgb(n_test, size, seed=seed + 1)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return Path(path)


def write_model_folder(folder: Path) -> Path:
    """Write a folder of user models as a practitioner would hand them to --model: a residual CNN trained briefly
    on its own RGB data (named in a JSON beside it), a Sequential for MNIST, and two that cannot be shown."""
    import json

    import keras

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = write_rgb_npz(folder / "shapes.npz")
    (folder / "shapes.json").write_text(json.dumps({"class_names": [f"shape {c}" for c in range(10)]}))
    residual = residual_cnn(random_statistics=False)
    residual.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    with np.load(data) as arrays:
        residual.fit(arrays["x_train"].astype(np.float32), arrays["y_train"], epochs=12, batch_size=32, verbose=0)
    save(residual, folder, "residual")
    (folder / "residual.json").write_text(json.dumps({"name": "Residual CNN", "data": "shapes.npz"}))
    save(sequential_cnn(), folder, "sequential")
    # The residual model without its data: 32x32x3 images do not fit the page's MNIST.
    save(residual_cnn(), folder, "unfitting")
    inputs = keras.Input((28, 28, 1))
    doubled = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(doubled))
    save(keras.Model(inputs, outputs), folder, "with-lambda")
    return folder
