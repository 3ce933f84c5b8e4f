r"""When transfer beats training from scratch (Tahir, Ganguli, Rotskoff, ICML 2025, "Features are fate"), in closed
form for the linear end-to-end predictor of a (deep) linear network, and how it lines up with Chen et al.'s
partial-overlap condition.

Setting: target inputs ``x ~ N(0, I_d)``, labels ``y = β_tᵀx + σξ``, ``n`` target points. The pretrained network's
features span ``U`` (``d×k`` orthonormal; ``k = 1`` for a single-output deep linear network trained on a source
task ``β_s = s·u``). *Feature overlap* ``ω = ‖Uᵀβ_t‖/‖β_t‖`` (for ``k = 1``: the cosine between ``β_t`` and
``u``). Risks are ``E(f(x) − β_tᵀx)²`` (the excess over the noise), exact expectations over Gaussian ``X``:

* **scratch** — the minimum-norm interpolator (GD from 0), ``n < d − 1``:
  ``R_sc = ‖β_t‖²(1 − n/d) + σ² n/(d − n − 1)``; ``n > d + 1``: ``σ² d/(n − d − 1)`` (:func:`scratch_risk`);
* **linear transfer (LP)** — least squares on the frozen features ``Uᵀx``; the part ``β_⊥`` of ``β_t`` outside
  ``U`` acts as noise independent of the features: ``R_LP = ‖β_⊥‖² + (σ² + ‖β_⊥‖²) k/(n − k − 1)``,
  ``‖β_⊥‖² = ‖β_t‖²(1 − ω²)`` (:func:`lp_risk`);
* **fine-tuning** — GD from ``β_s`` to convergence moves only inside ``rowspace(X)`` (the projection of
  :mod:`lpft_theory.theory.forgetting`; for a two-layer network, exactly its first-layer-only FT):
  ``R_FT = ‖β_t − β_s‖²(1 − n/d) + σ² n/(d − n − 1)`` (:func:`ft_risk`).

**Phase map.** FT beats scratch iff ``‖β_t − β_s‖ < ‖β_t‖``, i.e. ``ω > ‖β_s‖/(2‖β_t‖)`` — for every ``n < d − 1``,
with the gain ``(1 − n/d)(‖β_t‖² − ‖β_t − β_s‖²)`` largest at the smallest ``n``; LP beats scratch iff
``R_LP(n, ω) < R_sc(n)`` (:func:`lp_threshold`: the least ``ω`` that does), an ``n``-dependent boundary.

**Chen et al.'s overlap.** In the concept-shift scenario with private features ``⟨u_i, u_j⟩ = ω_C`` a client left out
of the global model sees its own private direction covered by the others' to ``ρ² = ω_C²(C − 1)/(1 + (C − 2)ω_C)``,
so its target's feature overlap is ``ω² = (v + λ²ρ²)/(v + λ²)`` (``v = ‖V_com‖²``; :func:`chen_overlap`) —
increasing in ``ω_C``, as Chen et al.'s window where FT's global loss beats LP-FT's, ``a ∈ (2ω_C − 1, 1)``, shrinks.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd

__all__ = ["scratch_risk", "lp_risk", "ft_risk", "ft_beats_scratch", "lp_threshold", "chen_overlap", "simulate"]


def scratch_risk(n: int, d: int, beta2: float, sigma2: float) -> float:
    """Expected risk of the minimum-norm least-squares fit from ``n`` Gaussian points (module docstring)."""
    n, d = Vd.integer("n", n, min_value=1), Vd.integer("d", d, min_value=1)
    if n < d - 1:
        return beta2 * (1 - n / d) + sigma2 * n / (d - n - 1)
    if n > d + 1:
        return sigma2 * d / (n - d - 1)
    return float("inf") if sigma2 > 0 else 0.0


def lp_risk(n: int, beta2: float, omega: float, sigma2: float, k: int = 1) -> float:
    """Expected risk of least squares on ``k`` frozen features with overlap ``omega`` (``n > k + 1``)."""
    n, k = Vd.integer("n", n, min_value=1), Vd.integer("k", k, min_value=1)
    perp = beta2 * (1 - omega ** 2)
    if n <= k + 1:
        return float("inf")
    return perp + (sigma2 + perp) * k / (n - k - 1)


def ft_risk(n: int, d: int, dist2: float, sigma2: float) -> float:
    """Expected risk of GD to convergence from ``β_s`` with ``‖β_t − β_s‖² = dist2`` (the projection)."""
    return scratch_risk(n, d, dist2, sigma2)


def ft_beats_scratch(omega: float, s: float, t: float) -> bool:
    """``‖β_t − β_s‖ < ‖β_t‖`` ⇔ ``ω > s/(2t)`` (``s = ‖β_s‖``, ``t = ‖β_t‖``, ``ω`` the signed cosine)."""
    return bool(t * t + s * s - 2 * s * t * omega < t * t)


def lp_threshold(n: int, d: int, beta2: float, sigma2: float, k: int = 1) -> float:
    """The least overlap ``ω ∈ [0, 1]`` at which LP's risk is below scratch's (``nan`` if none)."""
    r_sc = scratch_risk(n, d, beta2, sigma2)
    if n <= k + 1 or not np.isfinite(r_sc):
        return float("nan")
    # R_LP is linear in q = 1 − ω²: R_LP = beta2 q (1 + k/(n−k−1)) + sigma2 k/(n−k−1)
    c = k / (n - k - 1)
    q = (r_sc - sigma2 * c) / (beta2 * (1 + c)) if beta2 > 0 else -np.inf
    if q >= 1:
        return 0.0
    return float(np.sqrt(1 - q)) if q >= 0 else float("nan")


def chen_overlap(omega_c: float, n_clients: int, v: float, lam: float) -> float:
    """Feature overlap ``ω`` of a left-out client in Chen et al.'s partial-overlap scenario (module docstring)."""
    omega_c = Vd.probability("omega_c", omega_c)
    C = Vd.integer("n_clients", n_clients, min_value=2)
    rho2 = omega_c ** 2 * (C - 1) / (1 + (C - 2) * omega_c)
    return float(np.sqrt((v + lam ** 2 * rho2) / (v + lam ** 2)))


def simulate(n: int, d: int, beta_t, beta_s, sigma: float, draws: int, rng) -> dict:
    """Monte Carlo of the three procedures on ``draws`` target samples (``n < d``): per draw, the risk
    ``‖β̂ − β_t‖²`` of scratch (minimum norm), LP on ``u = β_s/‖β_s‖`` and FT from ``β_s`` (one projection)."""
    beta_t, beta_s = np.asarray(beta_t, float), np.asarray(beta_s, float)
    u = beta_s / np.linalg.norm(beta_s)
    out = {"scratch": np.empty(draws), "lp": np.empty(draws), "ft": np.empty(draws)}
    for i in range(draws):
        X = rng.standard_normal((n, d))
        y = X @ beta_t + sigma * rng.standard_normal(n)
        G = X @ X.T
        b_sc = X.T @ np.linalg.solve(G, y)
        z = X @ u
        b_lp = u * (z @ y) / (z @ z)
        b_ft = beta_s + X.T @ np.linalg.solve(G, y - X @ beta_s)
        for key, b in (("scratch", b_sc), ("lp", b_lp), ("ft", b_ft)):
            out[key][i] = np.sum((b - beta_t) ** 2)
    return out
