"""Project activation vectors to 2-D with t-SNE (openTSNE) or UMAP (umap-learn), in a spawned process.

Both hold cores for seconds to minutes, so the web server never runs them: `start` spawns `python -m
dashboard.projection`, which writes progress to a JSON file and coordinates to an .npy file; `run` also waits."""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dashboard import storage

log = logging.getLogger(__name__)

METHODS = {"tsne": "t-SNE", "umap": "UMAP"}
Report = Callable[[float, str], None]  # (share done in [0, 1], what is being done)
REPO_ROOT = Path(__file__).resolve().parents[1]
MIN_POINTS = 5
PROGRESS_INTERVAL = 0.2  # seconds between progress-file writes: t-SNE reports 30 times, UMAP up to 500
TSNE_PHASES = (250, 500)  # openTSNE's defaults: early-exaggeration iterations, then the main phase's
# Shares of the bar spent before the optimisation starts (neighbours, affinities, initial layout), as measured on
# 10,000 points: t-SNE 5 s of 25; UMAP 25 s of 40, most of it numba compiling umap's functions in each new process.
TSNE_PREPARED = 0.2
UMAP_PREPARED = 0.6


class _TsneProgress:
    """An openTSNE callback that reports iterations over both phases (openTSNE restarts its count in each)."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.phase = -1

    def optimization_about_to_start(self) -> None:
        """Count the phase that starts; openTSNE calls this before each."""
        self.phase += 1

    def __call__(self, iteration: int, error: float, embedding: np.ndarray) -> bool:
        """Report progress and return False, which lets the optimisation go on."""
        done, total = sum(TSNE_PHASES[:self.phase]) + iteration, sum(TSNE_PHASES)
        self.report(TSNE_PREPARED + (1 - TSNE_PREPARED) * done / total, f"t-SNE: iteration {done} of {total}")
        return False


class _UmapEpochs(io.TextIOBase):
    """A file for UMAP's tqdm bar, formatted "{n}/{total}": UMAP has no callback, but lets callers style its bar."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def write(self, text: str) -> int:
        """Report the epoch the bar shows, if it shows one."""
        if counts := re.findall(r"(\d+)/(\d+)", text):
            epoch, total = (int(count) for count in counts[-1])
            self.report(UMAP_PREPARED + (1 - UMAP_PREPARED) * epoch / max(total, 1), f"UMAP: epoch {epoch} of {total}")
        return len(text)


def method_name(method: str) -> str:
    """Return the display name of a projection method; raise ValueError for one not in METHODS."""
    if method not in METHODS:
        raise ValueError(f"Projection method {method!r} is not one of {sorted(METHODS)}")
    return METHODS[method]


def _tsne(vectors: np.ndarray, seed: int, report: Report) -> np.ndarray:
    report(0.0, "t-SNE: finding neighbours")
    import openTSNE

    tsne = openTSNE.TSNE(n_jobs=2, random_state=seed, perplexity=min(30.0, (len(vectors) - 1) / 3),
                         early_exaggeration_iter=TSNE_PHASES[0], n_iter=TSNE_PHASES[1],
                         callbacks=_TsneProgress(report), callbacks_every_iters=25, verbose=False)
    return np.asarray(tsne.fit(vectors))


def _umap(vectors: np.ndarray, seed: int, report: Report) -> np.ndarray:
    report(0.0, "UMAP: finding neighbours")
    # `import umap` imports TensorFlow for ParametricUMAP (unused here), 5-15 s; blocked, it falls back in ~2 s.
    blocked = "tensorflow" not in sys.modules
    if blocked:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]
    try:
        import umap
    finally:
        if blocked:
            del sys.modules["tensorflow"]  # so that a later import of TensorFlow in this process still works
    bar = {"disable": False, "file": _UmapEpochs(report), "bar_format": "{n}/{total}", "mininterval": 0.1}
    reducer = umap.UMAP(n_neighbors=min(15, len(vectors) - 1), random_state=seed, n_jobs=1, tqdm_kwds=bar)
    return np.asarray(reducer.fit_transform(vectors))


def project(vectors: np.ndarray, method: str, *, seed: int = 0, report: Report | None = None) -> np.ndarray:
    """Return the (N, 2) float32 coordinates of (N, units) vectors projected by `method` (a key of METHODS)."""
    method_name(method)
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or len(vectors) < MIN_POINTS:
        raise ValueError(f"Projection needs (N, units) vectors with N >= {MIN_POINTS}, got shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise ValueError("Projection needs finite vectors; these hold NaN or infinity")
    report = report or (lambda done, doing: None)
    coordinates = (_tsne if method == "tsne" else _umap)(vectors, seed, report)
    report(1.0, "done")
    return coordinates.astype(np.float32)


def _progress_file(path: Path) -> Report:
    """Return a report that writes {"done", "doing"} to `path`: the first and final reports, others 0.2 s apart."""
    written = [-math.inf]  # when it last wrote: never

    def report(done: float, doing: str) -> None:
        if done >= 1.0 or time.monotonic() - written[0] >= PROGRESS_INTERVAL:
            storage.write_json(path, {"done": float(done), "doing": doing})
            written[0] = time.monotonic()

    return report


def main(argv: list[str] | None = None) -> int:
    """Project the vectors the command line names; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m dashboard.projection", description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, required=True, help="an (N, units) .npy file")
    parser.add_argument("--method", choices=sorted(METHODS), required=True)
    parser.add_argument("--output", type=Path, required=True, help="where the (N, 2) .npy coordinates go")
    parser.add_argument("--progress", type=Path, required=True, help='a JSON file: {"done": share, "doing": text}')
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(OSError):
        os.nice(10)  # it runs beside the web server, which should stay responsive
    began = time.monotonic()
    try:
        vectors = np.load(args.vectors, allow_pickle=False)
        coordinates = project(vectors, args.method, seed=args.seed, report=_progress_file(args.progress))
        storage.atomic_write(args.output, lambda temp: np.save(temp, coordinates), suffix=".npy")
        log.info("Projected %d vectors with %s in %.1f s", len(coordinates), args.method, time.monotonic() - began)
    except Exception:
        log.exception("Projecting %s with %s failed", args.vectors, args.method)
        return 1
    return 0


def start(vectors_path: Path, method: str, output: Path, progress: Path, *, seed: int = 0) -> subprocess.Popen:
    """Return a fresh Python process projecting `vectors_path` into `output`; it logs to output.with_suffix(".log")."""
    method_name(method)  # refused here rather than by a process spawned to fail
    # The child runs in the repository root (so `dashboard` imports), hence absolute paths.
    command = [sys.executable, "-m", "dashboard.projection", "--vectors", str(vectors_path.absolute()),
               "--method", method, "--output", str(output.absolute()), "--progress", str(progress.absolute()),
               "--seed", str(seed)]
    with open(output.with_suffix(".log"), "wb") as log_file:
        return subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT)


def run(vectors: np.ndarray, method: str, output: Path, progress: Path, *, seed: int = 0,
        timeout: float = 900) -> None:
    """Project `vectors` in a spawned process and wait for its (N, 2) coordinates in `output`; return nothing."""
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.stem}.") as folder:
        vectors_path = Path(folder) / "vectors.npy"
        np.save(vectors_path, np.asarray(vectors, dtype=np.float32))
        process = start(vectors_path, method, output, progress, seed=seed)
        try:
            status = process.wait(timeout=timeout)
            problem = f"failed (exit status {status})"
        except subprocess.TimeoutExpired:
            process.kill()
            status = process.wait()
            problem = f"took over {timeout:g} s and was stopped"
    if status != 0:
        last_lines = output.with_suffix(".log").read_text(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"{method_name(method)} projection {problem}:\n" + "\n".join(last_lines))


if __name__ == "__main__":
    sys.exit(main())
