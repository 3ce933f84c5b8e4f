"""lpft-theory: feature distortion in personalized fine-tuning after federated learning.

Layers (lower never import higher): data/models/losses → dynamics/federated → strategies → metrics
→ theory → paper checks / figures → report.
"""
from . import threads
from .data import Moments, Samples
from .dynamics import DivergenceError, gradient_descent, gradient_flow
from .models import DeepLinear, TwoLayerReLU, deep_linear, linear, two_layer, two_layer_params, two_layer_relu

__version__ = "0.1.0"

threads.configure(strict=False)  # single-threaded torch/BLAS by default (LPFT_THREADS overrides): see threads.py

__all__ = ["Moments", "Samples", "DivergenceError", "gradient_descent", "gradient_flow", "DeepLinear",
           "TwoLayerReLU", "deep_linear", "linear", "two_layer", "two_layer_params", "two_layer_relu", "__version__"]
