"""Kumar et al. (ICLR 2022) ID/OOD setting.

Well-specified ``y = v*ᵀ B* x`` with ``B* ∈ R^{k×d}`` (orthonormal rows); ``n`` in-distribution
training points ``X ∈ R^{n×d}`` with ``1 <= k < n < d`` and ``k < d − n``; ``S = rowspace(X)``.
The pretrained ``B_0`` has orthonormal rows at spectral distance exactly ``ε`` from ``B*``:
row ``j`` is ``cos θ · b*_j + sin θ · q_j`` with ``q_j`` orthonormal and orthogonal to ``rowspace(B*)``,
so ``B_0 − B* = (cos θ − 1) B* + sin θ Q`` has every singular value ``2 sin(θ/2)``; we take
``θ = 2 arcsin(ε/2)``. (Hence ``min_U ‖B_0 − U B*‖₂ <= ε`` as the paper assumes.)
The OOD loss is the worst case over the unit ball: ``L_ood(v, B) = ‖B*ᵀv* − Bᵀv‖²``.
"""
from __future__ import annotations

import numpy as np

from lpft_theory import _validate as V
from lpft_theory.data import Moments, Samples
from lpft_theory.rng import as_generator

from .base import Scenario, orthonormal_rows


def kumar(d: int = 20, k: int = 2, n: int = 8, *, eps: float = 0.0, sigma_v0: float = 1.0, rng=None) -> Scenario:
    """One client with ``n`` Gaussian ID points; truth: ``B_star, v_star, w_star, B_0, v_0, S, S_perp``."""
    d = V.integer("d", d, min_value=3)
    k = V.integer("k", k, min_value=1)
    n = V.integer("n", n, min_value=2)
    if not (k < n < d and k < d - n):
        raise ValueError(f"need 1 <= k < n < d and k < d - n, got k={k}, n={n}, d={d}")
    eps = V.real("eps", eps, low=0.0, high=2.0)
    sigma_v0 = V.nonnegative("sigma_v0", sigma_v0)
    g = as_generator(rng)
    basis = orthonormal_rows(2 * k, d, g)
    B_star, Q = basis[:k], basis[k:]
    theta = 2.0 * np.arcsin(eps / 2.0)
    B_0 = np.cos(theta) * B_star + np.sin(theta) * Q
    v_star = g.standard_normal(k)
    v_star /= np.linalg.norm(v_star)
    v_0 = sigma_v0 * g.standard_normal(k)
    X = g.standard_normal((n, d))
    Y = X @ B_star.T @ v_star
    S = np.linalg.qr(X.T)[0].T  # orthonormal basis of rowspace(X), rows
    S_perp = np.linalg.svd(X)[2][n:]
    data = Samples(X[None], Y[None, :, None])
    truth = {"B_star": B_star, "v_star": v_star, "w_star": B_star.T @ v_star, "B_0": B_0, "v_0": v_0,
             "S": S, "S_perp": S_perp}
    meta = {"k": k, "n": n, "eps": eps, "sigma_v0": sigma_v0}

    def sampler(m, gens):  # fresh ID points from the same Gaussian
        Xn = gens[0].standard_normal((m, d))
        return Samples(Xn[None], (Xn @ B_star.T @ v_star)[None, :, None])

    w = truth["w_star"]
    population = Moments(np.eye(d)[None], w[None, :, None], np.array([w @ w]))  # ID: x ~ N(0, I_d)
    return Scenario("kumar", "regression", 1, d, 1, population, truth, meta, sampler, train=data)


def ood_loss(v: np.ndarray, B: np.ndarray, w_star: np.ndarray) -> np.ndarray:
    """``L_ood(v, B) = max_{‖x‖<=1} (w*ᵀx − vᵀBx)² = ‖w* − Bᵀv‖²`` (batched over leading axes)."""
    r = w_star - np.einsum("...kd,...k->...d", B, v)
    return np.sum(r * r, axis=-1)
