"""The seed article's pipeline, the baseline every view is measured against.

`model.predict` on a multi-output model of the loaded network, an eager GradientTape for
gradients, one Plotly subplot per channel with `make_subplots`, then JSON.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


class NaivePipeline:
    """Per request: predict, then a subplot per channel, then to_json."""

    def __init__(self, model) -> None:
        import keras

        self.model = model
        self.layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
        self.multi_output = keras.Model(model.inputs, [layer.output for layer in self.layers])

    def activations(self, image: np.ndarray) -> dict[str, np.ndarray]:
        outputs = self.multi_output.predict(image[np.newaxis], verbose=0)
        return {layer.name: output[0] for layer, output in zip(self.layers, outputs)}

    def saliency(self, image: np.ndarray, score_class: int) -> np.ndarray:
        import tensorflow as tf

        x = tf.convert_to_tensor(image[np.newaxis])
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = self.model(x)[0, score_class]
        return tape.gradient(score, x).numpy()[0]

    def weight_gradients(self, image: np.ndarray, label: int) -> dict[str, np.ndarray]:
        import keras
        import tensorflow as tf

        x = tf.convert_to_tensor(image[np.newaxis])
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        with tf.GradientTape() as tape:
            loss = loss_fn(np.array([label]), self.model(x))
        gradients = tape.gradient(loss, self.model.trainable_weights)
        return {w.path: g.numpy() for w, g in zip(self.model.trainable_weights, gradients)}

    @staticmethod
    def subplot_figure(maps: np.ndarray, *, zmin=None, zmax=None) -> go.Figure:
        """One heatmap subplot per channel, as the seed article draws a layer."""
        maps = maps if maps.ndim == 3 else maps.reshape(1, 1, -1)
        channels = maps.shape[-1]
        columns = min(8, channels)
        rows = math.ceil(channels / columns)
        fig = make_subplots(rows=rows, cols=columns, subplot_titles=[f"ch {c}" for c in range(channels)])
        for channel in range(channels):
            fig.add_trace(go.Heatmap(z=maps[:, :, channel], showscale=False, zmin=zmin, zmax=zmax,
                                     coloraxis=None), row=channel // columns + 1, col=channel % columns + 1)
        fig.update_layout(height=120 * rows)
        return fig

    def layer_view_json(self, image: np.ndarray, layer: str, *, shared_scale: bool = True) -> str:
        """Activations of one layer for one digit, drawn and serialised (a layer change, a scale toggle)."""
        maps = self.activations(image)[layer]
        limits = dict(zmin=float(maps.min()), zmax=float(maps.max())) if shared_scale else {}
        return self.subplot_figure(maps, **limits).to_json()

    def digit_change_json(self, image: np.ndarray, label: int, layer: str) -> str:
        """Everything a digit change redraws: activations, probabilities, saliency, weight gradients."""
        activations = self.activations(image)
        parts = [self.subplot_figure(activations[layer]).to_json()]
        probabilities = activations[self.layers[-1].name]
        parts.append(go.Figure(go.Bar(y=probabilities)).to_json())
        predicted = int(np.argmax(probabilities))
        parts.append(go.Figure(go.Heatmap(z=self.saliency(image, predicted)[:, :, 0])).to_json())
        gradients = self.weight_gradients(image, label)
        kernel = next(g for name, g in gradients.items() if name.startswith(layer + "/") and g.ndim == 4)
        parts.append(self.subplot_figure(kernel[:, :, 0, :]).to_json())
        return "".join(parts)

    def class_change_json(self, image: np.ndarray, score_class: int) -> str:
        """A saliency for another class: like every seed callback, it starts from predict."""
        probabilities = self.activations(image)[self.layers[-1].name]
        saliency = self.saliency(image, score_class)[:, :, 0]
        return go.Figure(go.Heatmap(z=saliency)).to_json() + go.Figure(go.Bar(y=probabilities)).to_json()
