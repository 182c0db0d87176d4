"""CNN Lens: look inside a convolutional network, layer by layer.

Importing this package is cheap: TensorFlow is imported only when a model is
needed, so ``python app.py --help`` answers at once.
"""

__version__ = "0.1.0"
