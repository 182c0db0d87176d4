"""Build, train, save atomically, load and serve the CNN whose insides the page shows."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dashboard import storage
from dashboard.data import Dataset
from dashboard.model_files import file_sha256
from dashboard.runs import RUNS_FOLDER

if TYPE_CHECKING:  # TensorFlow is imported lazily; these names are for type checkers only.
    import keras

    from dashboard.tensors import TensorExtractor

log = logging.getLogger(__name__)

MODEL_FILE = "model.keras"
METADATA_FILE = "model.json"
LOCK_FILE = ".model.lock"
METADATA_SCHEMA = 1


class ModelLoadError(RuntimeError):
    """Raised when a cached model cannot be trusted; the message says why."""


class OtherDataError(ModelLoadError):
    """Raised when a cached model is sound but was trained on other data than the data now served."""


MIN_SEED_INPUT = 10  # two 3x3 convs and two 2x2 pools leave at least one pixel


def build_seed_model(seed: int = 0, *, activation: str = "relu", learning_rate: float = 1e-3,
                     input_shape: tuple[int, ...] = (28, 28, 1), classes: int = 10) -> keras.Model:
    """Return the classic MNIST CNN (hidden layers with `activation`) for images of `input_shape` and `classes`
    classes, compiled with Adam and cross-entropy."""
    import keras
    from keras import layers

    if len(input_shape) != 3 or min(input_shape[:2]) < MIN_SEED_INPUT:
        raise ValueError(f"the seed CNN needs images of at least {MIN_SEED_INPUT}×{MIN_SEED_INPUT} pixels, "
                         f"got {input_shape}")
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=tuple(input_shape), name="digit" if tuple(input_shape) == (28, 28, 1) else "image")
    x = layers.Conv2D(32, (3, 3), activation=activation, name="conv1")(inputs)
    x = layers.MaxPooling2D((2, 2), name="pool1")(x)
    x = layers.Conv2D(64, (3, 3), activation=activation, name="conv2")(x)
    x = layers.MaxPooling2D((2, 2), name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation=activation, name="dense")(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="seed_cnn")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _progress_callback(total_epochs: int) -> keras.callbacks.Callback:
    import keras

    class LogProgress(keras.callbacks.Callback):
        """Logs each epoch's loss and accuracy, and a few points within each epoch."""

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._epoch, self._started = epoch, time.perf_counter()
            steps = (self.params or {}).get("steps") or 0
            self._report_every = max(1, steps // 4)

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if (batch + 1) % self._report_every == 0 and logs:
                steps = self.params.get("steps")
                log.info("epoch %d/%d  step %d/%s  loss %.4f  accuracy %.4f",
                         self._epoch + 1, total_epochs, batch + 1, steps,
                         logs.get("loss", float("nan")), logs.get("accuracy", float("nan")))

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            log.info("epoch %d/%d done in %.1f s  loss %.4f  accuracy %.4f  val_loss %.4f  val_accuracy %.4f",
                     epoch + 1, total_epochs, time.perf_counter() - self._started,
                     logs.get("loss", float("nan")), logs.get("accuracy", float("nan")),
                     logs.get("val_loss", float("nan")), logs.get("val_accuracy", float("nan")))

    return LogProgress()


def train_seed_model(
    data: Dataset, *, epochs: int, batch_size: int = 128, train_limit: int | None = None, seed: int = 0
) -> tuple[keras.Model, dict[str, Any]]:
    """Return a freshly trained seed model and a summary of the run (accuracy, timings)."""
    model = build_seed_model(seed, input_shape=data.image_shape, classes=data.classes)
    x_train, y_train = data.training_subset(train_limit, seed)
    log.info("training the seed CNN on %d digits for %d epoch(s)", len(x_train), epochs)
    started = time.perf_counter()
    history = model.fit(
        x_train, y_train, epochs=epochs, batch_size=batch_size,
        validation_data=(data.x_test, data.y_test), verbose=0,
        callbacks=[_progress_callback(epochs)],
    )
    seconds = time.perf_counter() - started
    test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=512, verbose=0)
    log.info("trained in %.1f s: test accuracy %.4f", seconds, test_accuracy)
    summary = {
        "epochs": epochs,
        "batch_size": batch_size,
        "train_digits": int(len(x_train)),
        "test_digits": int(len(data.x_test)),
        "data_source": data.source,
        "data_fingerprint": data.fingerprint(),
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "train_seconds": round(seconds, 2),
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "seed": seed,
    }
    return model, summary


def library_versions() -> dict[str, str]:
    """Return the versions of the libraries a saved model depends on."""
    import keras
    import tensorflow as tf

    return {"keras": keras.__version__, "tensorflow": tf.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def save_model(model: keras.Model, summary: dict[str, Any], model_dir: Path) -> dict[str, Any]:
    """Save the model and its metadata atomically into model_dir; return the metadata."""
    model_dir.mkdir(parents=True, exist_ok=True)
    model_path = model_dir / MODEL_FILE
    # Keras insists on the .keras suffix, so the temporary file carries it too.
    storage.atomic_write(model_path, lambda temp: model.save(temp), suffix=".keras")
    metadata = {
        "schema": METADATA_SCHEMA,
        "model_file": MODEL_FILE,
        "model_sha256": file_sha256(model_path),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": library_versions(),
        **summary,
    }
    text = json.dumps(metadata, indent=2)
    storage.atomic_write(model_dir / METADATA_FILE, lambda temp: temp.write_text(text), suffix=".json")
    return metadata


def read_metadata(model_dir: Path) -> dict[str, Any]:
    """Return the metadata of the cached model, or raise ModelLoadError saying what is wrong."""
    path = model_dir / METADATA_FILE
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelLoadError(f"no metadata file {path}") from None
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"metadata {path} is unreadable ({error})") from None
    if not isinstance(metadata, dict) or metadata.get("schema") != METADATA_SCHEMA:
        raise ModelLoadError(f"metadata {path} has an unknown schema")
    return metadata


def model_path_of(model_dir: Path, metadata: dict[str, Any]) -> Path:
    """Return the model file the metadata names: model.keras beside it, or a run's model inside model_dir."""
    name = metadata.get("model_file", MODEL_FILE)
    if not isinstance(name, str) or Path(name).is_absolute() or ".." in Path(name).parts:
        raise ModelLoadError(f"metadata names a model file outside {model_dir}: {name!r}")
    return model_dir / name


def load_cached_model(model_dir: Path) -> tuple[keras.Model, dict[str, Any]]:
    """Return the cached model and its metadata after checking its hash, or raise ModelLoadError."""
    metadata = read_metadata(model_dir)
    model_path = model_path_of(model_dir, metadata)
    if not model_path.exists():
        raise ModelLoadError(f"no model file {model_path}")
    actual = file_sha256(model_path)
    if actual != metadata.get("model_sha256"):
        raise ModelLoadError(f"{model_path} does not match the sha256 in its metadata")
    saved_keras = str(metadata.get("versions", {}).get("keras", ""))
    import keras

    if saved_keras.split(".")[:1] != keras.__version__.split(".")[:1]:
        raise ModelLoadError(f"model saved with Keras {saved_keras}, this is Keras {keras.__version__}")
    try:
        model = keras.models.load_model(model_path, compile=False)
    except Exception as error:  # noqa: BLE001 - Keras reports many corrupt files as "File not found".
        raise ModelLoadError(f"Keras could not load {model_path}: {error}") from None
    return model, metadata


def _move_aside(model_dir: Path, reason: str, suffix: str = "corrupt") -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in (MODEL_FILE, METADATA_FILE):
        path = model_dir / name
        if path.exists():
            target = path.with_name(f"{name}.{stamp}.{suffix}")
            os.replace(path, target)
            log.warning("moved %s aside to %s: %s", path, target.name, reason)


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """A loaded model, its metadata, and the extractor that computes its tensors."""

    model: keras.Model
    metadata: dict[str, Any]
    extractor: TensorExtractor

    @property
    def version(self) -> str:
        """Return a short id of this model: the first 12 hex digits of its file hash."""
        return str(self.metadata.get("model_sha256", "unsaved"))[:12]


class ModelService:
    """Owns the served model: trains or loads it, and swaps it atomically."""

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = Path(model_dir)
        self._lock = threading.Lock()
        self._served: ServedModel | None = None
        self._loaded_signature: tuple | None = None
        self._checked_at = 0.0

    @property
    def current(self) -> ServedModel:
        """Return the model being served; raise if none is loaded yet."""
        served = self._served
        if served is None:
            raise RuntimeError("no model is loaded yet")
        return served

    @property
    def has_model(self) -> bool:
        """Return whether a model is loaded."""
        return self._served is not None

    @property
    def served_run(self) -> str | None:
        """Return the id of the training run whose model is served (None: trained at start-up, or none)."""
        served = self._served
        return served.metadata.get("run") if served is not None else None

    def published_run(self) -> str | None:
        """Return the run whose model is published on disk (which every process switches to), if any."""
        try:
            return read_metadata(self.model_dir).get("run")
        except ModelLoadError:
            return None

    def publish(self, run_id: str) -> None:
        """Make a finished run's model the served one, for every process on this model folder.

        The run's folder is never rewritten after it finished, so replacing model.json (one atomic
        os.replace) switches every reader from the old model file to the new one at once.
        """
        run_folder = Path(RUNS_FOLDER) / run_id
        metadata = read_metadata(self.model_dir / run_folder)
        metadata["model_file"] = str(run_folder / MODEL_FILE)
        self.model_dir.mkdir(parents=True, exist_ok=True)
        storage.write_json(self.model_dir / METADATA_FILE, metadata)
        log.info("published run %s as the served model", run_id)

    def _signature(self) -> tuple | None:
        try:
            status = (self.model_dir / METADATA_FILE).stat()
        except OSError:
            return None
        return status.st_ino, status.st_mtime_ns, status.st_size

    def refresh(self, data: Dataset, *, every_seconds: float = 0.5) -> bool:
        """Load and serve the model published on disk if it changed since this process loaded one.

        Checked at most every `every_seconds` (a stat call); return whether the served model changed.
        A model that fails its checks is logged and skipped: the previous one stays served.
        """
        now = time.monotonic()
        if now - self._checked_at < every_seconds:
            return False
        self._checked_at = now
        signature = self._signature()
        if signature is None or signature == self._loaded_signature:
            return False
        try:
            model, metadata = load_cached_model(self.model_dir)
            if metadata.get("data_fingerprint") != data.fingerprint():
                raise OtherDataError("the published model was trained on other data")
        except ModelLoadError as error:
            log.warning("not switching to the published model: %s", error)
            self._loaded_signature = signature
            return False
        self._loaded_signature = signature
        self.switch_to(model, metadata)
        return True

    def switch_to(self, model: keras.Model, metadata: dict[str, Any]) -> ServedModel:
        """Serve this model from now on; requests already running finish on the old one."""
        from dashboard.tensors import TensorExtractor

        served = ServedModel(model, metadata, TensorExtractor(model))
        with self._lock:
            self._served = served
        log.info("serving model %s (test accuracy %.4f)", served.version,
                 float(metadata.get("test_accuracy", float("nan"))))
        return served

    def load_or_train(
        self, data: Dataset, *, epochs: int, batch_size: int = 128, retrain: bool = False,
        train_limit: int | None = None, seed: int = 0,
    ) -> ServedModel:
        """Serve the cached model, or train, save and serve a new one when asked or when the cache is bad.

        Several processes (gunicorn workers) may start at once on one model folder: a file lock lets
        exactly one of them train while the others wait, then load what it saved.
        """
        from filelock import FileLock

        self.model_dir.mkdir(parents=True, exist_ok=True)
        asked_at = time.time()
        with FileLock(str(self.model_dir / LOCK_FILE)):
            model_path = self.model_dir / MODEL_FILE
            if retrain and model_path.exists() and model_path.stat().st_mtime >= asked_at:
                log.info("another process retrained the model while this one waited: loading it")
                retrain = False
            return self._load_or_train_locked(data, epochs=epochs, batch_size=batch_size, retrain=retrain,
                                              train_limit=train_limit, seed=seed)

    def load_cached(self, data: Dataset) -> ServedModel | None:
        """Serve the cached model if it passes its checks; move a bad one aside and return None."""
        started = time.perf_counter()
        import keras  # noqa: F401 - the first TensorFlow import (~3-5 s) is logged on its own.

        log.info("TensorFlow and Keras imported in %.1f s", time.perf_counter() - started)
        try:
            started = time.perf_counter()
            signature = self._signature()
            model, metadata = load_cached_model(self.model_dir)
            self._loaded_signature = signature
            if metadata.get("data_fingerprint") != data.fingerprint():
                # Its test accuracy and mistakes would be reported on digits it may have trained on.
                raise OtherDataError(f"the cached model was trained on other data ({metadata.get('data_source')})")
            log.info("loaded cached model from %s in %.2f s", self.model_dir, time.perf_counter() - started)
            return self.switch_to(model, metadata)
        except ModelLoadError as error:
            if (self.model_dir / MODEL_FILE).exists() or (self.model_dir / METADATA_FILE).exists():
                _move_aside(self.model_dir, str(error),
                            "other-data" if isinstance(error, OtherDataError) else "corrupt")
            else:
                log.info("no cached model in %s", self.model_dir)
            return None

    def _load_or_train_locked(
        self, data: Dataset, *, epochs: int, batch_size: int, retrain: bool, train_limit: int | None, seed: int,
    ) -> ServedModel:
        if not retrain:
            served = self.load_cached(data)
            if served is not None:
                return served
        model, summary = train_seed_model(
            data, epochs=epochs, batch_size=batch_size, train_limit=train_limit, seed=seed
        )
        metadata = save_model(model, summary, self.model_dir)
        self._loaded_signature = self._signature()
        return self.switch_to(model, metadata)
