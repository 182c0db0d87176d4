"""Image values (issue 13): a test index, an own image's pixels carried in the value, a stored upload, each with
an edit; every damaged or hostile value refused with a message and bounded memory."""

from __future__ import annotations

import base64
import struct
import tracemalloc
import zlib

import numpy as np
import pytest

from dashboard import edits, image_keys
from dashboard.image_keys import BadImageKey


def drawn_digit() -> np.ndarray:
    picture = np.zeros((28, 28, 1), np.float32)
    picture[5:23, 13:16] = 1.0
    picture[5:8, 9:16] = 0.5
    return picture


def raw_code(payload: bytes) -> str:
    return image_keys.OWN + base64.urlsafe_b64encode(zlib.compress(payload)).decode().rstrip("=")


def test_a_drawn_digit_round_trips_at_8_bits_and_stays_short():
    picture = drawn_digit()
    code = image_keys.encode_pixels(picture, origin=image_keys.DRAWN, label=1)
    assert code.startswith("px:") and len(code) < 400
    own = image_keys.decode_pixels(code)
    np.testing.assert_array_equal(own.picture, np.round(picture * 255) / 255)
    assert own.origin == image_keys.DRAWN and own.label == 1 and own.picture.dtype == np.float32


def test_eight_bit_values_are_kept_exactly():
    picture = (np.arange(28 * 28 * 3) % 256).reshape(28, 28, 3).astype(np.float32) / 255
    own = image_keys.decode_pixels(image_keys.encode_pixels(picture, origin=image_keys.UPLOADED))
    np.testing.assert_array_equal(own.picture, picture)
    assert own.label is None


def test_relabel_keeps_the_pixels():
    code = image_keys.encode_pixels(drawn_digit(), origin=image_keys.DRAWN)
    relabelled = image_keys.relabel(code, 7)
    assert image_keys.decode_pixels(relabelled).label == 7
    np.testing.assert_array_equal(image_keys.decode_pixels(relabelled).picture, image_keys.decode_pixels(code).picture)
    assert image_keys.decode_pixels(image_keys.relabel(relabelled, None)).label is None


@pytest.mark.parametrize("value, index", [(0, 0), (42, 42), (42.0, 42), ("42", 42), (99, 99)])
def test_a_test_index_in_any_spelling_names_that_image(value, index):
    ref = image_keys.parse(value, 100)
    assert ref.index == index and ref.own is None and ref.edit.is_identity and ref.value == index


def test_an_edited_value_keeps_its_base_and_edit():
    code = image_keys.encode_pixels(drawn_digit(), origin=image_keys.DRAWN)
    ref = image_keys.parse(f"{code}|x=3,r=15", 100)
    assert ref.own == code and ref.base == code and ref.edit == edits.Edit(shift_x=3, rotate=15)
    assert ref.value == f"{code}|x=3,r=15"
    assert ref.with_edit(edits.NONE).value == code
    assert image_keys.parse("7|n=0.2", 100).with_edit(edits.Edit(scale=1.5)).value == "7|s=1.5"


@pytest.mark.parametrize("value, words", [
    (100, "out of range"), (-1, "out of range"), (10**15, "that large"), (True, "No image"), (None, "No image"),
    (1.5, "test index"), ([1], "test index"), ("cat", "No image"), ("px:", "damaged"), ("px:!!!!", "damaged"),
    ("42|x=99", "edit"), ("42|bogus", "edit"), ("up:../../etc/passwd", "not valid"), ("x" * 5000, "too long"),
    ("9999999999", "No image"),
])
def test_a_value_that_names_no_image_says_why(value, words):
    with pytest.raises(BadImageKey, match=words):
        image_keys.parse(value, 100)


def test_a_code_cut_short_by_copying_is_damaged():
    code = image_keys.encode_pixels(drawn_digit(), origin=image_keys.DRAWN)
    for cut in (len(code) - 1, len(code) - 10, len(code) // 2, 8):
        with pytest.raises(BadImageKey, match="damaged"):
            image_keys.parse(code[:cut], 100)


def test_header_sizes_that_do_not_match_the_pixels_are_refused():
    header = struct.Struct(">BHHBBB")
    with pytest.raises(BadImageKey, match="damaged"):
        image_keys.decode_pixels(raw_code(header.pack(1, 28, 28, 1, 1, 255) + bytes(100)))
    with pytest.raises(BadImageKey, match="damaged"):
        image_keys.decode_pixels(raw_code(header.pack(1, 2, 2, 1, 1, 255) + bytes(5)))
    with pytest.raises(BadImageKey, match="not one this version"):
        image_keys.decode_pixels(raw_code(header.pack(9, 2, 2, 1, 1, 255) + bytes(4)))
    with pytest.raises(BadImageKey, match="not one this version"):
        image_keys.decode_pixels(raw_code(header.pack(1, 2, 2, 4, 1, 255) + bytes(16)))


def test_a_decompression_bomb_in_a_link_is_refused_in_bounded_memory():
    # 200 MB of zeros compress to about 200 kB, beyond a link's length; within the length limit a header may
    # still claim the largest image (1024×1024×3, 3 MB) and carry far more: only that much plus one is inflated.
    header = struct.Struct(">BHHBBB").pack(1, 1024, 1024, 3, 1, 255)
    bomb = raw_code(header + bytes(50_000_000))
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(BadImageKey, match="damaged"):
            image_keys.decode_pixels(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


def test_large_pictures_are_stored_by_hash_and_read_back(tmp_path):
    store = image_keys.ImageStore(tmp_path / "inputs")
    small = store.put(drawn_digit(), origin=image_keys.DRAWN)
    assert small.startswith("px:") and not (tmp_path / "inputs").exists()
    photo = np.random.default_rng(0).random((96, 96, 3)).astype(np.float32)
    value = store.put(photo, origin=image_keys.UPLOADED, label=3)
    assert value.startswith("up:") and len(value) == 35
    assert store.put(photo, origin=image_keys.UPLOADED, label=3) == value  # the same content, the same name
    own = store.get(value)
    np.testing.assert_array_equal(own.picture, np.round(photo * 255) / 255)
    assert own.label == 3 and own.origin == image_keys.UPLOADED
    assert image_keys.parse(value + "|r=90", 100).own == value
    np.testing.assert_array_equal(store.get(small).picture, image_keys.decode_pixels(small).picture)
    assert list((tmp_path / "inputs").glob("*.tmp")) == []


def test_an_unknown_or_tampered_stored_name_is_refused(tmp_path):
    store = image_keys.ImageStore(tmp_path)
    with pytest.raises(BadImageKey, match="not on this server"):
        store.get("up:" + "a" * 32)
    with pytest.raises(BadImageKey, match="not valid"):
        store.get("up:../" + "a" * 29)
    (tmp_path / ("b" * 32 + ".txt")).write_text("px:garbage", encoding="ascii")
    with pytest.raises(BadImageKey, match="damaged"):
        store.get("up:" + "b" * 32)


@pytest.mark.parametrize("shape", [(28, 28), (0, 28, 1), (28, 28, 2), (2000, 10, 1)])
def test_a_picture_that_is_no_image_cannot_be_encoded(shape):
    with pytest.raises(ValueError):
        image_keys.encode_pixels(np.zeros(shape, np.float32), origin=image_keys.DRAWN)


def drawing_bytes(*strokes: list[tuple[int, int]], size: int = 192, width: int = 16, label: int = 255) -> bytes:
    """The bytes of a "st:" code, written here from its documented layout."""
    out = bytes([1, size, width, label])
    for stroke in strokes:
        out += struct.pack(">H", len(stroke)) + bytes(v for point in stroke for v in point)
    return out


def drawing_code(payload: bytes) -> str:
    return image_keys.DRAWING + base64.urlsafe_b64encode(payload).decode().rstrip("=")


def test_a_drawing_is_carried_as_its_strokes_rounded_half_up_without_repeats():
    value = image_keys.encode_drawing([[(60.4, 30.5), (60.2, 30.6), (130, 30)], [(1000, -5)], []], size=192,
                                      width=16, label=7)
    # 30.5 rounds up to 31 (not to even); the repeated (60, 31) is dropped; off-pad points are kept on the pad.
    assert value == drawing_code(drawing_bytes([(60, 31), (130, 30)], [(192, 0)], label=7))
    drawing = image_keys.decode_drawing(value)
    assert drawing == image_keys.Drawing((((60, 31), (130, 30)), ((192, 0),)), 192, 16, 7)
    ref = image_keys.parse(f"{value}|r=15", 100)
    assert ref.own == value and ref.edit == edits.Edit(rotate=15.0)
    assert image_keys.decode_drawing(image_keys.encode_drawing([[(1, 1)]], size=192, width=16)).label is None


@pytest.mark.parametrize("payload, words", [
    (drawing_bytes([(1, 1), (2, 2)])[:-1], "damaged"),  # cut short inside a stroke
    (drawing_bytes([(1, 1)]) + b"\x00", "damaged"),  # half a stroke header
    (drawing_bytes([]), "damaged"),  # a stroke of no points
    (drawing_bytes([(193, 1)]), "damaged"),  # off a 192-pixel pad
    (bytes([2, 192, 16, 255]), "not one this version"),
    (drawing_bytes(*[[(1, 1)]] * (image_keys.MAX_STROKES + 1)), f"at most {image_keys.MAX_STROKES} strokes"),
    (drawing_bytes(*[[(i % 100, i // 100) for i in range(2001)]] * 2), f"at most {image_keys.MAX_POINTS} points"),
    (b"\x01", "damaged"),
])
def test_a_damaged_or_hostile_drawing_is_refused_with_a_reason(payload, words):
    code = drawing_code(payload)
    with pytest.raises(BadImageKey, match=words if len(code) <= image_keys.MAX_KEY else "too long"):
        image_keys.parse(code, 100)
    with pytest.raises(BadImageKey, match=words):  # the decoder's own guards, whatever the code's length
        image_keys.decode_drawing(code)


def test_bad_base64_in_a_drawing_is_refused():
    with pytest.raises(BadImageKey, match="damaged"):
        image_keys.parse(image_keys.DRAWING + "!!!", 100)
