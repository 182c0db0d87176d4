"""What-if edits of an image: shift, rotate, scale, add noise, erase a rectangle; and their short text form.

Pictures are float arrays (H, W, C) in [0, 1]; the background is 0. The text form (for links and dropdown values)
is comma-separated key=value pairs holding only what differs from no edit, e.g. "x=3,y=-2,r=15,s=1.2,n=0.1,e=3-5-9-12".
NumPy and scipy.ndimage only.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
from scipy import ndimage

MAX_SHIFT = 14
MAX_ROTATE = 180.0
MIN_SCALE, MAX_SCALE = 0.5, 2.0
MAX_NOISE = 1.0
# Erase coordinates stay within four digits (images are far smaller), so an edit's text stays short.
MAX_COORDINATE = 9999
MAX_TEXT = 100

# Short key in the text form -> field, in the order the text writes them.
_KEYS = {"x": "shift_x", "y": "shift_y", "r": "rotate", "s": "scale", "n": "noise", "e": "erase"}
_LABELS = {"shift_x": "horizontal shift", "shift_y": "vertical shift", "rotate": "rotation", "scale": "scale",
           "noise": "noise"}
_FLOAT_RANGES = {"rotate": (-MAX_ROTATE, MAX_ROTATE), "scale": (MIN_SCALE, MAX_SCALE), "noise": (0.0, MAX_NOISE)}
# ASCII digits only: Python's \d and int() also take other scripts' digits, which no link should carry.
_INTEGER = re.compile(r"-?[0-9]{1,4}")
_NUMBER = re.compile(r"-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")
_RECTANGLE = re.compile(r"([0-9]{1,4})-([0-9]{1,4})-([0-9]{1,4})-([0-9]{1,4})")


@dataclasses.dataclass(frozen=True)
class Edit:
    """One what-if edit; every field at its default changes nothing. Bad values raise ValueError."""

    shift_x: int = 0  # pixels, + = right
    shift_y: int = 0  # pixels, + = down
    rotate: float = 0.0  # degrees, + = counter-clockwise as a person sees the image
    scale: float = 1.0  # zoom about the image centre
    noise: float = 0.0  # standard deviation of the Gaussian noise added
    erase: tuple[int, int, int, int] | None = None  # (top, left, bottom, right), bottom and right exclusive

    def __post_init__(self) -> None:
        for name in ("shift_x", "shift_y"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or abs(int(value)) > MAX_SHIFT:
                raise ValueError(f"the {_LABELS[name]} must be a whole number of pixels from -{MAX_SHIFT} to "
                                 f"{MAX_SHIFT}, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name, (low, high) in _FLOAT_RANGES.items():
            value = getattr(self, name)
            # NaN fails the range comparison too.
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not low <= value <= high:
                raise ValueError(f"the {_LABELS[name]} must be a number from {low:g} to {high:g}, got {value!r}")
            # An edit holds only what its text can say (six significant digits), so from_text(to_text(e)) == e.
            object.__setattr__(self, name, float(format(float(value), "g")))
        if self.erase is not None:
            erase = tuple(self.erase)
            if len(erase) != 4 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in erase):
                raise ValueError("the erased rectangle is four whole numbers (top, left, bottom, right), "
                                 f"got {erase!r}")
            top, left, bottom, right = (int(v) for v in erase)
            if min(top, left) < 0 or max(bottom, right) > MAX_COORDINATE:
                raise ValueError(f"the erased rectangle's corners must lie from 0 to {MAX_COORDINATE}, got {erase!r}")
            if bottom <= top or right <= left:
                raise ValueError(f"the erased rectangle is empty: bottom must exceed top and right exceed left, "
                                 f"got {erase!r}")
            object.__setattr__(self, "erase", (top, left, bottom, right))

    @property
    def is_identity(self) -> bool:
        """Return whether this edit leaves every picture as it is."""
        return self == NONE


NONE = Edit()


def validate(edit: Edit, shape: tuple[int, ...]) -> None:
    """Return nothing if `edit` fits an image of `shape` (H, W, C); raise ValueError saying why it does not."""
    if len(shape) < 2:
        raise ValueError(f"an image shape is (height, width, channels), got {shape}")
    height, width = shape[0], shape[1]
    if abs(edit.shift_x) > width or abs(edit.shift_y) > height:
        raise ValueError(f"a shift of ({edit.shift_x}, {edit.shift_y}) pixels is more than the {height}×{width} "
                         f"image")
    if edit.erase is not None and (edit.erase[2] > height or edit.erase[3] > width):
        raise ValueError(f"the erased rectangle {edit.erase} reaches outside the {height}×{width} image")


def apply(picture: np.ndarray, edit: Edit, *, seed: int = 0) -> np.ndarray:
    """Return a new float32 copy of `picture` (H, W, C) with `edit` applied, clipped to [0, 1].

    Scale and rotation come first (one bilinear resample about the centre, 0 outside), then the whole-pixel shift,
    then the erase, then the noise. The noise is drawn from np.random.default_rng(seed): the same seed gives the
    same noise, so the caller picks the seed that should make an edited image look the same again.
    """
    picture = np.asarray(picture)
    if picture.ndim != 3:
        raise ValueError(f"a picture is (height, width, channels), got shape {picture.shape}")
    validate(edit, picture.shape)
    result = picture.astype(np.float32, copy=True)
    # Each part is skipped when it changes nothing, so untouched pixels stay bit-identical.
    if edit.rotate != 0 or edit.scale != 1:
        result = _rotate_and_scale(result, edit.rotate, edit.scale)
    if edit.shift_x or edit.shift_y:
        result = _shift(result, edit.shift_x, edit.shift_y)
    if edit.erase is not None:
        top, left, bottom, right = edit.erase
        result[top:bottom, left:right] = 0.0
    if edit.noise > 0:
        result += np.random.default_rng(seed).normal(0.0, edit.noise, size=result.shape).astype(np.float32)
    return np.clip(result, 0.0, 1.0, out=result)


def _rotate_and_scale(picture: np.ndarray, degrees: float, scale: float) -> np.ndarray:
    angle = np.deg2rad(degrees)
    # Rounding makes quarter turns land exactly on the pixel grid (cos 90° is 6e-17 in floating point).
    cos, sin = round(float(np.cos(angle)), 12), round(float(np.sin(angle)), 12)
    # The map from each output pixel (row, column) back to where it is read in the input: the inverse of
    # rotating counter-clockwise as displayed (rows grow downwards) and zooming by `scale`. The channel axis stays.
    matrix = np.array([[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, scale]]) / scale
    centre = np.array([(picture.shape[0] - 1) / 2, (picture.shape[1] - 1) / 2, 0.0])
    # "grid-constant" treats the outside as 0 and still blends edge pixels with it, rather than cutting them.
    return ndimage.affine_transform(picture, matrix, offset=centre - matrix @ centre, order=1,
                                    mode="grid-constant", cval=0.0).astype(np.float32)


def _shift(picture: np.ndarray, dx: int, dy: int) -> np.ndarray:
    height, width = picture.shape[:2]
    shifted = np.zeros_like(picture)
    if abs(dx) < width and abs(dy) < height:
        shifted[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = \
            picture[max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return shifted


def describe(edit: Edit) -> str:
    """Return the edit in words for a caption, e.g. "shifted 3 px right, rotated 15° counter-clockwise"; "" if none."""
    parts = []
    moves = [f"{abs(edit.shift_x)} px {'right' if edit.shift_x > 0 else 'left'}"] if edit.shift_x else []
    moves += [f"{abs(edit.shift_y)} px {'down' if edit.shift_y > 0 else 'up'}"] if edit.shift_y else []
    if moves:
        parts.append("shifted " + " and ".join(moves))
    if edit.rotate != 0:
        parts.append(f"rotated {abs(edit.rotate):g}° {'counter-clockwise' if edit.rotate > 0 else 'clockwise'}")
    if edit.scale != 1:
        parts.append(f"scaled ×{edit.scale:g}")
    if edit.noise != 0:
        parts.append(f"noise σ {edit.noise:g}")
    if edit.erase is not None:
        top, left, bottom, right = edit.erase
        # Inclusive ranges, as a person reads "rows 3–8".
        parts.append(f"rectangle {_span('row', top, bottom)} × {_span('column', left, right)} erased")
    return ", ".join(parts)


def _span(noun: str, start: int, stop: int) -> str:
    return f"{noun} {start}" if stop - start == 1 else f"{noun}s {start}–{stop - 1}"


def to_text(edit: Edit) -> str:
    """Return the edit's short text form, e.g. "x=3,r=15,e=3-5-9-12": only fields that differ; "" for none."""
    parts = []
    for key, name in _KEYS.items():
        value = getattr(edit, name)
        if value == getattr(NONE, name):
            continue
        if name == "erase":
            parts.append(f"{key}={'-'.join(map(str, value))}")
        else:
            parts.append(f"{key}={format(value, 'g')}")
    return ",".join(parts)


def from_text(text: str) -> Edit:
    """Return the edit a text form names ("" is no edit); raise ValueError with a short message if it is malformed."""
    if not isinstance(text, str):
        raise ValueError(f"an edit is text, got {type(text).__name__}")
    if len(text) > MAX_TEXT:
        raise ValueError(f"an edit is at most {MAX_TEXT} characters, got {len(text)}")
    if not text:
        return NONE
    values: dict[str, object] = {}
    for part in text.split(","):
        key, equals, raw = part.partition("=")
        if not equals or not raw:
            raise ValueError(f"{part!r} is not key=value")
        if key not in _KEYS:
            raise ValueError(f"{key!r} is not an edit (they are {', '.join(_KEYS)})")
        name = _KEYS[key]
        if name in values:
            raise ValueError(f"{key!r} is given twice")
        if name == "erase":
            match = _RECTANGLE.fullmatch(raw)
            if match is None:
                raise ValueError(f"an erased rectangle is top-left-bottom-right in whole pixels, got {raw!r}")
            values[name] = tuple(int(v) for v in match.groups())
        elif name in _FLOAT_RANGES:
            if _NUMBER.fullmatch(raw) is None:
                raise ValueError(f"the {_LABELS[name]} must be a number, got {raw!r}")
            values[name] = float(raw)
        else:
            if _INTEGER.fullmatch(raw) is None:
                raise ValueError(f"the {_LABELS[name]} must be a whole number of pixels, got {raw!r}")
            values[name] = int(raw)
    return Edit(**values)  # type: ignore[arg-type]  # each value's type is set by its key above
