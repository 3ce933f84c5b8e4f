"""Personalization metrics (Chen et al. §1.3), feature distortion and subspace geometry.

The central object is the *cross matrix* ``M[i, j]`` = metric of client i's personalized model on
client j's data. Because a population loss is linear in the distribution, the loss on the mixture
``D_G = (1/C) Σ_j D_j`` is exactly ``(1/C) Σ_j M[i, j]``; "global over the other clients" is the mean
over ``j ≠ i`` (the paper's Global).
"""
from __future__ import annotations

import numpy as np

from . import _validate as V
from .data import Moments, Samples
from .federated import principal_angles
from .losses import accuracy

__all__ = ["cross_matrix", "summarize", "per_class_accuracy", "distortion", "distortion_split", "delta_c", "principal_angles",
           "average_columns"]


def _expand_clients(params, axis):
    return tuple(np.expand_dims(p, axis) for p in params)


def cross_matrix(arch, params, data, metric: str = "loss", loss: str = "mse", half: bool = False) -> np.ndarray:
    """``M[i, j]`` for params with a leading client axis ``(C, …)`` and data with a client axis ``(C, …)``.

    ``metric``: ``"loss"`` (``Moments`` or ``Samples``) or ``"accuracy"`` (classification ``Samples``).
    """
    V.choice("metric", metric, ("loss", "accuracy"))
    P = _expand_clients(params, 1)  # (C, 1, ...)
    if metric == "accuracy":
        if not (isinstance(data, Samples) and data.is_classification):
            raise ValueError("metric='accuracy' needs classification Samples")
        w = None if data.weights is None else data.weights[None]
        return accuracy(arch.predict(P, data.X[None]), data.Y[None], w)
    if isinstance(data, Moments):
        D = Moments(data.Sigma[None], data.C[None], data.s[None])
    else:
        D = Samples(data.X[None], data.Y[None], None if data.weights is None else data.weights[None])
    return np.asarray(arch.loss(P, D, loss, half))


def summarize(M: np.ndarray, baseline_local=None, higher_is_better: bool = False) -> dict:
    """Local, Global (others), Global (mixture), C-Std, Worst and fraction hurt from a cross matrix.

    ``baseline_local``: the global model's metric on each client's own data; a client is *hurt* when
    personalization makes its own metric worse (Motley's measure).
    """
    M = V.finite_array("M", M, ndim=2)
    C = M.shape[0]
    if M.shape != (C, C):
        raise ValueError(f"M must be square (clients × clients), got {M.shape}")
    local = np.diag(M)
    off = (M.sum(axis=1) - local) / max(C - 1, 1)
    out = {
        "local": float(local.mean()),
        "global": float(off.mean()) if C > 1 else float("nan"),
        "global_mixture": float(M.mean()),
        "c_std": float(local.std()),
        "worst": float(local.min() if higher_is_better else local.max()),
    }
    if baseline_local is not None:
        b = V.finite_array("baseline_local", baseline_local, ndim=1)
        tol = 1e-12 * np.maximum(1.0, np.abs(b))  # float round-off is not harm
        hurt = local < b - tol if higher_is_better else local > b + tol
        out["frac_hurt"] = float(hurt.mean())
    return out


def per_class_accuracy(logits: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Accuracy on each class c, ``mean_{j: y_j = c} 1[argmax f_j = c]``: ``logits (…, n, K)`` → ``(…, K)``."""
    pred = np.argmax(logits, axis=-1)
    return np.stack([np.mean(pred[..., labels == c] == c, axis=-1) for c in range(n_classes)], axis=-1)


def average_columns(local: float, global_: float, worst: float) -> dict:
    """The two readings of Chen et al.'s "Average": the stated mean(Local, Global), and the mean of
    (Local, Global, Worst) that their Table 2 numbers actually satisfy."""
    return {"average_stated": (local + global_) / 2.0, "average_table": (local + global_ + worst) / 3.0}


def distortion(B: np.ndarray, B0: np.ndarray) -> np.ndarray:
    """``‖B − B_0‖_F`` over the last two axes."""
    return np.linalg.norm(np.asarray(B) - np.asarray(B0), axis=(-2, -1))


def distortion_split(B: np.ndarray, B0: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(‖(B − B_0) P_S‖_F, ‖(B − B_0) P_{S⊥}‖_F)`` with ``S = rowspace(X)`` — the change seen by the
    data and the change orthogonal to it (zero under GD by Kumar et al.'s Lemma A.3)."""
    X = V.finite_array("X", X, ndim=2)
    U, s, Vt = np.linalg.svd(X, full_matrices=False)
    basis = Vt[s > s.max() * max(X.shape) * np.finfo(float).eps]
    D = np.asarray(B) - np.asarray(B0)
    on = D @ basis.T @ basis
    return np.linalg.norm(on, axis=(-2, -1)), np.linalg.norm(D - on, axis=(-2, -1))


def delta_c(F_global: np.ndarray, F_client: np.ndarray, weights=None) -> np.ndarray:
    """Chen et al.'s ``Δ_c = (1/n) Σ_j ‖f(θ_G; x_j) − f(θ_c; x_j)‖₂`` from features ``(…, n, k)``.

    Pass client c's own points for the formula's reading; concatenate every client's points along the
    sample axis for the prose's "all data points across all clients" reading. ``weights (…, n)``: point
    weights (zero for padding), giving the weighted mean.
    """
    dist = np.linalg.norm(np.asarray(F_global) - np.asarray(F_client), axis=-1)
    if weights is None:
        return dist.mean(axis=-1)
    return np.sum(dist * weights, axis=-1) / np.sum(weights, axis=-1)
