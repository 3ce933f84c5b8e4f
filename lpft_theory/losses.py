"""Losses on predictions, and their gradients with respect to the predictions.

Convention (DESIGN.md): squared loss without the ½ by default, ``L = E‖f(x) − y‖²``; ``half=True``
gives ``½ E‖f(x) − y‖²``. Every output of the package records which one was used
(:func:`convention`).
"""
from __future__ import annotations

import numpy as np

from .data import Moments


def convention(half: bool) -> str:
    return "L = 1/2 E[(f(x) - y)^2]" if half else "L = E[(f(x) - y)^2]"


def mse_factor(half: bool) -> float:
    """The constant in ``∂L/∂f = factor · (f − y)``: 2 without the ½, 1 with it."""
    return 1.0 if half else 2.0


def _T(a: np.ndarray) -> np.ndarray:
    return np.swapaxes(a, -1, -2)


def mse_of_predictor(beta: np.ndarray, mom: Moments, half: bool = False) -> np.ndarray:
    """Exact squared loss of the linear predictor ``f(x) = βᵀx``.

        L(β) = c · [tr(βᵀ Σ β) − 2 tr(βᵀ C) + s],   c = ½ if ``half`` else 1.

    ``beta`` has shape ``(..., d, p)``; the result has the broadcast batch shape.
    """
    quad = np.sum(beta * (mom.Sigma @ beta), axis=(-1, -2))
    lin = np.sum(beta * mom.C, axis=(-1, -2))
    return (0.5 if half else 1.0) * (quad - 2.0 * lin + mom.s)


def mse_grad_predictor(beta: np.ndarray, mom: Moments, half: bool = False) -> np.ndarray:
    """``∂L/∂β = factor · (Σ β − C)`` with factor 2 (1 with ``half``)."""
    return mse_factor(half) * (mom.Sigma @ beta - mom.C)


def mse_on_samples(pred: np.ndarray, Y: np.ndarray, half: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Empirical squared loss ``(c/n) Σ_j ‖f_j − y_j‖²`` and its gradient ``∂L/∂f``."""
    n = pred.shape[-2]
    r = pred - Y
    loss = (0.5 if half else 1.0) * np.sum(r * r, axis=(-1, -2)) / n
    return loss, mse_factor(half) * r / n


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean softmax cross-entropy ``−(1/n) Σ_j Σ_c q_jc log softmax(f_j)_c`` and ``∂L/∂f = (softmax − q)/n``.

    ``targets``: integer labels ``(…, n)`` (``q`` one-hot) or soft targets ``q`` ``(…, n, p)`` whose rows
    are probability vectors (distillation toward a teacher's softmax).
    """
    n, p = logits.shape[-2], logits.shape[-1]
    if np.issubdtype(np.asarray(targets).dtype, np.integer):
        if targets.size and targets.max() >= p:
            raise ValueError(f"labels must be < number of outputs p={p}, got maximum {targets.max()}")
        q = np.eye(p)[targets]
    else:
        q = np.asarray(targets, dtype=np.float64)
        if q.shape[-1] != p or np.any(q < 0) or not np.allclose(q.sum(axis=-1), 1.0):
            raise ValueError(f"soft targets must be probability vectors of length p={p}")
    lsm = log_softmax(logits)
    loss = -np.sum(lsm * q, axis=(-1, -2)) / n
    return loss, (np.exp(lsm) - q) / n


def softmax(logits: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fraction of ``argmax f_j == y_j`` over the sample axis."""
    return np.mean(np.argmax(logits, axis=-1) == labels, axis=-1)
