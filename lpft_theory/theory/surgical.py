r"""Which block to tune (Lee et al., ICLR 2023, "Surgical fine-tuning improves adaptation to distribution shifts"),
in the two-layer linear model ``f = vᵀBx`` (``B ∈ R^{k×d}``, head ``v``; predictor ``β = Bᵀv``).

**First layer alone, to convergence = one projection.** With ``v = v_0`` frozen, ``∇_B L = v_0 gᵀ`` with ``g`` in
the span of the training inputs, so ``B − B_0 = v_0 uᵀ`` with ``u ∈ rowspace(X)`` and ``β − β_0 = ‖v_0‖² u``:
GD moves the predictor exactly as it moves a linear model's weights, and ends at the interpolating (or least
squares) predictor nearest ``β_0`` (:func:`first_layer_limit`):

    β_FL = β_0 + X⁺(y − Xβ_0),       B_FL = B_0 + v_0 (β_FL − β_0)ᵀ / ‖v_0‖².

**Head alone** (LP) keeps ``β ∈ rowspace(B_0)``: ``v = (B_0 XᵀX B_0ᵀ)⁺ B_0 Xᵀy`` (:func:`head_limit`). **Full FT**
moves ``β`` inside ``rowspace(X) + rowspace(B_0)`` (the head's direction as well): more freedom than either.

**The two idealised shifts** (:func:`shifted_task`): source inputs ``x ~ N(0, I_d)``, labels ``y = β_sᵀx``,
``β_s = B_0ᵀv_0``. *Input-level* (a corruption of the inputs): the target sees ``x_t = Ax`` with the source label
of ``x``, so ``β_t = A^{-ᵀ}β_s`` and ``Σ_t = AAᵀ`` — in general outside ``rowspace(B_0)``, so the head alone cannot
reach it. *Output-level* (the labelling changes, the features do not): ``β_t = B_0ᵀv_t``, ``Σ_t = I`` — inside
``rowspace(B_0)``, reached exactly by the head alone from ``n >= k`` points. The target loss of a predictor is
``(β − β_t)ᵀΣ_t(β − β_t)`` (:func:`target_loss`).
"""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..rng import as_generator

__all__ = ["first_layer_limit", "head_limit", "shifted_task", "target_loss", "SHIFTS"]

SHIFTS = ("input", "output")


def first_layer_limit(B0, v0, X, y) -> tuple[np.ndarray, np.ndarray]:
    """``(B_FL, β_FL)``: where first-layer-only GD from ``(B_0, v_0)`` converges on ``(X, y)`` (module docstring)."""
    B0, v0, X, y = (np.asarray(a, float) for a in (B0, v0, X, y))
    beta0 = B0.T @ v0
    beta = beta0 + np.linalg.pinv(X) @ (y - X @ beta0)
    return B0 + np.outer(v0, beta - beta0) / (v0 @ v0), beta


def head_limit(B0, X, y) -> np.ndarray:
    """The least-squares head on the frozen features ``B_0x`` (minimum norm where it is not unique)."""
    Z = np.asarray(X, float) @ np.asarray(B0, float).T
    return np.linalg.pinv(Z) @ np.asarray(y, float)


def shifted_task(B0, v0, shift: str, strength: float = 0.5, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """``(β_t, L_t)``: the target predictor and the target input factor (``x_t = L_t z``, ``Σ_t = L_tL_tᵀ``).

    ``"input"``: ``L_t = A = I + strength·G/√d`` (``G`` standard Gaussian), ``β_t = A^{-ᵀ}β_s``;
    ``"output"``: ``L_t = I``, ``β_t = B_0ᵀ(v_0 + strength·‖v_0‖ h/√k)`` (``h`` standard Gaussian)."""
    Vd.choice("shift", shift, SHIFTS)
    strength = Vd.nonnegative("strength", strength)
    B0, v0 = np.asarray(B0, float), np.asarray(v0, float)
    k, d = B0.shape
    g = as_generator(rng)
    if shift == "input":
        A = np.eye(d) + strength * g.standard_normal((d, d)) / np.sqrt(d)
        return np.linalg.solve(A.T, B0.T @ v0), A
    vt = v0 + strength * np.linalg.norm(v0) * g.standard_normal(k) / np.sqrt(k)
    return B0.T @ vt, np.eye(d)


def target_loss(beta, beta_t, L_t) -> float:
    """``(β − β_t)ᵀ Σ_t (β − β_t)`` with ``Σ_t = L_tL_tᵀ`` (population, no ½)."""
    e = np.asarray(L_t, float).T @ (np.asarray(beta, float) - np.asarray(beta_t, float))
    return float(e @ e)
