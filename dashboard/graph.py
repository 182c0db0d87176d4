"""A Keras image classifier as a list of steps in topological order, nested models opened up.

Sequential and Functional models, branches (residual blocks, concatenations) and nested sub-models
all become one flat list of steps, each a layer and the steps that feed it. Running the steps on a
fresh ``keras.Input`` rebuilds the model's graph with every layer's output exposed: wrapping a loaded
model as ``keras.Model(model.inputs, [layer.output ...])`` gives ``None`` gradients in Keras 3.

The Functional walk reads Keras's node graph (``_nodes_by_depth``, each node's ``arguments``); Keras 3
has no public API for a model's topology beyond its config, and the node graph is what Keras itself
runs. The test suite pins that behaviour for the Keras versions requirements.txt admits.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import keras

INPUT = "input"

# Layers every panel can show. Training-only layers (dropout, noise, augmentation) pass their input
# through at inference, which is all the page runs.
SUPPORTED_LAYERS = frozenset({
    "Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose",
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "ActivityRegularization",
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "RandomContrast", "RandomCrop",
    "RandomBrightness",
    "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax",
    "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "ZeroPadding2D", "Cropping2D", "UpSampling2D", "Flatten", "Reshape", "Permute",
    "Dense", "Add", "Subtract", "Concatenate", "Multiply", "Average", "Maximum", "Minimum",
    "Rescaling", "Normalization", "Resizing", "CenterCrop", "Identity",
})
MODEL_CLASSES = frozenset({"Functional", "Sequential", "Model"})


class UnsupportedModel(ValueError):
    """The model is outside what the page can show; the message names what."""


@dataclasses.dataclass(frozen=True)
class Step:
    """One layer call of the flattened graph: its unique name, the layer, and the steps feeding it."""

    name: str
    layer: Any
    inputs: tuple[str, ...]
    # A Functional node is called again with its own arguments (a list for Add, keyword arguments, ...),
    # its symbolic input tensors replaced by the values of the steps named beside their ids.
    node: Any = None
    sources: tuple[tuple[int, str], ...] = ()

    @property
    def kind(self) -> str:
        """Return the layer's class name, e.g. "Conv2D"."""
        return type(self.layer).__name__


def _is_model(layer: Any) -> bool:
    return type(layer).__name__ in MODEL_CLASSES and hasattr(layer, "layers")


class _Builder:
    def __init__(self) -> None:
        self.steps: list[Step] = []
        self._names: set[str] = set()

    def unique(self, name: str) -> str:
        candidate, number = name, 2
        while candidate in self._names or candidate == INPUT:
            candidate, number = f"{name}#{number}", number + 1
        self._names.add(candidate)
        return candidate

    def layer(self, layer: Any, prefix: str, inputs: list[str], node: Any = None) -> list[str]:
        """Add one layer call (opening up a nested model); return the names of what it outputs."""
        if _is_model(layer):
            return self.model(layer, prefix + layer.name + "/", inputs)
        kind = type(layer).__name__
        if kind == "InputLayer":
            return inputs
        if kind not in SUPPORTED_LAYERS:
            raise UnsupportedModel(f"layer {prefix}{layer.name} is a {kind}, which CNN Lens does not support "
                                   f"(supported: {', '.join(sorted(SUPPORTED_LAYERS))})")
        if node is not None and len(node.outputs) != 1:
            raise UnsupportedModel(f"layer {prefix}{layer.name} has {len(node.outputs)} outputs; CNN Lens shows "
                                   "layers with one output")
        sources: tuple[tuple[int, str], ...] = ()
        if node is not None:
            sources = tuple((id(tensor), name) for tensor, name in zip(node.input_tensors, inputs, strict=True))
        name = self.unique(prefix + layer.name)
        self.steps.append(Step(name, layer, tuple(dict.fromkeys(inputs)), node, sources))
        return [name]

    def model(self, model: Any, prefix: str, inputs: list[str]) -> list[str]:
        """Add every layer of a model applied to the named inputs; return the names of its outputs."""
        if type(model).__name__ == "Sequential":
            current = inputs
            for layer in model.layers:
                current = self.layer(layer, prefix, current)
            return current
        if len(model.inputs) != len(inputs):
            raise UnsupportedModel(f"{prefix or model.name} takes {len(model.inputs)} inputs; CNN Lens shows "
                                   "models with one image input")
        names = {id(tensor): name for tensor, name in zip(model.inputs, inputs)}
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                if node.is_input or node.operation is None:
                    continue
                feeding = [names[id(tensor)] for tensor in node.input_tensors]
                outputs = self.layer(node.operation, prefix, feeding, node)
                for tensor, name in zip(node.outputs, outputs):
                    names[id(tensor)] = name
        return [names[id(tensor)] for tensor in model.outputs]


def check_model(model: keras.Model) -> None:
    """Raise UnsupportedModel unless the model takes one image (H, W, C) and gives one vector of class scores."""
    inputs = list(getattr(model, "inputs", None) or [])
    outputs = list(getattr(model, "outputs", None) or [])
    if len(inputs) != 1:
        raise UnsupportedModel(f"the model has {len(inputs)} inputs; CNN Lens shows models with one image input")
    shape = tuple(inputs[0].shape[1:])
    if len(shape) != 3 or any(d is None for d in shape):
        raise UnsupportedModel(f"the model's input has shape {shape}; CNN Lens needs one image of fixed "
                               "height × width × channels")
    if len(outputs) != 1 or len(outputs[0].shape) != 2 or outputs[0].shape[-1] is None:
        shapes = ", ".join(str(tuple(o.shape[1:])) for o in outputs)
        raise UnsupportedModel(f"the model outputs {shapes or 'nothing'}; CNN Lens needs one vector of class "
                               "scores")
    if int(outputs[0].shape[-1]) < 2:
        raise UnsupportedModel("the model outputs one number; CNN Lens needs a classifier with two or more classes")


def layer_steps(model: keras.Model) -> tuple[list[Step], str]:
    """Return the model's steps in an order where every step comes after those feeding it, and the name of the
    step whose output is the model's output; raise UnsupportedModel for a model the page cannot show."""
    check_model(model)
    builder = _Builder()
    outputs = builder.model(model, "", [INPUT])
    if len(outputs) != 1 or outputs[0] == INPUT:
        raise UnsupportedModel("the model's output is not computed by any layer")
    return builder.steps, outputs[0]


def all_steps(model: keras.Model) -> list[Step]:
    """Return every layer call of a model with any number of inputs and outputs (no checks but the layers')."""
    builder = _Builder()
    builder.model(model, "", [INPUT] if len(model.inputs) == 1 else [f"{INPUT}{i}" for i in range(len(model.inputs))])
    return builder.steps


def call_step(step: Step, values: dict[str, Any]) -> Any:
    """Return the step's layer applied (in inference mode) to the values of the steps feeding it."""
    if step.node is None:
        return step.layer(values[step.inputs[0]], training=False)
    args, kwargs = step.node.arguments.fill_in({key: values[name] for key, name in step.sources})
    kwargs = {**kwargs, "training": False}
    return step.layer(*args, **kwargs)


def run_steps(steps: list[Step], image: Any) -> dict[str, Any]:
    """Return {step name: output} for the image (symbolic or real) run through every step."""
    values: dict[str, Any] = {INPUT: image}
    for step in steps:
        values[step.name] = call_step(step, values)
    return values
