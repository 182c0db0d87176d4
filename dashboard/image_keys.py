"""Which image the page shows, as one value that fits a dropdown, a request and a link.

- a whole number: that test image;
- "px:<code>": a person's own image (drawn or uploaded) carried in the value itself: its pixels as bytes, zlib,
  URL-safe base64. A drawn 28×28 digit is a few hundred characters, so a link holds it and opens anywhere;
- "st:<code>": a drawing carried as its strokes, which the server draws as the pad does; the browser writes it
  itself the moment a stroke ends, so the panels need not wait for the server to name the drawing;
- "up:<sha>": an own image too large to carry (a colour photo at the model's size), kept on the server's disk
  by its content's hash;
- either followed by "|<edit>": that image with a what-if edit applied (edits.to_text), e.g. "42|x=3,r=15".

NumPy only; the store is a folder of .npy files that every web worker reads.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import math
import re
import struct
import zlib
from pathlib import Path

import numpy as np

from dashboard import edits

OWN, STORED, EDIT_SEPARATOR = "px:", "up:", "|"
DRAWN, UPLOADED = 1, 2  # where an own image came from, for its captions
# The header before the pixels: format version, height, width, channels, origin, label (255: none).
_HEADER = struct.Struct(">BHHBBB")
_VERSION, _NO_LABEL = 1, 255
MAX_SIDE = 1024
# An own image whose code would be longer than this is kept on disk instead: every request the page sends
# carries the image's value, and a link must stay short enough to paste.
MAX_CODE = 4096
MAX_KEY = MAX_CODE + 200
_STORED_NAME = re.compile(r"[0-9a-f]{32}")


class BadImageKey(ValueError):
    """A value that names no image; the message says why, in words for the page."""


@dataclasses.dataclass(frozen=True)
class ImageRef:
    """A parsed image value: a test image (index) or an own image (own: its "px:" or "up:" value), and an edit."""

    index: int | None = None
    own: str | None = None
    edit: edits.Edit = edits.NONE

    @property
    def base(self) -> int | str:
        """Return the value of the image before the edit."""
        return self.index if self.index is not None else str(self.own)

    @property
    def value(self) -> int | str:
        """Return the value the page holds for this image: an int for a test image as it is, else a string."""
        if self.edit.is_identity:
            return self.base
        return f"{self.base}{EDIT_SEPARATOR}{edits.to_text(self.edit)}"

    def with_edit(self, edit: edits.Edit) -> ImageRef:
        """Return the same base image with `edit` (replacing any edit it had)."""
        return dataclasses.replace(self, edit=edit)


def parse(value: object, test_size: int) -> ImageRef:
    """Return the image a page value names; raise BadImageKey for anything else (the reason in words)."""
    if isinstance(value, bool) or value is None:
        raise BadImageKey(f"No image is called {value!r}.")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return ImageRef(index=_test_index(value, test_size))
    if not isinstance(value, str):
        raise BadImageKey(f"An image is a test index or an image code, got {type(value).__name__}.")
    if len(value) > MAX_KEY:
        raise BadImageKey("The image code is too long.")
    base, _, edit_text = value.partition(EDIT_SEPARATOR)
    try:
        edit = edits.from_text(edit_text) if edit_text else edits.NONE
    except ValueError as error:
        raise BadImageKey(f"The edit is not valid: {error}") from None
    if base.startswith(OWN):
        decode_pixels(base)  # refuses a bad code now, not in every panel
        return ImageRef(own=base, edit=edit)
    if base.startswith(DRAWING):
        decode_drawing(base)
        return ImageRef(own=base, edit=edit)
    if base.startswith(STORED):
        if not _STORED_NAME.fullmatch(base[len(STORED):]):
            raise BadImageKey("The stored image's name is not valid.")
        return ImageRef(own=base, edit=edit)
    if base.isdigit() and len(base) < 10:
        return ImageRef(index=_test_index(int(base), test_size), edit=edit)
    raise BadImageKey(f"No image is called {base[:40]!r}.")


def _test_index(index: int, test_size: int) -> int:
    if not 0 <= index < test_size:
        said = f"{index:,}" if abs(index) < 10**12 else "that large"
        raise BadImageKey(f"Test image {said} does not exist: the test images are numbered 0 to {test_size - 1:,} "
                          "(the index is out of range).")
    return index


def encode_pixels(picture: np.ndarray, *, origin: int, label: int | None = None) -> str:
    """Return the "px:" value of a picture (H, W, C) in [0, 1], kept to 8 bits a pixel as the datasets are."""
    picture = np.asarray(picture)
    if picture.ndim != 3 or not (1 <= picture.shape[0] <= MAX_SIDE and 1 <= picture.shape[1] <= MAX_SIDE
                                 and picture.shape[2] in (1, 3)):
        raise ValueError(f"a picture is (height, width, 1 or 3) of at most {MAX_SIDE} a side, got {picture.shape}")
    if label is not None and not 0 <= label < _NO_LABEL:
        raise ValueError(f"label must be in 0..{_NO_LABEL - 1}, got {label}")
    pixels = np.round(np.clip(picture, 0.0, 1.0) * 255).astype(np.uint8)
    header = _HEADER.pack(_VERSION, pixels.shape[0], pixels.shape[1], pixels.shape[2], origin,
                          _NO_LABEL if label is None else label)
    packed = zlib.compress(header + pixels.tobytes(), 9)
    return OWN + base64.urlsafe_b64encode(packed).decode("ascii").rstrip("=")


@dataclasses.dataclass(frozen=True)
class OwnImage:
    """An own image's pixels (H, W, C) in [0, 1], where it came from, and the label its author gave it."""

    picture: np.ndarray
    origin: int
    label: int | None


def decode_pixels(code: str) -> OwnImage:
    """Return the image a "px:" value carries; raise BadImageKey if it is not one (bounded memory: the
    decompressed size is checked against the header, never more is inflated)."""
    data = code[len(OWN):] if code.startswith(OWN) else code
    try:
        packed = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        inflater = zlib.decompressobj()
        head = inflater.decompress(packed, _HEADER.size)
        version, height, width, channels, origin, label = _HEADER.unpack(head)
    except (binascii.Error, ValueError, zlib.error, struct.error):
        raise BadImageKey("The image code is damaged (it may have been cut short when the link was copied).") \
            from None
    if version != _VERSION or not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE and channels in (1, 3)):
        raise BadImageKey("The image code is not one this version of CNN Lens reads.")
    size = height * width * channels
    try:
        raw = inflater.decompress(inflater.unconsumed_tail, size + 1)
    except zlib.error:
        raise BadImageKey("The image code is damaged.") from None
    if len(raw) != size or not inflater.eof:
        raise BadImageKey("The image code is damaged (its pixels do not match its size).")
    picture = np.frombuffer(raw, np.uint8).reshape(height, width, channels).astype(np.float32) / 255.0
    return OwnImage(picture, origin, None if label == _NO_LABEL else label)


def relabel(code: str, label: int | None) -> str:
    """Return the "px:" value of the same pixels with another label (None: no label)."""
    own = decode_pixels(code)
    return encode_pixels(own.picture, origin=own.origin, label=label)


class ImageStore:
    """Own images too large for a link, kept by content hash in a folder that every web worker shares."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def put(self, picture: np.ndarray, *, origin: int, label: int | None = None) -> str:
        """Return the value for a picture: its "px:" code when short enough, else an "up:" name after storing it."""
        code = encode_pixels(picture, origin=origin, label=label)
        if len(code) <= MAX_CODE:
            return code
        name = hashlib.sha256(code.encode("ascii")).hexdigest()[:32]
        path = self.folder / f"{name}.txt"
        if not path.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{np.random.randint(1 << 30)}.tmp")
            partial.write_text(code, encoding="ascii")
            partial.replace(path)  # atomic: another worker never reads half a file
        return STORED + name

    def get(self, value: str) -> OwnImage:
        """Return the own image a "px:" or "up:" value names; raise BadImageKey if it is unknown or damaged."""
        if value.startswith(OWN):
            return decode_pixels(value)
        name = value[len(STORED):]
        if not _STORED_NAME.fullmatch(name):
            raise BadImageKey("The stored image's name is not valid.")
        try:
            code = (self.folder / f"{name}.txt").read_text(encoding="ascii")
        except FileNotFoundError:
            raise BadImageKey("That uploaded image is not on this server (links to uploads work on the server "
                              "they were made on, until it is cleaned).") from None
        return decode_pixels(code)


# A drawing carried as its strokes ("st:<code>"): what the pad drew, made into the picture by the server
# (inputs.drawn_picture) exactly as the pad's own callback does. The browser writes it the moment a stroke ends
# (assets/clientside.js: drawingValue), so the panels' requests leave at once; the code is bytes, URL-safe
# base64: version, pad size, stroke width, label (255: none), then each stroke's point count (2 bytes) and its
# points (x, y: a byte each, whole pad pixels, no point twice in a row).
DRAWING = "st:"
_DRAWING_HEADER = struct.Struct(">BBBB")
_STROKE_HEADER = struct.Struct(">H")
MAX_STROKES, MAX_POINTS = 64, 4000


@dataclasses.dataclass(frozen=True)
class Drawing:
    """Strokes on a size × size pad ([(x, y), …] each, whole pixels, y down), their width, and the label."""

    strokes: tuple[tuple[tuple[int, int], ...], ...]
    size: int
    width: int
    label: int | None


def drawing_points(strokes, size: int) -> list[list[tuple[int, int]]]:
    """Return strokes ([(x, y), …] each, in pad pixels) as a drawing keeps them: each coordinate rounded half up
    and kept on the pad, no point twice in a row; empty strokes dropped."""
    kept = []
    for stroke in strokes:
        points: list[tuple[int, int]] = []
        for x, y in stroke:
            point = (min(size, max(0, math.floor(float(x) + 0.5))), min(size, max(0, math.floor(float(y) + 0.5))))
            if not points or points[-1] != point:
                points.append(point)
        if points:
            kept.append(points)
    return kept


def encode_drawing(strokes, *, size: int, width: int, label: int | None = None) -> str:
    """Return the "st:" value of strokes drawn on a size × size pad with a line `width` pixels wide."""
    if not (1 <= size <= 255 and 1 <= width <= 255):
        raise ValueError(f"a pad is at most 255 pixels and its line at most 255 wide, got {size}, {width}")
    if label is not None and not 0 <= label < _NO_LABEL:
        raise ValueError(f"label must be in 0..{_NO_LABEL - 1}, got {label}")
    parts = [_DRAWING_HEADER.pack(_VERSION, size, width, _NO_LABEL if label is None else label)]
    for stroke in drawing_points(strokes, size):
        parts.append(_STROKE_HEADER.pack(len(stroke)) + bytes(v for point in stroke for v in point))
    return DRAWING + base64.urlsafe_b64encode(b"".join(parts)).decode("ascii").rstrip("=")


def decode_drawing(code: str) -> Drawing:
    """Return the drawing a "st:" value carries; raise BadImageKey if it is not one."""
    data = code[len(DRAWING):] if code.startswith(DRAWING) else code
    damaged = "The drawing's code is damaged (it may have been cut short when the link was copied)."
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
        version, size, width, label = _DRAWING_HEADER.unpack_from(raw)
    except (binascii.Error, ValueError, struct.error):
        raise BadImageKey(damaged) from None
    if version != _VERSION or size < 1 or width < 1:
        raise BadImageKey("The drawing's code is not one this version of CNN Lens reads.")
    strokes: list[tuple[tuple[int, int], ...]] = []
    offset, total = _DRAWING_HEADER.size, 0
    while offset < len(raw):
        if len(strokes) == MAX_STROKES:
            raise BadImageKey(f"A drawing has at most {MAX_STROKES} strokes.")
        if offset + _STROKE_HEADER.size > len(raw):
            raise BadImageKey(damaged)
        (count,) = _STROKE_HEADER.unpack_from(raw, offset)
        offset += _STROKE_HEADER.size
        total += count
        if count == 0 or total > MAX_POINTS or offset + 2 * count > len(raw):
            raise BadImageKey(damaged if total <= MAX_POINTS else f"A drawing has at most {MAX_POINTS} points.")
        values = raw[offset:offset + 2 * count]
        offset += 2 * count
        if max(values) > size:
            raise BadImageKey(damaged)
        strokes.append(tuple(zip(values[0::2], values[1::2])))
    return Drawing(tuple(strokes), size, width, None if label == _NO_LABEL else label)
