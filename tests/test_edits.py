"""What-if edits (issue 13): each edit checked against an array made by hand here or a NumPy identity, and the text
form every link carries round-tripped and refused when malformed."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard import edits
from dashboard.edits import Edit


def impulse(row: int, column: int, size: int = 9, channels: int = 1) -> np.ndarray:
    picture = np.zeros((size, size, channels), np.float32)
    picture[row, column] = 1.0
    return picture


def test_no_edit_returns_an_identical_copy():
    picture = np.random.default_rng(0).random((28, 28, 1)).astype(np.float32)
    edited = edits.apply(picture, edits.NONE)
    assert edited is not picture
    np.testing.assert_array_equal(edited, picture)
    assert edits.NONE.is_identity and not Edit(shift_x=1).is_identity


@pytest.mark.parametrize("dx, dy", [(2, 0), (0, 3), (-1, -4), (3, -2)])
def test_a_shift_moves_a_single_pixel_by_exactly_that_many_pixels(dx, dy):
    moved = edits.apply(impulse(4, 4), Edit(shift_x=dx, shift_y=dy))
    np.testing.assert_array_equal(moved, impulse(4 + dy, 4 + dx))


def test_a_shift_drops_what_leaves_the_image_and_fills_with_background():
    picture = np.ones((5, 5, 1), np.float32)
    moved = edits.apply(picture, Edit(shift_x=2))
    expected = np.ones((5, 5, 1), np.float32)
    expected[:, :2] = 0.0
    np.testing.assert_array_equal(moved, expected)


def test_a_quarter_turn_counter_clockwise_is_numpys_rot90():
    picture = np.random.default_rng(1).random((7, 7, 1)).astype(np.float32)
    np.testing.assert_allclose(edits.apply(picture, Edit(rotate=90)), np.rot90(picture, 1, axes=(0, 1)), atol=1e-6)
    np.testing.assert_allclose(edits.apply(picture, Edit(rotate=-90)), np.rot90(picture, -1, axes=(0, 1)), atol=1e-6)


def test_a_half_turn_flips_both_axes():
    picture = np.random.default_rng(2).random((6, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(edits.apply(picture, Edit(rotate=180)), picture[::-1, ::-1], atol=1e-6)


def test_scaling_by_two_spreads_pixels_away_from_the_centre():
    # An impulse one pixel right of the centre of a 9×9 image lands two pixels right of it at ×2 (bilinear, so its
    # neighbours share the ink); the total ink grows about four-fold as an area does.
    scaled = edits.apply(impulse(4, 5), Edit(scale=2.0))[..., 0]
    assert scaled[4, 6] == pytest.approx(1.0)
    assert scaled[4, 4] == 0.0
    assert scaled.sum() == pytest.approx(4.0, abs=0.01)


def test_scaling_by_a_half_shrinks_a_block_about_the_centre():
    picture = np.zeros((9, 9, 1), np.float32)
    picture[2:7, 2:7] = 1.0  # 5×5 block centred at (4, 4)
    shrunk = edits.apply(picture, Edit(scale=0.5))[..., 0]
    rows, columns = np.nonzero(shrunk > 0.5)
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (3, 5, 3, 5)
    assert shrunk[4, 4] == pytest.approx(1.0) and shrunk[0, 0] == 0.0


def test_erase_sets_exactly_the_rectangle_to_background():
    picture = np.ones((10, 10, 1), np.float32)
    erased = edits.apply(picture, Edit(erase=(2, 3, 5, 7)))
    expected = np.ones((10, 10, 1), np.float32)
    expected[2:5, 3:7] = 0.0
    np.testing.assert_array_equal(erased, expected)


def test_noise_is_deterministic_for_a_seed_has_its_spread_and_stays_in_range():
    picture = np.full((100, 100, 1), 0.5, np.float32)
    noisy = edits.apply(picture, Edit(noise=0.1), seed=7)
    np.testing.assert_array_equal(noisy, edits.apply(picture, Edit(noise=0.1), seed=7))
    assert not np.array_equal(noisy, edits.apply(picture, Edit(noise=0.1), seed=8))
    assert np.std(noisy - picture) == pytest.approx(0.1, rel=0.05)
    big = edits.apply(picture, Edit(noise=1.0), seed=7)
    assert big.min() >= 0.0 and big.max() <= 1.0 and (big == 0).any() and (big == 1).any()


def test_colour_pictures_keep_their_channels_apart():
    picture = np.zeros((9, 9, 3), np.float32)
    picture[4, 4] = (0.2, 0.5, 0.9)
    moved = edits.apply(picture, Edit(shift_x=1, rotate=90))
    # Rotation about the centre leaves (4, 4) where it is; the shift then moves it one column right.
    np.testing.assert_allclose(moved[4, 5], (0.2, 0.5, 0.9), atol=1e-6)
    assert moved.sum() == pytest.approx(1.6, abs=1e-5)


def test_the_picture_given_is_never_changed():
    picture = np.random.default_rng(3).random((8, 8, 1)).astype(np.float32)
    before = picture.copy()
    edits.apply(picture, Edit(shift_x=2, rotate=30, scale=1.5, noise=0.2, erase=(0, 0, 3, 3)), seed=1)
    np.testing.assert_array_equal(picture, before)


@pytest.mark.parametrize("edit", [
    Edit(), Edit(shift_x=3), Edit(shift_y=-14), Edit(rotate=15.5), Edit(scale=1.25), Edit(noise=0.1),
    Edit(erase=(3, 5, 9, 12)), Edit(shift_x=-2, shift_y=5, rotate=-90, scale=0.5, noise=0.35, erase=(0, 0, 28, 28)),
    Edit(rotate=1 / 3),
])
def test_the_text_form_round_trips(edit):
    text = edits.to_text(edit)
    assert edits.from_text(text) == edit
    assert len(text) <= edits.MAX_TEXT


def test_the_text_form_names_only_what_changed():
    assert edits.to_text(edits.NONE) == ""
    assert edits.to_text(Edit(shift_x=3, rotate=15, erase=(3, 5, 9, 12))) == "x=3,r=15,e=3-5-9-12"


@pytest.mark.parametrize("text", [
    "x", "x=", "=3", "q=1", "x=1,x=2", "x=1.5", "x=15", "x=٣", "r=abc", "r=200", "r=nan", "s=0.1", "s=inf",
    "n=-0.1", "e=1-2-3", "e=5-5-2-9", "e=a-b-c-d", "x=1;y=2", "x=1,", "r=" + "1" * 200,
])
def test_a_malformed_text_form_is_refused_with_a_message(text):
    with pytest.raises(ValueError) as error:
        edits.from_text(text)
    assert str(error.value)


def test_a_text_form_that_is_not_text_is_refused():
    with pytest.raises(ValueError, match="text"):
        edits.from_text(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("fields", [
    {"shift_x": 1.5}, {"shift_y": True}, {"rotate": float("nan")}, {"scale": 3}, {"noise": "0.1"},
    {"erase": (1, 2, 3)}, {"erase": (4, 4, 2, 8)}, {"erase": (-1, 0, 2, 2)},
])
def test_bad_fields_raise(fields):
    with pytest.raises(ValueError):
        Edit(**fields)


def test_an_edit_that_does_not_fit_the_image_is_refused():
    with pytest.raises(ValueError, match="outside"):
        edits.apply(np.zeros((28, 28, 1), np.float32), Edit(erase=(0, 0, 30, 10)))
    with pytest.raises(ValueError, match="more than"):
        edits.validate(Edit(shift_x=10), (8, 8, 1))


def test_describe_says_each_edit_in_words():
    assert edits.describe(edits.NONE) == ""
    words = edits.describe(Edit(shift_x=3, shift_y=-2, rotate=-15, scale=1.2, noise=0.1, erase=(3, 5, 4, 9)))
    assert words == ("shifted 3 px right and 2 px up, rotated 15° clockwise, scaled ×1.2, noise σ 0.1, "
                     "rectangle row 3 × columns 5–8 erased")
