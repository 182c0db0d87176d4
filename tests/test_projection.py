"""Projections to 2-D: t-SNE keeps real digits' neighbourhoods and classes; UMAP via the spawned command; bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from sklearn.manifold import trustworthiness

from dashboard import projection, storage

DIGITS = 500


@pytest.fixture(scope="module")
def digits(mnist) -> tuple[np.ndarray, np.ndarray]:
    """500 real MNIST test digits as 784-pixel vectors in [0, 1], and their labels."""
    return mnist.x_test[:DIGITS].reshape(DIGITS, -1), mnist.y_test[:DIGITS]


def nearest_neighbour_accuracy(points: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Return the share of points whose k nearest other points in the map mostly carry their own label."""
    distances = ((points[:, np.newaxis, :] - points[np.newaxis, :, :]) ** 2).sum(axis=-1)
    np.fill_diagonal(distances, np.inf)
    votes = labels[np.argsort(distances, axis=1)[:, :k]]
    predicted = np.array([np.bincount(row, minlength=10).argmax() for row in votes])
    return float((predicted == labels).mean())


def test_tsne_keeps_digit_neighbourhoods_separates_classes_and_reports_both_phases(digits):
    pixels, labels = digits
    reports: list[tuple[float, str]] = []
    coordinates = projection.project(pixels, "tsne", seed=0, report=lambda done, doing: reports.append((done, doing)))
    assert coordinates.shape == (DIGITS, 2) and coordinates.dtype == np.float32
    assert trustworthiness(pixels, coordinates, n_neighbors=10) > 0.9
    assert nearest_neighbour_accuracy(coordinates, labels) > 0.8
    shares = [done for done, _ in reports]
    assert shares[0] >= 0 and shares[-1] == 1.0 and reports[-1][1] == "done"
    assert all(later >= earlier for earlier, later in zip(shares, shares[1:]))
    # openTSNE restarts its count in the main phase; the reports count on across both phases, every 25 iterations.
    counted = (re.fullmatch(r"t-SNE: iteration (\d+) of 750", doing) for _, doing in reports)
    iterations = [int(match[1]) for match in counted if match]
    assert iterations == list(range(25, 751, 25))
    np.testing.assert_array_equal(projection.project(pixels, "tsne", seed=0), coordinates)
    assert not np.array_equal(projection.project(pixels, "tsne", seed=1), coordinates)


def test_umap_in_a_spawned_process_writes_its_coordinates_and_final_progress(digits, tmp_path):
    pixels, labels = digits
    output, progress = tmp_path / "umap.npy", tmp_path / "umap.progress.json"
    projection.run(pixels, "umap", output, progress, seed=0)
    coordinates = np.load(output, allow_pickle=False)
    assert coordinates.shape == (DIGITS, 2) and coordinates.dtype == np.float32
    assert trustworthiness(pixels, coordinates, n_neighbors=10) > 0.85
    assert nearest_neighbour_accuracy(coordinates, labels) > 0.7  # classes cluster, less cleanly than t-SNE's here
    assert storage.read_json(progress) == {"done": 1.0, "doing": "done"}
    # The vectors' temporary file is gone, and no temporary output or progress file is left behind.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["umap.log", "umap.npy", "umap.progress.json"]


def test_bad_input_is_refused_with_a_message(tmp_path):
    vectors = np.random.default_rng(0).random((20, 4))
    with pytest.raises(ValueError, match="'pca' is not one of"):
        projection.project(vectors, "pca")
    with pytest.raises(ValueError, match=r"got shape \(20,\)"):
        projection.project(vectors[:, 0], "tsne")
    with pytest.raises(ValueError, match=r"N >= 5, got shape \(4, 4\)"):
        projection.project(vectors[:4], "umap")
    with pytest.raises(ValueError, match="NaN"):
        projection.project(np.where(vectors > 0.9, np.nan, vectors), "tsne")
    with pytest.raises(ValueError, match="'pca' is not one of"):
        projection.run(vectors, "pca", tmp_path / "out.npy", tmp_path / "progress.json")
    assert list(tmp_path.iterdir()) == []  # refused before any process or file


def test_the_command_fails_without_output_on_a_corrupt_file_bad_vectors_or_a_timeout(digits, tmp_path):
    corrupt, output, progress = tmp_path / "corrupt.npy", tmp_path / "out.npy", tmp_path / "progress.json"
    corrupt.write_bytes(b"\x93NUMPY\x01\x00 this is not an array")
    process = projection.start(corrupt, "tsne", output, progress)
    assert process.wait(timeout=60) == 1
    assert not output.exists() and "Projecting" in output.with_suffix(".log").read_text()
    with pytest.raises(RuntimeError, match=r"exit status 1(.|\n)*N >= 5"):
        projection.run(np.zeros((3, 4)), "umap", output, progress)
    assert not output.exists() and sorted(path.name for path in tmp_path.iterdir()) == ["corrupt.npy", "out.log"]
    with pytest.raises(RuntimeError, match="took over 0.5 s and was stopped"):
        projection.run(digits[0], "tsne", output, progress, timeout=0.5)
    assert not output.exists() and storage.read_json(progress, {"done": 0.0})["done"] < 1.0
