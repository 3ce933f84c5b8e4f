"""Batched sweeps: thousands of configurations in one engine call, chunked so memory stays flat.

:func:`concept_grid` simulates FT and LP-FT (exact LP) on Chen et al.'s concept shift for every
``(η, λ, seed)`` on a grid — all configurations and all clients on one leading batch axis
``(configurations, clients)`` — and returns the global losses (other clients) of both. It is the
simulated counterpart of the closed-form phase diagram and what ``benchmarks/engine.py`` times.
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


def _global_others(arch, params, mom):
    """Mean over j != i of client i's loss on client j, per configuration: params (n, C, …), mom (n, C, …)."""
    P = tuple(p[:, :, None] for p in params)
    M = Moments(mom.Sigma, mom.C[:, None], mom.s[:, None])
    L = np.asarray(arch.loss(P, M))  # (n, C, C)
    C = L.shape[-1]
    return (L.sum(axis=(-1, -2)) - np.trace(L, axis1=-2, axis2=-1)) / (C * (C - 1))


def concept_grid(etas, lams, *, steps: int = 1, seeds=(0,), d: int = 20, m: int = 3, n_clients: int = 5,
                 chunk: int | None = 1000, half: bool = False) -> dict:
    """FT and LP-FT global losses on the grid ``etas × lams × seeds`` (arrays of that shape)."""
    etas = V.positive_array("etas", etas).ravel()
    lams = V.finite_array("lams", lams).ravel()
    steps = V.integer("steps", steps, min_value=1)
    if chunk is not None:
        V.integer("chunk", chunk, min_value=1)
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
        B = np.stack([s.truth["B_star"] for s in sc])  # (n, k, d)
        Vc = np.stack([np.r_[s.truth["V_com"], np.zeros(n_clients)] for s in sc])  # (n, k)
        heads = Vc[:, None, :] + lam[:, None, None] * np.eye(m + n_clients)[m:][None]  # (n, C, k)
        w = np.einsum("nck,nkd->ncd", heads, B)
        mom = Moments(np.eye(d), w[..., None], np.sum(w * w, axis=-1))
        p0 = (np.repeat(B[:, None], n_clients, axis=1), np.repeat(Vc[:, None, :, None], n_clients, axis=1))
        ft = gradient_descent(arch, p0, mom, e, steps, half=half).params
        probed = (p0[0], exact_head(arch, p0, mom))
        lpft = gradient_descent(arch, probed, mom, e, steps, half=half).params
        ft_out[start:start + len(part)] = _global_others(arch, ft, mom)
        lpft_out[start:start + len(part)] = _global_others(arch, lpft, mom)
    shape = (len(etas), len(lams), len(seeds))
    return {"etas": etas, "lams": lams, "seeds": list(seeds), "ft_global": ft_out.reshape(shape),
            "lp_ft_global": lpft_out.reshape(shape)}
