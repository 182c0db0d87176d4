"""Views of any checkpoint of any run: tensors and explanations without a model per checkpoint."""

from __future__ import annotations

import threading

from dashboard import attributions, runs
from dashboard.lru import LruCache
from dashboard.model_service import build_seed_model
from dashboard.tensors import TensorExtractor, weight_variables


class SwappableModel:
    """One traced seed CNN whose weights are swapped for a checkpoint's, under its own lock.

    Assigning a checkpoint's weights takes ~2 ms; building and tracing a model per checkpoint ~250 ms.
    Whoever holds the lock computes with exactly the checkpoint they asked for.
    """

    def __init__(self, activation: str, *, with_engines: bool, input_shape: tuple[int, ...] = (28, 28, 1),
                 classes: int = 10) -> None:
        self.lock = threading.Lock()
        self.extractor = TensorExtractor(build_seed_model(activation=activation, input_shape=input_shape,
                                                          classes=classes))
        self.engines = None
        if with_engines:
            model = self.extractor.model
            self.engines = (attributions.AttributionEngine(model),
                            attributions.AttributionEngine(attributions.randomized_copy(model)))
        self._assigned: str | None = None

    def assign(self, checkpoint: runs.Checkpoint) -> TensorExtractor:
        """Give the model the checkpoint's weights (the caller holds `lock`); return its extractor."""
        if self._assigned != checkpoint.key:
            self._assigned = None  # a checkpoint that fails halfway must not pass for the previous one
            for layer_name, weight_name, variable in weight_variables(self.extractor.model):
                variable.assign(checkpoint.weights[layer_name][weight_name])
            self._assigned = checkpoint.key
        return self.extractor


class CheckpointViews:
    """Tensors and explanations of a digit at any checkpoint of any run, without a model per checkpoint.

    Per hidden-layer activation there are two swappable models, one for the panels' tensor pass and
    one for the explanations, so a slow explanation never holds up the panels. The weights the page
    shows come straight from the checkpoint file.
    """

    CACHE_SIZE = 48

    def __init__(self, store: runs.RunStore, *, input_shape: tuple[int, ...] = (28, 28, 1), classes: int = 10) -> None:
        self.store = store
        # The runs train the seed architecture adapted to the data: its image shape and class count.
        self._input_shape, self._classes = input_shape, classes
        self._checkpoints: LruCache[runs.Checkpoint] = LruCache(self.CACHE_SIZE)
        self._models: dict[tuple[str, bool], SwappableModel] = {}
        # Building a model takes ~0.5 s: under a lock of its own, so checkpoint reads never wait for it.
        self._models_lock = threading.Lock()

    def checkpoint(self, run_id: str, step: int) -> runs.Checkpoint:
        """Return a run's checkpoint (cached); raise RunError if it does not exist."""
        checkpoint = self._checkpoints.get((run_id, step))
        if checkpoint is None:
            checkpoint = self.store.checkpoint(run_id, step)
            self._checkpoints.put((run_id, step), checkpoint)
        return checkpoint

    def activation_of(self, run_id: str) -> str:
        """Return the hidden-layer activation a run was trained with."""
        options = self.store.record(run_id).get("options", {})
        return runs.TrainingOptions.from_dict(options).activation

    def model(self, activation: str, *, for_explanations: bool = False) -> SwappableModel:
        """Return the swappable model for this activation (built once), for tensors or for explanations."""
        key = (activation, for_explanations)
        with self._models_lock:
            if key not in self._models:
                self._models[key] = SwappableModel(activation, with_engines=for_explanations,
                                                   input_shape=self._input_shape, classes=self._classes)
            return self._models[key]
