"""The application service: search, predictions and the per-digit tensor cache."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from dashboard.lens import Lens


def test_predictions_agree_with_keras_evaluation(lens):
    predictions = lens.predictions()
    # model.evaluate's accuracy, recorded at training time, is an independent computation of the same number.
    assert predictions.accuracy == pytest.approx(lens.served.metadata["test_accuracy"], abs=1e-6)
    wrong = predictions.misclassified
    assert np.all(predictions.predicted[wrong] != lens.data.y_test[wrong])


def test_search_understands_index_true_and_predicted(lens):
    assert [s.index for s in lens.search("42", misclassified_only=False)][0] == 42
    sevens = lens.search("true 7 pred 7", misclassified_only=False, limit=500)
    assert sevens and all(s.label == 7 and s.predicted == 7 for s in sevens)
    assert all(not s.correct for s in lens.search("", misclassified_only=True, limit=1000))
    assert lens.search("99999", misclassified_only=False) == []


def test_concurrent_requests_for_one_digit_compute_once(lens):
    calls = []
    extractor = lens.served.extractor
    original = extractor.digit_tensors

    counting = Lens(lens.data, lens.models)  # a fresh, empty cache over the same model

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    extractor.digit_tensors = counted
    try:
        threads = [threading.Thread(target=counting.tensors, args=(321,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        del extractor.digit_tensors
    assert len(calls) == 1


def test_lru_cache_drops_the_least_recently_used():
    from dashboard.lru import LruCache

    cache = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    cache.clear()
    assert cache.get("a") is None
