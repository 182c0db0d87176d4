"""Training runs on disk: one folder per run with its settings, status, progress, history and checkpoints.

A run folder is written by exactly one training process and read by any number of web workers:

    runs/<id>/run.json          settings, status, timings, final test accuracy (atomic rewrites)
    runs/<id>/progress.json     where the training is now (rewritten a few times a second)
    runs/<id>/history.json      one entry per checkpoint: losses, accuracies, per-layer norms, histograms
    runs/<id>/checkpoints/*.npz weights, and the loss gradient on a fixed probe batch, at that point
    runs/<id>/model.keras       the final model, with model.json beside it, once the run finished
    runs/<id>/cancel            exists once someone asked the run to stop
    runs/.requests/<token>      the run a page's Start created (its id), and <token>.cancel once that page's
                                Cancel was pressed, even before the run existed

Nothing here imports TensorFlow: the web side lists, reads and deletes runs without it.
"""

from __future__ import annotations

import builtins
import dataclasses
import logging
import math
import re
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from dashboard import storage

log = logging.getLogger(__name__)

RUNS_FOLDER = "runs"
RUN_FILE = "run.json"
RUN_LOCK = ".run.lock"
PROGRESS_FILE = "progress.json"
HISTORY_FILE = "history.json"
CHECKPOINT_FOLDER = "checkpoints"
CANCEL_FILE = "cancel"

ACTIVATIONS = ("relu", "sigmoid", "tanh")
QUEUED, RUNNING, FINISHED, FAILED, CANCELLED = "queued", "running", "finished", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
TERMINAL = (FINISHED, FAILED, CANCELLED)
# A running training rewrites its progress at least every few seconds; silence this long means it died
# somewhere this process cannot see (a Celery worker on another machine, say). A queued run whose
# process was never even started is given as long.
HEARTBEAT_TIMEOUT_SECONDS = 120.0
# What a run may be asked for: the form, the callback's validation and TrainingOptions all use these.
MAX_EPOCHS = 50
MAX_BATCH_SIZE = 4096
LEARNING_RATES = (1e-6, 1.0)
MIN_TRAIN_SIZE = 10
_RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")
REQUESTS_FOLDER = ".requests"
_REQUEST_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def check_request_token(token: Any) -> str:
    """Return a Start request's token (32 hex digits, drawn by the browser); raise RunError otherwise."""
    if not isinstance(token, str) or not _REQUEST_TOKEN.match(token):
        raise RunError(f"{str(token)[:40]!r} is not a training request")
    return token


class RunError(ValueError):
    """Raised for a request about runs that cannot be honoured; the message says why."""


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """What a user can choose for a training run; every field is checked."""

    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 1e-3
    train_size: int | None = None  # None: every training digit
    activation: str = "relu"       # of the hidden layers (both convs and the hidden dense layer)
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or not 1 <= self.epochs <= MAX_EPOCHS:
            raise RunError(f"epochs must be a whole number from 1 to {MAX_EPOCHS}, got {self.epochs!r}")
        if not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= MAX_BATCH_SIZE:
            raise RunError(f"batch size must be a whole number from 1 to {MAX_BATCH_SIZE}, got {self.batch_size!r}")
        if (not isinstance(self.learning_rate, (int, float)) or not math.isfinite(self.learning_rate)
                or not LEARNING_RATES[0] <= self.learning_rate <= LEARNING_RATES[1]):
            raise RunError(f"learning rate must be between {LEARNING_RATES[0]:g} and {LEARNING_RATES[1]:g}, "
                           f"got {self.learning_rate!r}")
        if self.train_size is not None and (not isinstance(self.train_size, int) or self.train_size < MIN_TRAIN_SIZE):
            raise RunError(f"training-set size must be at least 10 digits, got {self.train_size!r}")
        if self.activation not in ACTIVATIONS:
            raise RunError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {self.activation!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**31:
            raise RunError(f"seed must be a whole number from 0 to 2^31 - 1, got {self.seed!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the options as a JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingOptions:
        """Return options from a dict (unknown keys are refused)."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise RunError(f"unknown training options: {', '.join(sorted(unknown))}")
        return cls(**values)

    def describe(self) -> str:
        """Return the options in a few words, for run lists and legends."""
        size = "all digits" if self.train_size is None else f"{self.train_size:,} digits"
        return (f"{self.activation}, {self.epochs} epoch(s), batch {self.batch_size}, "
                f"lr {self.learning_rate:g}, {size}")


def describe_options(record: dict[str, Any]) -> str:
    """Return a run record's options in a few words (or say they are unreadable)."""
    try:
        return TrainingOptions.from_dict(record.get("options", {})).describe()
    except (RunError, TypeError):
        return "unknown settings"


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """The network at one point of a run: its weights and the loss gradient on the probe batch."""

    run_id: str
    step: int
    epoch: float
    weights: dict[str, dict[str, np.ndarray]]
    gradients: dict[str, dict[str, np.ndarray]]

    @property
    def key(self) -> str:
        """Return a short id, unique within the run folder tree."""
        return f"{self.run_id}@{self.step}"


def checkpoint_name(step: int) -> str:
    """Return the file name of the checkpoint taken after `step` training steps."""
    return f"step-{step:07d}.npz"


def save_checkpoint(path: Path, *, step: int, epoch: float, weights: dict[str, dict[str, np.ndarray]],
                    gradients: dict[str, dict[str, np.ndarray]]) -> None:
    """Write one checkpoint atomically as an .npz of float32 arrays."""
    # Any: the values are arrays and NumPy scalars, and mypy would match a narrower type against savez's
    # allow_pickle flag when the dict is unpacked into its keywords.
    arrays: dict[str, Any] = {"step": np.int64(step), "epoch": np.float64(epoch)}
    for prefix, by_layer in (("weight", weights), ("gradient", gradients)):
        for layer, named in by_layer.items():
            for name, value in named.items():
                arrays[f"{prefix}/{layer}/{name}"] = np.asarray(value, np.float32)
    storage.atomic_write(path, lambda temp: np.savez(temp, **arrays), suffix=".npz")


def load_checkpoint(path: Path, run_id: str) -> Checkpoint:
    """Read a checkpoint written by save_checkpoint; raise RunError when it is unreadable."""
    try:
        with np.load(path) as archive:
            weights: dict[str, dict[str, np.ndarray]] = {}
            gradients: dict[str, dict[str, np.ndarray]] = {}
            for key in archive.files:
                if "/" not in key:
                    continue
                prefix, layer, name = key.split("/", 2)
                (weights if prefix == "weight" else gradients).setdefault(layer, {})[name] = archive[key]
            return Checkpoint(run_id, int(archive["step"]), float(archive["epoch"]), weights, gradients)
    except (OSError, ValueError, KeyError) as error:
        raise RunError(f"checkpoint {path.name} of run {run_id} is unreadable ({error})") from None


def histogram(values: np.ndarray, bins: int = 32) -> dict[str, list[float]]:
    """Return {"edges", "counts"} of the values over their own range (one bin when they are all equal)."""
    flat = np.asarray(values, np.float64).ravel()
    flat = flat[np.isfinite(flat)]  # a diverged run's NaNs are not values to count
    low, high = (float(flat.min()), float(flat.max())) if flat.size else (0.0, 0.0)
    if high <= low:
        high = low + 1e-12
        bins = 1
    counts, edges = np.histogram(flat, bins=bins, range=(low, high))
    return {"edges": edges.tolist(), "counts": counts.astype(int).tolist()}


def process_identity(pid: int) -> dict[str, Any]:
    """Return what identifies a process on this machine: pid, host, and start time (pids get recycled)."""
    import psutil

    return {"pid": pid, "host": socket.gethostname(), "pid_started": psutil.Process(pid).create_time()}


def _process_alive(pid: int, started: Any) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        # A recycled pid belongs to a process that started later: then the training is gone.
        return process.status() != psutil.STATUS_ZOMBIE and (
            not isinstance(started, float) or abs(process.create_time() - started) < 1e-3)
    except psutil.NoSuchProcess:
        return False


class RunStore:
    """Creates, lists, reads and deletes the runs under one folder."""

    def __init__(self, model_dir: Path) -> None:
        self.root = Path(model_dir) / RUNS_FOLDER
        # (status, checkpoint count) per run, keyed by the mtimes of its record and progress files: the
        # page polls the runs' state every few seconds, and most polls change nothing.
        self._states: dict[str, tuple[tuple[int, ...], tuple[str, int]]] = {}

    def folder(self, run_id: Any) -> Path:
        """Return the folder of a run; raise RunError for an id that is not a run id."""
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise RunError(f"{run_id!r} is not a run id")
        return self.root / run_id

    def create(self, options: TrainingOptions, *, request: str | None = None) -> str:
        """Make a new run folder in the queued state; return its id. `request` (a page's Start token)
        is recorded, so that the page's Cancel finds this run."""
        self.root.mkdir(parents=True, exist_ok=True)
        while True:
            run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
            try:
                (self.root / run_id).mkdir()
                break
            except FileExistsError:
                continue
        (self.root / run_id / CHECKPOINT_FOLDER).mkdir()
        record = {"id": run_id, "status": QUEUED, "options": options.to_dict(), "created": time.time()}
        if request is not None:
            record["request"] = check_request_token(request)
            (self.root / REQUESTS_FOLDER).mkdir(exist_ok=True)
            storage.atomic_write(self.root / REQUESTS_FOLDER / request, lambda temp: temp.write_text(run_id))
        storage.write_json(self.root / run_id / RUN_FILE, record)
        return run_id

    def record(self, run_id: str) -> dict[str, Any]:
        """Return a run's record, first marking it failed or cancelled if its training died unseen."""
        folder = self.folder(run_id)
        record = storage.read_json(folder / RUN_FILE)
        if not isinstance(record, dict):
            raise RunError(f"there is no run {run_id}")
        if record.get("status") in ACTIVE and self._died(folder, record):
            cancelled = (folder / CANCEL_FILE).exists()
            error = None if cancelled else (
                "the training process ended before finishing (killed, or out of memory)" if "pid" in record
                else "the training process never started")
            record = self.transition(run_id, CANCELLED if cancelled else FAILED, finished=time.time(), error=error)
            if record.get("status") in (FAILED, CANCELLED):
                log.warning("run %s: its training process is gone; marked %s", run_id, record["status"])
        return record

    def _died(self, folder: Path, record: dict[str, Any]) -> bool:
        pid, host = record.get("pid"), record.get("host")
        if isinstance(pid, int) and host == socket.gethostname():
            return not _process_alive(pid, record.get("pid_started"))
        progress = storage.read_json(folder / PROGRESS_FILE, {}) or {}
        last = max(float(progress.get("updated", 0) or 0), float(record.get("started", 0) or 0),
                   float(record.get("created", 0) or 0))
        return time.time() - last > HEARTBEAT_TIMEOUT_SECONDS

    def update(self, run_id: str, **fields: Any) -> dict[str, Any]:
        """Merge fields into a run's record, under the run's file lock (several processes write it)."""
        from filelock import FileLock

        folder = self.folder(run_id)
        with FileLock(str(folder / RUN_LOCK)):
            record = storage.read_json(folder / RUN_FILE, {}) or {}
            record.update(fields)
            storage.write_json(folder / RUN_FILE, record)
            return record

    def transition(self, run_id: str, status: str, **fields: Any) -> dict[str, Any]:
        """Move a queued or running run to `status` (with fields); a finished, failed or cancelled run stays so.

        Return the record as it is afterwards: whoever comes second (the training process or a reaper)
        sees the first one's verdict instead of overwriting it.
        """
        from filelock import FileLock

        folder = self.folder(run_id)
        with FileLock(str(folder / RUN_LOCK)):
            record = storage.read_json(folder / RUN_FILE, {}) or {}
            if record.get("status") in TERMINAL:
                return record
            record.update(fields, status=status)
            storage.write_json(folder / RUN_FILE, record)
            return record

    # Below this method, `list` in the class body means RunStore.list: annotations there say builtins.list.
    def list(self) -> list[dict[str, Any]]:
        """Return every run's record, newest first (folders without a readable record are skipped)."""
        if not self.root.is_dir():
            return []
        records = []
        for folder in sorted(self.root.iterdir(), reverse=True):
            if folder.is_dir() and _RUN_ID.match(folder.name):
                try:
                    records.append(self.record(folder.name))
                except RunError:
                    continue
        return records

    def active(self) -> builtins.list[dict[str, Any]]:
        """Return the runs that are queued or training now."""
        return [record for record in self.list() if record.get("status") in ACTIVE]

    def progress(self, run_id: str) -> dict[str, Any] | None:
        """Return where a run's training is now, or None before it started."""
        return storage.read_json(self.folder(run_id) / PROGRESS_FILE)

    def history(self, run_id: str) -> builtins.list[dict[str, Any]]:
        """Return a run's snapshots (one per checkpoint), oldest first."""
        history = storage.read_json(self.folder(run_id) / HISTORY_FILE, {}) or {}
        snapshots = history.get("snapshots", [])
        return snapshots if isinstance(snapshots, list) else []

    def checkpoint_path(self, run_id: str, step: int) -> Path:
        """Return the path of a run's checkpoint after `step` steps."""
        return self.folder(run_id) / CHECKPOINT_FOLDER / checkpoint_name(step)

    def checkpoint(self, run_id: str, step: int) -> Checkpoint:
        """Return a run's checkpoint; raise RunError if there is no such checkpoint."""
        path = self.checkpoint_path(run_id, step)
        if not path.exists():
            raise RunError(f"run {run_id} has no checkpoint at step {step}")
        return load_checkpoint(path, run_id)

    def request_cancel(self, run_id: str) -> None:
        """Ask a run's training to stop at its next step."""
        folder = self.folder(run_id)
        if folder.is_dir():
            (folder / CANCEL_FILE).touch()

    def cancel_requested(self, run_id: str) -> bool:
        """Return whether someone asked this run to stop."""
        return (self.folder(run_id) / CANCEL_FILE).exists()

    def cancel_request(self, token: str) -> str | None:
        """Cancel what a page's Start request launched, whether or not its run exists yet: mark the request
        cancelled (a run not yet created for it will not start) and ask its run, if any, to stop. Return the
        run's id, or None. The caller holds the lock under which runs are created (training.start_run)."""
        token = check_request_token(token)
        folder = self.root / REQUESTS_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{token}.cancel").touch()
        run_id = self.run_of_request(token)
        if run_id is not None:
            self.request_cancel(run_id)
        return run_id

    def request_cancelled(self, token: str) -> bool:
        """Return whether the page that drew this Start token has pressed Cancel."""
        return (self.root / REQUESTS_FOLDER / f"{check_request_token(token)}.cancel").exists()

    def run_of_request(self, token: str) -> str | None:
        """Return the id of the run a Start request created, or None if it has not created one (yet)."""
        path = self.root / REQUESTS_FOLDER / check_request_token(token)
        try:
            run_id = path.read_text().strip()
        except FileNotFoundError:
            return None
        return run_id if _RUN_ID.match(run_id) else None

    def states(self) -> builtins.list[tuple[str, str, int]]:
        """Return (id, status, checkpoints) for every run, newest first, cheaply enough to poll.

        A run whose record and progress files have not changed since the last call is not read again;
        a queued or running one always is, so that a training that died unseen is marked so.
        """
        if not self.root.is_dir():
            return []
        states = []
        for folder in sorted(self.root.iterdir(), reverse=True):
            run_id = folder.name
            if not _RUN_ID.match(run_id):
                continue
            try:
                stamps = tuple((folder / name).stat().st_mtime_ns if (folder / name).exists() else 0
                               for name in (RUN_FILE, PROGRESS_FILE))
            except OSError:  # deleted meanwhile
                continue
            known = self._states.get(run_id)
            if known is None or known[0] != stamps or known[1][0] in ACTIVE:
                try:
                    status = str(self.record(run_id).get("status"))
                except RunError:
                    continue
                count = (self.progress(run_id) or {}).get("snapshots")
                known = (stamps, (status, count if isinstance(count, int) else len(self.history(run_id))))
                self._states[run_id] = known
            states.append((run_id, *known[1]))
        return states

    def delete(self, run_id: str, *, served_runs: set[str | None]) -> None:
        """Delete a run's folder; refuse for a run still training or one being served or published."""
        record = self.record(run_id)
        if record.get("status") in ACTIVE:
            raise RunError(f"run {run_id} is still {record['status']}; cancel it first")
        if run_id in served_runs:
            raise RunError(f"run {run_id} is the model being served; serve another run before deleting it")
        shutil.rmtree(self.folder(run_id))
        log.info("deleted run %s", run_id)
