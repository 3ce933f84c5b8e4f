"""Covariate shift and combined covariate–concept shift (Chen et al. Theorem 4.5's setting).

Client data ``x_i = e_i + ε z``, ``z ~ N(0, I_d)``: ``E[x_i x_iᵀ] = e_i e_iᵀ + ε² I``.
Covariate shift keeps one labelling ``y = w*ᵀx`` (``w* = B*ᵀ V*``); combined shift uses the concept-shift
heads ``V_i* = [V_com; λ e_i]`` of Assumption 4.1 as well.

Shift geometry (``geometry=``), each shift of length ``shift``:
* ``"private"`` — ``e_i`` along client i's private feature ``b*_{m+i}`` (the shift and the concept
  change live in the same direction);
* ``"shared"`` — every ``e_i`` along the first shared feature ``b*_1`` (needs ``m >= 1``), signs alternating;
* ``"orthogonal"`` — mutually orthonormal directions outside ``rowspace(B*)`` (needs ``d >= k + C``);
* ``"random"`` — independent uniformly random directions.
Or pass ``shifts`` (C×d) explicitly. General per-client covariances: :func:`covariate_shift` with
``cov_factors``.
"""
from __future__ import annotations

import numpy as np

from lpft_theory import _validate as V
from lpft_theory.rng import as_generator

from .base import Scenario, linear_gaussian, orthonormal_rows
from .concept import _check_heads

GEOMETRIES = ("private", "shared", "orthogonal", "random")


def shift_vectors(geometry: str, B_star: np.ndarray, m: int, n_clients: int, shift: float, rng) -> np.ndarray:
    """The client shifts ``e_i`` (rows) for a named geometry (see module docstring)."""
    V.choice("geometry", geometry, GEOMETRIES)
    k, d = B_star.shape
    if geometry == "private":
        if k < m + n_clients:
            raise ValueError("geometry='private' needs a private feature per client (k >= m + n_clients)")
        dirs = B_star[m:m + n_clients]
    elif geometry == "shared":
        if m < 1:
            raise ValueError("geometry='shared' needs at least one shared feature (m >= 1)")
        dirs = np.outer((-1.0) ** np.arange(n_clients), B_star[0])
    elif geometry == "orthogonal":
        if d < k + n_clients:
            raise ValueError(f"geometry='orthogonal' needs d >= k + n_clients = {k + n_clients}, got d={d}")
        full = np.linalg.qr(np.concatenate([B_star.T, as_generator(rng).standard_normal((d, n_clients))], axis=1))[0]
        dirs = full[:, k:k + n_clients].T
    else:
        g = as_generator(rng)
        raw = g.standard_normal((n_clients, d))
        dirs = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    return shift * dirs


def covariate_shift(d: int = 20, n_clients: int = 5, *, k: int = 5, shift: float = 1.0, eps: float = 1.0,
                    geometry: str = "random", shifts=None, cov_factors=None, noise: float = 0.0, rng=None) -> Scenario:
    """Shared labelling ``y = w*ᵀx``, ``w* = B*ᵀV*``, with client-specific input distributions.

    Inputs ``x_i = e_i + L_i z``; ``L_i = ε I`` unless ``cov_factors`` (``(C, d, d)``) is given.
    """
    d = V.integer("d", d, min_value=1)
    n_clients = V.integer("n_clients", n_clients, min_value=1)
    k = V.integer("k", k, min_value=1, max_value=d)
    shift, eps, noise = V.nonnegative("shift", shift), V.nonnegative("eps", eps), V.nonnegative("noise", noise)
    g = as_generator(rng)
    B_star = orthonormal_rows(k, d, g)
    V_star = g.standard_normal(k) / np.sqrt(k)
    if shifts is None:
        if geometry == "private":
            raise ValueError("covariate_shift has no private features; use geometry 'shared', 'orthogonal' or 'random'")
        shifts = shift_vectors(geometry, B_star, min(k, 1) if geometry == "shared" else 0, n_clients, shift, g)
    shifts = V.finite_array("shifts", shifts, ndim=2)
    if shifts.shape != (n_clients, d):
        raise ValueError(f"shifts must have shape (n_clients, d) = {(n_clients, d)}, got {shifts.shape}")
    L = eps * np.eye(d) if cov_factors is None else V.finite_array("cov_factors", cov_factors)
    w_star = B_star.T @ V_star
    truth = {"B_star": B_star, "V_star": V_star, "w_star": w_star, "shifts": shifts}
    meta = {"k": k, "shift": shift, "eps": eps, "geometry": geometry if cov_factors is None else "custom", "noise": noise}
    return linear_gaussian("covariate", shifts, L, np.broadcast_to(w_star, (n_clients, d)), noise, truth, meta)


def combined_shift(d: int = 20, m: int = 3, n_clients: int = 5, lam: float = 1.0, *, eps: float = 1.0,
                   shift: float = 1.0, geometry: str = "private", shifts=None, V_com=None, noise: float = 0.0,
                   rng=None) -> Scenario:
    """Theorem 4.5's setting: ``x_i = e_i + εz`` and ``y_i = V_i*ᵀB*x`` with ``V_i* = [V_com; λ e_i]``."""
    d, m, n_clients, lam, k, V_com, g = _check_heads(d, m, n_clients, lam, V_com, rng)
    eps, shift, noise = V.nonnegative("eps", eps), V.nonnegative("shift", shift), V.nonnegative("noise", noise)
    B_star = orthonormal_rows(k, d, g)
    custom = shifts is not None
    if not custom:
        shifts = shift_vectors(geometry, B_star, m, n_clients, shift, g)
    shifts = V.finite_array("shifts", shifts, ndim=2)
    if shifts.shape != (n_clients, d):
        raise ValueError(f"shifts must have shape (n_clients, d) = {(n_clients, d)}, got {shifts.shape}")
    V_stars = np.concatenate([np.broadcast_to(V_com, (n_clients, m)), lam * np.eye(n_clients)], axis=1)
    truth = {"B_star": B_star, "V_stars": V_stars, "V_com": V_com, "shifts": shifts}
    meta = {"m": m, "k": k, "lam": lam, "eps": eps, "shift": shift,
            "geometry": "custom" if custom else geometry, "noise": noise}
    return linear_gaussian("combined", shifts, eps * np.eye(d), V_stars @ B_star, noise, truth, meta)
