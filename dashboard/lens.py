"""The application service: the test digits, the served model, and cached per-digit tensors.

Callbacks talk to this object only. It hands out NumPy arrays and plain values.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import re
import threading
import time

import numpy as np

from dashboard import attributions
from dashboard.config import Settings
from dashboard.data import Dataset, load_mnist
from dashboard.model_service import ModelService, ServedModel
from dashboard.tensors import PREDICTED_CLASS, DigitTensors, LayerInfo

log = logging.getLogger(__name__)

TENSOR_CACHE_SIZE = 64
SEARCH_LIMIT = 50
_QUERY_TRUE = re.compile(r"\b(?:true|label)\s*:?\s*(\d)\b")
_QUERY_PRED = re.compile(r"\bpred(?:icted)?\s*:?\s*(\d)\b")
_QUERY_INDEX = re.compile(r"#?(\d+)")


@dataclasses.dataclass(frozen=True)
class DigitSummary:
    """One test digit as the dropdown lists it."""

    index: int
    label: int
    predicted: int
    confidence: float

    @property
    def correct(self) -> bool:
        """Return whether the model classifies this digit correctly."""
        return self.label == self.predicted


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Every attribution method's map for one digit, their deletion curves, and the sanity check."""

    maps: dict[str, np.ndarray]
    random_maps: dict[str, np.ndarray] | None
    fractions: np.ndarray
    deletion: dict[str, np.ndarray]
    deletion_auc: dict[str, float]
    target: int


@dataclasses.dataclass(frozen=True)
class Predictions:
    """The served model's verdict on every test digit."""

    version: str
    predicted: np.ndarray
    confidence: np.ndarray
    misclassified: np.ndarray
    accuracy: float


class Lens:
    """Owns the dataset and the model service; answers the page's questions with arrays."""

    def __init__(self, data: Dataset, models: ModelService) -> None:
        self.data = data
        self.models = models
        self._lock = threading.Lock()
        # A digit change fires several callbacks at once that all need the same tensors: computing
        # them once (~3 ms) under this lock beats four concurrent passes competing for two cores.
        self._compute_lock = threading.Lock()
        self._tensor_cache: collections.OrderedDict[tuple, DigitTensors] = collections.OrderedDict()
        self._predictions: Predictions | None = None
        self._engines: tuple[str, attributions.AttributionEngine, attributions.AttributionEngine] | None = None
        self._explanations: collections.OrderedDict[tuple, Explanation] = collections.OrderedDict()

    @classmethod
    def start(cls, settings: Settings) -> "Lens":
        """Return a Lens with data loaded and a model trained or loaded from the cache."""
        started = time.perf_counter()
        data = load_mnist(settings.data, offline=settings.offline, seed=settings.seed)
        models = ModelService(settings.model_dir)
        models.load_or_train(
            data, epochs=settings.epochs, batch_size=settings.batch_size, retrain=settings.retrain,
            train_limit=settings.train_limit, seed=settings.seed,
        )
        lens = cls(data, models)
        lens.predictions()
        log.info("ready in %.1f s", time.perf_counter() - started)
        return lens

    @property
    def served(self) -> ServedModel:
        """Return the model currently served."""
        return self.models.current

    @property
    def test_size(self) -> int:
        """Return how many test digits there are."""
        return len(self.data.x_test)

    @property
    def layers(self) -> list[LayerInfo]:
        """Return the served model's layers after the input."""
        return self.served.extractor.layers

    @property
    def conv_layer_names(self) -> list[str]:
        """Return the names of the conv layers, where Grad-CAM can look."""
        return [info.name for info in self.layers if info.kind == "Conv2D"]

    def layer(self, name: str) -> LayerInfo:
        """Return the named layer's info; raise KeyError for an unknown name."""
        return self.served.extractor.layer(name)

    def weights(self) -> dict[str, dict[str, np.ndarray]]:
        """Return the served model's weights by layer."""
        return self.served.extractor.weights()

    def image(self, index: int) -> tuple[np.ndarray, int]:
        """Return test digit `index` as (image (28, 28, 1), true label)."""
        return self.data.x_test[index], int(self.data.y_test[index])

    def tensors(self, index: int, score_class: int = PREDICTED_CLASS) -> DigitTensors:
        """Return (cached) activations, probabilities, saliency and weight gradients for a test digit."""
        served = self.served
        key = (served.version, index, score_class)
        cached = self._cached(key)
        if cached is not None:
            return cached
        with self._compute_lock:
            cached = self._cached(key)
            if cached is not None:
                return cached
            image, label = self.image(index)
            result = served.extractor.digit_tensors(image, label=label, score_class=score_class)
            with self._lock:
                self._tensor_cache[key] = result
                while len(self._tensor_cache) > TENSOR_CACHE_SIZE:
                    self._tensor_cache.popitem(last=False)
        return result

    def _cached(self, key: tuple) -> DigitTensors | None:
        with self._lock:
            cached = self._tensor_cache.get(key)
            if cached is not None:
                self._tensor_cache.move_to_end(key)
            return cached

    def predictions(self) -> Predictions:
        """Return the served model's predictions for every test digit (computed once per model)."""
        served = self.served
        current = self._predictions
        if current is not None and current.version == served.version:
            return current
        started = time.perf_counter()
        probabilities = served.extractor.probabilities(self.data.x_test)
        predicted = probabilities.argmax(axis=1)
        result = Predictions(
            version=served.version,
            predicted=predicted,
            confidence=probabilities.max(axis=1),
            misclassified=np.flatnonzero(predicted != self.data.y_test),
            accuracy=float(np.mean(predicted == self.data.y_test)),
        )
        log.info("evaluated %d test digits in %.2f s: accuracy %.4f, %d misclassified",
                 self.test_size, time.perf_counter() - started, result.accuracy, len(result.misclassified))
        self._predictions = result
        return result

    def summary(self, index: int) -> DigitSummary:
        """Return the dropdown entry for one test digit."""
        predictions = self.predictions()
        return DigitSummary(index, int(self.data.y_test[index]), int(predictions.predicted[index]),
                            float(predictions.confidence[index]))

    def search(self, query: str | None, *, misclassified_only: bool, limit: int = SEARCH_LIMIT) -> list[DigitSummary]:
        """Return up to `limit` digits matching a query such as "42", "true 7", "pred 3" or "true 4 pred 9"."""
        predictions = self.predictions()
        candidates = predictions.misclassified if misclassified_only else np.arange(self.test_size)
        text = (query or "").strip().lower()
        true_match, pred_match = _QUERY_TRUE.search(text), _QUERY_PRED.search(text)
        if true_match:
            candidates = candidates[self.data.y_test[candidates] == int(true_match.group(1))]
            text = text.replace(true_match.group(0), " ")
        if pred_match:
            candidates = candidates[predictions.predicted[candidates] == int(pred_match.group(1))]
            text = text.replace(pred_match.group(0), " ")
        index_match = _QUERY_INDEX.search(text)
        if index_match:
            prefix = index_match.group(1).lstrip("0") or "0"
            exact = [i for i in candidates if str(i) == prefix]
            starts = [i for i in candidates if str(i).startswith(prefix) and str(i) != prefix]
            candidates = np.array(exact + starts, dtype=np.int64)
        return [self.summary(int(i)) for i in candidates[:limit]]

    def _attribution_engines(self) -> tuple[attributions.AttributionEngine, attributions.AttributionEngine]:
        """Return (engine for the served model, engine for a randomized copy), built once per model."""
        served = self.served
        with self._compute_lock:
            if self._engines is None or self._engines[0] != served.version:
                random_model = attributions.randomized_copy(served.model)
                self._engines = (served.version, attributions.AttributionEngine(served.model),
                                 attributions.AttributionEngine(random_model))
            return self._engines[1], self._engines[2]

    def explain(self, index: int, request: attributions.AttributionRequest, *, grad_cam_layer: str | None = None,
                sanity_check: bool = False, target: int = 0) -> Explanation:
        """Return every method's map for a test digit, deletion curves for `target`, and optionally the same
        maps on a randomized copy of the model (cached)."""
        key = (self.served.version, index, request.class_weights.tobytes(), request.smoothgrad_samples,
               request.smoothgrad_sigma, request.ig_steps, request.ig_baseline, request.seed, grad_cam_layer,
               sanity_check, target)
        with self._lock:
            if key in self._explanations:
                self._explanations.move_to_end(key)
                return self._explanations[key]
        engine, random_engine = self._attribution_engines()
        image, _ = self.image(index)
        maps = engine.explain(image, request, grad_cam_layer=grad_cam_layer)
        random_maps = random_engine.explain(image, request, grad_cam_layer=grad_cam_layer) if sanity_check else None
        batches, fractions = [], None
        for name in attributions.METHODS:
            fractions, images = attributions.deletion_images(image, maps[name])
            batches.append(images)
        probabilities = self.served.extractor.probabilities(np.concatenate(batches))[:, target]
        curves = dict(zip(attributions.METHODS, probabilities.reshape(len(attributions.METHODS), -1)))
        result = Explanation(maps=maps, random_maps=random_maps, fractions=fractions, deletion=curves,
                             deletion_auc={name: attributions.area_under_curve(fractions, curve)
                                           for name, curve in curves.items()}, target=target)
        with self._lock:
            self._explanations[key] = result
            while len(self._explanations) > TENSOR_CACHE_SIZE // 4:
                self._explanations.popitem(last=False)
        return result
