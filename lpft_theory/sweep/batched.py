"""Batched sweeps: thousands of configurations in one engine call, chunked so memory stays flat.

:func:`concept_grid` simulates FT and LP-FT (exact LP) on Chen et al.'s concept shift for every
``(η, λ, seed)`` on a grid — all configurations and all clients on one leading batch axis
``(configurations, clients)`` — and returns the global losses (other clients) of both. It is the
simulated counterpart of the closed-form phase diagram and what ``benchmarks/engine.py`` times.

Exact shortcut: from the idealised start with ``Σ = I``, every gradient lives in a 2×2 subspace
(``lpft_theory.theory.chen``, "Many FT steps"), so the run *is* GD on the two-layer problem
``‖Nᵀz − t‖²`` with ``N_0 = I``, ``t = (√v, λ)``, ``z_0 = (√v, 0)`` (FT) or ``t`` (exact LP, where the
gradient is exactly zero). ``method="auto"`` runs that 2-dimensional problem on the same engine whenever
``v = ‖V_com‖² > 0`` and reads the global loss off :func:`~lpft_theory.theory.chen.concept_losses`;
``method="engine"`` simulates the full ``k × d`` model (tests/test_batched_grid.py: equal to round-off).
"""
from __future__ import annotations

import itertools

import numpy as np

import synthetic

from .. import _validate as V
from ..data import Moments
from ..dynamics import gradient_descent
from ..models import two_layer
from ..strategies import exact_head
from ..theory.chen import concept_losses

METHODS = ("auto", "reduced", "engine")


def _global_others(arch, params, mom, half):
    """Mean over j != i of client i's loss on client j, per configuration: params (n, C, …), mom (n, C, …)."""
    P = tuple(p[:, :, None] for p in params)
    M = Moments(mom.Sigma, mom.C[:, None], mom.s[:, None])
    L = np.asarray(arch.loss(P, M, half=half))  # (n, C, C)
    C = L.shape[-1]
    return (L.sum(axis=(-1, -2)) - np.trace(L, axis1=-2, axis2=-1)) / (C * (C - 1))


def _reduced_global(v, lam, eta, steps: int, n_clients: int, half: bool):
    """FT and LP-FT global losses (other clients) by the exact 2×2 reduction; arrays over configurations."""
    arch = two_layer(2, 2)
    t = np.stack([np.sqrt(v), lam], axis=-1)  # (n, 2)
    mom = Moments(np.eye(2), t[..., None], np.sum(t * t, axis=-1))
    N0 = np.broadcast_to(np.eye(2), t.shape[:1] + (2, 2))
    out = []
    for z0 in (t * [1.0, 0.0], t):  # FT from (√v, 0); LP-FT from the exact head t
        N, z = gradient_descent(arch, (N0, z0[..., None]), mom, eta, steps, half=half).params
        u = np.einsum("nij,ni->nj", N, z[..., 0])
        out.append(concept_losses(u[:, 1], lam, n_clients, shared_error=u[:, 0] - t[:, 0], half=half)["global"])
    return out


def concept_grid(etas, lams, *, steps: int = 1, seeds=(0,), d: int = 20, m: int = 3, n_clients: int = 5,
                 chunk: int | None = 1000, half: bool = False, method: str = "auto") -> dict:
    """FT and LP-FT global losses on the grid ``etas × lams × seeds`` (arrays of that shape).

    ``method``: ``"auto"`` (the exact 2×2 reduction when ``m >= 1``, else the full engine), ``"reduced"``
    or ``"engine"`` (module docstring)."""
    etas = V.positive_array("etas", etas).ravel()
    lams = V.finite_array("lams", lams).ravel()
    steps = V.integer("steps", steps, min_value=1)
    V.choice("method", method, METHODS)
    if chunk is not None:
        V.integer("chunk", chunk, min_value=1)
    if method == "reduced" and m < 1:
        raise ValueError(f"method='reduced' needs a shared predictor (m >= 1), got m={m}")
    reduced = method == "reduced" or (method == "auto" and m >= 1)
    arch = two_layer(d, m + n_clients)
    scen = {s: synthetic.concept_shift(d, m, n_clients, 1.0, rng=s) for s in seeds}
    configs = list(itertools.product(range(len(etas)), range(len(lams)), range(len(seeds))))
    ft_out = np.empty(len(configs))
    lpft_out = np.empty(len(configs))
    size = len(configs) if chunk is None else chunk
    for start in range(0, len(configs), size):
        part = configs[start:start + size]
        e = etas[[c[0] for c in part]][:, None]
        lam = lams[[c[1] for c in part]]
        sc = [scen[seeds[c[2]]] for c in part]
        if reduced:
            v = np.array([float(s.truth["V_com"] @ s.truth["V_com"]) for s in sc])
            ft_out[start:start + len(part)], lpft_out[start:start + len(part)] = \
                _reduced_global(v, lam, e[:, 0], steps, n_clients, half)
            continue
        B = np.stack([s.truth["B_star"] for s in sc])  # (n, k, d)
        Vc = np.stack([np.r_[s.truth["V_com"], np.zeros(n_clients)] for s in sc])  # (n, k)
        heads = Vc[:, None, :] + lam[:, None, None] * np.eye(m + n_clients)[m:][None]  # (n, C, k)
        w = np.einsum("nck,nkd->ncd", heads, B)
        mom = Moments(np.eye(d), w[..., None], np.sum(w * w, axis=-1))
        p0 = (np.repeat(B[:, None], n_clients, axis=1), np.repeat(Vc[:, None, :, None], n_clients, axis=1))
        ft = gradient_descent(arch, p0, mom, e, steps, half=half).params
        probed = (p0[0], exact_head(arch, p0, mom))
        lpft = gradient_descent(arch, probed, mom, e, steps, half=half).params
        ft_out[start:start + len(part)] = _global_others(arch, ft, mom, half)
        lpft_out[start:start + len(part)] = _global_others(arch, lpft, mom, half)
    shape = (len(etas), len(lams), len(seeds))
    return {"etas": etas, "lams": lams, "seeds": list(seeds), "ft_global": ft_out.reshape(shape),
            "lp_ft_global": lpft_out.reshape(shape), "method": "reduced" if reduced else "engine"}
