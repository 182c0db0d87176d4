"""The application service: the test digits, the served model, and cached per-digit tensors.

Callbacks talk to this object only. It hands out NumPy arrays and plain values.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from dashboard import attributions, edits, image_keys, inputs, runs
from dashboard.checkpoint_views import CheckpointViews
from dashboard.config import Settings
from dashboard.data import Dataset, load_data
from dashboard.lru import LruCache
from dashboard.model_service import LOCK_FILE, ModelService, ServedModel
from dashboard.tensors import PREDICTED_CLASS, DigitTensors, LayerInfo
from dashboard.testset_views import TestSetViews

if TYPE_CHECKING:
    from dashboard.tensors import TensorExtractor

log = logging.getLogger(__name__)

TENSOR_CACHE_SIZE = 64
SEARCH_LIMIT = 50
# "true 7", "label: cat", "pred 3", "predicted dog": the keyword; the class (a name or a number) follows.
_QUERY_TRUE = r"\b(?:true|label)"
_QUERY_PRED = r"\bpred(?:icted)?"
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


@dataclasses.dataclass(frozen=True)
class InputImage:
    """The image the page shows: a test image or a person's own, maybe edited; its pixels in [0, 1] (H, W, C),
    its true label if known, and how captions name it."""

    ref: image_keys.ImageRef
    picture: np.ndarray
    label: int | None
    name: str

    @property
    def value(self) -> int | str:
        """Return the page's value for this image (the dropdown's, the link's)."""
        return self.ref.value

    @property
    def index(self) -> int | None:
        """Return the test image's index when this is a test image as it is, else None."""
        return self.ref.index if self.ref.edit.is_identity else None


SEED_KEY = "seed"
# Input scalings a model may expect of pixels in [0, 1] (the Dataset's): name -> (multiply, add).
SCALINGS = {"0-1": (1.0, 0.0), "0-255": (255.0, 0.0), "-1-1": (2.0, -1.0)}
# The tensor cache's budget: big models keep fewer images' tensors.
TENSOR_CACHE_BYTES = 256 * 2**20


@dataclasses.dataclass(frozen=True)
class Scaling:
    """How pixels in [0, 1] become the model's input: x * multiply + add, then (x - mean) / std per channel."""

    multiply: float = 1.0
    add: float = 0.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Return the model's input for an image (H, W, C) or a batch (N, H, W, C) of pixels in [0, 1]."""
        x: np.ndarray = np.asarray(image, np.float32)
        if (self.multiply, self.add) != (1.0, 0.0):
            x = (x * np.float32(self.multiply) + np.float32(self.add)).astype(np.float32)
        if self.mean is not None and self.std is not None:
            x = ((x - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)).astype(np.float32)
        return x

    def describe(self) -> str:
        """Return the scaling in words, e.g. "pixels 0-255"."""
        if self.mean is not None:
            return "pixels 0-1, minus the mean, over the standard deviation, per channel"
        for name, pair in SCALINGS.items():
            if pair == (self.multiply, self.add):
                return f"pixels {name}"
        return f"pixels × {self.multiply:g} + {self.add:g}"


class Lens:
    """Owns the dataset and the model service; answers the page's questions with arrays."""

    def __init__(self, data: Dataset, models: ModelService, settings: Settings | None = None, *,
                 key: str = SEED_KEY, name: str = "seed CNN", scaling: Scaling | None = None,
                 trainable: bool = True) -> None:
        self.data = data
        self.models = models
        self.settings = settings or Settings(model_dir=models.model_dir)
        # Which model of the catalog this is (the page's model picker and its URL use it), and its name.
        self.key, self.name = key, name
        self.scaling = scaling or Scaling()
        # Only the seed CNN is trained from the page; a user's model is shown as it is.
        self.trainable = trainable
        self.runs = runs.RunStore(models.model_dir)
        self.checkpoints = CheckpointViews(self.runs, input_shape=data.image_shape, classes=data.classes)
        # A digit change fires several callbacks at once that all need the same tensors: computing
        # them once (~3 ms) under this lock beats four concurrent passes competing for two cores.
        self._compute_lock = threading.Lock()
        self._tensor_cache: LruCache[DigitTensors] = LruCache(self._tensor_cache_size())
        self._predictions: Predictions | None = None
        self.test_set = TestSetViews(self)
        self._engines: tuple[str, attributions.AttributionEngine, attributions.AttributionEngine] | None = None
        self._explanations: LruCache[Explanation] = LruCache(TENSOR_CACHE_SIZE // 4)
        # A person's own images too large to carry in a link, shared by every worker of this model folder.
        self.own_images = image_keys.ImageStore(models.model_dir / "inputs")
        self._inputs: LruCache[InputImage] = LruCache(TENSOR_CACHE_SIZE)

    def _tensor_cache_size(self) -> int:
        """Return how many images' tensors to keep: TENSOR_CACHE_SIZE, fewer for a model whose tensors are big."""
        if not self.models.has_model:
            return TENSOR_CACHE_SIZE
        extractor = self.models.current.extractor
        values = sum(int(np.prod(info.output_shape)) + sum(int(np.prod(s)) for s in info.weight_shapes.values())
                     for info in extractor.layers)
        return int(max(4, min(TENSOR_CACHE_SIZE, TENSOR_CACHE_BYTES // max(1, 4 * values))))

    @classmethod
    def start(cls, settings: Settings) -> Lens:
        """Return a Lens with data loaded and the cached model served.

        With no usable cached model (or with --retrain) a training run starts in a fresh process and
        this returns at once: the page shows the run's progress and switches to its model when it ends.
        """
        from filelock import FileLock

        started = time.perf_counter()
        data = load_data(settings.data, offline=settings.offline, seed=settings.seed)
        models = ModelService(settings.model_dir)
        lens = cls(data, models, settings)
        settings.model_dir.mkdir(parents=True, exist_ok=True)
        with FileLock(str(settings.model_dir / LOCK_FILE)):
            served = models.load_cached(data)
            if served is None or settings.retrain:
                lens.start_training(runs.TrainingOptions(
                    epochs=settings.epochs, batch_size=settings.batch_size, train_size=settings.train_limit,
                    seed=settings.seed))
        if served is not None:
            lens.predictions()
        log.info("ready in %.1f s%s", time.perf_counter() - started,
                 "" if served is not None else " (no model yet: training one; the page shows its progress)")
        return lens

    def start_training(self, options: runs.TrainingOptions) -> str:
        """Start a training run in a fresh process unless one is already running; return the run's id.

        Used at start-up; runs started from the page go through the background-callback manager instead.
        """
        from dashboard import training

        try:
            # Detached: the run belongs to the model folder, not to this (possibly recycled) web worker.
            run_id, process = training.start_run(self.settings, options, detached=True)
        except runs.RunError as error:
            active = self.runs.active()
            if not active:
                raise
            log.info("not starting a training: %s", error)
            return str(active[0]["id"])
        # Reap the child when it ends, so it does not linger as a zombie.
        threading.Thread(target=process.wait, name=f"reap-{run_id}", daemon=True).start()
        log.info("started training run %s in process %d", run_id, process.pid)
        return run_id

    @property
    def ready(self) -> bool:
        """Return whether a model is being served (False while the first model trains)."""
        self.models.refresh(self.data)
        return self.models.has_model

    @property
    def served(self) -> ServedModel:
        """Return the model currently served (switching to a newly published one first)."""
        self.models.refresh(self.data)
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

    def layer(self, name: str, checkpoint: tuple[str, int] | None = None) -> LayerInfo:
        """Return the named layer's info (of the served model, or of a run's model); raise KeyError if unknown."""
        if checkpoint is None:
            return self.served.extractor.layer(name)
        return self.checkpoints.model(self.checkpoints.activation_of(checkpoint[0])).extractor.layer(name)

    def weights(self, checkpoint: tuple[str, int] | None = None) -> dict[str, dict[str, np.ndarray]]:
        """Return the weights by layer of the served model, or of a run's checkpoint (read from its file)."""
        if checkpoint is None:
            return self.served.extractor.weights()
        return self.checkpoints.checkpoint(*checkpoint).weights

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Return the served model's input shape (H, W, C)."""
        return tuple(int(d) for d in self.served.model.inputs[0].shape[1:])

    def resolve(self, value: object) -> InputImage:
        """Return the image a page value names (image_keys: a test index, an own image, either edited); raise
        image_keys.BadImageKey, with the reason in words, for a value that names none."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < self.test_size:
            key: object = value
        else:
            key = str(value) if isinstance(value, str) else repr(value)
        cached = self._inputs.get(key)
        if cached is not None:
            return cached
        ref = image_keys.parse(value, self.test_size)
        label: int | None
        if ref.index is not None:
            picture, label = self.data.x_test[ref.index], int(self.data.y_test[ref.index])
            name = f"{self.noun} #{ref.index}"
        else:
            own = self._drawn(str(ref.own)) if str(ref.own).startswith(image_keys.DRAWING) else \
                self.own_images.get(str(ref.own))
            if own.picture.shape != self.data.image_shape:
                raise image_keys.BadImageKey(
                    f"That image is {'×'.join(map(str, own.picture.shape))}, made for another model; this one "
                    f"takes {'×'.join(map(str, self.data.image_shape))}.")
            if own.label is not None and own.label >= self.data.classes:
                raise image_keys.BadImageKey(f"The image's label {own.label} is not one of this model's classes.")
            picture, label = own.picture, own.label
            name = "your drawing" if own.origin == image_keys.DRAWN else "your upload"
        if not ref.edit.is_identity:
            try:
                edits.validate(ref.edit, picture.shape)
            except ValueError as error:
                raise image_keys.BadImageKey(f"The edit does not fit this image: {error}") from None
            # The noise is the same every time this value is shown (a link shows what its author saw).
            picture = edits.apply(picture, ref.edit, seed=edits_seed(ref))
            name = f"{name}, {edits.describe(ref.edit)}"
        result = InputImage(ref, np.asarray(picture, np.float32), label, name)
        self._inputs.put(key, result)
        return result

    def _drawn(self, code: str) -> image_keys.OwnImage:
        """Return a drawing ("st:" value) made into a picture as the pad does (inputs.drawn_picture)."""
        drawing = image_keys.decode_drawing(code)
        try:
            picture = inputs.drawn_picture(drawing.strokes, size=drawing.size, width=drawing.width,
                                           image_shape=self.data.image_shape)
        except inputs.InputRefused as error:
            raise image_keys.BadImageKey(f"That drawing cannot be shown: {error}") from None
        return image_keys.OwnImage(picture, image_keys.DRAWN, drawing.label)

    def image(self, value: object) -> tuple[np.ndarray, int | None]:
        """Return an image (a test index, or any page value) as the model takes it (scaled), and its true label
        (None for an own image nobody labelled)."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < self.test_size:
            return self.scaling.apply(self.data.x_test[value]), int(self.data.y_test[value])
        shown = self.resolve(value)
        return self.scaling.apply(shown.picture), shown.label

    def picture(self, value: object) -> np.ndarray:
        """Return an image (a test index, or any page value) as pixels in [0, 1], (H, W, C), for display."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < self.test_size:
            return self.data.x_test[value]
        return self.resolve(value).picture

    def keep_own(self, picture: np.ndarray, *, origin: int, label: int | None = None) -> str:
        """Return the page value of a person's own image (kept on disk when too large to carry in a link)."""
        return self.own_images.put(picture, origin=origin, label=label)

    @property
    def noun(self) -> str:
        """Return what one test example is called in the page: "digit" or "image"."""
        return self.data.noun

    @property
    def class_names(self) -> tuple[str, ...]:
        """Return the dataset's class names."""
        return self.data.class_names

    def tensors(self, index: int | str, score_class: int = PREDICTED_CLASS,
                checkpoint: tuple[str, int] | None = None) -> DigitTensors:
        """Return (cached) activations, probabilities, saliency and weight gradients for an image (a test index or
        any page value), from the served model or, given (run id, step), from that checkpoint of that run. The loss
        is against the true label, or the predicted class for an own image with no label."""
        served = self.served if checkpoint is None else None
        key: tuple = (served.version if served is not None else checkpoint, index, score_class)
        cached = self._tensor_cache.get(key)
        if cached is not None:
            return cached
        with self.computing(checkpoint, served) as extractor:
            cached = self._tensor_cache.get(key)
            if cached is not None:
                return cached
            image, label = self.image(index)
            result = extractor.digit_tensors(image, label=label, score_class=score_class)
            self._tensor_cache.put(key, result)
        return result

    def run_signature(self) -> dict:
        """Return what the page compares to see whether runs changed: the served model and run, and every run's
        (id, status, checkpoints). Cheap enough to poll every few seconds (RunStore.states)."""
        return {"served": self.served.version if self.ready else None, "served_run": self.models.served_run,
                "runs": [list(state) for state in self.runs.states()]}

    def predictions(self) -> Predictions:
        """Return the served model's predictions for every test digit (computed once per model)."""
        served = self.served
        current = self._predictions
        if current is not None and current.version == served.version:
            return current
        started = time.perf_counter()
        probabilities = served.extractor.probabilities(self.scaling.apply(self.data.x_test))
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

    @contextlib.contextmanager
    def computing(self, checkpoint: tuple[str, int] | None,
                   served: ServedModel | None = None) -> Iterator[TensorExtractor]:
        """Hold the lock of the model that computes a view (the served model, or the swappable model with a
        checkpoint's weights assigned) and yield its extractor."""
        if checkpoint is None:
            extractor = (served or self.served).extractor
            with self._compute_lock:
                yield extractor
        else:
            stored = self.checkpoints.checkpoint(*checkpoint)
            swappable = self.checkpoints.model(self.checkpoints.activation_of(checkpoint[0]))
            with swappable.lock:
                yield swappable.assign(stored)

    def summary(self, index: int) -> DigitSummary:
        """Return the dropdown entry for one test digit."""
        predictions = self.predictions()
        return DigitSummary(index, int(self.data.y_test[index]), int(predictions.predicted[index]),
                            float(predictions.confidence[index]))

    def search(self, query: str | None, *, misclassified_only: bool, limit: int = SEARCH_LIMIT) -> list[DigitSummary]:
        """Return up to `limit` digits matching a query such as "42", "true 7", "pred 3", "true 4 pred 9" or, with
        class names, "true cat pred dog"."""
        predictions = self.predictions()
        candidates = predictions.misclassified if misclassified_only else np.arange(self.test_size)
        text = (query or "").strip().lower()
        names = [name.lower() for name in self.class_names]
        # A class by its name ("true cat", "pred shape 4") or its number; the longest name that fits wins.
        classes = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True) if n) + r"|\d+"
        for keyword, labels in ((_QUERY_TRUE, self.data.y_test), (_QUERY_PRED, predictions.predicted)):
            match = re.search(keyword + rf"\s*:?\s*({classes})(?!\w)", text)
            if match:
                said = match.group(1)
                wanted = names.index(said) if said in names else int(said)
                candidates = candidates[labels[candidates] == wanted]
                text = text.replace(match.group(0), " ")
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

    def explain(self, index: int | str, request: attributions.AttributionRequest, *, grad_cam_layer: str | None = None,
                sanity_check: bool = False, target: int = 0,
                checkpoint: tuple[str, int] | None = None) -> Explanation:
        """Return every method's map for a test digit, deletion curves for `target`, and optionally the same
        maps on a randomized copy of the model (cached); from the served model or a run's checkpoint."""
        model_key = self.served.version if checkpoint is None else checkpoint
        key = (model_key, index, request.class_weights.tobytes(), request.smoothgrad_samples,
               request.smoothgrad_sigma, request.ig_steps, request.ig_baseline, request.seed, grad_cam_layer,
               sanity_check, target)
        cached = self._explanations.get(key)
        if cached is not None:
            return cached
        image, _ = self.image(index)
        if checkpoint is None:
            engine, random_engine = self._attribution_engines()
            result = _explanation(engine, random_engine, self.served.extractor, image, request,
                                  grad_cam_layer=grad_cam_layer, sanity_check=sanity_check, target=target)
        else:
            stored = self.checkpoints.checkpoint(*checkpoint)
            swappable = self.checkpoints.model(self.checkpoints.activation_of(checkpoint[0]), for_explanations=True)
            if swappable.engines is None:  # for_explanations=True always builds them
                raise TypeError("the checkpoint's model has no attribution engines")
            with swappable.lock:  # the checkpoint's weights stay assigned for the whole computation
                extractor = swappable.assign(stored)
                result = _explanation(*swappable.engines, extractor, image, request, grad_cam_layer=grad_cam_layer,
                                      sanity_check=sanity_check, target=target)
        self._explanations.put(key, result)
        return result


def _explanation(engine: attributions.AttributionEngine, random_engine: attributions.AttributionEngine,
                 extractor: TensorExtractor, image: np.ndarray, request: attributions.AttributionRequest, *,
                 grad_cam_layer: str | None, sanity_check: bool, target: int) -> Explanation:
    maps = engine.explain(image, request, grad_cam_layer=grad_cam_layer)
    random_maps = random_engine.explain(image, request, grad_cam_layer=grad_cam_layer) if sanity_check else None
    batches, fractions = [], None
    for name in attributions.METHODS:
        fractions, images = attributions.deletion_images(image, maps[name])
        batches.append(images)
    if fractions is None:  # METHODS is never empty; np.concatenate below would refuse an empty list as well
        raise ValueError("there are no attribution methods to run the deletion test on")
    probabilities = extractor.probabilities(np.concatenate(batches))[:, target]
    curves = dict(zip(attributions.METHODS, probabilities.reshape(len(attributions.METHODS), -1)))
    return Explanation(maps=maps, random_maps=random_maps, fractions=fractions, deletion=curves,
                       deletion_auc={name: attributions.area_under_curve(fractions, curve)
                                     for name, curve in curves.items()}, target=target)


def edits_seed(ref: image_keys.ImageRef) -> int:
    """Return the noise seed of an edited image: fixed by its value, so the same link shows the same noise."""
    import zlib

    return zlib.crc32(str(ref.value).encode("utf-8"))
