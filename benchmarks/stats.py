"""Percentiles of latency samples, summarised the same way in every benchmark."""

from __future__ import annotations

import numpy as np


def percentile(samples: list[float], q: float) -> float:
    """Return the q-th percentile of the samples (linear interpolation)."""
    return float(np.percentile(np.asarray(samples, dtype=float), q))


def summary(samples_ms: list[float]) -> dict:
    """Return p50 and p95 (ms, two decimals) and the sample count."""
    if not samples_ms:
        return {"p50_ms": None, "p95_ms": None, "n": 0}
    return {"p50_ms": round(percentile(samples_ms, 50), 2), "p95_ms": round(percentile(samples_ms, 95), 2),
            "n": len(samples_ms)}
