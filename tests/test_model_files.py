"""A .keras file is a program: refusals with a message, in a separate process with limits, server side intact."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from dashboard import model_files
from tests import user_models

pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("model-files")


@pytest.fixture(scope="module")
def sequential_file(folder):
    return user_models.save(user_models.sequential_cnn(), folder, "sequential")


def test_a_good_file_gets_its_report(sequential_file):
    report = model_files.probe(sequential_file)
    assert report.input_shape == (28, 28, 1) and report.classes == 10 and report.layers == 7
    assert report.sha256 == model_files.file_sha256(sequential_file) and not report.branches
    assert report.parameters == sum(int(np.prod(w.shape)) for w in user_models.sequential_cnn().weights)


def test_a_residual_model_reports_branches_and_its_preprocessing(folder):
    report = model_files.probe(user_models.save(user_models.residual_cnn(), folder, "residual"))
    assert report.branches and report.preprocessing and report.input_shape == (32, 32, 3)


def test_lambda_layers_are_refused(folder):
    import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = keras.layers.Flatten()(x)
    path = user_models.save(keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)), folder, "lambda")
    with pytest.raises(model_files.ModelFileError, match="contains a Lambda layer, which is Python code"):
        model_files.probe(path)


def test_two_inputs_are_refused_by_name(folder):
    import keras

    a, b = keras.Input((8, 8, 1), name="left"), keras.Input((8, 8, 1), name="right")
    x = keras.layers.Flatten()(keras.layers.Concatenate()([a, b]))
    path = user_models.save(keras.Model([a, b], keras.layers.Dense(3, activation="softmax")(x)), folder, "two")
    with pytest.raises(model_files.ModelFileError, match="the model has 2 inputs; CNN Lens shows models with one"):
        model_files.probe(path)


def test_a_sequence_model_is_refused(folder):
    import keras

    inputs = keras.Input((20, 8))
    x = keras.layers.LSTM(4)(inputs)
    path = user_models.save(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)), folder, "lstm")
    with pytest.raises(model_files.ModelFileError, match=r"input has shape \(20, 8\); CNN Lens needs one image"):
        model_files.probe(path)


def test_truncated_file_is_refused(folder, sequential_file):
    path = folder / "truncated.keras"
    path.write_bytes(sequential_file.read_bytes()[: sequential_file.stat().st_size // 2])
    with pytest.raises(model_files.ModelFileError, match="not a readable zip archive"):
        model_files.check_file(path)


def test_a_300_mb_file_of_zeros_is_refused_before_anything_reads_it(folder):
    path = folder / "zeros.keras"
    with open(path, "wb") as handle:
        handle.truncate(300 * 1024 * 1024)  # sparse: 300 MB of zeros without writing them
    with pytest.raises(model_files.ModelFileError, match="zeros.keras is 300 MB; the limit is 200 MB"):
        model_files.Vetting(folder / "vetted").report(path)


def test_a_zip_that_would_inflate_past_the_cap_is_refused(folder):
    path = folder / "bomb.keras"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b" " * (900 * 1024 * 1024))
    assert path.stat().st_size < 2 * 1024 * 1024
    with pytest.raises(model_files.ModelFileError, match="would inflate to 900 MB; the limit is 800 MB"):
        model_files.check_file(path)


def _with_config(source, target, change):
    """Copy a .keras file with its config.json changed by `change(config)`."""
    with zipfile.ZipFile(source) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(parts["config.json"])
    change(config)
    parts["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return target


def test_a_huge_allocation_is_stopped_by_the_probe_memory_limit(folder, sequential_file):
    def enormous(config):
        for layer in config["config"]["layers"]:
            if layer["class_name"] == "Conv2D":
                layer["config"]["filters"] = 2**31 - 1  # a kernel of 9 x 2^31 floats: 77 GB

    path = _with_config(sequential_file, folder / "enormous.keras", enormous)
    with pytest.raises(model_files.ModelFileError, match="enormous.keras: "):
        model_files.probe(path, memory_mb=3072)


def test_a_loader_that_runs_past_its_time_is_stopped(sequential_file):
    # Importing TensorFlow alone takes longer than this: the limit holds whatever keeps the loader busy.
    with pytest.raises(model_files.ModelFileError, match="took longer than 0.5 s and was stopped"):
        model_files.probe(sequential_file, seconds=0.5)


def test_vetting_probes_a_file_once(folder, sequential_file, monkeypatch):
    vetting = model_files.Vetting(folder / "vetted-once")
    first = vetting.report(sequential_file)
    monkeypatch.setattr(model_files, "probe", lambda *a, **k: pytest.fail("probed twice"))
    assert vetting.report(sequential_file) == first
