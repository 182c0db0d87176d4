"""Open a user's .keras file safely: a .keras file is a program.

Before the server loads an unknown file, it is opened in a separate, short-lived Python process with a
time limit and a memory limit (``python -m dashboard.model_files FILE``). That process loads it with
``safe_mode=True`` (Lambda layers and other arbitrary code are refused), checks that every panel can
show it (dashboard.graph), and prints a JSON report. A file that hangs the loader, exhausts memory or
crashes it costs that process, never the server. Files are also capped in size, and a file whose zip
entries would inflate past the cap is refused before any process starts.

    python -m dashboard.model_files model.keras      prints the report (or the reason for refusing it)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_MODEL_MB = 200
PROBE_SECONDS = 120.0
PROBE_MEMORY_MB = 4096  # TensorFlow alone maps ~1.7 GB of address space
INFLATION_FACTOR = 4    # the zip entries may inflate to at most 4x the size cap
PREPROCESSING_KINDS = ("Rescaling", "Normalization")


class ModelFileError(ValueError):
    """A model file the page will not serve; the message says why, in words a user can act on."""


@dataclasses.dataclass(frozen=True)
class ModelReport:
    """What the probe process learned about a model file that passed every check."""

    name: str
    input_shape: tuple[int, ...]
    classes: int
    parameters: int
    layers: int
    branches: bool
    preprocessing: bool   # the first layer after the input is a Rescaling or Normalization
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelReport:
        """Return a report from JSON values (as to_dict wrote them)."""
        return cls(**{**values, "input_shape": tuple(values["input_shape"])})


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: Path, *, max_mb: float = MAX_MODEL_MB) -> None:
    """Raise ModelFileError unless path is a .keras zip under the size cap whose entries stay under it inflated."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ModelFileError(f"{path.name}: CNN Lens opens Keras 3 .keras files (save with model.save('name.keras'))")
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    size = path.stat().st_size
    limit = int(max_mb * 1024 * 1024)
    if size > limit:
        raise ModelFileError(f"{path.name} is {size / 2**20:,.0f} MB; the limit is {max_mb:,.0f} MB "
                             "(raise it with --max-model-mb)")
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ModelFileError(f"{path.name} is not a .keras file: not a readable zip archive ({error})") from None
    names = {entry.filename for entry in entries}
    if "config.json" not in names:
        raise ModelFileError(f"{path.name} is not a .keras file: it has no config.json")
    inflated = sum(entry.file_size for entry in entries)
    if inflated > INFLATION_FACTOR * limit:
        raise ModelFileError(f"{path.name} would inflate to {inflated / 2**20:,.0f} MB; the limit is "
                             f"{INFLATION_FACTOR * max_mb:,.0f} MB")


def probe(path: Path, *, seconds: float = PROBE_SECONDS, memory_mb: int = PROBE_MEMORY_MB) -> ModelReport:
    """Return the report of a separate process that loaded the file safely and checked it; raise ModelFileError
    with the reason when it refused the file, ran out of time or memory, or crashed."""
    command = [sys.executable, "-m", "dashboard.model_files", str(Path(path).resolve()),
               "--memory-mb", str(memory_mb), "--seconds", str(int(seconds) + 1)]
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    root = Path(__file__).resolve().parent.parent
    try:
        finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds, env=environment,
                                  cwd=root, check=False)
    except subprocess.TimeoutExpired:
        raise ModelFileError(f"{Path(path).name}: loading took longer than {seconds:g} s and was stopped") from None
    lines = [line for line in finished.stdout.splitlines() if line.startswith("{")]
    if finished.returncode != 0 or not lines:
        log.warning("model probe for %s ended with status %s: %s", path, finished.returncode,
                    finished.stderr.strip()[-2000:])
        raise ModelFileError(f"{Path(path).name}: the loader failed (it ran out of its {memory_mb:,} MB of memory "
                             f"or crashed, exit status {finished.returncode})")
    answer = json.loads(lines[-1])
    if "error" in answer:
        raise ModelFileError(f"{Path(path).name}: {answer['error']}")
    return ModelReport.from_dict(answer)


def load_safely(path: Path) -> Any:
    """Return the model in a file (after it passed probe) loaded in this process with safe_mode=True."""
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # noqa: BLE001 - Keras raises many kinds for a bad file; the page gets a message.
        if "Lambda" in str(error) and "safe_mode" in str(error):
            raise ModelFileError(f"{Path(path).name}: it contains a Lambda layer, which is Python code; CNN Lens "
                                 "refuses to run code from a model file (rewrite it as a registered layer)") from None
        raise ModelFileError(f"{Path(path).name}: Keras could not load it ({_first_line(error)})") from None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:300]


def report_of(model: Any, sha256: str) -> ModelReport:
    """Return the report for a loaded model; raise graph.UnsupportedModel naming what the page cannot show."""
    from dashboard import graph

    steps, _ = graph.layer_steps(model)
    return ModelReport(
        name=str(model.name), input_shape=tuple(int(d) for d in model.inputs[0].shape[1:]),
        classes=int(model.outputs[0].shape[-1]), parameters=int(model.count_params()), layers=len(steps),
        branches=any(len(step.inputs) > 1 for step in steps) or _has_fan_out(steps),
        preprocessing=bool(steps) and steps[0].kind in PREPROCESSING_KINDS, sha256=sha256)


def _has_fan_out(steps: list) -> bool:
    used: dict[str, int] = {}
    for step in steps:
        for name in step.inputs:
            used[name] = used.get(name, 0) + 1
    return any(count > 1 for count in used.values())


class Vetting:
    """Remembers which files (by sha256) passed the probe, in memory and in a folder, so a file is probed once."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def report(self, path: Path, *, max_mb: float = MAX_MODEL_MB, seconds: float = PROBE_SECONDS,
               memory_mb: int = PROBE_MEMORY_MB) -> ModelReport:
        """Return the file's report: from an earlier probe of the same bytes, or from a new probe."""
        check_file(path, max_mb=max_mb)
        sha256 = file_sha256(path)
        record = self.folder / f"{sha256}.json"
        with self._lock:
            try:
                return ModelReport.from_dict(json.loads(record.read_text()))
            except (OSError, ValueError, TypeError, KeyError):
                pass
            report = probe(path, seconds=seconds, memory_mb=memory_mb)
            if report.sha256 != sha256:
                raise ModelFileError(f"{Path(path).name} changed while it was being checked; try again")
            self.folder.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(report.to_dict()))
            return report


def _limit_resources(memory_mb: int, seconds: int) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))


def main(argv: list[str] | None = None) -> int:
    """The probe process: limit itself, load the file safely, check it, print one JSON line."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dashboard.model_files", description=__doc__.split("\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--memory-mb", type=int, default=PROBE_MEMORY_MB)
    parser.add_argument("--seconds", type=int, default=int(PROBE_SECONDS))
    args = parser.parse_args(argv)
    _limit_resources(args.memory_mb, args.seconds)
    try:
        check_file(args.path, max_mb=1e9)  # the server checked the size cap before starting this process
        sha256 = file_sha256(args.path)
        model = load_safely(args.path)
        answer: dict[str, Any] = report_of(model, sha256).to_dict()
    except (ModelFileError, ValueError) as error:
        answer = {"error": str(error).split(": ", 1)[-1] if isinstance(error, ModelFileError) else str(error)}
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
