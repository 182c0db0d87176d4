"""Receptive fields: which input pixels can influence one cell of a layer, from the layers' kernel sizes,
strides, dilations and padding alone (the theoretical field; the effective one is the cell's gradient with
respect to the input, tensors.TensorExtractor.field_gradient).

A cell's rows [top, bottom] at a convolution's or pooling's output come from rows
[top·stride − pad, bottom·stride − pad + (kernel − 1)·dilation] of its input; layers that work pixel by pixel
(activations, normalisation, merges) keep the rows; anything that mixes every position (Flatten, Dense, global
pooling) makes the field the whole input. Branches contribute the union of their fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dashboard import decompose
from dashboard.layer_specs import LayerSpec

INPUT = "input"
Span = tuple[int, int, int, int]  # top, left, bottom, right, inclusive
EMPTY: Span = (0, 0, -1, -1)  # no input position at all (a cell that sees only padding)
WINDOWED = frozenset({"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "MaxPooling2D", "AveragePooling2D"})
PER_POSITION = frozenset({
    "BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax", "Rescaling", "Normalization",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "LayerNormalization",
    "UnitNormalization", "GroupNormalization", *decompose.PASS_THROUGH,
})


def _through(spec: LayerSpec, span: Span, input_shape: Sequence[int], output_shape: Sequence[int]) -> Span | None:
    """Return the span of the layer's input that the output span reads (None: every position)."""
    top, left, bottom, right = span
    if spec.kind in WINDOWED:
        # The input rows and columns the windows read, padding left out: a dilated kernel's first or last tap may
        # fall in the padding, and then the field starts at its next tap.
        size = spec.kernel_size if spec.kernel_size is not None else spec.pool_size or (2, 2)
        rows: set[int] = set()
        cols: set[int] = set()
        for row in range(top, bottom + 1):
            rows.update(int(r) for r in decompose.window_of(spec, input_shape, output_shape, row, left, size)[0])
        for col in range(left, right + 1):
            cols.update(int(c) for c in decompose.window_of(spec, input_shape, output_shape, top, col, size)[1])
        rows = {r for r in rows if 0 <= r < input_shape[0]}
        cols = {c for c in cols if 0 <= c < input_shape[1]}
        if not rows or not cols:  # only padding: nothing of the input reaches the cell
            return EMPTY
        return min(rows), min(cols), max(rows), max(cols)
    if spec.kind in PER_POSITION and len(input_shape) == 3:
        return span
    if spec.kind == "ZeroPadding2D" and spec.amounts is not None:
        (pad_top, _), (pad_left, _) = spec.amounts
        return top - pad_top, left - pad_left, bottom - pad_top, right - pad_left
    if spec.kind == "Cropping2D" and spec.amounts is not None:
        (crop_top, _), (crop_left, _) = spec.amounts
        return top + crop_top, left + crop_left, bottom + crop_top, right + crop_left
    if spec.kind == "UpSampling2D" and spec.amounts is not None:
        factor_rows, factor_cols = spec.amounts[0]
        return top // factor_rows, left // factor_cols, bottom // factor_rows, right // factor_cols
    return None


def _union(a: Span | None, b: Span | None) -> Span | None:
    if a is None or b is None:
        return None
    if a == EMPTY or b == EMPTY:
        return b if a == EMPTY else a
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def theoretical_field(specs: Mapping[str, LayerSpec], shapes: Mapping[str, Sequence[int]], layer: str,
                      cell: tuple[int, ...]) -> Span:
    """Return the input pixels (top, left, bottom, right, inclusive, within the image) that can change the
    `layer`'s output at `cell` ((channel, row, col) of a map; any cell of a vector layer sees the whole image);
    EMPTY (bottom < top) for a cell whose windows see only padding.

    `specs` holds every layer by name, `shapes` every layer's output shape and the image's ("input")."""
    height, width = shapes[INPUT][0], shapes[INPUT][1]
    memo: dict[tuple[str, Span | None], Span | None] = {}

    def field(name: str, span: Span | None) -> Span | None:
        if span is None:
            return None
        if name == INPUT or span == EMPTY:
            return span
        key = (name, span)
        if key not in memo:
            spec = specs[name]
            result: Span | None = None
            for k, source in enumerate(spec.inputs):
                through = _through(spec, span, shapes[source], shapes[name])
                reached = field(source, through)
                result = reached if k == 0 else _union(result, reached)
                if result is None:
                    break
            memo[key] = result
        return memo[key]

    shape = shapes[layer]
    start: Span | None = (cell[1], cell[2], cell[1], cell[2]) if len(shape) == 3 and len(cell) == 3 else None
    reached = field(layer, start) if layer != INPUT else start
    if reached is None:
        return 0, 0, height - 1, width - 1
    top, left, bottom, right = reached
    return max(top, 0), max(left, 0), min(bottom, height - 1), min(right, width - 1)  # EMPTY stays empty
