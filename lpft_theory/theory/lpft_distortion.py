r"""When does LP-FT distort the features less than FT? An exact one-step condition and a multi-step bound.

Model ``f = VᵀBx`` (``B ∈ R^{k×d}``, scalar head ``V ∈ R^k``), population loss with second moments
``(Σ, C, s)``: ``L(B, V) = (c/2)[βᵀΣβ − 2βᵀC + s]`` with ``β = BᵀV``, ``c = 2`` for ``E(f − y)²`` (``c = 1``
with the ½). Write ``g(β) = ∂L/∂β = c(Σβ − C)``; then ``∇_B L = V g(β)ᵀ`` and ``∇_V L = B g(β)``.

**One step (exact).** ``B_1 − B_0 = −ηV g(B_0ᵀV)ᵀ`` is rank one, so

    ‖B_1 − B_0‖_F = η ‖V‖ ‖g(B_0ᵀV)‖.

FT starts at ``V_0``, LP-FT at the probed head ``V_LP``; hence, exactly,

    LP-FT distorts more after one step  ⇔  ‖V_LP‖ · ‖g(B_0ᵀV_LP)‖ > ‖V_0‖ · ‖g(B_0ᵀV_0)‖.

LP lowers the residual gradient (with exact LP, ``B_0 g(B_0ᵀV_LP) = 0``: what is left is orthogonal to the
features) but may grow the head; the comparison of the *losses* alone does not decide it.

**Many steps (bound with the head norm).** Let ``L_min = min_β L`` (over all linear predictors) and
``λ = λ_max(Σ)``. Since ``L − L_min = (c/2)eᵀΣe`` with ``e = β − β_min`` and ``‖g‖² = c²eᵀΣ²e <= 2cλ(L − L_min)``,
GD with step η satisfies, for every ``T``,

    ‖B_T − B_0‖_F <= η Σ_{t<T} ‖V_t‖ ‖g_t‖ <= η √(2cλ) Σ_{t<T} ‖V_t‖ √(L_t − L_min),

with equality at ``T = 1`` when ``Σ = λI``. The head norm multiplies the "energy" ``√(L_t − L_min)``: a
lower starting loss (LP) bounds the distortion only together with the head it leaves.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..data import Moments


def _c(half: bool) -> float:
    return 1.0 if half else 2.0


def residual_gradient(B, V, mom: Moments, half: bool = False) -> np.ndarray:
    """``g = c(Σβ − C)``, ``β = BᵀV``, for ``B (…, k, d)``, ``V (…, k)``; shape ``(…, d)``."""
    beta = np.einsum("...kd,...k->...d", B, V)
    return _c(half) * (np.einsum("...ij,...j->...i", mom.Sigma, beta) - mom.C[..., 0])


def one_step_distortion(B0, V, mom: Moments, eta: float, half: bool = False) -> np.ndarray:
    """``η ‖V‖ ‖g(B_0ᵀV)‖`` = ``‖B_1 − B_0‖_F`` after one GD step from ``(B_0, V)`` (exact)."""
    eta = Vd.positive("eta", eta)
    return eta * np.linalg.norm(V, axis=-1) * np.linalg.norm(residual_gradient(B0, V, mom, half), axis=-1)


def lp_ft_distorts_more(B0, V0, V_lp, mom: Moments, half: bool = False) -> np.ndarray:
    """The exact one-step condition ``‖V_LP‖‖g(B_0ᵀV_LP)‖ > ‖V_0‖‖g(B_0ᵀV_0)‖`` (η cancels)."""
    return one_step_distortion(B0, V_lp, mom, 1.0, half) > one_step_distortion(B0, V0, mom, 1.0, half)


def loss_floor(mom: Moments, half: bool = False) -> np.ndarray:
    """``L_min = (c/2)(s − Cᵀ Σ⁺ C)``: the least loss of any linear predictor."""
    C = mom.C[..., 0]
    sol = np.einsum("...ij,...j->...i", np.linalg.pinv(mom.Sigma, hermitian=True), C)
    return 0.5 * _c(half) * (mom.s - np.sum(C * sol, axis=-1))


def distortion_bound(eta: float, head_norms, losses, L_min, lam_max, half: bool = False) -> np.ndarray:
    """``η √(2cλ) Σ_{t<T} ‖V_t‖ √(L_t − L_min)`` for ``T = 0, 1, …`` (cumulative over the leading axis).

    ``head_norms``, ``losses``: shape ``(T + 1, …)`` along a trajectory; returns shape ``(T + 1, …)``."""
    eta = Vd.positive("eta", eta)
    h, L = np.asarray(head_norms, float), np.asarray(losses, float)
    terms = h[:-1] * np.sqrt(np.maximum(L[:-1] - L_min, 0.0))
    cum = np.concatenate([np.zeros((1,) + terms.shape[1:]), np.cumsum(terms, axis=0)])
    return eta * np.sqrt(2.0 * _c(half) * np.asarray(lam_max, float)) * cum
