"""One training run, in its own fresh process: checkpoints, history and progress written as it goes.

    python -m dashboard.training --model-dir DIR --run RUN_ID [--data PATH] [--offline] [--seed N] [--serve]

TensorFlow is not fork-safe (a training forked from a web worker that had run TensorFlow hung for
minutes here), so the web side never trains in its own process or a fork of it: ``launch`` starts
this module with a fresh interpreter, from a Dash background job or a Celery worker.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dashboard import runs, storage
from dashboard.data import Dataset
from dashboard.tensors import by_layer, weight_variables

if TYPE_CHECKING:
    import keras

    from dashboard.config import Settings

log = logging.getLogger(__name__)

# Checkpoints within the first epoch, as fractions of it: most of the change happens there.
FIRST_EPOCH_FRACTIONS = (0.125, 0.25, 0.5)
# Each checkpoint costs about as much as training on both probes once, so they are kept small: with the
# offline sample's 32 steps an epoch, recording stays under ~15 % of the training time (benchmarks/TRAINING.md).
PROBE_TRAIN_DIGITS = 128    # the fixed batch whose loss gradient each checkpoint records
PROBE_TEST_DIGITS = 500     # the fixed test digits each checkpoint is scored on (the final score uses all)
PROGRESS_EVERY_SECONDS = 0.25
EXIT_CANCELLED = 3


class Cancelled(RuntimeError):
    """Raised when a run was asked to stop, or lost the process that started it."""


class Diverged(RuntimeError):
    """Raised when the training loss stops being a finite number."""


def _norm(named: dict[str, np.ndarray]) -> float:
    return float(np.sqrt(sum(float(np.sum(np.square(v, dtype=np.float64))) for v in named.values())))


class RunRecorder:
    """Keras callback that writes checkpoints, history and progress for one run.

    A checkpoint holds the weights and the mean cross-entropy gradient on a fixed batch of training
    digits, so gradient norms and histograms compare like with like across the run.
    """

    def __init__(self, store: runs.RunStore, run_id: str, *, probe: tuple[np.ndarray, np.ndarray],
                 test: tuple[np.ndarray, np.ndarray], epochs: int, should_stop: Callable[[], bool]) -> None:
        import keras
        import tensorflow as tf

        self.store, self.run_id, self.epochs = store, run_id, epochs
        self.folder = store.folder(run_id)
        self.snapshots: list[dict[str, Any]] = []
        self.should_stop = should_stop
        self.cancelled = False
        self._probe = (tf.constant(probe[0], tf.float32), tf.constant(probe[1], tf.int32))
        self._test = test
        self._last_progress = 0.0
        self._train_logs: dict[str, float | None] = {}  # None: a NaN or infinite value
        self._model: keras.Model | None = None

        class _Callback(keras.callbacks.Callback):
            def on_train_begin(inner, logs=None):  # noqa: N805 - the outer recorder is `self`.
                self._begin(inner.model, inner.params)

            def on_epoch_begin(inner, epoch, logs=None):  # noqa: N805
                self._epoch = epoch

            def on_train_batch_end(inner, batch, logs=None):  # noqa: N805
                self._batch_end(batch, logs or {})

            def on_epoch_end(inner, epoch, logs=None):  # noqa: N805
                # Keras still ends the epoch after a stop request: those weights are not an epoch's.
                if not self.cancelled:
                    self._snapshot(step=(epoch + 1) * self._steps, logs=logs or {})

        self.callback = _Callback()

    def _begin(self, model: keras.Model, params: dict) -> None:
        import keras
        import tensorflow as tf

        self._model = model
        self._steps = int(params.get("steps") or 1)
        self._epoch = 0
        self._within_first = sorted({max(1, round(f * self._steps)) for f in FIRST_EPOCH_FRACTIONS} - {self._steps})
        variables = weight_variables(model)
        self._keys = [(layer_name, weight_name) for layer_name, weight_name, _ in variables]
        trainable = [variable for _, _, variable in variables]

        # Compiled: over a run's seven snapshots, tracing once and running graphs measured 15-25 % faster
        # than running these eagerly.
        @tf.function(reduce_retracing=True)
        def probe_gradients(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model(x, training=False)))
            return tape.gradient(loss, trainable)

        @tf.function(reduce_retracing=True)
        def scores(x, y):
            probabilities = model(x, training=False)
            losses = keras.losses.sparse_categorical_crossentropy(y, probabilities)
            hits = tf.cast(tf.equal(tf.argmax(probabilities, axis=1, output_type=tf.int32), y), tf.float32)
            return tf.reduce_sum(losses), tf.reduce_sum(hits)

        self._probe_gradients, self._scores, self._trainable = probe_gradients, scores, trainable
        self._snapshot(step=0, logs={})

    def test_scores(self) -> tuple[float, float]:
        """Return (mean loss, accuracy) of the current weights on the probe test digits."""
        import tensorflow as tf

        images, labels = self._test
        total_loss = total_hits = 0.0
        for start in range(0, len(images), 1000):
            loss, hits = self._scores(tf.constant(images[start:start + 1000], tf.float32),
                                      tf.constant(labels[start:start + 1000], tf.int32))
            total_loss, total_hits = total_loss + float(loss), total_hits + float(hits)
        return total_loss / len(images), total_hits / len(images)

    def _batch_end(self, batch: int, logs: dict) -> None:
        self._train_logs = {key: _finite(value) for key, value in logs.items()}
        if self._train_logs.get("loss", 0.0) is None:
            raise Diverged(f"the loss became NaN or infinite at step {self._epoch * self._steps + batch + 1}; "
                           "try a smaller learning rate")
        step = self._epoch * self._steps + batch + 1
        if self._epoch == 0 and (batch + 1) in self._within_first:
            self._snapshot(step=step, logs=logs)
        now = time.time()
        if now - self._last_progress >= PROGRESS_EVERY_SECONDS:
            self._last_progress = now
            self.write_progress(step)
            if self.should_stop():
                if self._model is None:  # on_train_begin sets it before the first batch ends
                    raise RuntimeError("a training batch ended before the training began")
                self.cancelled = True
                self._model.stop_training = True

    def write_progress(self, step: int, **extra: Any) -> None:
        """Rewrite progress.json: where the training is, and its latest losses."""
        total = self._steps * self.epochs
        last = self.snapshots[-1] if self.snapshots else {}
        storage.write_json(self.folder / runs.PROGRESS_FILE, {
            "step": step, "steps": total, "fraction": min(1.0, step / total), "epoch": step / self._steps,
            "epochs": self.epochs, "snapshots": len(self.snapshots), "train_loss": self._train_logs.get("loss"),
            "train_accuracy": self._train_logs.get("accuracy"), "test_loss": last.get("test_loss"),
            "test_accuracy": last.get("test_accuracy"), "updated": time.time(), **extra,
        })

    def _snapshot(self, *, step: int, logs: dict) -> None:
        weights = by_layer(self._keys, [variable.numpy() for variable in self._trainable])
        gradients = by_layer(self._keys, [gradient.numpy() for gradient in self._probe_gradients(*self._probe)])
        runs.save_checkpoint(self.folder / runs.CHECKPOINT_FOLDER / runs.checkpoint_name(step), step=step,
                             epoch=step / self._steps, weights=weights, gradients=gradients)
        test_loss, test_accuracy = self.test_scores()
        layers = {
            layer: {"weight_norm": _finite(_norm(weights[layer])), "gradient_norm": _finite(_norm(gradients[layer])),
                    "weight_histogram": runs.histogram(np.concatenate([v.ravel() for v in weights[layer].values()])),
                    "gradient_histogram": runs.histogram(
                        np.concatenate([v.ravel() for v in gradients[layer].values()]))}
            for layer in weights
        }
        self.snapshots.append({
            "step": step, "epoch": step / self._steps, "checkpoint": runs.checkpoint_name(step),
            "train_loss": _finite(logs.get("loss")), "train_accuracy": _finite(logs.get("accuracy")),
            "test_loss": _finite(test_loss), "test_accuracy": test_accuracy, "layers": layers, "time": time.time(),
        })
        storage.write_json(self.folder / runs.HISTORY_FILE, {"run": self.run_id, "snapshots": self.snapshots})
        self.write_progress(step)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def train_run(store: runs.RunStore, run_id: str, data: Dataset, *, should_stop: Callable[[], bool] | None = None,
              ) -> dict[str, Any]:
    """Train the run's model with its options, recording as it goes; return the saved model's metadata.

    Raises Cancelled when the run was asked to stop; the caller marks the run's status.
    """
    from dashboard.model_service import build_seed_model, save_model

    record = store.record(run_id)
    options = runs.TrainingOptions.from_dict(record["options"])
    x_train, y_train = data.training_subset(options.train_size, options.seed)
    probe_pick = np.random.default_rng(options.seed + 1).permutation(len(x_train))[:PROBE_TRAIN_DIGITS]
    test_count = min(PROBE_TEST_DIGITS, len(data.x_test))
    stop = should_stop or (lambda: store.cancel_requested(run_id))
    model = build_seed_model(options.seed, activation=options.activation, learning_rate=options.learning_rate,
                             input_shape=data.image_shape, classes=data.classes)
    recorder = RunRecorder(store, run_id, probe=(x_train[probe_pick], y_train[probe_pick]),
                           test=(data.x_test[:test_count], data.y_test[:test_count]),
                           epochs=options.epochs, should_stop=stop)
    if stop():  # cancelled while the process started (TensorFlow's import, the data): no step at all
        raise Cancelled(f"run {run_id} was cancelled before its first step")
    log.info("run %s: training on %d digits (%s)", run_id, len(x_train), options.describe())
    started = time.perf_counter()
    model.fit(x_train, y_train, epochs=options.epochs, batch_size=options.batch_size, verbose=0,
              shuffle=True, callbacks=[recorder.callback])
    seconds = time.perf_counter() - started
    if recorder.cancelled:
        raise Cancelled(f"run {run_id} was cancelled")
    test_loss, test_accuracy = model.evaluate(data.x_test, data.y_test, batch_size=500, verbose=0)
    summary = {
        "run": run_id, "epochs": options.epochs, "batch_size": options.batch_size,
        "learning_rate": options.learning_rate, "activation": options.activation,
        "train_digits": int(len(x_train)), "test_digits": int(len(data.x_test)),
        "data_source": data.source, "data_fingerprint": data.fingerprint(),
        "test_loss": float(test_loss), "test_accuracy": float(test_accuracy),
        "train_seconds": round(seconds, 2), "seed": options.seed,
        "history": {"test_accuracy": [s["test_accuracy"] for s in recorder.snapshots]},
    }
    metadata = save_model(model, summary, store.folder(run_id))
    recorder.write_progress(options.epochs * recorder._steps, test_loss=float(test_loss),
                            test_accuracy=float(test_accuracy))
    log.info("run %s: trained in %.1f s, test accuracy %.4f", run_id, seconds, test_accuracy)
    return metadata


def run_in_this_process(model_dir: Path, run_id: str, data: Dataset, *, serve: bool, detached: bool = False) -> int:
    """Train one run and record its outcome; publish it as the served model when asked. Return an exit code.

    Unless detached, the run stops when the process that started it goes away (a cancelled Dash or
    Celery job); a start-up run is detached, so a recycled web worker does not strand it.
    """
    from dashboard.model_service import ModelService

    store = runs.RunStore(model_dir)
    parent = os.getppid()
    store.transition(run_id, runs.RUNNING, started=time.time(), data_source=data.source,
                     data_fingerprint=data.fingerprint(), **runs.process_identity(os.getpid()))

    def should_stop() -> bool:
        return store.cancel_requested(run_id) or (not detached and os.getppid() != parent)

    try:
        metadata = train_run(store, run_id, data, should_stop=should_stop)
        store.transition(run_id, runs.FINISHED, finished=time.time(), test_accuracy=metadata["test_accuracy"],
                         test_loss=metadata["test_loss"], train_seconds=metadata["train_seconds"])
        if serve:
            ModelService(model_dir).publish(run_id)
    except Cancelled:
        store.transition(run_id, runs.CANCELLED, finished=time.time())
        log.info("run %s cancelled", run_id)
        return EXIT_CANCELLED
    except Exception as error:  # noqa: BLE001 - any failure is recorded on the run, and logged with its traceback.
        store.transition(run_id, runs.FAILED, finished=time.time(), error=f"{type(error).__name__}: {error}")
        log.exception("run %s failed", run_id)
        return 1
    return 0


RUNS_LOCK = ".runs.lock"


def start_run(settings: Settings, options: runs.TrainingOptions, *, serve: bool = True, detached: bool = False,
              request: str | None = None) -> tuple[str, subprocess.Popen]:
    """Create a run and start its training process; raise RunError while another run is training, or if the
    page that drew the `request` token (its Start click) has already pressed Cancel.

    One run at a time: on a small machine two trainings only slow each other and the page down. The
    check and the creation happen under a file lock, so two users clicking at once start one run, and a
    Cancel (cancel_request, under the same lock) either comes before the run exists or finds it.
    """
    from filelock import FileLock

    store = runs.RunStore(settings.model_dir)
    settings.model_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.model_dir / RUNS_LOCK)):
        if request is not None and store.request_cancelled(request):
            raise runs.RunError("cancelled before the training started")
        busy = store.active()
        if busy:
            raise runs.RunError(f"run {busy[0]['id']} is still training; wait for it or cancel it")
        run_id = store.create(options, request=request)
        try:
            return run_id, launch(settings, run_id, serve=serve, detached=detached)
        except OSError as error:
            store.transition(run_id, runs.FAILED, finished=time.time(), error=f"could not start training: {error}")
            raise runs.RunError(f"could not start the training process: {error}") from None


def cancel_request(settings: Settings, token: str) -> str | None:
    """Cancel the run a page's Start request launched, or will launch; return its id if it exists yet."""
    from filelock import FileLock

    settings.model_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.model_dir / RUNS_LOCK)):
        return runs.RunStore(settings.model_dir).cancel_request(token)


def launch(settings: Settings, run_id: str, *, serve: bool = True, detached: bool = False) -> subprocess.Popen:
    """Start training a run in a fresh Python process (never a fork of this one); return the process."""
    command = [sys.executable, "-m", "dashboard.training", "--model-dir", str(settings.model_dir), "--run", run_id,
               "--seed", str(settings.seed)]
    if settings.data is not None:
        command += ["--data", str(settings.data)]
    if settings.offline:
        command.append("--offline")
    if serve:
        command.append("--serve")
    if detached:
        command.append("--detached")
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    project = str(Path(__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [project, environment.get("PYTHONPATH")]))
    store = runs.RunStore(settings.model_dir)
    with open(store.folder(run_id) / "training.log", "ab") as log_file:
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=environment, cwd=project)
    # Recorded at once, so a process killed before it wrote a word is still seen to be gone.
    store.update(run_id, **runs.process_identity(process.pid))
    return process


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry of the training process."""
    parser = argparse.ArgumentParser(prog="python -m dashboard.training", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--run", required=True)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--serve", action="store_true", help="serve the model when the run finishes")
    parser.add_argument("--detached", action="store_true", help="keep training if the starting process ends")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Interactive requests on the same machine come first: training takes what the web leaves.
    os.nice(10)
    from dashboard.data import DataError, load_data

    store = runs.RunStore(args.model_dir)
    # Running from the start (TensorFlow's import and the data take seconds): the heartbeat counts from here.
    store.transition(args.run, runs.RUNNING, started=time.time(), **runs.process_identity(os.getpid()))
    try:
        data = load_data(args.data, offline=args.offline, seed=args.seed)
    except DataError as error:
        store.transition(args.run, runs.FAILED, finished=time.time(), error=str(error))
        log.error("run %s: %s", args.run, error)
        return 1
    return run_in_this_process(args.model_dir, args.run, data, serve=args.serve, detached=args.detached)


if __name__ == "__main__":
    sys.exit(main())
