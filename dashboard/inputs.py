"""A person's own input: strokes drawn on a pad, or an uploaded PNG or JPEG, made into what the model takes.

NumPy and Pillow only. A drawing is prepared the way MNIST's digits were made (LeCun et al.): the ink's bounding
box fitted into a 20×20 box keeping its aspect ratio, anti-aliased, then placed in 28×28 so that its centre of
mass is the image's centre. An upload is checked (bytes, pixels, that it is an image at all) before any of it
is decoded in full.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from collections.abc import Sequence

import numpy as np

MAX_UPLOAD_BYTES = 5 * 2**20  # a phone photo as a JPEG
MAX_UPLOAD_PIXELS = 25_000_000  # 5,000 × 5,000; Pillow decodes an image to ~4 bytes a pixel
INK_THRESHOLD = 0.05  # pixels fainter than this are background when finding the ink's bounding box
MNIST_SIDE, MNIST_BOX = 28, 20


class InputRefused(ValueError):
    """An input the page cannot use; the message says why, in words for the page."""


def rasterise_strokes(strokes: Sequence[Sequence[Sequence[float]]], *, size: int = 280,
                      width: float = 18.0) -> np.ndarray:
    """Return strokes ([[x, y], …] each, in pixels of a size × size pad, y down) drawn as round-capped lines of
    `width` pixels: ink (size, size) in [0, 1], 1 = ink."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    radius = width / 2
    for stroke in strokes:
        points = [(float(x), float(y)) for x, y in stroke]
        if len(points) > 1:
            draw.line(points, fill=255, width=int(round(width)), joint="curve")
        for x, y in points:  # round caps and joints, and a single tap as a dot
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return np.asarray(canvas, np.float32) / 255.0


def drawn_picture(strokes: Sequence[Sequence[Sequence[float]]], *, size: int, width: float,
                  image_shape: Sequence[int]) -> np.ndarray:
    """Return strokes drawn on a size × size pad as the model's picture (H, W, 1) in [0, 1]: rasterised, made
    MNIST-style (fitted into 20×20 by the ink's bounding box, centred by its mass), resized to the model's input.
    Raise InputRefused for a blank drawing, or for a model that takes colour images."""
    if int(image_shape[2]) != 1:
        raise InputRefused("A drawing is greyscale; this model takes colour images.")
    return _digit_at(mnist_style(rasterise_strokes(strokes, size=size, width=width)), image_shape)


def _digit_at(picture: np.ndarray, image_shape: Sequence[int]) -> np.ndarray:
    """Return an MNIST-style (28, 28) digit at the model's input size, (H, W, 1)."""
    from PIL import Image

    height, width = int(image_shape[0]), int(image_shape[1])
    if picture.shape != (height, width):
        picture = np.asarray(Image.fromarray((picture * 255).astype(np.uint8)).resize(
            (width, height), Image.Resampling.LANCZOS), np.float32) / 255.0
    return picture[..., np.newaxis]


def centre_of_mass(ink: np.ndarray) -> tuple[float, float]:
    """Return the (row, column) centre of mass of an ink image (pixel centres at integer coordinates)."""
    ink = np.asarray(ink, np.float64)
    total = ink.sum()
    if total <= 0:
        raise InputRefused("There is no ink to centre.")
    rows, columns = np.indices(ink.shape)
    return float((rows * ink).sum() / total), float((columns * ink).sum() / total)


def mnist_style(ink: np.ndarray) -> np.ndarray:
    """Return an ink image (H, W) in [0, 1] as MNIST's digits were made: (28, 28) float32, the ink's bounding box
    fitted into 20×20 (aspect kept, anti-aliased), its centre of mass at the centre. Raise InputRefused for a
    blank image."""
    from PIL import Image

    ink = np.clip(np.asarray(ink, np.float32), 0.0, 1.0)
    if ink.ndim != 2:
        raise ValueError(f"an ink image is (height, width), got shape {ink.shape}")
    rows = np.flatnonzero((ink > INK_THRESHOLD).any(axis=1))
    columns = np.flatnonzero((ink > INK_THRESHOLD).any(axis=0))
    if not len(rows):
        raise InputRefused("The drawing is empty: draw a digit first.")
    cropped = ink[rows[0]:rows[-1] + 1, columns[0]:columns[-1] + 1]
    scale = MNIST_BOX / max(cropped.shape)
    height, width = (max(1, int(round(side * scale))) for side in cropped.shape)
    resized = Image.fromarray((cropped * 255).astype(np.uint8)).resize((width, height), Image.Resampling.LANCZOS)
    box = np.asarray(resized, np.float32) / 255.0
    # Put the box's centre of mass on the 28×28 image's centre (13.5, 13.5), to the nearest pixel, as MNIST did.
    mass_row, mass_column = centre_of_mass(box)
    top = int(round((MNIST_SIDE - 1) / 2 - mass_row))
    left = int(round((MNIST_SIDE - 1) / 2 - mass_column))
    top = min(max(top, 0), MNIST_SIDE - height)
    left = min(max(left, 0), MNIST_SIDE - width)
    image = np.zeros((MNIST_SIDE, MNIST_SIDE), np.float32)
    image[top:top + height, left:left + width] = box
    return image


_FILE_SIZE = "cnn_lens_file_size"


def decode_upload(contents: object, *, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_UPLOAD_PIXELS,
                  at_least: tuple[int, int] | None = None):
    """Return the PIL image a dcc.Upload's contents ("data:<type>;base64,<data>") hold, fully decoded; raise
    InputRefused with the reason for anything else: not a data URL, bad base64, too many bytes, not a PNG or
    JPEG, too many pixels (checked from the header, before decoding: a decompression bomb is refused
    unopened), or a truncated file. With `at_least` (width, height), a JPEG is decoded at 1/2, 1/4 or 1/8 of
    its size (the decoder's own scaling, several times faster) while it stays at least that big; the file's
    own size is in file_size(image)."""
    from PIL import Image

    if not isinstance(contents, str) or not contents.startswith("data:") or "," not in contents:
        raise InputRefused("That is not an uploaded file.")
    header, data = contents.split(",", 1)
    if not header.endswith(";base64"):
        raise InputRefused("The upload is not base64-encoded.")
    if len(data) > 4 * (max_bytes // 3 + 1):  # the size from the text, before decoding any of it
        raise InputRefused(f"The file is larger than {max_bytes / 2**20:g} MB.")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InputRefused("The upload is not valid base64.") from None
    if len(raw) > max_bytes:
        raise InputRefused(f"The file is larger than {max_bytes / 2**20:g} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=["PNG", "JPEG"])
            if image.width * image.height > max_pixels:
                raise InputRefused(f"The image is {image.width:,} × {image.height:,} pixels; the largest accepted "
                                   f"is {max_pixels:,} pixels in all.")
            size = image.size
            if at_least is not None and image.format == "JPEG":
                image.draft(None, at_least)
            image.load()
            image.info[_FILE_SIZE] = size
    except InputRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputRefused("The image has too many pixels to open safely.") from None
    except (OSError, SyntaxError, ValueError):  # Pillow: not an image, an unsupported or truncated one
        raise InputRefused("That file is not a PNG or JPEG image that can be read (or it is cut short).") from None
    return image


def file_size(image) -> tuple[int, int]:
    """Return an uploaded image's (width, height) in its file (decode_upload may have decoded it smaller)."""
    return image.info.get(_FILE_SIZE, image.size)


def prepare_upload(image, input_shape: Sequence[int], *, digit_like: bool) -> np.ndarray:
    """Return an uploaded PIL image as the model's picture (H, W, C) in [0, 1]: for MNIST-like data (greyscale
    digits, white ink on black) greyscale, inverted when its background is light, and made MNIST-style; else
    converted to the model's colours and resized to its input."""
    from PIL import Image

    height, width, colours = (int(d) for d in input_shape)
    if digit_like:
        grey = np.asarray(image.convert("L"), np.float32) / 255.0
        border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
        ink = 1.0 - grey if np.median(border) > 0.5 else grey  # dark ink on paper, as most photos are
        return _digit_at(mnist_style(ink), input_shape)
    converted = image.convert("L" if colours == 1 else "RGB").resize((width, height), Image.Resampling.LANCZOS)
    pixels = np.asarray(converted, np.float32) / 255.0
    return pixels.reshape(height, width, colours)
