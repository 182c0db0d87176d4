"""The cell a person clicked, and everything needed to explain it: the service between the page and the
forward (decompose), backward (backward) and receptive-field (receptive) arithmetic.

A clicked cell travels as short text (it belongs to the link): "a:5,3,7" (activation map: channel, row, col),
"a:12" (a vector layer's unit), "g:3,1,2;c=5" (kernel panel: filter, kernel row, kernel col, at input channel
5; "c=all" when the panel shows the norm over channels), "g:40,7;matrix" (a weight matrix: row, column),
"s:12,14" (saliency pixel: row, col) and "p:7" (a class probability).
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

import numpy as np

from dashboard import backward, decompose, receptive
from dashboard.tensors import LayerInfo

if TYPE_CHECKING:
    from dashboard.lens import Lens

_CELL = re.compile(r"^([agsp]):(\d{1,6}(?:,\d{1,6}){0,3})(?:;(c=(?:\d{1,6}|all)|matrix))?$")


class BadCell(ValueError):
    """A cell text that names no cell of the current view; the message says why, in words."""


@dataclasses.dataclass(frozen=True)
class Cell:
    """A clicked cell: which panel, its numbers, and for a kernel click the input channel shown (None: norm)."""

    panel: str
    numbers: tuple[int, ...]
    channel: int | None = None
    matrix: bool = False

    @property
    def text(self) -> str:
        """Return the cell as the page and the link carry it (the inverse of parse)."""
        suffix = ";matrix" if self.matrix else (f";c={'all' if self.channel is None else self.channel}"
                                                  if self.panel == "g" else "")
        return f"{self.panel}:{','.join(str(n) for n in self.numbers)}{suffix}"


def parse(text: object) -> Cell | None:
    """Return the Cell a text names, None for no cell (empty); raise BadCell for anything else."""
    if text in (None, ""):
        return None
    if not isinstance(text, str) or len(text) > 80:
        raise BadCell("That is not a cell of the page.")
    match = _CELL.match(text)
    if not match:
        raise BadCell(f"{text[:40]!r} is not a cell of the page.")
    panel, numbers, option = match.groups()
    values = tuple(int(n) for n in numbers.split(","))
    channel: int | None = None
    if option and option.startswith("c=") and option != "c=all":
        channel = int(option[2:])
    return Cell(panel=panel, numbers=values, channel=channel, matrix=option == "matrix")


@dataclasses.dataclass(frozen=True)
class CellExplanation:
    """What the explanation panel shows for one cell of one image."""

    cell: Cell
    layer: LayerInfo | None  # the layer explained (None for a saliency pixel of a model whose first layer is no conv)
    forward: decompose.Decomposition | None = None
    gradient: backward.WeightGradient | None = None
    flow: backward.PixelFlow | None = None
    field: receptive.Span | None = None  # the theoretical receptive field on the input image
    picture: np.ndarray | None = None  # the image (pixels in [0, 1], H × W × colours) to draw the field on
    source: np.ndarray | None = None  # the layer input's map the window lies on (H, W), for a windowed cell
    effective: np.ndarray | None = None  # |∂cell/∂input| (H, W), when asked for
    note: str = ""


def _checked(numbers: tuple[int, ...], limits: tuple[int, ...], what: str) -> tuple[int, ...]:
    if len(numbers) != len(limits):
        raise BadCell(f"A {what} is {len(limits)} numbers; the click gave {len(numbers)}.")
    for number, limit in zip(numbers, limits):
        if not 0 <= number < limit:
            raise BadCell(f"That {what} ({', '.join(map(str, numbers))}) is outside this layer.")
    return numbers


def _peak_in_block(values: np.ndarray, channel: int, row: int, col: int, block: int) -> tuple[int, int, int]:
    """Return the cell of largest |value| in a shrunk mosaic's block (what hover shows for the block)."""
    patch = values[row:row + block, col:col + block, channel]
    r, c = np.unravel_index(int(np.argmax(np.abs(patch))), patch.shape)
    return channel, row + int(r), col + int(c)


def specs_and_shapes(lens: Lens, checkpoint) -> tuple[dict, dict]:
    """Return every layer's LayerSpec and output shape (and the image's, "input") of the model computing."""
    with lens.computing(checkpoint) as extractor:
        specs = {info.name: extractor.spec(info.name) for info in extractor.layers}
        shapes = {info.name: info.output_shape for info in extractor.layers}
        shapes[receptive.INPUT] = extractor.input_shape
    return specs, shapes


def explain(lens: Lens, value: int | str, layer: LayerInfo, cell: Cell, checkpoint=None, *,
            effective: bool = False, score_class: int = -1) -> CellExplanation:
    """Return the explanation of one clicked cell for an image (`score_class`: the class whose score the
    saliency differentiates, -1 the predicted); raise BadCell when the cell is not in the view."""
    from dashboard import views  # the shrunk mosaics' block size

    tensors = lens.tensors(value, checkpoint=checkpoint)
    image, label = lens.image(value)
    picture = lens.picture(value)
    if cell.panel == "p":
        (unit,) = _checked(cell.numbers, (tensors.probabilities.size,), "class")
        cell = Cell("a", (unit,))
        layer = lens.layer(lens.layers[-1].name, checkpoint)
    if cell.panel == "s":
        return _pixel(lens, value, cell, checkpoint, image, picture, label,
                      lens.tensors(value, score_class, checkpoint=checkpoint))
    specs, shapes = specs_and_shapes(lens, checkpoint)
    if layer.name not in specs:  # the input card of a model that shows it: no layer computed these values
        return CellExplanation(cell=cell, layer=layer, picture=picture, note=(
            "This is the image itself, as the first layer receives it: nothing in the network computed it."))
    spec = specs[layer.name]
    sources = {name: (image if name == receptive.INPUT else tensors.activations[name]) for name in spec.inputs}
    if cell.panel == "a":
        output = tensors.activations[layer.name]
        if output.ndim == 3:
            channel, row, col = _checked(cell.numbers, (output.shape[2], output.shape[0], output.shape[1]), "cell")
            block = views.activation_block(layer)
            if block > 1:
                channel, row, col = _peak_in_block(output, channel, row, col, block)
            at: tuple[int, ...] = (channel, row, col)
        else:
            (unit,) = _checked(cell.numbers, (output.size,), "unit")
            block = max(1, -(-output.size // views.BAR_BUDGET))  # bars drawn per block: its largest |value|
            if block > 1:
                values = output.reshape(-1)[unit:unit + block]
                unit += int(np.argmax(np.abs(values)))
            at = (unit,)
        forward = decompose.decompose(spec, lens.weights(checkpoint).get(layer.name, {}), sources, output, at,
                                      flattened_from=layer.unflattened_input)
        field = receptive.theoretical_field(specs, shapes, layer.name, at)
        source = None
        if forward.window is not None and forward.source is not None and len(at) == 3:
            window_channel = forward.parts[0].channel if forward.parts else None
            source = sources[forward.source][:, :, window_channel or 0]
        field_map = None
        if effective and output.ndim == 3:
            with lens.computing(checkpoint) as extractor:
                flat = at[1] * output.shape[1] + at[2]
                field_map = np.abs(extractor.field_gradient(image, layer.name, flat, at[0])).max(axis=-1)
        return CellExplanation(cell=Cell("a", at), layer=layer, forward=forward, field=field, picture=picture,
                               source=source, effective=field_map)
    return _weight(lens, layer, spec, cell, checkpoint, image, label, sources, tensors, picture)


def _weight(lens: Lens, layer: LayerInfo, spec, cell: Cell, checkpoint, image, label, sources, tensors,
            picture) -> CellExplanation:
    """Return the backward explanation of one weight's loss gradient (a kernel-panel click)."""
    gradients = tensors.weight_gradients.get(layer.name, {})
    weights = lens.weights(checkpoint).get(layer.name, {})
    if "kernel" not in gradients or layer.kind not in ("Conv2D", "Dense"):
        return CellExplanation(cell=cell, layer=layer, picture=picture, note=(
            f"{layer.name} is a {layer.kind} layer: its weight gradients are not written out step by step here "
            "(only Conv2D and Dense kernels are)."))
    kernel_gradient = gradients["kernel"]
    x = sources[spec.inputs[0]]
    with lens.computing(checkpoint) as extractor:
        output_gradient, _ = extractor.output_gradients(image, layer.name, label=label)
    output = tensors.activations[layer.name]
    if layer.kind == "Conv2D":
        z = backward.conv_pre_activation(spec, weights, x, output.shape)
    else:
        z = np.asarray(x, np.float64).reshape(-1) @ np.asarray(weights["kernel"], np.float64) + (
            np.asarray(weights["bias"], np.float64) if "bias" in weights else 0.0)
    # The loss is the cross-entropy read from the logits where the model has them (tensors.class_scores).
    softmax_label = tensors.loss_label if tensors.score_kind == "logit" else None
    delta = backward.pre_activation_gradient(spec, z, output_gradient, output, label=softmax_label)
    if delta is None:
        return CellExplanation(cell=cell, layer=layer, picture=picture, note=(
            f"The derivative of {spec.activation} is not written out here, so {layer.name}'s gradients are not "
            "decomposed."))
    weight = _weight_position(layer, kernel_gradient, cell)
    value = float(kernel_gradient[weight])
    if layer.kind == "Conv2D":
        explained = backward.conv_weight_gradient(spec, x, delta, output_gradient, weight, value)  # type: ignore[arg-type]
    else:
        explained = backward.dense_weight_gradient(
            spec, x, z, delta, output_gradient, (weight[0], weight[1]), value, outputs=output, label=softmax_label,
            input_name=decompose.unflatten_name(weight[0], layer.unflattened_input))
    chosen = Cell("g", cell.numbers, cell.channel, cell.matrix)
    return CellExplanation(cell=chosen, layer=layer, gradient=explained, picture=picture,
                           note=f"w = {float(np.asarray(weights['kernel'])[weight]):.6g}")


def _weight_position(layer: LayerInfo, gradient: np.ndarray, cell: Cell) -> tuple[int, ...]:
    """Return the kernel index a kernel-panel click names (the input channel of largest |gradient| there when
    the panel shows the norm over input channels)."""
    if cell.matrix:
        row, col = _checked(cell.numbers, gradient.shape[-2:], "weight")
        return (0, 0, row, col) if gradient.ndim == 4 else (row, col)
    if gradient.ndim == 4:  # conv: (kh, kw, C, F); the click gives filter, kernel row, kernel col
        f, i, j = _checked(cell.numbers, (gradient.shape[3], gradient.shape[0], gradient.shape[1]), "weight")
        c = (int(np.argmax(np.abs(gradient[i, j, :, f]))) if cell.channel is None
             else _checked((cell.channel,), (gradient.shape[2],), "input channel")[0])
        return i, j, c, f
    if layer.unflattened_input is None:
        raise BadCell("Click a cell of the full matrix to explain one weight.")
    height, width, channels = layer.unflattened_input  # a dense unit's weights drawn as maps: unit, row, col
    unit, row, col = _checked(cell.numbers, (gradient.shape[1], height, width), "weight")
    shaped = gradient.reshape(height, width, channels, -1)
    c = (int(np.argmax(np.abs(shaped[row, col, :, unit]))) if cell.channel is None
         else _checked((cell.channel,), (channels,), "input channel")[0])
    return (row * width + col) * channels + c, unit


def _pixel(lens: Lens, value, cell: Cell, checkpoint, image, picture, label, tensors) -> CellExplanation:
    """Return how a saliency pixel's gradient splits over the first convolution's filters."""
    height, width, colours = image.shape
    row, col = _checked(cell.numbers, (height, width), "pixel")
    layers = lens.layers if checkpoint is None else [lens.layer(info.name, checkpoint) for info in lens.layers]
    first = next((info for info in layers if receptive.INPUT in info.inputs), None)
    if first is None or first.kind != "Conv2D":
        return CellExplanation(cell=cell, layer=first, picture=picture, note=(
            "The first layer is not a convolution, so the pixel's gradient is not split by filter here."))
    specs, _ = specs_and_shapes(lens, checkpoint)
    spec = specs[first.name]
    weights = lens.weights(checkpoint)[first.name]
    saliency = np.asarray(tensors.saliency)
    colour = int(np.argmax(np.abs(saliency[row, col, :]))) if colours > 1 else 0
    with lens.computing(checkpoint) as extractor:
        _, score_gradient = extractor.output_gradients(image, first.name, label=label,
                                                       score_class=tensors.saliency_class)
    output = tensors.activations[first.name]
    z = backward.conv_pre_activation(spec, weights, image, output.shape)
    delta = backward.pre_activation_gradient(spec, z, score_gradient, output)
    if delta is None:
        return CellExplanation(cell=cell, layer=first, picture=picture, note=(
            f"The derivative of {spec.activation} is not written out here."))
    flow = backward.pixel_flow(spec, weights["kernel"], delta, (row, col, colour), image.shape,
                               float(saliency[row, col, colour]))
    return CellExplanation(cell=cell, layer=first, flow=flow, picture=picture, field=(row, col, row, col))
