r"""Kumar et al. (ICLR 2022): fine-tuning distorts pretrained features.

Setting (``synthetic.kumar``): ``y = w*ᵀx`` with ``w* = B*ᵀv*``; ``n < d`` training points spanning
``S``; pretrained ``B_0`` (orthonormal rows) at distance ``ε`` from ``B*``; OOD loss
``L_ood(v, B) = ‖w* − Bᵀv‖²`` (the worst case over the unit ball).

* **Lemma A.3.** ``∇_B L̂ = c·v (XBᵀv − Y)ᵀX`` has rows in ``S``, so ``B_t u = B_0 u`` for ``u ∈ S⊥`` under
  GD at any step size and under gradient flow (:func:`s_perp_drift`).
* **Balancedness.** Under gradient flow ``v vᵀ − B Bᵀ`` is constant (:func:`balancedness`).
* **Theorem 3.1.** If ``cos θ_k(R, S⊥) > 0`` (``R = rowspace(B_0)``), for all t:
  ``√L_ood(ft(t)) >= cos θ_k(R,S⊥)/√k · min(φ, φ²/‖w*‖)/(1 + ‖w*‖)² − ε^p``, with
  ``φ² = |(v_0ᵀv*)² − (v*ᵀv*)²|`` and ``p = 1`` (setup) or ``p = 2`` (as printed) (:func:`theorem_3_1_bound`).
* **Theorem 3.2.** ``L_ood(v_lp^∞, B_0)/L_ood(ft(t)) → 0`` as ``ε → 0`` (:func:`lp_infinity_head`).
* **Proposition 3.1.** If ``w* ∉ rowspace(B_0)`` and FT reaches zero training loss, FT's worst-case loss
  on ``S`` is 0 while LP's is positive (:func:`id_worst_case_loss`).
* **Proposition 3.2.** With ``B_0 = U B*``: LP-FT has ``L_ood = 0`` for all t; FT from a random head has
  ``L_ood > 0`` for all t.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import orth

from synthetic.kumar import ood_loss

__all__ = ["cos_theta_k", "phi", "theorem_3_1_bound", "ood_loss", "lp_infinity_head", "id_worst_case_loss",
           "s_perp_drift", "balancedness"]

from .. import _validate as Vd


def _basis(M: np.ndarray) -> np.ndarray:
    """Orthonormal basis (columns) of the row space of ``M``."""
    return orth(np.asarray(M, dtype=float).T)


def cos_theta_k(B0: np.ndarray, subspace_rows: np.ndarray) -> float:
    """``cos θ_k(R, T) = σ_k(EᵀF)``: the smallest of the k principal cosines between ``R = rowspace(B_0)``
    (k-dimensional) and the subspace spanned by the rows of ``subspace_rows``."""
    E, F = _basis(B0), _basis(subspace_rows)
    k = E.shape[1]
    sv = np.linalg.svd(E.T @ F, compute_uv=False)
    return float(sv[k - 1]) if sv.size >= k else 0.0


def phi(v0: np.ndarray, v_star: np.ndarray) -> float:
    """Initial head alignment error ``φ = √|(v_0ᵀv*)² − (v*ᵀv*)²|``."""
    return float(np.sqrt(abs((v0 @ v_star) ** 2 - (v_star @ v_star) ** 2)))


def theorem_3_1_bound(B0, S_perp, v0, v_star, w_star, eps: float, eps_power: int = 1) -> float:
    """Right-hand side of Theorem 3.1 (a lower bound on ``√L_ood`` along the FT trajectory)."""
    Vd.choice("eps_power", eps_power, (1, 2))
    k = B0.shape[0]
    nw = float(np.linalg.norm(w_star))
    ph = phi(np.asarray(v0), np.asarray(v_star))
    core = cos_theta_k(B0, S_perp) / np.sqrt(k) * min(ph, ph ** 2 / nw) / (1.0 + nw) ** 2
    return core - eps ** eps_power


def lp_infinity_head(B0: np.ndarray, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Limit of LP's gradient flow from ``v = 0``: the least-squares head ``(B_0XᵀXB_0ᵀ)⁺B_0XᵀY``."""
    F = X @ B0.T
    return np.linalg.lstsq(F, Y.reshape(-1), rcond=None)[0]


def id_worst_case_loss(v: np.ndarray, B: np.ndarray, w_star: np.ndarray, X: np.ndarray) -> float:
    """``max_{x ∈ S, ‖x‖ <= 1} (w*ᵀx − vᵀBx)² = ‖P_S(w* − Bᵀv)‖²``."""
    Q = _basis(X)
    r = Q.T @ (w_star - B.T @ v)
    return float(r @ r)


def s_perp_drift(B: np.ndarray, B0: np.ndarray, S_perp: np.ndarray) -> np.ndarray:
    """``max |(B − B_0) u|`` over the basis ``u`` of ``S⊥`` (zero under Lemma A.3)."""
    return np.max(np.abs((np.asarray(B) - B0) @ S_perp.T), axis=(-2, -1))


def balancedness(v: np.ndarray, B: np.ndarray) -> np.ndarray:
    """``v vᵀ − B Bᵀ`` (k × k), conserved by gradient flow on ``(v, B)``."""
    v = np.asarray(v).reshape(-1, 1) if np.ndim(v) == 1 else np.asarray(v)
    return v @ v.T - B @ B.T
