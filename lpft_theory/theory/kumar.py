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

**The FT flow, reduced and batched** (:func:`ft_flow_min_sqrt_ood`, what the adversarial searches integrate).
Rotate ``R^d`` so that ``S`` is the first ``n`` coordinates and ``XᵀX = diag(σ)`` on it (any ``X`` is one such
rotation away, :func:`canonical`). By Lemma A.3 only ``C = B_S`` (``k×n``) and ``v`` move; with
``z = Cᵀv − w*_S`` the loss is ``zᵀdiag(σ)z`` and the flow ``Ċ = −2v(σ⊙z)ᵀ``, ``v̇ = −2C(σ⊙z)``, while
``L_ood = ‖z‖² + ‖B_{0,⊥}ᵀv − w*_⊥‖²``. A constant factor on the loss (the engine's mean instead of Kumar's
sum) only rescales time, so ``min_t √L_ood`` is the same. Many instances are integrated as one
block-diagonal system (LSODA, banded analytic Jacobian: the flow is stiff when ``σ`` is ill-conditioned or
the head small).
"""
from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import orth

from synthetic.kumar import ood_loss

__all__ = ["cos_theta_k", "phi", "theorem_3_1_bound", "bound_core", "ood_loss", "lp_infinity_head",
           "id_worst_case_loss", "s_perp_drift", "balancedness", "canonical", "ft_flow_min_sqrt_ood"]

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


def bound_core(cos_k: float, k: int, v0, v_star, w_norm: float) -> float:
    """``cos θ_k(R, S⊥)/√k · min(φ, φ²/‖w*‖)/(1 + ‖w*‖)²``: Theorem 3.1's bound before the ``− ε^p``."""
    ph = phi(np.asarray(v0), np.asarray(v_star))
    return float(cos_k / np.sqrt(k) * min(ph, ph ** 2 / w_norm) / (1.0 + w_norm) ** 2)


def theorem_3_1_bound(B0, S_perp, v0, v_star, w_star, eps: float, eps_power: int = 1) -> float:
    """Right-hand side of Theorem 3.1 (a lower bound on ``√L_ood`` along the FT trajectory)."""
    Vd.choice("eps_power", eps_power, (1, 2))
    core = bound_core(cos_theta_k(B0, S_perp), B0.shape[0], v0, v_star, float(np.linalg.norm(w_star)))
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


def canonical(X, B0, w_star):
    """Rotate an instance so that ``S = rowspace(X)`` is the first ``n`` coordinates, with ``XᵀX`` diagonal there:
    returns ``σ`` (the ``n`` eigenvalues of ``XXᵀ``), ``B_0`` and ``w*`` in the rotated coordinates (a rotation
    of ``R^d`` changes neither the flow's ``L_ood`` nor the training loss)."""
    X = np.asarray(X, float)
    _, s, Vt = np.linalg.svd(X)
    n = X.shape[0]
    return s[:n] ** 2, np.asarray(B0, float) @ Vt.T, Vt @ np.asarray(w_star, float)


def ft_flow_min_sqrt_ood(sigma, B0, v0, w_star, rtol: float = 1e-9, atol: float = 1e-12, t_max: float = 1e9,
                         loss_tol: float = 1e-24, scale=None) -> dict:
    """``min_t √L_ood`` along FT's gradient flow for a batch of instances in canonical coordinates.

    ``sigma (N, n)``: ``XᵀX = diag(σ)`` on ``S`` = the first ``n`` coordinates (training inputs
    ``X = diag(√σ)[I_n 0]``); ``B0 (N, k, d)``, ``v0 (N, k)``, ``w_star (N, d)``. The flow runs until every
    instance's training loss is below ``loss_tol`` (then nothing moves any more) or ``t_max``; the minimum is
    taken over the solver's steps and refined between them (cubic Hermite interpolation of the steps around it). ``scale`` (one per instance):
    each instance's right-hand side is multiplied by it, a change of its own time only (``t = scale·τ``), to bring
    instances of very different speeds to converge together (default 1). Returns ``min_sqrt_ood``,
    ``t_at_min`` (in the unscaled time), ``final_loss`` and ``converged`` (one per instance), ``steps``.
    """
    sigma, B0 = np.asarray(sigma, float), np.asarray(B0, float)
    v0, w = np.asarray(v0, float), np.asarray(w_star, float)
    N, k, d = B0.shape
    n = sigma.shape[1]
    if not (v0.shape == (N, k) and w.shape == (N, d) and sigma.shape == (N, n) and n < d):
        raise ValueError(f"shapes: sigma (N, n), B0 (N, k, d), v0 (N, k), w_star (N, d) with n < d; got "
                         f"{sigma.shape}, {B0.shape}, {v0.shape}, {w.shape}")
    C0, D, wS, wP = B0[:, :, :n], B0[:, :, n:], w[:, :n], w[:, n:]
    lam = np.ones(N) if scale is None else np.asarray(scale, float)
    m, kn = k * n + k, k * n
    rows = np.arange(N)[:, None] * m

    def parts(y):
        Y = y.reshape(N, m)
        C, v = Y[:, :kn].reshape(N, k, n), Y[:, kn:]
        z = np.einsum("Nkn,Nk->Nn", C, v) - wS
        return C, v, z, sigma * z

    def rhs(t, y):
        C, v, z, g = parts(y)
        g = lam[:, None] * g
        return np.concatenate([(-2.0 * v[:, :, None] * g[:, None, :]).reshape(N, kn),
                               -2.0 * np.einsum("Nkn,Nn->Nk", C, g)], 1).ravel()

    eye_k, eye_n, bw = np.eye(k), np.eye(n), m - 1
    ii, jj = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")

    def jac(t, y):  # −Hessian of the loss, block by block, packed for LSODA's banded solver
        C, v, z, g = parts(y)
        J = np.empty((N, m, m))
        sigma_l, g = sigma * lam[:, None], g * lam[:, None]
        J[:, :kn, :kn] = (-2.0 * np.einsum("Na,Nb,be,Nc->Nabce", v, sigma_l, eye_n, v)).reshape(N, kn, kn)
        JCv = -2.0 * (np.einsum("ac,Nb->Nabc", eye_k, g) + np.einsum("Na,Nb,Ncb->Nabc", v, sigma_l, C))
        J[:, :kn, kn:] = JCv.reshape(N, kn, k)
        J[:, kn:, :kn] = np.transpose(JCv, (0, 3, 1, 2)).reshape(N, k, kn)
        J[:, kn:, kn:] = -2.0 * np.einsum("Nab,Nb,Ncb->Nac", C, sigma_l, C)
        packed = np.zeros((2 * bw + 1, N * m))
        packed[(bw + ii - jj).ravel()[None, :], (rows + jj.ravel()[None, :])] = J.reshape(N, m * m)
        return packed

    def converged(t, y):
        C, v, z, g = parts(y)
        return float(np.max(np.sum(z * g, 1))) - loss_tol

    converged.terminal = True
    y0 = np.concatenate([C0.reshape(N, kn), v0], 1).ravel()
    sol = solve_ivp(rhs, (0.0, t_max), y0, method="LSODA", jac=jac, lband=bw, uband=bw, rtol=rtol, atol=atol,
                    events=converged)

    def sqrt_ood(Yt):  # Yt (N, m, T) -> √L_ood and the training loss, (N, T)
        C, v = Yt[:, :kn].reshape(N, k, n, -1), Yt[:, kn:]
        z = np.einsum("Nknt,Nkt->Nnt", C, v) - wS[:, :, None]
        r = np.einsum("Nkm,Nkt->Nmt", D, v) - wP[:, :, None]
        return np.sqrt(np.sum(z * z, 1) + np.sum(r * r, 1)), np.sum(sigma[:, :, None] * z * z, 1)

    Y = sol.y.reshape(N, m, -1)
    root, loss = sqrt_ood(Y)
    i = np.argmin(root, 1)
    best, t_best = root[np.arange(N), i], sol.t[i]
    # between the solver's steps: the cubic Hermite interpolant of the two steps on each side of the best one
    s01 = np.linspace(0.0, 1.0, 21)[None, None, :]
    h00, h10, h01, h11 = 2 * s01 ** 3 - 3 * s01 ** 2 + 1, s01 ** 3 - 2 * s01 ** 2 + s01, -2 * s01 ** 3 + 3 * s01 ** 2, s01 ** 3 - s01 ** 2
    for lo in (np.maximum(i - 1, 0), i):
        hi = np.minimum(lo + 1, sol.t.size - 1)
        ya, yb = Y[np.arange(N), :, lo], Y[np.arange(N), :, hi]
        fa, fb = rhs(0.0, ya.ravel()).reshape(N, m), rhs(0.0, yb.ravel()).reshape(N, m)
        h = (sol.t[hi] - sol.t[lo])[:, None, None]
        Yh = h00 * ya[:, :, None] + h10 * h * fa[:, :, None] + h01 * yb[:, :, None] + h11 * h * fb[:, :, None]
        rh, _ = sqrt_ood(Yh)
        j = np.argmin(rh, 1)
        better = rh[np.arange(N), j] < best
        best = np.where(better, rh[np.arange(N), j], best)
        t_best = np.where(better, sol.t[lo] + h[:, 0, 0] * s01[0, 0, j], t_best)
    final = loss[:, -1]
    return {"min_sqrt_ood": best, "t_at_min": lam * t_best, "final_loss": final,
            "converged": final <= 2.0 * loss_tol, "steps": int(sol.t.size)}
