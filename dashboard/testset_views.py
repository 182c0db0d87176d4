"""The whole test set through one model: its pass (predictions and per-channel summaries of every image),
channel rankings, feature pictures and 2-D maps; each computed once per model (or checkpoint) and kept."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dashboard import jobs, testset
from dashboard.lru import LruCache

if TYPE_CHECKING:
    from dashboard.lens import Lens

log = logging.getLogger(__name__)

# The test-set pass: at most this many images per batch (each batch takes the model's lock, and reports progress:
# at least PASS_STEPS times, so a slow model's bar moves), and how long a request waits for it.
PASS_BATCH = 500
PASS_STEPS = 20
PASS_TIMEOUT = 600.0


def pass_batch(total: int) -> int:
    """Return how many images the test-set pass takes per batch for a test set of `total`."""
    return max(1, min(PASS_BATCH, -(-total // PASS_STEPS)))


class TestSetViews:
    """Answers the test-set section's questions for the served model or a run's checkpoint, with arrays."""

    __test__ = False  # a class named Test*, not a pytest test class

    def __init__(self, lens: Lens) -> None:
        self.lens = lens
        self._jobs = jobs.Jobs()
        self._passes: LruCache[testset.TestPass] = LruCache(4)
        self._features: LruCache = LruCache(16)

    def _cache_folder(self) -> Path:
        """Return where whole-test-set results are kept: beside the model, or in the temporary folder when
        the model folder cannot be written."""
        folder = self.lens.models.model_dir / testset.CACHE_FOLDER
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if os.access(folder, os.W_OK):
                return folder
        except OSError:
            pass
        fallback = Path(tempfile.gettempdir()) / f"cnnlens-{os.getuid()}-{testset.CACHE_FOLDER}"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback

    def _pass_path(self, checkpoint: tuple[str, int] | None) -> Path:
        """Return the file that keeps a model's test-set pass: named by the served model's hash, or by the run
        and step (a checkpoint never changes), and by the test set."""
        name = self.lens.served.version if checkpoint is None else f"{checkpoint[0]}-step{checkpoint[1]}"
        return self._cache_folder() / f"{name}-{self._data_key}.npz"

    def pass_key(self, checkpoint: tuple[str, int] | None = None) -> str:
        """Return a short name of the test-set pass a view shows (changes when the model does)."""
        return self._pass_path(checkpoint).stem

    def ready_marker(self) -> dict | None:
        """Return what the page's TESTSET_READY store holds for the served model when its pass is already
        kept (so the panels need not wait for a round trip to learn it), else None."""
        path = self._pass_path(None)
        if self._passes.get(path) is None and not path.is_file():
            return None
        return {"view": {"model": self.lens.served.version}, "pass": path.stem}

    def test_pass_progress(self, checkpoint: tuple[str, int] | None = None, *,
                           wait: float = 0.0) -> tuple[float, str] | None:
        """Return None when the pass over the whole test set for this view is ready; otherwise start it (in a
        thread, once across web workers) and return its progress: (share done, what it is doing), after
        waiting up to `wait` seconds for it. Raise jobs.JobFailed when it failed."""
        path = self._pass_path(checkpoint)
        if self._passes.get(path) is not None:
            return None
        status = self._jobs.ensure(path, lambda report: self._compute_pass(checkpoint, path, report),
                                   name="test-set pass")
        if status is not None and wait > 0 and self._jobs.wait(path, wait):
            return None
        return status

    def test_pass(self, checkpoint: tuple[str, int] | None = None) -> testset.TestPass:
        """Return the pass over the whole test set (probabilities, per-channel summaries of every map layer,
        the activations of the vector layers) of the served model or a run's checkpoint: computed once per
        model in batches through one compiled call, kept in memory and on disk, keyed by the model's hash."""
        path = self._pass_path(checkpoint)
        for _ in range(2):  # a kept file that cannot be read is computed once more
            cached = self._passes.get(path)
            if cached is not None:
                return cached
            deadline = time.monotonic() + PASS_TIMEOUT
            while self.test_pass_progress(checkpoint, wait=0.5) is not None:
                if time.monotonic() > deadline:
                    raise jobs.JobFailed("the test-set pass is taking too long; try again in a moment")
                time.sleep(0.05)  # another worker computes it: poll its result file
            loaded = testset.TestPass.load(path, path.stem)
            if loaded is not None:
                self._passes.put(path, loaded)
                return loaded
            path.unlink(missing_ok=True)
        raise jobs.JobFailed("the kept test-set pass could not be read")

    def _compute_pass(self, checkpoint: tuple[str, int] | None, path: Path, report: jobs.Report) -> None:
        """Compute a view's test-set pass in batches, reporting progress, and keep it at `path`. The model's
        lock is taken per batch, so the page's other panels are served between batches."""
        served = self.lens.served if checkpoint is None else None
        images = self.lens.data.x_test
        total, parts = len(images), []
        started = time.perf_counter()
        report(0.0, f"0 of {total:,} test {self.lens.noun}s")
        batch = pass_batch(total)
        for start in range(0, total, batch):
            with self.lens.computing(checkpoint, served) as extractor:
                parts.append(extractor.summaries(self.lens.scaling.apply(images[start:start + batch]),
                                                 batch_size=batch))
            done = min(start + batch, total)
            report(done / total, f"{done:,} of {total:,} test {self.lens.noun}s")
        arrays = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        testset.TestPass(path.stem, arrays).save(path)
        log.info("test-set pass over %d images in %.2f s", total, time.perf_counter() - started)

    def projection(self, layer: str, method: str,
                   checkpoint: tuple[str, int] | None = None) -> np.ndarray | tuple[float, str]:
        """Return every test image's activations of a vector layer placed in 2-D by t-SNE or UMAP (N, 2); or,
        while a background process computes them (once per model, layer and method, kept on disk), its
        progress: (share done, what it is doing). Raise jobs.JobFailed when it failed."""
        from dashboard import projection

        if method not in projection.METHODS:
            raise ValueError(f"unknown projection {method!r}")
        safe = re.sub(r"[^\w.-]", "_", layer) + "-" + hashlib.sha256(layer.encode()).hexdigest()[:6]
        path = self._cache_folder() / f"{self.pass_key(checkpoint)}-{safe}-{method}.npy"
        cached = self._features.get(path)
        if cached is not None:
            return cached
        seed = self.lens.settings.seed
        status = self._jobs.ensure(path, lambda report: projection.run(
            self.test_pass(checkpoint).vector(layer), method, path, jobs.progress_path(path), seed=seed),
            name=f"{projection.METHODS[method]} map")
        if status is not None:
            return status
        try:
            coordinates = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            path.unlink(missing_ok=True)
            raise jobs.JobFailed(f"the kept {projection.METHODS[method]} map could not be read; it is computed "
                                 "again next time") from error
        self._features.put(path, coordinates)
        return coordinates

    def pca(self, layer: str, checkpoint: tuple[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return every test image's activations of a vector layer on their first two principal directions and
        the variance shares (testset.pca), computed once per model and layer."""
        key = ("pca", self.pass_key(checkpoint), layer)
        cached = self._features.get(key)
        if cached is None:
            cached = testset.pca(self.test_pass(checkpoint).vector(layer))
            self._features.put(key, cached)
        return cached

    def verdicts(self, checkpoint: tuple[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return (predicted class, confidence) for every test image: the served model's, or a checkpoint's
        (from its test-set pass)."""
        if checkpoint is None:
            predictions = self.lens.predictions()
            return predictions.predicted, predictions.confidence
        probabilities = self.test_pass(checkpoint).probabilities
        return probabilities.argmax(axis=1), probabilities.max(axis=1)

    def channel_top(self, layer: str, channel: int, count: int = 9,
                    checkpoint: tuple[str, int] | None = None) -> list[tuple[int, float, tuple | None]]:
        """Return the `count` test images that activate a map layer's channel most: (index, its largest
        activation, the input box the peak depends on: top, left, bottom, right, or None)."""
        test_pass = self.test_pass(checkpoint)
        peaks = test_pass.channel(layer, "max")
        where = test_pass.channel(layer, "argmax")
        found = []
        for index in testset.top_images(peaks, channel, count):
            image = self.lens.scaling.apply(self.lens.data.x_test[int(index)])
            with self.lens.computing(checkpoint) as extractor:
                box = extractor.receptive_box(image, layer, int(where[index, channel]), channel)
            found.append((int(index), float(peaks[index, channel]), box))
        return found

    def channel_contributions(self, layer: str, class_index: int,
                              checkpoint: tuple[str, int] | None = None) -> np.ndarray:
        """Return, per channel of a map layer, the mean over the test images of class `class_index` of
        activation × gradient of that class's score, summed over the map: how much each channel pushes the
        class up (cached per model, layer and class)."""
        key = ("contributions", self.pass_key(checkpoint), layer, int(class_index))
        cached = self._features.get(key)
        if cached is not None:
            return cached
        members = np.flatnonzero(self.lens.data.y_test == class_index)
        sums: np.ndarray | None = None
        for start in range(0, len(members), PASS_BATCH):
            batch = self.lens.scaling.apply(self.lens.data.x_test[members[start:start + PASS_BATCH]])
            with self.lens.computing(checkpoint) as extractor:
                part = extractor.channel_contributions(batch, layer, int(class_index)).sum(axis=0)
            sums = part if sums is None else sums + part
        if sums is None:  # no test image of this class: nothing pushes it
            sums = np.zeros(self.lens.layer(layer, checkpoint).output_shape[-1])
        result = sums / max(1, len(members))
        self._features.put(key, result)
        return result

    def feature_visualisation(self, layer: str, channels: list[int],
                              checkpoint: tuple[str, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return (pixels (C, H, W, colours) in [0, 1], the value each reaches): the inputs that maximise the
        centre unit of each channel of a map layer, all in one batched compiled call; kept per model and layer
        (for the same channels)."""
        key = ("features", self.pass_key(checkpoint), layer, tuple(int(c) for c in channels))
        cached = self._features.get(key)
        if cached is not None:
            return cached
        scaling = self.lens.scaling
        colours = self.lens.input_shape[-1]
        transform = (scaling.multiply, scaling.add,
                     scaling.mean if scaling.mean is not None else (0.0,) * colours,
                     scaling.std if scaling.std is not None else (1.0,) * colours)
        started = time.perf_counter()
        with self.lens.computing(checkpoint) as extractor:
            result = extractor.feature_images(layer, list(key[3]), scaling=transform, seed=self.lens.settings.seed)
        log.info("feature visualisation of %d channels of %s in %.2f s", len(channels), layer,
                 time.perf_counter() - started)
        self._features.put(key, result)
        return result

    @functools.cached_property
    def _data_key(self) -> str:
        """Return a short fingerprint of the test set (its labels and a sample of its pixels), once: a lens's
        data and scaling never change."""
        digest = hashlib.sha256(self.lens.data.y_test.tobytes())
        digest.update(np.ascontiguousarray(self.lens.data.x_test[:: max(1, self.lens.test_size // 64)]).tobytes())
        digest.update(str(self.lens.scaling).encode())
        return digest.hexdigest()[:10]
