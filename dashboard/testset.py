"""The whole test set at once: the confusion matrix, accuracy per class, and the images of one cell of it.

NumPy only: labels and predictions in (the lens's one batched pass over the test set), tables out.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

from dashboard import storage

GALLERY_PAGE = 40  # thumbnails per gallery page
CACHE_FOLDER = "testset"  # beside the model: one .npz per model and test set
RELU_KINDS = ("relu", "relu6", "leaky_relu")


@dataclasses.dataclass
class TestPass:
    """One model's pass over the whole test set: "probabilities" (N, classes); for each map layer L, "L/max",
    "L/mean" and "L/argmax" (N, C); for each kept vector layer, "L/vector" (N, units)."""

    __test__ = False  # a class named Test*, not a pytest test class

    version: str
    arrays: dict[str, np.ndarray]

    @property
    def probabilities(self) -> np.ndarray:
        return self.arrays["probabilities"]

    def channel(self, layer: str, kind: str) -> np.ndarray:
        """Return one map layer's per-image, per-channel summary: "max", "mean" or "argmax" (N, C)."""
        return self.arrays[f"{layer}/{kind}"]

    def vector(self, layer: str) -> np.ndarray:
        """Return one vector layer's activations for every test image (N, units); KeyError if not kept."""
        return self.arrays[f"{layer}/vector"]

    def save(self, path: Path) -> None:
        """Write the pass as one .npz, atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # numpy's stubs read **arrays as its allow_pickle keyword; the keys here are layer names.
        storage.atomic_write(path, lambda temp: np.savez(temp, **self.arrays), suffix=".npz")  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path, version: str) -> TestPass | None:
        """Return the pass kept at `path`, or None when there is none or it cannot be read (then it is
        computed again)."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                return cls(version, {key: stored[key] for key in stored.files})
        except (OSError, ValueError, zipfile.BadZipFile, EOFError):
            return None


def is_relu_family(activation: str | None, kind: str) -> bool:
    """Return whether a layer's output is a ReLU's (zero means "not active"), so a channel never above zero over
    the test set is dead."""
    return (activation or "") in RELU_KINDS or kind == "ReLU"


def dead_channels(summary_max: np.ndarray) -> np.ndarray:
    """Return the channels (of a ReLU-family layer) that are zero for every test image: their max is never
    above 0."""
    return np.flatnonzero(np.asarray(summary_max).max(axis=0) <= 0)


def map_sample(count: int, wrong: np.ndarray, budget: int, *, seed: int = 0, keep: int | None = None) -> np.ndarray:
    """Return the (sorted) indices of the test images the embedding map draws: all of them up to `budget`, else
    every mistake (up to the budget) and `keep` (the picked image), then a seeded random sample of the rest."""
    if count <= budget:
        return np.arange(count)
    wrong = np.asarray(wrong, bool)
    chosen = np.flatnonzero(wrong)[:budget]
    if keep is not None and 0 <= keep < count and not wrong[keep] and len(chosen) < budget:
        chosen = np.append(chosen, keep)
    rest = np.setdiff1d(np.arange(count), chosen, assume_unique=False)
    extra = np.random.default_rng(seed).choice(rest, size=budget - len(chosen), replace=False)
    return np.sort(np.concatenate([chosen, extra]).astype(np.int64))


def pca(values: np.ndarray, dimensions: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Return (coordinates (N, dimensions), share of the variance each explains): the data centred, projected
    on its first principal directions (from the SVD)."""
    values = np.asarray(values, np.float64)
    centred = values - values.mean(axis=0)
    _, singular, right = np.linalg.svd(centred, full_matrices=False)
    total = float((singular ** 2).sum()) or 1.0
    return centred @ right[:dimensions].T, (singular[:dimensions] ** 2) / total


@dataclasses.dataclass(frozen=True)
class Confusion:
    """Counts of (true class, predicted class) over the test set, and what follows from them."""

    counts: np.ndarray  # (classes, classes): rows true, columns predicted

    @property
    def by_row(self) -> np.ndarray:
        """Return each row divided by its total: the share of each true class predicted as each class."""
        totals = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, totals, out=np.zeros(self.counts.shape, np.float64), where=totals > 0)

    @property
    def class_accuracy(self) -> np.ndarray:
        """Return the share of each true class predicted right (NaN for a class with no test images)."""
        totals = self.counts.sum(axis=1).astype(np.float64)
        right = np.diag(self.counts).astype(np.float64)
        return np.divide(right, totals, out=np.full(totals.shape, np.nan), where=totals > 0)

    @property
    def accuracy(self) -> float:
        """Return the share of all test images predicted right."""
        total = int(self.counts.sum())
        return float(np.trace(self.counts) / total) if total else float("nan")


def confusion(labels: np.ndarray, predicted: np.ndarray, classes: int) -> Confusion:
    """Return the confusion counts of predictions against true labels."""
    labels, predicted = np.asarray(labels, np.int64), np.asarray(predicted, np.int64)
    if labels.shape != predicted.shape:
        raise ValueError(f"{labels.shape[0]} labels for {predicted.shape[0]} predictions")
    counts = np.zeros((classes, classes), np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return Confusion(counts)


def cell_members(labels: np.ndarray, predicted: np.ndarray, confidence: np.ndarray, true_class: int,
                 predicted_class: int) -> np.ndarray:
    """Return the test indices whose true class and prediction are the cell's, most confident first (ties: by
    index)."""
    members = np.flatnonzero((np.asarray(labels) == true_class) & (np.asarray(predicted) == predicted_class))
    order = np.lexsort((members, -np.asarray(confidence)[members]))
    return members[order]


def page_of(members: np.ndarray, page: int, size: int = GALLERY_PAGE) -> np.ndarray:
    """Return one page of a cell's members (page 0 first; a page past the end is the last one)."""
    pages = max(1, -(-len(members) // size))
    page = min(max(int(page), 0), pages - 1)
    return members[page * size:(page + 1) * size]


def pages(count: int, size: int = GALLERY_PAGE) -> int:
    """Return how many gallery pages `count` images fill (at least one)."""
    return max(1, -(-count // size))


def top_images(summary_max: np.ndarray, channel: int, count: int = 9) -> np.ndarray:
    """Return the test indices where a channel's largest activation is highest, highest first (ties: by index)."""
    column = np.asarray(summary_max)[:, channel]
    order = np.lexsort((np.arange(len(column)), -column))
    return order[:count]
