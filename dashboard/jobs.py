"""Long computations whose result is one file: run once across threads and web workers, with their progress.

A job is named by the file it writes. The first caller starts it in a thread; a file lock beside the result
makes sure one process computes it while the others read its progress from a small JSON file and, once the
result exists, read the result. Nothing here knows TensorFlow or Dash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from dashboard import storage

log = logging.getLogger(__name__)

# The progress file is rewritten at most this often: a pass of hundreds of batches must not write hundreds of files.
PROGRESS_INTERVAL = 0.2

Report = Callable[[float, str], None]  # (share done in [0, 1], what is being done)
Compute = Callable[[Report], None]  # writes the job's result file


class JobFailed(RuntimeError):
    """A job ended without its result; the message says why, in words for the page."""


def progress_path(result: Path) -> Path:
    """Return where a job's progress is written."""
    return result.with_name(result.name + ".progress.json")


def _lock_path(result: Path) -> Path:
    return result.with_name(result.name + ".lock")


class Jobs:
    """Starts jobs in threads of this process and reports on jobs of any process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._threads: dict[Path, threading.Thread] = {}
        self._failures: dict[Path, str] = {}

    def ensure(self, result: Path, compute: Compute, *, name: str = "job") -> tuple[float, str] | None:
        """Return None when the result file exists; otherwise make sure the job runs (here, or already in
        another process) and return its progress: (share done, what it is doing). Raise JobFailed when it
        failed in this process (its message)."""
        if result.is_file():
            return None
        with self._lock:
            failure = self._failures.get(result)
            if failure is not None:
                raise JobFailed(failure)
            thread = self._threads.get(result)
            if thread is None or not thread.is_alive():
                thread = threading.Thread(target=self._run, args=(result, compute, name), name=f"{name}-{result.stem}",
                                          daemon=True)
                self._threads[result] = thread
                thread.start()
        return self.progress(result)

    def wait(self, result: Path, seconds: float) -> bool:
        """Wait up to `seconds` for a job of this process to end; return whether its result exists."""
        with self._lock:
            thread = self._threads.get(result)
        if thread is not None:
            thread.join(max(0.0, seconds))
        return result.is_file()

    def forget_failure(self, result: Path) -> None:
        """Let a failed job be tried again."""
        with self._lock:
            self._failures.pop(result, None)

    @staticmethod
    def progress(result: Path) -> tuple[float, str]:
        """Return a running job's (share done, what it is doing) as its progress file says; (0, "starting")
        before the first report."""
        report = storage.read_json(progress_path(result), {})
        done = report.get("done") if isinstance(report, dict) else None
        what = report.get("doing") if isinstance(report, dict) else None
        return (float(done) if isinstance(done, (int, float)) else 0.0,
                str(what) if isinstance(what, str) else "starting")

    def _run(self, result: Path, compute: Compute, name: str) -> None:
        from filelock import FileLock, Timeout

        result.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(_lock_path(result)))
        try:
            lock.acquire(timeout=0)
        except Timeout:  # another process computes it: the page reads that job's progress file meanwhile
            return
        try:
            if result.is_file():  # it finished while this thread started
                return
            started = time.perf_counter()
            compute(_Reporter(progress_path(result)))
            if not result.is_file():
                raise JobFailed(f"the {name} ended without writing its result")
            log.info("%s %s done in %.2f s", name, result.name, time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001 - any failure becomes the page's message and a logged traceback
            log.exception("%s %s failed", name, result.name)
            with self._lock:
                self._failures[result] = str(error) if isinstance(error, JobFailed) else f"the {name} failed ({error})"
        finally:
            progress_path(result).unlink(missing_ok=True)
            lock.release()


class _Reporter:
    """Writes a job's progress file, at most every PROGRESS_INTERVAL seconds (and always at the start and end)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._written = 0.0

    def __call__(self, done: float, doing: str) -> None:
        now = time.monotonic()
        if now - self._written < PROGRESS_INTERVAL and 0.0 < done < 1.0:
            return
        self._written = now
        try:
            storage.write_json(self._path, {"done": round(min(max(done, 0.0), 1.0), 4), "doing": doing})
        except OSError as error:  # a read-only folder: the job runs on, without a progress bar elsewhere
            log.warning("could not write progress to %s: %s", self._path, error)
