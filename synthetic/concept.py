"""Concept shift (Chen et al. Assumption 4.1) and its generalisation to partial feature overlap.

Client ``i`` labels ``y_i = V_i*ᵀ B* x`` with ``B* ∈ R^{k×d}`` (orthonormal rows, shared) and

    V_i* = [V_com ; λ u_i],   V_com ∈ R^m,  u_i ∈ R^C,  k = m + C,

with ``E[x xᵀ] = I_d`` for every client. In Assumption 4.1 ``u_i = e_i``: each client has a private
feature (row ``m+i`` of ``B*``). The overlap parameter ``ω ∈ [0, 1]`` makes the private parts share:
``u_i`` are the columns of ``G^{1/2}`` with ``G = (1−ω) I + ω 11ᵀ``, so ``‖u_i‖ = 1`` and
``⟨u_i, u_j⟩ = ω``. ``ω = 0`` is Assumption 4.1 (disjoint private features); ``ω = 1`` gives every
client the same extra feature (no concept shift left).
"""
from __future__ import annotations

import numpy as np

from lpft_theory import _validate as V
from lpft_theory.rng import as_generator

from .base import Scenario, linear_gaussian, orthonormal_rows


def overlap_directions(n_clients: int, omega: float) -> np.ndarray:
    """Rows ``u_i`` with ``‖u_i‖ = 1``, ``⟨u_i,u_j⟩ = ω``: ``G^{1/2}`` for ``G = (1−ω)I + ω11ᵀ``."""
    a = np.sqrt(1.0 - omega)
    b = (np.sqrt(1.0 - omega + n_clients * omega) - a) / n_clients
    return a * np.eye(n_clients) + b * np.ones((n_clients, n_clients))


def _check_heads(d, m, n_clients, lam, V_com, rng):
    d = V.integer("d", d, min_value=1)
    m = V.integer("m", m, min_value=0)
    n_clients = V.integer("n_clients", n_clients, min_value=1)
    lam = V.nonnegative("lam", lam)
    k = m + n_clients
    if k > d:
        raise ValueError(f"need k = m + n_clients <= d, got m={m}, n_clients={n_clients}, d={d}")
    g = as_generator(rng)
    if V_com is None:
        V_com = g.standard_normal(m) / np.sqrt(max(m, 1))
    V_com = V.finite_array("V_com", V_com, ndim=1)
    if V_com.shape[0] != m:
        raise ValueError(f"V_com must have length m={m}, got {V_com.shape[0]}")
    return d, m, n_clients, lam, k, V_com, g


def concept_shift(d: int = 20, m: int = 3, n_clients: int = 5, lam: float = 1.0, *, V_com=None,
                  noise: float = 0.0, overlap: float = 0.0, rng=None) -> Scenario:
    """Chen et al. Assumption 4.1 (with ``overlap = 0``); ``x ~ N(0, I_d)``.

    Ground truth: ``B_star (k, d)``, ``V_stars (C, k)``, ``V_com (m,)``, ``U_private (C, C)``.
    The papers' idealised global model is ``(B*, [V_com; 0])`` (:func:`idealised_init`).
    """
    d, m, n_clients, lam, k, V_com, g = _check_heads(d, m, n_clients, lam, V_com, rng)
    omega = V.probability("overlap", overlap)
    noise = V.nonnegative("noise", noise)
    B_star = orthonormal_rows(k, d, g)
    U = overlap_directions(n_clients, omega)
    V_stars = np.concatenate([np.broadcast_to(V_com, (n_clients, m)), lam * U], axis=1)
    betas = V_stars @ B_star
    truth = {"B_star": B_star, "V_stars": V_stars, "V_com": V_com, "U_private": U}
    meta = {"m": m, "k": k, "lam": lam, "noise": noise, "overlap": omega}
    name = "concept" if omega == 0 else "overlap"
    return linear_gaussian(name, np.zeros((n_clients, d)), np.eye(d), betas, noise, truth, meta)


def partial_overlap(d: int = 20, m: int = 3, n_clients: int = 5, lam: float = 1.0, overlap: float = 0.5, **kw) -> Scenario:
    """Concept shift whose private features overlap: ``⟨u_i, u_j⟩ = overlap`` (see module docstring)."""
    return concept_shift(d, m, n_clients, lam, overlap=overlap, **kw)


def idealised_init(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """``(B_0, V_0) = (B*, [V_com; 0])`` — "FedAvg learns the shared representation" (Collins et al.)."""
    t = scenario.truth
    if "V_com" not in t or "B_star" not in t:
        raise ValueError(f"scenario {scenario.name!r} has no (B*, V_com) ground truth")
    k = t["B_star"].shape[0]
    V0 = np.zeros(k)
    V0[: t["V_com"].shape[0]] = t["V_com"]
    return t["B_star"].copy(), V0
