"""Choose the right figure and caption for a layer. Arrays and LayerInfo in; figures out.

This is where the page's knowledge of layer kinds lives, so callbacks stay one line.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard import figures
from dashboard.tensors import LayerInfo

SUMMARY_CHANNEL = "summary"
FULL_MATRIX = "matrix"
# Each layer panel keeps one height whatever the layer: the page does not jump when the layer
# changes, and Plotly is not made to redraw a second time for a resize.
# The lens fits 1280x800: the activations and the filters side by side, the sidebar's three small panels.
ACTIVATION_HEIGHT = 440
KERNEL_HEIGHT = 370
SIDEBAR_HEIGHT = 130
PROBABILITY_HEIGHT = 130
# The plot areas' width / height at 1280x800, for laying out the tiles as large as they can be drawn.
ACTIVATION_ASPECT = 1.25
KERNEL_ASPECT = 1.0
# The probability panel shows at most this many bars (the likeliest classes and the true one).
MAX_BARS = 10
# A layer with more channels than this shows them a page at a time, strongest for this input first.
PAGE_CHANNELS = 64
# Most values one panel draws (the seed CNN's largest, conv1's 26x26x32, is 21,632); a bigger map or matrix is
# shrunk by blocks for display, each cell its block's value of largest magnitude, so a response stays small.
CELL_BUDGET = 30_000
BAR_BUDGET = 4_096
# The control values of the kernel panel beyond input channels: a colour picture per filter of a conv over
# RGB, and a separable conv's depthwise kernels.
COLOUR = "colour"
DEPTHWISE = "depthwise"


def shape_text(shape: tuple[int, ...]) -> str:
    """Return a shape like (26, 26, 32) as "26×26×32"."""
    return "×".join(str(d) for d in shape)


def layer_card_text(info: LayerInfo) -> tuple[str, str, str, str]:
    """Return (name, kind, output shape, parameter count) texts for a layer's card."""
    activation = f" · {info.activation}" if info.activation and info.activation != "linear" else ""
    return (info.name, f"{info.kind}{activation}", shape_text(info.output_shape), f"{info.parameters:,} params")


def _formula(info: LayerInfo) -> str:
    act = info.activation or "linear"
    if info.kind == "Conv2D":
        return f"a = {act}(W ∗ x + b)"
    if info.kind == "Dense":
        return f"a = {act}(W · x + b)"
    return ""


INPUT_KIND = "Input"


def input_info(shape: tuple[int, ...]) -> LayerInfo:
    """Return the model's input described as a layer, so the layer graph's input node shows its channels."""
    return LayerInfo(name="input", kind=INPUT_KIND, output_shape=tuple(shape), parameters=0, weight_shapes={},
                     activation=None)


def channel_pages(info: LayerInfo) -> int:
    """Return how many pages of PAGE_CHANNELS the layer's activation maps fill (1: no paging)."""
    if len(info.output_shape) != 3:
        return 1
    return max(1, -(-info.output_shape[-1] // PAGE_CHANNELS))


def page_options(info: LayerInfo) -> list[dict]:
    """Return the choices of the channel-page control for a layer (empty: the control is hidden)."""
    pages = channel_pages(info)
    if pages == 1:
        return []
    channels = info.output_shape[-1]
    return [{"label": f"strongest {p * PAGE_CHANNELS + 1}–{min(channels, (p + 1) * PAGE_CHANNELS)} of {channels}",
             "value": p} for p in range(pages)]


def ranked_channels(activation: np.ndarray) -> np.ndarray:
    """Return an (H, W, C) activation's channel numbers, strongest first: by mean |activation| over the map,
    ties by channel number."""
    strength = np.mean(np.abs(np.asarray(activation, np.float64)), axis=(0, 1))
    return np.lexsort((np.arange(strength.size), -strength))


def activation_block(info: LayerInfo) -> int:
    """Return how many times the layer's maps are shrunk for display (1: drawn at full size)."""
    if len(info.output_shape) != 3:
        return 1
    height, width, channels = info.output_shape
    return figures.display_block(height * width * min(channels, PAGE_CHANNELS), CELL_BUDGET)


def activation_view(info: LayerInfo, activation: np.ndarray, page: int = 0,
                    zoom: tuple[list[float], list[float]] | None = None) -> tuple[go.Figure, str]:
    """Return (figure, caption) for a layer's activations on one image: every channel, or with more than
    PAGE_CHANNELS one page of them, strongest for this image first; maps too large to send are shrunk.

    `zoom` (the x and y ranges the user zoomed the mosaic to): the shrunk tiles in view are drawn again at full
    resolution over the mosaic when they fit in a response, and the figure keeps that window.
    """
    activation = np.asarray(activation)
    signed = bool(np.min(activation) < 0)
    colours = ("red > 0 > blue" if signed else "dark = 0, bright = large")
    if activation.ndim == 3:
        channels = activation.shape[-1]
        tile = shape_text(activation.shape[:2])
        lead = {
            "Conv2D": f"{_formula(info)}: one {tile} tile per filter ({channels} channels)",
            "MaxPooling2D": f"{pooling_text(info)} of the previous layer: {channels} tiles of {tile}",
        }.get(info.kind, f"{info.kind} output: {channels} tiles of {tile}")
        if info.kind in MERGES and len(info.inputs) > 1:
            lead = f"{info.kind} of {_inputs_text(info)} (the branches meet here): {channels} tiles of {tile}"
        elif info.kind == INPUT_KIND:
            names = "red, green and blue" if channels == 3 else f"{channels} channel(s)"
            lead = f"the input as the first layer receives it (after the data's scaling): one {tile} tile per " \
                   f"channel ({names})"
        shown: np.ndarray | None = None
        if channels > PAGE_CHANNELS:
            page = min(max(int(page), 0), channel_pages(info) - 1)
            shown = ranked_channels(activation)[page * PAGE_CHANNELS:(page + 1) * PAGE_CHANNELS]
            activation = activation[:, :, shown]
            first = page * PAGE_CHANNELS + 1
            lead += (f"; {shown.size} of {channels} shown, ranks {first}–{first + shown.size - 1} by mean |activation| "
                     "for this image (“channels” pages through the rest)")
        block = activation_block(info)
        full = activation
        if block > 1:
            activation = figures.block_peaks(activation, block)
            lead += (f"; each map drawn at 1/{block} size, a cell per {block}×{block} block showing its value of "
                     "largest magnitude (zoom in on a few tiles to see them at full resolution)")
        ids = None if shown is None else shown.tolist()
        figure = figures.channel_mosaic(activation, value_name="activation", signed=signed, height=ACTIVATION_HEIGHT,
                                        aspect=ACTIVATION_ASPECT, channel_ids=ids, block=block)
        if block > 1 and zoom is not None:
            figure = _zoomed(figure, full, ids, zoom)
        return figure, f"{lead}; colour: {colours}. Hover for channel, row, column and value."
    if activation.ndim == 1:
        if info.kind == "Flatten":
            lead = f"the previous layer's maps laid out as one vector of {activation.size:,} numbers"
        elif info.activation == "softmax":
            lead = "p = softmax(W · x + b): the class probabilities"
        else:
            lead = f"{_formula(info) or info.kind}: one bar per unit ({activation.size:,} units)"
        block = max(1, -(-activation.size // BAR_BUDGET))
        if block > 1:
            lead += f"; one bar per {block} units, the value of largest magnitude among them"
            # A vector is a one-column map: shrinking the column too leaves it one wide.
            activation = figures.block_peaks(activation[:, None], block)[:, 0]
        figure = figures.vector_bars(activation, value_name="activation", index_name="unit", height=ACTIVATION_HEIGHT,
                                     block=block)
        return figure, f"{lead}. Hover for each unit's value."
    return figures.message_figure(f"{info.name} outputs shape {activation.shape}, which has no view yet.",
                                  height=ACTIVATION_HEIGHT), ""


def _zoomed(figure: go.Figure, full: np.ndarray, ids: list[int] | None,
            zoom: tuple[list[float], list[float]]) -> go.Figure:
    """Return the shrunk mosaic kept at the zoom window, the tiles in it at full resolution when they fit."""
    x_range, y_range = zoom
    positions = figures.tiles_in_view(figure.data[0].meta, full.shape[-1], x_range, y_range)
    if positions and full.shape[0] * full.shape[1] * len(positions) <= CELL_BUDGET:
        figure = figures.add_full_resolution(figure, full, positions, channel_ids=ids)
    figure.layout.xaxis.range = list(x_range)
    figure.layout.yaxis.range = list(y_range)
    figure.layout.xaxis.autorange = False
    figure.layout.yaxis.autorange = False
    return figure


def channel_options(info: LayerInfo) -> list[dict]:
    """Return the choices of the kernel panel's control for a layer (empty: the control is hidden): a colour
    picture per filter, the L2 norm over input channels or one input channel's slice, a dense layer's whole
    matrix, a separable conv's depthwise kernels or pointwise matrix."""
    kernel = info.weight_shapes.get("kernel", ())
    if info.kind == "SeparableConv2D":
        return [{"label": "depthwise kernels", "value": DEPTHWISE}, {"label": "pointwise matrix", "value": FULL_MATRIX}]
    if info.kind == "Conv2D" and len(kernel) == 4 and kernel[0] * kernel[1] == 1:
        return []  # a 1×1 conv's kernel is an (inputs × filters) matrix, drawn whole
    count = input_channel_count(info)
    if count == 1 and not offers_full_matrix(info):
        return []
    options = [{"label": "colour (RGB)", "value": COLOUR}] if offers_colour(info) else []
    options.append({"label": "all (L2 norm)", "value": SUMMARY_CHANNEL})
    if offers_full_matrix(info):
        options.append({"label": "full matrix", "value": FULL_MATRIX})
    return options + [{"label": f"channel {c}", "value": c} for c in range(count)]


def input_channel_count(info: LayerInfo) -> int:
    """Return how many input channels a layer's weights can be sliced by (1: no choice to make).

    A conv kernel (kh, kw, C, filters) has C; so has a dense layer fed by a Flatten of an
    (H, W, C) map, whose kernel (H*W*C, units) is H x W maps per input channel and unit.
    """
    kernel = info.weight_shapes.get("kernel", ())
    if info.kind == "Conv2D" and len(kernel) == 4:
        return kernel[2]
    if info.kind == "Dense" and info.unflattened_input is not None:
        return info.unflattened_input[-1]
    return 1


def offers_colour(info: LayerInfo) -> bool:
    """Return whether a conv layer's filters read three channels (an RGB image), so can be drawn as colours."""
    kernel = info.weight_shapes.get("kernel", ())
    return info.kind == "Conv2D" and len(kernel) == 4 and kernel[2] == 3 and kernel[0] * kernel[1] > 1


def offers_full_matrix(info: LayerInfo) -> bool:
    """Return whether the layer's weights can also be shown as one (inputs x units) matrix."""
    return info.kind == "Dense" and info.unflattened_input is not None


def pooling_text(info: LayerInfo) -> str:
    """Return what a max-pooling layer keeps, e.g. "max of each 2×2 block" (its real window and stride)."""
    window = shape_text(info.pool_size or (2, 2))
    if info.strides is None or info.strides == info.pool_size:
        return f"max of each {window} block"
    return f"max of each {window} window, moved {shape_text(info.strides)} at a time"


MERGES = {"Add": "adds", "Subtract": "subtracts", "Multiply": "multiplies", "Average": "averages",
          "Maximum": "takes the maximum of", "Minimum": "takes the minimum of", "Concatenate": "stacks the channels of"}


def _inputs_text(info: LayerInfo) -> str:
    return " and ".join(info.inputs)


def _no_weights_text(info: LayerInfo) -> str:
    why = {
        "MaxPooling2D": f"it keeps the {pooling_text(info)}",
        "Flatten": "it only lays the maps out as one vector",
        "GlobalAveragePooling2D": "it averages each channel's whole map to one number",
        "GlobalMaxPooling2D": "it keeps each channel's largest value",
        "Dropout": "it passes its input through unchanged here (it drops units only while training)",
        INPUT_KIND: "it is the image itself, as the first layer receives it",
    }.get(info.kind, "it has no trainable parameters")
    if info.kind in MERGES and len(info.inputs) > 1:
        why = f"it {MERGES[info.kind]} {_inputs_text(info)}, element by element" if info.kind != "Concatenate" \
            else f"it {MERGES[info.kind]} {_inputs_text(info)}"
    return f"{info.name} ({info.kind}) has no weights:<br>{why}."


def _slice_or_norm(weights: np.ndarray, input_channel: int | str) -> tuple[np.ndarray, bool]:
    """Return (maps, signed) from (kh, kw, C, N) weights: one input channel's slice, or the L2 norm over C."""
    if input_channel == SUMMARY_CHANNEL:
        return np.sqrt(np.sum(weights.astype(np.float64) ** 2, axis=2)).astype(np.float32), False
    return weights[:, :, int(input_channel), :], True


def _weight_mosaic(maps: np.ndarray, signed: bool, value_name: str, *, channel_name: str) -> tuple[go.Figure, str]:
    """Return the weight mosaic and its colour legend: diverging for signed slices, sequential for norms."""
    colours = "red > 0 > blue, white = 0" if signed else "dark = 0, bright = large"
    figure = figures.channel_mosaic(maps, value_name=value_name if signed else f"‖{value_name}‖", signed=signed,
                                    channel_name=channel_name, height=KERNEL_HEIGHT, aspect=KERNEL_ASPECT)
    return figure, colours


def _matrix_view(matrix: np.ndarray, value_name: str, *, row_name: str, column_name: str,
                 lead: str, bias_note: str, zoom: tuple[list[float], list[float]] | None = None
                 ) -> tuple[go.Figure, str]:
    """Return a weight matrix (inputs × units) as a heatmap, shrunk by blocks when it is larger than a panel
    should send; `zoom` (x and y ranges in rows and columns) draws the part in view at full resolution over it
    when that part fits in a response."""
    block = figures.display_block(matrix.size, CELL_BUDGET)
    shown = figures.block_peaks(matrix, block)
    figure = figures.matrix_heatmap(shown, value_name=value_name, row_name=row_name, column_name=column_name,
                                    height=KERNEL_HEIGHT, block=block)
    shrunk = "" if block == 1 else (f" Drawn at 1/{block} size: a cell per {block}×{block} block, its value of "
                                    "largest magnitude; zoom in to see the weights in view at full resolution.")
    if block > 1 and zoom is not None:
        figure = figures.add_full_resolution_part(figure, matrix, zoom, budget=CELL_BUDGET)
    return figure, (f"{value_name} of {lead}: {matrix.shape[0]:,} {row_name}s (rows) × {matrix.shape[1]:,} "
                    f"{column_name}s (columns); colour: red > 0 > blue, white = 0.{shrunk}{bias_note}")


def _conv_kernel_view(info: LayerInfo, kernel: np.ndarray, input_channel: int | str, value_name: str,
                      bias_note: str, zoom: tuple[list[float], list[float]] | None = None) -> tuple[go.Figure, str]:
    size, inputs, filters = shape_text(kernel.shape[:2]), kernel.shape[2], kernel.shape[3]
    if kernel.shape[0] * kernel.shape[1] == 1:
        return _matrix_view(kernel[0, 0], value_name, row_name="input channel", column_name="filter",
                            lead=f"the 1×1 conv {info.name} (each filter mixes the input channels at one pixel)",
                            bias_note=bias_note, zoom=zoom)
    if input_channel == COLOUR and inputs == 3:
        figure = figures.colour_kernels(kernel, value_name=value_name, height=KERNEL_HEIGHT, aspect=KERNEL_ASPECT)
        return figure, (f"{value_name}: the {filters} {size} filters of {info.name} over the red, green and blue "
                        "input, drawn as colours on one scale: grey = 0, a pixel's colour is where the filter adds "
                        f"(or, in its complement, takes away) that colour. Hover for the true weights.{bias_note}")
    maps, signed = _slice_or_norm(kernel, 0 if inputs == 1 else input_channel)
    if inputs == 1:
        lead = f"the {filters} learned {size} kernels of {info.name}"
    elif not signed:
        lead = f"each of the {filters} filters summarised: L2 norm over its {inputs} input channels"
    else:
        lead = f"the {size} slice for input channel {input_channel} of each of the {filters} filters"
    figure, colours = _weight_mosaic(maps, signed, value_name, channel_name="filter")
    return figure, f"{value_name}: {lead}; colour: {colours}.{bias_note}"


def _depthwise_view(info: LayerInfo, kernel: np.ndarray, value_name: str, bias_note: str) -> tuple[go.Figure, str]:
    """Return a depthwise kernel (kh, kw, C, multiplier) as one tile per channel (and multiplier)."""
    height, width, inputs, multiplier = kernel.shape
    maps = kernel.reshape(height, width, inputs * multiplier)
    figure, colours = _weight_mosaic(maps, True, value_name, channel_name="output channel")
    each = "" if multiplier == 1 else f" ({multiplier} per input channel, output channel = input × {multiplier} + k)"
    return figure, (f"{value_name}: the {inputs * multiplier} {shape_text((height, width))} depthwise kernels of "
                    f"{info.name}, one per channel{each}: each filters its own input channel only; colour: "
                    f"{colours}.{bias_note}")


def kernel_view(
    info: LayerInfo, tensors: dict[str, np.ndarray] | None, *, input_channel: int | str,
    value_name: str, zoom: tuple[list[float], list[float]] | None = None,
) -> tuple[go.Figure, str]:
    """Return (figure, caption) for a layer's kernels or their gradients.

    For a conv layer with several input channels, ``input_channel`` picks the 3×3 slice of
    every filter for one input channel, SUMMARY_CHANNEL for the L2 norm over all of them, or COLOUR for
    filters over RGB drawn as colour pictures; for a separable conv, DEPTHWISE or FULL_MATRIX (pointwise).
    """
    if not tensors:
        return (figures.message_figure(_no_weights_text(info), height=KERNEL_HEIGHT),
                "Layers without weights have nothing to show here.")
    bias = tensors.get("bias")
    bias_note = "" if bias is None else f" Bias: {bias.size} values, range {np.min(bias):.3g} … {np.max(bias):.3g}."
    if "depthwise_kernel" in tensors and "pointwise_kernel" in tensors:
        pointwise = np.asarray(tensors["pointwise_kernel"])
        if input_channel == FULL_MATRIX:
            return _matrix_view(pointwise.reshape(pointwise.shape[-2], pointwise.shape[-1]), value_name,
                                row_name="channel", column_name="filter", bias_note=bias_note, zoom=zoom,
                                lead=f"the pointwise (1×1) step of {info.name}, mixing the depthwise outputs")
        figure, caption = _depthwise_view(info, np.asarray(tensors["depthwise_kernel"]), value_name, "")
        return figure, (f"{caption} Then a pointwise 1×1 step ({shape_text(pointwise.shape[-2:])}) mixes them: "
                        f"choose “pointwise matrix”.{bias_note}")
    vectors = {name: np.asarray(array) for name, array in tensors.items()}
    if "kernel" not in tensors and all(v.ndim == 1 for v in vectors.values()) \
            and len({v.size for v in vectors.values()}) == 1:
        names = " and ".join(vectors)
        figure = figures.channel_bars(vectors, index_name="channel", height=KERNEL_HEIGHT)
        how = {"BatchNormalization": "y = gamma · (x − moving mean) / √(moving variance + ε) + beta, per channel",
               "LayerNormalization": "y = gamma · (x − mean) / √(variance + ε) + beta, the mean and variance taken "
                                     "over each position's channels"}.get(info.kind, "one value per channel")
        return figure, f"{value_name}: {names} of {info.name}, one bar each per channel; {how}."
    if "kernel" not in tensors:
        names = ", ".join(f"{name} {shape_text(np.shape(array))}" for name, array in tensors.items())
        return (figures.message_figure(f"{info.name} ({info.kind}) has weights ({names})<br>but no view for them yet.",
                                       height=KERNEL_HEIGHT), "")
    kernel = np.asarray(tensors["kernel"])
    if info.kind == "DepthwiseConv2D" and kernel.ndim == 4:
        return _depthwise_view(info, kernel, value_name, bias_note)
    if info.kind == "Conv2D" and kernel.ndim == 4:
        return _conv_kernel_view(info, kernel, input_channel, value_name, bias_note, zoom)
    if kernel.ndim == 2 and info.unflattened_input is not None and input_channel != FULL_MATRIX:
        height, width, inputs = info.unflattened_input
        units = kernel.shape[1]
        # Keras's Flatten is row-major over (H, W, C), so this reshape recovers each unit's H x W x C weights,
        # laid out like a conv kernel (kh, kw, C, filters).
        maps, signed = _slice_or_norm(kernel.reshape(height, width, inputs, units), input_channel)
        shape = shape_text((height, width))
        if not signed:
            lead = (f"each of the {units} units' weights on the {shape} positions of its input, "
                    f"L2 norm over the {inputs} input channels")
        else:
            lead = f"each of the {units} units' weights on the {shape} map of input channel {input_channel}"
        figure, colours = _weight_mosaic(maps, signed, value_name, channel_name="unit")
        return figure, (f"{value_name}: {lead}; one tile per unit; colour: {colours}. "
                        f"Choose “full matrix” for all {kernel.shape[0]:,} × {units} weights at once.{bias_note}")
    if kernel.ndim == 2:
        return _matrix_view(kernel, value_name, row_name="input", column_name="unit", lead=info.name,
                            bias_note=bias_note, zoom=zoom)
    return figures.message_figure(f"{info.name}'s kernel has shape {kernel.shape}, which has no view yet.",
                                  height=KERNEL_HEIGHT), ""


def filter_view(info: LayerInfo, tensors: dict[str, np.ndarray] | None, channel: int, *,
                height: int = KERNEL_HEIGHT) -> tuple[go.Figure, str]:
    """Return (figure, caption): the weights that make one channel of a map layer, e.g. filter `channel` of a
    conv as one kernel tile per input channel (the PAGE_CHANNELS strongest when there are more)."""
    tensors = tensors or {}
    kernel = tensors.get("kernel", tensors.get("depthwise_kernel"))
    bias = tensors.get("bias")
    bias_note = "" if bias is None else f" Its bias: {float(np.asarray(bias)[channel]):.4g}."
    if kernel is not None and info.kind in ("Conv2D", "DepthwiseConv2D") and np.ndim(kernel) == 4:
        kernel = np.asarray(kernel)
        size = shape_text(kernel.shape[:2])
        if info.kind == "DepthwiseConv2D":
            multiplier = kernel.shape[3]
            source = channel // multiplier
            figure = figures.channel_mosaic(kernel[:, :, source, channel % multiplier][:, :, np.newaxis],
                                            value_name="weight", signed=True, channel_name="input channel",
                                            channel_ids=[source], height=height, aspect=KERNEL_ASPECT)
            return figure, (f"Channel {channel} of {info.name} filters input channel {source} alone, with this "
                            f"{size} kernel; colour: red > 0 > blue, white = 0.{bias_note}")
        weights = kernel[:, :, :, channel]
        inputs = weights.shape[2]
        shown = np.arange(inputs)
        if inputs > PAGE_CHANNELS:  # the strongest slices, in channel order
            strength = np.sqrt(np.sum(weights.astype(np.float64) ** 2, axis=(0, 1)))
            shown = np.sort(np.argsort(-strength, kind="stable")[:PAGE_CHANNELS])
        figure = figures.channel_mosaic(weights[:, :, shown], value_name="weight", signed=True,
                                        channel_name="input channel", channel_ids=shown.tolist(), height=height,
                                        aspect=KERNEL_ASPECT)
        if inputs == 1:
            how = f"a {size} kernel over its one input; its map is that kernel slid over the input, plus the bias"
        else:
            which = (f"the {len(shown)} of its {inputs} input channels with the largest weights (L2)"
                     if len(shown) < inputs else f"each of its {inputs} input channels")
            how = (f"a {size} kernel for {which}; its map is the sum of each kernel slid over its input channel's "
                   "map, plus the bias")
        return figure, f"Filter {channel} of {info.name}: {how}.{bias_note} Colour: red > 0 > blue, white = 0."
    if tensors and all(np.ndim(v) == 1 for v in tensors.values()):
        values = ", ".join(f"{name} {float(np.asarray(v)[channel]):.4g}" for name, v in tensors.items())
        return (figures.message_figure(f"Channel {channel} of {info.name} ({info.kind}):<br>{values}", height=height),
                f"{info.name} has one value of each of these per channel; channel {channel}'s are shown.")
    if tensors:
        return (figures.message_figure(f"The kernel panel above shows {info.name}'s weights.", height=height), "")
    return figures.message_figure(_no_weights_text(info), height=height), ""


def saliency_view(saliency: np.ndarray, *, score_class: int, score_kind: str,
                  class_names: tuple[str, ...] | None = None, ink: bool = True) -> tuple[go.Figure, str]:
    """Return (figure, caption) for the input gradient of one class score (summed over colour channels)."""
    name = class_names[score_class] if class_names is not None else str(score_class)
    quoted = f"class-{score_class}" if name == str(score_class) else f"“{name}”"
    score = f"{quoted} logit" if score_kind == "logit" else f"{quoted} output"
    saliency = np.asarray(saliency)
    colour = saliency.ndim == 3 and saliency.shape[-1] > 1
    if colour:
        saliency = saliency.sum(axis=-1)
    figure = figures.signed_heatmap(saliency, value_name="∂score/∂pixel", height=SIDEBAR_HEIGHT, scale=False)
    pixels = ("the image" if colour else "the pixels, white 0 to black 1") if ink or colour else \
        "the pixels, black 0 to white 1"
    summed = ", summed over the colour channels" if colour else ""
    more = "more ink" if ink and not colour else "a brighter pixel"
    return figure, (f"Left: {pixels}. Right: saliency, ∂({score})/∂pixel{summed}, from "
                    f"{float(np.min(saliency)):.3g} (blue: {more} lowers the score) to {float(np.max(saliency)):.3g} "
                    "(red: raises it).")


def backdrop(picture: np.ndarray, *, ink: bool = True) -> np.ndarray:
    """Return an input as the grey (H, W) backdrop the attribution maps are drawn over, in ink terms (0 white,
    1 black): a digit's ink as it is, anything else's brightness inverted, so it reads like a photograph."""
    picture = np.asarray(picture, np.float32)
    grey = picture.mean(axis=-1) if picture.ndim == 3 else picture
    return grey if ink and (picture.ndim == 2 or picture.shape[-1] == 1) else 1.0 - grey


def input_view(image: np.ndarray, *, ink: bool = True, height: int = SIDEBAR_HEIGHT) -> go.Figure:
    """Return an input as the page shows it: a colour picture, or greyscale as ink (digits) or brightness."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 3:
        return figures.colour_image(image, height=height)
    if image.ndim == 3 and image.shape[-1] != 1:
        image = image.mean(axis=-1)
    return figures.digit_heatmap(image, height=height, scale=False, ink=ink)


def probability_view(probabilities: np.ndarray, *, true_label: int | None,
                     class_names: tuple[str, ...] | None = None, reference: np.ndarray | None = None) -> go.Figure:
    """Return the class probabilities as the sidebar shows them (at most the 10 likeliest classes and the true one
    when there are more); `reference`: the unedited image's probabilities, marked on each bar."""
    probabilities = np.asarray(probabilities).reshape(-1)
    names = list(class_names) if class_names is not None else [str(c) for c in range(probabilities.size)]
    keep = list(range(probabilities.size))
    if probabilities.size > MAX_BARS:
        keep = sorted(set(np.argsort(-probabilities, kind="stable")[:MAX_BARS - 1].tolist())
                      | ({true_label} if true_label is not None else set()))
    true_position = None if true_label is None else keep.index(true_label)
    return figures.probability_bars(probabilities[keep], true_label=true_position,
                                    class_names=[names[c] for c in keep], height=PROBABILITY_HEIGHT,
                                    reference=None if reference is None else np.asarray(reference).reshape(-1)[keep])


def digit_option_label(index: int, label: int, predicted: int, confidence: float,
                       class_names: tuple[str, ...] | None = None) -> str:
    """Return the dropdown text for one test image, e.g. "#42 · true 4 · pred 4 (99.1%)" or with class names
    "#7 · true cat · pred dog (61.0%) ✗"."""
    mark = "" if label == predicted else " ✗"
    true_name = class_names[label] if class_names is not None else label
    predicted_name = class_names[predicted] if class_names is not None else predicted
    return f"#{index} · true {true_name} · pred {predicted_name} ({confidence:.1%}){mark}"
