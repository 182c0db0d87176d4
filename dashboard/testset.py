"""The whole test set at once: the confusion matrix, accuracy per class, and the images of one cell of it.

NumPy only: labels and predictions in (the lens's one batched pass over the test set), tables out.
"""

from __future__ import annotations

import dataclasses

import numpy as np

GALLERY_PAGE = 40  # thumbnails per gallery page


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
