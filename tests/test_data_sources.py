"""Data beyond MNIST: an .npz of any image shape, a folder of images per class, Keras dataset names offline."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from dashboard import data


def rgb_npz(path, n_train=240, n_test=60, classes=3, size=16):
    """Write an .npz of synthetic RGB images: class c is brightest in colour channel c."""
    rng = np.random.default_rng(0)

    def images(n):
        labels = rng.integers(0, classes, n)
        pixels = rng.integers(0, 80, (n, size, size, 3)).astype(np.uint8)
        for i, label in enumerate(labels):
            pixels[i, :, :, label % 3] += 150
        return pixels, labels

    x_train, y_train = images(n_train)
    x_test, y_test = images(n_test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return x_test, y_test


def test_rgb_npz_keeps_its_shape_and_takes_names_from_a_json_beside_it(tmp_path):
    path = tmp_path / "shapes.npz"
    x_test, y_test = rgb_npz(path)
    (tmp_path / "shapes.json").write_text(json.dumps({"class_names": ["reddish", "greenish", "bluish"]}))
    dataset = data.load_data(path)
    assert dataset.image_shape == (16, 16, 3) and dataset.classes == 3
    assert dataset.class_names == ("reddish", "greenish", "bluish") and dataset.noun == "image"
    np.testing.assert_array_equal(dataset.x_test, x_test.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(dataset.y_test, y_test)
    assert "60 test images" in dataset.describe()


def test_npz_floats_outside_0_1_and_labels_past_the_names_are_refused(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x_train=np.full((4, 12, 12, 3), 2.0), y_train=[0, 1, 0, 1], x_test=np.zeros((2, 12, 12, 3)),
             y_test=[0, 1])
    with pytest.raises(data.DataError, match=r"float images must lie in \[0, 1\]"):
        data.load_data(path)
    np.savez(path, x_train=np.zeros((4, 12, 12, 3)), y_train=[0, 1, 0, 5], x_test=np.zeros((2, 12, 12, 3)),
             y_test=[0, 1])
    (tmp_path / "bad.json").write_text(json.dumps(["a", "b"]))
    with pytest.raises(data.DataError, match=r"labels must be 4 integers in 0..1"):
        data.load_data(path)


def write_image_folder(folder, per_class=6):
    """Write PNGs and JPEGs in one sub-folder per class (each class its own colour), and one unreadable file."""
    from PIL import Image

    colours = {"cat": (220, 40, 40), "dog": (40, 220, 40), "fox": (40, 40, 220)}
    for name, colour in colours.items():
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((20, 24, 3), colour, np.uint8)
            pixels[i:i + 4, i:i + 4] = 255
            suffix = "png" if i % 2 else "jpg"
            Image.fromarray(pixels).save(folder / name / f"{i}.{suffix}")
    (folder / "dog" / "broken.png").write_bytes(b"this is not a PNG")
    # A picture of another size is resized to the first image's.
    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(folder / "fox" / "big.png")
    return colours


def test_image_folder_reads_png_and_jpeg_skips_the_unreadable_and_splits_by_class(tmp_path, caplog):
    colours = write_image_folder(tmp_path / "pets")
    with caplog.at_level(logging.WARNING):
        dataset = data.load_data(tmp_path / "pets")
    assert "broken.png" in caplog.text and "not a readable image" in caplog.text
    assert dataset.class_names == ("cat", "dog", "fox") and dataset.image_shape == (20, 24, 3)
    assert len(dataset.x_train) + len(dataset.x_test) == 19  # 6 + 6 + 7, the broken file skipped
    assert np.bincount(dataset.y_test).tolist() == [1, 1, 1]  # round(0.2 * 6), round(0.2 * 6), round(0.2 * 7)
    # Each image's corner pixel has its class's colour (JPEG within its loss).
    for image, label in zip(dataset.x_test, dataset.y_test):
        expected = np.array(colours[dataset.class_names[label]]) / 255.0
        if image[-1, -1].max() > 0:  # the resized black picture has no colour to check
            np.testing.assert_allclose(image[-1, -1], expected, atol=0.08)


def test_image_folder_with_train_and_test_and_display_names(tmp_path):
    write_image_folder(tmp_path / "set" / "train")
    write_image_folder(tmp_path / "set" / "test", per_class=2)
    (tmp_path / "set" / "classes.json").write_text(json.dumps(["Cat", "Dog", "Fox"]))
    dataset = data.load_data(tmp_path / "set")
    assert len(dataset.x_test) == 7 and dataset.class_names == ("Cat", "Dog", "Fox")


def test_greyscale_folder_gives_one_channel(tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.fromarray(np.full((10, 10), 40 * i, np.uint8)).save(tmp_path / name / f"{i}.png")
    assert data.load_data(tmp_path).image_shape == (10, 10, 1)


@pytest.mark.parametrize("name", ["fashion_mnist", "cifar10"])
def test_keras_dataset_names_offline_say_what_to_do(name, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty Keras cache
    with pytest.raises(data.DataError, match=rf"{name} is not in Keras's cache .*--offline is set"):
        data.load_data(name, offline=True)


def test_unknown_data_name_is_a_clear_message():
    with pytest.raises(data.DataError, match="no such file or folder, and not a Keras dataset name"):
        data.load_data("imagenet-22k")
