"""Losses on predictions, and their gradients with respect to the predictions.

Convention: squared loss without the ½ by default, ``L = E‖f(x) − y‖²``; ``half=True``
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


def mse_of_predictor(beta: np.ndarray, mom: Moments, half: bool = False) -> np.ndarray:
    """Exact squared loss of the linear predictor ``f(x) = βᵀx``.

        L(β) = c · [tr(βᵀ Σ β) − 2 tr(βᵀ C) + s],   c = ½ if ``half`` else 1.

    ``beta`` has shape ``(..., d, p)``; the result has the broadcast batch shape.
    """
    return _mse_value(beta, _sigma_beta(beta, mom), mom, half)


def _sigma_beta(beta, mom):
    return beta if mom.identity else shared_times(mom.Sigma, beta)  # Σ = I: nothing to multiply


def _mse_value(beta, Sb, mom, half):
    return (0.5 if half else 1.0) * ((beta * (Sb - 2.0 * mom.C)).sum(axis=(-1, -2)) + mom.s)


def shared_times(A: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``A X`` for one shared ``A (m, d)`` and a batch ``X (..., d, p)``: a single GEMM over all
    configurations (``A @ X`` would loop over them)."""
    if A.ndim == 2 and X.ndim > 2:
        return np.moveaxis(np.tensordot(A, X, axes=([1], [-2])), 0, -2)
    return A @ X


def mse_value_and_grad_predictor(beta: np.ndarray, mom: Moments, half: bool = False):
    """:func:`mse_of_predictor` and its gradient ``∂L/∂β = factor·(Σβ − C)`` (factor 2, or 1 with ``half``),
    sharing one product ``Σβ`` (none when ``Σ = I``)."""
    Sb = _sigma_beta(beta, mom)
    return _mse_value(beta, Sb, mom, half), mse_factor(half) * (Sb - mom.C)


def _weights(pred: np.ndarray, weights) -> np.ndarray:
    """Normalised point weights ``(…, n, 1)``: ``1/n`` each, or the given ``w_j/Σw``."""
    if weights is None:
        return np.full(pred.shape[:-1] + (1,), 1.0 / pred.shape[-2])
    return (weights / weights.sum(axis=-1, keepdims=True))[..., None]


def mse_on_samples(pred: np.ndarray, Y: np.ndarray, half: bool = False, weights=None):
    """Empirical squared loss ``c Σ_j ω_j ‖f_j − y_j‖²`` (``ω_j = 1/n`` or normalised weights) and ``∂L/∂f``."""
    w = _weights(pred, weights)
    r = pred - Y
    loss = (0.5 if half else 1.0) * (w * r * r).sum(axis=(-1, -2))
    return loss, mse_factor(half) * w * r


# For few classes numpy's reductions over a short last axis cost far more than the arithmetic (a strided inner
# loop per row): up to this many classes log_softmax works on a transposed copy, where the row max and the sum
# of exponentials are reductions over the second-last axis, vectorised along the points (about 2x faster for
# p = 10; the max is exact, the sum adds the classes one by one instead of pairwise: round-off only).
_FEW_CLASSES = 32


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """``z_c − log Σ_c' exp z_c'``, computed after subtracting the row maximum (no overflow)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim < 2 or logits.shape[-1] > _FEW_CLASSES:
        z = logits - logits.max(axis=-1, keepdims=True)
        return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    zt = np.swapaxes(logits, -1, -2).copy()  # (…, p, n)
    zt -= zt.max(axis=-2, keepdims=True)
    zt -= np.log(np.exp(zt).sum(axis=-2, keepdims=True))
    return np.ascontiguousarray(np.swapaxes(zt, -1, -2))


def cross_entropy(logits: np.ndarray, targets: np.ndarray, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean softmax cross-entropy ``−Σ_j ω_j Σ_c q_jc log softmax(f_j)_c`` and ``∂L/∂f = ω_j (softmax − q)``,
    ``ω_j = 1/n`` or normalised point weights.

    ``targets``: integer labels ``(…, n)`` (``q`` one-hot) or soft targets ``q`` ``(…, n, p)`` whose rows
    are probability vectors (distillation toward a teacher's softmax).
    """
    p = logits.shape[-1]
    w = _weights(logits, weights)
    lsm = log_softmax(logits)
    if np.issubdtype(np.asarray(targets).dtype, np.integer):
        if targets.size and targets.max() >= p:
            raise ValueError(f"labels must be < number of outputs p={p}, got maximum {targets.max()}")
        # one-hot q without forming it: the label's log-probability, and softmax − 1 at the label
        bs = np.broadcast_shapes(lsm.shape[:-1], np.shape(targets), w.shape[:-1])
        if lsm.shape[:-1] != bs:
            lsm = np.ascontiguousarray(np.broadcast_to(lsm, bs + (p,)))
        at = np.arange(0, lsm.size, p) + np.broadcast_to(targets, bs).reshape(-1)  # flat index of each label
        loss = -(w[..., 0] * lsm.reshape(-1)[at].reshape(bs)).sum(axis=-1)
        grad = np.exp(lsm)
        grad.reshape(-1)[at] -= 1.0
        return loss, np.multiply(grad, w, out=grad)
    q = np.asarray(targets, dtype=np.float64)
    # np.allclose(q.sum(-1), 1) written out: the same test (rtol 1e-5, atol 1e-8, NaN fails) at a tenth of its cost
    if q.shape[-1] != p or np.any(q < 0) or not np.all(np.abs(q.sum(axis=-1) - 1.0) <= 1e-08 + 1e-05 * 1.0):
        raise ValueError(f"soft targets must be probability vectors of length p={p}")
    loss = -np.sum(w * lsm * q, axis=(-1, -2))
    return loss, w * (np.exp(lsm) - q)


def softmax(logits: np.ndarray) -> np.ndarray:
    """``exp z_c / Σ_c' exp z_c'`` over the last axis."""
    return np.exp(log_softmax(logits))


def accuracy(logits: np.ndarray, labels: np.ndarray, weights=None) -> np.ndarray:
    """(Weighted) fraction of ``argmax f_j == y_j`` over the sample axis."""
    hit = (np.argmax(logits, axis=-1) == labels).astype(float)
    if weights is None:
        return hit.mean(axis=-1)
    return np.sum(hit * weights, axis=-1) / np.sum(weights, axis=-1)
