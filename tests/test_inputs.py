"""A person's own input (issue 13's first part): drawn strokes and uploads made MNIST-style, checked against arrays
made by hand here, and every bad upload refused with a message."""

from __future__ import annotations

import base64
import io
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from dashboard import inputs


def data_url(raw: bytes, kind: str = "image/png") -> str:
    return f"data:{kind};base64," + base64.b64encode(raw).decode()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_block_is_fitted_into_20_by_20_and_centred_by_mass():
    ink = np.zeros((100, 100), np.float32)
    ink[10:50, 60:80] = 1.0  # 40 tall, 20 wide, off centre
    expected = np.zeros((28, 28), np.float32)
    # Halved to 20 × 10; its centre of mass (9.5, 4.5) goes to (13.5, 13.5): rows 4-23, columns 9-18.
    expected[4:24, 9:19] = 1.0
    np.testing.assert_allclose(inputs.mnist_style(ink), expected, atol=1e-6)


def test_centring_is_by_mass_not_by_the_bounding_box():
    ink = np.zeros((60, 60), np.float32)
    ink[20:40, 30] = 1.0  # an L already 20 × 20: no resizing
    ink[39, 30:50] = 1.0
    rows, columns = np.nonzero(ink[20:40, 30:50])
    mass_row, mass_column = rows.mean(), columns.mean()  # (14.13, 4.87): low and to the left
    top, left = round(13.5 - mass_row), round(13.5 - mass_column)  # (-1, 9): kept inside the image, (0, 8)
    top, left = min(max(top, 0), 8), min(max(left, 0), 8)
    expected = np.zeros((28, 28), np.float32)
    expected[top:top + 20, left:left + 20] = ink[20:40, 30:50]
    found = inputs.mnist_style(ink)
    np.testing.assert_allclose(found, expected, atol=1e-6)
    assert (top, left) == (0, 8) and found[:, :8].sum() == 0  # a bounding-box centring would start at column 4


def test_an_empty_drawing_is_refused():
    with pytest.raises(inputs.InputRefused, match="empty"):
        inputs.mnist_style(np.zeros((50, 50)))
    assert inputs.rasterise_strokes([]).max() == 0


def distance_to(segment: tuple[tuple[float, float], tuple[float, float]], size: int) -> np.ndarray:
    """Return every pixel centre's distance to the segment."""
    (x0, y0), (x1, y1) = segment
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xs - x0) * dx + (ys - y0) * dy) / (dx * dx + dy * dy), 0, 1)
    return np.hypot(xs - (x0 + t * dx), ys - (y0 + t * dy))


def test_strokes_give_the_digit_the_tests_own_rasterisation_gives():
    stroke = ((70.0, 40.0), (150.0, 240.0))  # a "1", slanted
    drawn = inputs.rasterise_strokes([[list(stroke[0]), [110.0, 140.0], list(stroke[1])]], size=280, width=18)
    distance = distance_to(stroke, 280)
    own = (distance <= 9).astype(np.float32)  # the test's own: pixel centres within half the width
    # The same pixels, but for a one-pixel rim where the two disagree on pixel centres.
    assert (drawn[distance <= 8] == 1).all() and (drawn[distance > 10] == 0).all()
    # Made MNIST-style, the same digit, placed the same to within a pixel (the rim can tip the centre of mass's
    # rounding): the best of the nine alignments differs by a few grey levels at most.
    mine, theirs = inputs.mnist_style(drawn), inputs.mnist_style(own)
    best = min((np.abs(np.roll(mine, (dr, dc), axis=(0, 1)) - theirs) for dr in (-1, 0, 1) for dc in (-1, 0, 1)),
               key=lambda difference: difference.mean())
    assert best.mean() < 0.01 and best.max() < 0.25, (best.mean(), best.max())


def test_a_photo_of_dark_ink_on_paper_is_inverted_and_made_mnist_style():
    ink = np.zeros((60, 40), np.float32)
    ink[10:50, 18:24] = 1.0
    paper = Image.fromarray(((1 - ink) * 255).astype(np.uint8)).convert("RGB")  # black on white, as photographed
    picture = inputs.prepare_upload(paper, (28, 28, 1), digit_like=True)
    assert picture.shape == (28, 28, 1)
    np.testing.assert_allclose(picture[..., 0], inputs.mnist_style(ink), atol=1 / 255 + 1e-6)
    # White ink on black (MNIST's own look) is taken as it is.
    dark = Image.fromarray((ink * 255).astype(np.uint8))
    np.testing.assert_allclose(inputs.prepare_upload(dark, (28, 28, 1), digit_like=True), picture, atol=1e-6)


def test_a_colour_upload_is_resized_to_the_models_input():
    image = Image.new("RGB", (50, 70), (255, 128, 0))
    picture = inputs.prepare_upload(image, (32, 32, 3), digit_like=False)
    assert picture.shape == (32, 32, 3)
    np.testing.assert_allclose(picture, np.broadcast_to([1.0, 128 / 255, 0.0], (32, 32, 3)), atol=1e-6)


def test_every_bad_upload_gets_a_message_and_memory_stays_bounded():
    good = png_bytes(Image.new("L", (40, 40), 0))
    assert inputs.decode_upload(data_url(good)).size == (40, 40)
    cases = {
        "not an uploaded file": [None, 42, "hello", "data:image/png;base64"],
        "not base64-encoded": ["data:image/png," + "abc"],
        "not valid base64": ["data:image/png;base64,!!!!"],
        "not a PNG or JPEG": [data_url(b"hello, I am text"), data_url(good[: len(good) // 2])],
        "larger than": [data_url(b"\0" * 4096)],
    }
    for reason, values in cases.items():
        for value in values:
            with pytest.raises(inputs.InputRefused, match=reason):
                inputs.decode_upload(value, max_bytes=2048)
    gif = io.BytesIO()
    Image.new("L", (8, 8)).save(gif, format="GIF")
    with pytest.raises(inputs.InputRefused, match="not a PNG or JPEG"):
        inputs.decode_upload(data_url(gif.getvalue(), "image/gif"))
    # A decompression bomb: 8,000 × 8,000 pixels (64 MB decoded) in a small PNG, refused from its header.
    bomb = data_url(png_bytes(Image.new("L", (8000, 8000), 0)))
    assert len(bomb) < 200_000
    tracemalloc.start()
    with pytest.raises(inputs.InputRefused, match="8,000 × 8,000 pixels"):
        inputs.decode_upload(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5 * 2**20, peak  # the pixels were never decoded


def test_a_big_jpeg_is_decoded_smaller_but_no_smaller_than_asked_and_gives_the_same_digit():
    ink = np.zeros((1200, 1600), np.float32)
    ink[200:1000, 700:860] = 1.0  # a "1" on paper, as a phone photographs it
    buffer = io.BytesIO()
    Image.fromarray(((1 - ink) * 255).astype(np.uint8)).save(buffer, format="JPEG", quality=95)
    contents = data_url(buffer.getvalue(), "image/jpeg")
    full = inputs.decode_upload(contents)
    reduced = inputs.decode_upload(contents, at_least=(224, 224))
    assert full.size == (1600, 1200) and inputs.file_size(full) == (1600, 1200)
    # JPEG's own scaling is 1/2, 1/4 or 1/8: 1/4 keeps both sides at least 224 (400×300), 1/8 would not.
    assert reduced.size == (400, 300) and inputs.file_size(reduced) == (1600, 1200)
    made = [inputs.prepare_upload(image, (28, 28, 1), digit_like=True) for image in (full, reduced)]
    assert np.abs(made[0] - made[1]).max() <= 2 / 255
    # A PNG has no such scaling: decoded whole.
    png = inputs.decode_upload(data_url(png_bytes(Image.new("L", (900, 600)))), at_least=(224, 224))
    assert png.size == (900, 600)
