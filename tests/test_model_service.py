"""The seed CNN's exact architecture, atomic saving, hash-checked loading, and recovery from bad caches."""

from __future__ import annotations

import json

import pytest

from dashboard import model_service
from dashboard.model_service import METADATA_FILE, MODEL_FILE, ModelService


def test_seed_model_is_the_classic_mnist_cnn():
    from keras import losses, optimizers

    model = model_service.build_seed_model()
    kinds = [(type(layer).__name__, layer.name) for layer in model.layers]
    assert kinds == [("InputLayer", "digit"), ("Conv2D", "conv1"), ("MaxPooling2D", "pool1"), ("Conv2D", "conv2"),
                     ("MaxPooling2D", "pool2"), ("Flatten", "flatten"), ("Dense", "dense"),
                     ("Dense", "probabilities")]
    conv1, conv2 = model.get_layer("conv1"), model.get_layer("conv2")
    assert (conv1.filters, conv1.kernel_size, conv1.activation.__name__) == (32, (3, 3), "relu")
    assert (conv2.filters, conv2.kernel_size, conv2.activation.__name__) == (64, (3, 3), "relu")
    assert model.get_layer("pool1").pool_size == (2, 2) == model.get_layer("pool2").pool_size
    dense, out = model.get_layer("dense"), model.get_layer("probabilities")
    assert (dense.units, dense.activation.__name__) == (64, "relu")
    assert (out.units, out.activation.__name__) == (10, "softmax")
    assert isinstance(model.optimizer, optimizers.Adam)
    assert model.loss in ("sparse_categorical_crossentropy", losses.sparse_categorical_crossentropy)
    assert model.count_params() == 320 + 18496 + 102464 + 650


def test_cache_holds_model_and_metadata(model_dir, mnist):
    metadata = json.loads((model_dir / METADATA_FILE).read_text())
    assert metadata["model_sha256"] == model_service.file_sha256(model_dir / MODEL_FILE)
    assert metadata["data_source"] == mnist.source and metadata["test_digits"] == 1000
    assert metadata["data_fingerprint"] == mnist.fingerprint()
    assert metadata["epochs"] == 1 and 0.0 <= metadata["test_accuracy"] <= 1.0
    assert {"keras", "tensorflow", "numpy"} <= set(metadata["versions"])
    # The lock files stay by design (one for the model cache, one under which runs are created and cancelled).
    from dashboard.training import RUNS_LOCK

    locks = {model_service.LOCK_FILE, RUNS_LOCK}
    leftovers = [p for p in model_dir.iterdir() if p.name.startswith(".") and p.name not in locks]
    assert not leftovers, f"temporary files left behind: {leftovers}"


def test_second_start_loads_the_same_model(model_dir, mnist):
    served = ModelService(model_dir).load_or_train(mnist, epochs=1)
    assert served.metadata["model_sha256"] == model_service.file_sha256(model_dir / MODEL_FILE)
    assert served.model.get_layer("conv1").get_weights()[0].shape == (3, 3, 1, 32)


def _copy_cache(source, target):
    target.mkdir()
    for name in (MODEL_FILE, METADATA_FILE):
        (target / name).write_bytes((source / name).read_bytes())
    return target


@pytest.mark.parametrize("damage", ["truncated", "empty", "random", "wrong-format", "hash-mismatch", "bad-metadata",
                                    "old-keras"])
def test_a_damaged_cache_is_moved_aside_and_retrained(tmp_path, model_dir, mnist, damage):
    cache = _copy_cache(model_dir, tmp_path / "cache")
    model_path, meta_path = cache / MODEL_FILE, cache / METADATA_FILE
    content = model_path.read_bytes()
    metadata = json.loads(meta_path.read_text())
    if damage == "truncated":
        model_path.write_bytes(content[: len(content) // 2])
        metadata["model_sha256"] = model_service.file_sha256(model_path)  # Keras itself must reject it.
    elif damage == "empty":
        model_path.write_bytes(b"")
        metadata["model_sha256"] = model_service.file_sha256(model_path)
    elif damage == "random":
        model_path.write_bytes(bytes(range(256)) * 100)
        metadata["model_sha256"] = model_service.file_sha256(model_path)
    elif damage == "wrong-format":
        import zipfile

        with zipfile.ZipFile(model_path, "w") as archive:  # a valid zip, but not a Keras model
            archive.writestr("notes.txt", "not a model")
        metadata["model_sha256"] = model_service.file_sha256(model_path)
    elif damage == "hash-mismatch":
        metadata["model_sha256"] = "0" * 64
    elif damage == "old-keras":
        metadata["versions"]["keras"] = "2.15.0"
    meta_path.write_text("{not json" if damage == "bad-metadata" else json.dumps(metadata))

    served = ModelService(cache).load_or_train(mnist, epochs=1, train_limit=200)

    assert list(cache.glob("*.corrupt")), "the damaged files should be kept aside for inspection"
    assert served.metadata["train_digits"] == 200
    assert model_service.file_sha256(model_path) == served.metadata["model_sha256"]


def test_retrain_replaces_a_good_cache(tmp_path, model_dir, mnist):
    cache = _copy_cache(model_dir, tmp_path / "cache")
    before = model_service.file_sha256(cache / MODEL_FILE)
    served = ModelService(cache).load_or_train(mnist, epochs=1, train_limit=100, retrain=True, seed=5)
    assert served.metadata["train_digits"] == 100
    assert model_service.file_sha256(cache / MODEL_FILE) != before
    assert not list(cache.glob("*.corrupt"))


def test_an_interrupted_save_leaves_the_old_model_in_place(tmp_path, model_dir):
    cache = _copy_cache(model_dir, tmp_path / "cache")
    before = (cache / MODEL_FILE).read_bytes()

    class Exploding:
        def save(self, path):
            with open(path, "wb") as handle:
                handle.write(b"half a model")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model_service.save_model(Exploding(), {}, cache)
    assert (cache / MODEL_FILE).read_bytes() == before
    assert sorted(p.name for p in cache.iterdir()) == sorted([MODEL_FILE, METADATA_FILE])


def test_current_before_loading_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="no model"):
        _ = ModelService(tmp_path).current


STARTER = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from pathlib import Path
from dashboard.data import load_mnist
from dashboard.model_service import ModelService
served = ModelService(Path(sys.argv[1])).load_or_train(load_mnist(offline=True), epochs=1, train_limit=300)
print(served.metadata["model_sha256"])
"""


def test_four_processes_on_an_empty_cache_train_once(tmp_path):
    from tests.conftest import run_side_by_side

    cache = tmp_path / "shared-cache"
    outputs = run_side_by_side(STARTER, str(cache), count=4, timeout=300)
    trained = [err for _, err in outputs if "training the seed CNN" in err]
    assert len(trained) == 1, f"{len(trained)} processes trained"
    hashes = {out.strip().splitlines()[-1] for out, _ in outputs}
    assert hashes == {model_service.file_sha256(cache / MODEL_FILE)}


def test_a_model_trained_on_other_data_is_set_aside_and_retrained(tmp_path, model_dir, mnist):
    import dataclasses

    cache = _copy_cache(model_dir, tmp_path / "cache")
    # Another seed reshuffles the offline split: the old model may have trained on today's test digits.
    other = dataclasses.replace(mnist, y_test=mnist.y_test[::-1].copy(), x_test=mnist.x_test[::-1].copy())
    served = ModelService(cache).load_or_train(other, epochs=1, train_limit=100)
    assert served.metadata["data_fingerprint"] == other.fingerprint() != mnist.fingerprint()
    assert list(cache.glob("*.other-data")) and not list(cache.glob("*.corrupt"))
