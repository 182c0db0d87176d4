"""Measurements that need no server: the naive pipeline, the model's own work, the attribution methods."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.naive import NaivePipeline
from benchmarks.stats import summary
from dashboard.config import Settings
from dashboard.model_service import load_cached_model


def _time_calls(calls: list[Callable[[], object]]) -> dict:
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return summary(samples)


DIGIT_CHANGE_VIEW, LAYER_VIEW = "digit change", "layer view"


def measure_naive(model_dir: Path, dataset, jobs: dict[str, tuple[str, list[tuple[int, str | None]]]],
                  warmup_digit: int = 0) -> dict:
    """Time the seed's pipeline on the same model and on the captured (digit, layer) of each row's actions.

    jobs maps a row name to (DIGIT_CHANGE_VIEW or LAYER_VIEW, the actions' (digit, layer)). A layer the naive
    model lacks falls back to its first layer; an action without a digit is skipped.
    """
    model, _ = load_cached_model(model_dir)
    naive = NaivePipeline(model)
    names = [layer.name for layer in naive.layers]
    x, y = dataset.x_test, dataset.y_test
    naive.digit_change_json(x[warmup_digit], int(y[warmup_digit]), names[0])  # traces; not timed
    results = {}
    for row, (view, pairs) in jobs.items():
        pairs = [(digit, layer if layer in names else names[0]) for digit, layer in pairs if digit is not None]
        if not pairs:
            continue
        if view == LAYER_VIEW:
            calls = [lambda d=d, layer=layer: naive.layer_view_json(x[d], layer) for d, layer in pairs]
        else:
            calls = [lambda d=d, layer=layer: naive.digit_change_json(x[d], int(y[d]), layer) for d, layer in pairs]
        results[row] = _time_calls(calls)
    started = time.perf_counter()
    model.predict(x, batch_size=500, verbose=0)
    results["evaluate test set (model.predict)"] = {"seconds": round(time.perf_counter() - started, 3)}
    return results


def measure_model_work(model_dir: Path, dataset) -> dict:
    """Seconds per training epoch, and time to evaluate the whole test set with the compiled call."""
    from dashboard.model_service import ModelService, train_seed_model

    _, run = train_seed_model(dataset, epochs=2, batch_size=128)
    served = ModelService(model_dir).load_or_train(dataset, epochs=Settings().epochs)
    served.extractor.probabilities(dataset.x_test[:10])
    started = time.perf_counter()
    served.extractor.probabilities(dataset.x_test)
    evaluate = time.perf_counter() - started
    return {"train_digits": run["train_digits"], "train_seconds_2_epochs": run["train_seconds"],
            "seconds_per_epoch": round(run["train_seconds"] / 2, 2),
            "evaluate_test_set_seconds": round(evaluate, 3), "test_digits": len(dataset.x_test)}


def measure_attributions(model_dir: Path, dataset, repeats: int = 20) -> dict:
    """Median ms of the one compiled attribution call, per method's share of it, after warm-up."""
    from dashboard.attributions import (
        MAX_IG_STEPS,
        MAX_SMOOTHGRAD_SAMPLES,
        AttributionEngine,
        AttributionRequest,
        class_score,
    )

    engine = AttributionEngine(load_cached_model(model_dir)[0])
    configurations = {
        "gradient, gradient × input, Grad-CAM (batch of 3)": dict(smoothgrad_samples=1, ig_steps=1),
        "+ SmoothGrad n = 50": dict(smoothgrad_samples=50, ig_steps=1),
        "+ Integrated Gradients, 64 steps": dict(smoothgrad_samples=1, ig_steps=64),
        "all methods at their defaults (one call)": dict(smoothgrad_samples=50, ig_steps=64),
        "all methods at the caps (200 samples, 256 steps)": dict(smoothgrad_samples=MAX_SMOOTHGRAD_SAMPLES,
                                                                  ig_steps=MAX_IG_STEPS),
    }
    results = {}
    for name, parameters in configurations.items():
        request = AttributionRequest(class_score(10, 0), **parameters)
        for warm in range(3):
            engine.explain(dataset.x_test[warm], request)
        results[name] = _time_calls([lambda i=index, r=request: engine.explain(dataset.x_test[i], r)
                                     for index in range(repeats)])
    return results
