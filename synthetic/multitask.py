"""Multi-task linear regression with a shared low-dimensional representation (Collins et al. 2022).

Client ``i`` labels ``y = θ_iᵀx + σξ`` with ``θ_i = B*ᵀ w_i*``, ``B* ∈ R^{k×d}`` (orthonormal rows, shared)
and ``x ~ N(0, I_d)``. The heads are ``w_i* = μ 1_k + s z_i``, ``z_i ~ N(0, I_k)``: ``μ`` (``head_mean``) is
what the tasks share, ``s`` (``head_spread``) their *diversity*; with ``center=True`` the ``z_i`` are
centred so that their mean is exactly 0; ``head_scales`` (length ``k``) scales direction j of ``z_i``
(anisotropic diversity: a zero scale leaves that direction of ``B*`` without any task). The task matrix ``Θ = (1/M) Σ_i θ_iθ_iᵀ`` has rank ``k`` iff the
heads span ``R^k`` — the identifiability condition for ``rowspace(B*)``.

``population``: exact moments ``Σ_i = I``, ``C_i = θ_i``, ``s_i = ‖θ_i‖² + σ²``. ``train`` (when
``n_per_client`` is given): ``n_i`` points per client, ``n_i`` uniform on ``[n_lo, n_hi]``, padded with
zero-weight points (:func:`lpft_theory.data.stack_clients`).
"""
from __future__ import annotations

import numpy as np

from lpft_theory import _validate as V
from lpft_theory.data import Moments, Samples, stack_clients
from lpft_theory.rng import as_generator, spawn

from .base import Scenario, orthonormal_rows


def multitask(d: int = 20, k: int = 2, n_clients: int = 100, *, n_per_client=None, head_mean: float = 0.0,
              head_spread: float = 1.0, head_scales=None, noise: float = 0.0, center: bool = True,
              rng=None) -> Scenario:
    """Collins et al.'s setting (module docstring). Truth: ``B_star (k, d)``, ``heads (M, k)``, ``thetas (M, d)``."""
    d = V.integer("d", d, min_value=1)
    k = V.integer("k", k, min_value=1, max_value=d)
    M = V.integer("n_clients", n_clients, min_value=1)
    mu, s = V.real("head_mean", head_mean), V.nonnegative("head_spread", head_spread)
    noise = V.nonnegative("noise", noise)
    if n_per_client is not None:
        if not (isinstance(n_per_client, (tuple, list)) and len(n_per_client) == 2):
            raise ValueError(f"n_per_client must be None or a pair (n_lo, n_hi), got {n_per_client!r}")
        n_lo = V.integer("n_per_client[0]", n_per_client[0], min_value=1)
        n_hi = V.integer("n_per_client[1]", n_per_client[1], min_value=n_lo)
    g = as_generator(rng)
    B_star = orthonormal_rows(k, d, g)
    z = g.standard_normal((M, k))
    if center and M > 1:
        z = z - z.mean(0)
    if head_scales is not None:  # anisotropic diversity: direction j of the heads scaled by head_scales[j]
        sc = V.finite_array("head_scales", head_scales, ndim=1)
        if sc.shape[0] != k or np.any(sc < 0):
            raise ValueError(f"head_scales must be {k} non-negative numbers, got {head_scales!r}")
        z = z * sc
    heads = mu + s * z
    thetas = heads @ B_star
    pop = Moments(np.broadcast_to(np.eye(d), (M, d, d)), thetas[:, :, None], np.sum(thetas ** 2, 1) + noise ** 2)

    def sampler(n, gens):
        X = np.stack([gi.standard_normal((n, d)) for gi in gens])
        Y = np.einsum("cnd,cd->cn", X, thetas) + noise * np.stack([gi.standard_normal(n) for gi in gens])
        return Samples(X, Y[..., None])

    train = None
    if n_per_client is not None:
        sizes = g.integers(n_lo, n_hi + 1, size=M)
        clients = []
        for i, gi in enumerate(spawn(g, M)):
            X = gi.standard_normal((int(sizes[i]), d))
            clients.append(Samples(X, (X @ thetas[i] + noise * gi.standard_normal(int(sizes[i])))[:, None]))
        train = stack_clients(clients)
    truth = {"B_star": B_star, "heads": heads, "thetas": thetas}
    meta = {"k": k, "head_mean": mu, "head_spread": s, "noise": noise, "center": center,
            "n_per_client": None if n_per_client is None else f"{n_lo}-{n_hi}"}
    return Scenario("multitask", "regression", M, d, 1, pop, truth, meta, sampler, train=train)
