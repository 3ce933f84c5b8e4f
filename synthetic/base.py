"""What every scenario returns, and the linear-Gaussian regression builder most of them share.

A client of a linear-Gaussian regression scenario draws ``x = μ_i + L_i z`` (``z ~ N(0, I)``,
``Cov_i = L_i L_iᵀ``) and ``y = β_iᵀ x + σ ξ``. Its exact second moments are

    Σ_i = Cov_i + μ_i μ_iᵀ,    C_i = Σ_i β_i,    s_i = β_iᵀ Σ_i β_i + σ²,

which is the population form; :meth:`Scenario.sample` gives the finite-``n`` form.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from lpft_theory import _validate as V
from lpft_theory.data import Moments, Samples
from lpft_theory.rng import as_generator, spawn


@dataclass(frozen=True)
class Scenario:
    """Data generator, ground truth and metadata of ``n_clients`` clients.

    ``population``: exact moments with a leading client axis (``None`` where only samples make sense).
    ``truth``: ground-truth arrays (``B_star``, ``V_stars``, ``V_com``, …). ``meta``: the parameters.
    """

    name: str
    task: str  # "regression" or "classification"
    n_clients: int
    d: int
    p: int
    population: Moments | None
    truth: dict
    meta: dict
    _sampler: Callable[[int, list], Samples] = field(repr=False)
    train: Samples | None = field(default=None, repr=False)  # a fixed training set, where the setting has one

    def sample(self, n: int, rng=None) -> Samples:
        """``n`` i.i.d. points per client: ``X (C, n, d)``, ``Y (C, n, p)`` or labels ``(C, n)``."""
        n = V.integer("n", n, min_value=1)
        return self._sampler(n, spawn(rng, self.n_clients))

    def summary(self) -> dict:
        """JSON-able ground-truth summary: norms and shapes, plus the scalar parameters."""
        out = {"scenario": self.name, "task": self.task, "n_clients": self.n_clients, "d": self.d, "p": self.p}
        out.update({k: v for k, v in self.meta.items() if isinstance(v, (int, float, str, bool)) or v is None})
        for key, val in self.truth.items():
            arr = np.asarray(val)
            if key == "V_com":
                out["V_com_norm_sq"] = float(arr @ arr)
            if arr.ndim:
                out[f"{key}_shape"] = list(arr.shape)
            else:
                out[key] = float(arr)
        return out


def orthonormal_rows(k: int, d: int, rng) -> np.ndarray:
    """A ``k×d`` matrix with orthonormal rows, uniformly (Haar) distributed."""
    if k > d:
        raise ValueError(f"need k <= d for orthonormal rows, got k={k}, d={d}")
    q, r = np.linalg.qr(as_generator(rng).standard_normal((d, k)))
    return (q * np.sign(np.diag(r))).T


def linear_gaussian(name: str, means, cov_factors, betas, noise: float, truth: dict, meta: dict) -> Scenario:
    """Regression clients ``x = μ_i + L_i z``, ``y = β_iᵀx + σξ`` (see module docstring).

    ``means (C, d)``, ``cov_factors (C, d, d)`` or ``(d, d)``, ``betas (C, d)`` or ``(C, d, p)``.
    """
    means = V.finite_array("means", means, ndim=2)
    L = V.finite_array("cov_factors", cov_factors)
    betas = V.finite_array("betas", betas)
    if betas.ndim == 2:
        betas = betas[..., None]
    n_clients, d = means.shape
    L = np.broadcast_to(L, (n_clients, d, d))
    cov = L @ np.swapaxes(L, -1, -2)
    Sigma = cov + means[:, :, None] * means[:, None, :]
    C = Sigma @ betas
    s = np.sum(betas * C, axis=(-1, -2)) + noise ** 2
    pop = Moments(Sigma, C, s)

    def sampler(n, gens):
        X = np.empty((n_clients, n, d))
        Y = np.empty((n_clients, n, betas.shape[-1]))
        for i, g in enumerate(gens):
            X[i] = means[i] + g.standard_normal((n, d)) @ L[i].T
            Y[i] = X[i] @ betas[i] + noise * g.standard_normal((n, betas.shape[-1]))
        return Samples(X, Y)

    return Scenario(name, "regression", n_clients, d, betas.shape[-1], pop, truth, meta, sampler)
