"""Proximal FT (FedProx-style anchor) and sparse FT (SNIP mask)."""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..dynamics import Transform, per_config, check_eta, per_block, sgd
from .base import Strategy, gd_fit


def proximal(eta, mu: float, anchor) -> Transform:
    """Proximal-gradient step on ``L(θ) + (μ/2)‖θ − θ_G‖²``:

        θ^{t+1} = (θ^t − η ∇L(θ^t) + η μ θ_G) / (1 + η μ)
        ⇔  step = η (∇L(θ^t) + μ (θ^t − θ_G)) / (1 + η μ).

    The same objective and fixed points as the explicit FedProx gradient, but stable for every μ:
    ``μ = 0`` is plain GD and ``μ → ∞`` keeps ``θ = θ_G``.
    """

    def init(params):
        return {"eta": per_block("eta", eta, len(params))}

    def update(grads, state, params, loss_value, t):
        out = []
        for g, p, a, lr in zip(grads, params, anchor, state["eta"]):
            lr = per_config(lr, g.ndim)
            out.append(lr * (g + mu * (p - a)) / (1.0 + lr * mu))
        return tuple(out), state

    return Transform(init, update)


def proximal_ft(eta, steps: int, mu: float) -> Strategy:
    """FT with a proximal anchor at the global model (see :func:`proximal`)."""
    check_eta(eta)
    steps = Vd.integer("steps", steps, min_value=0)
    mu = Vd.nonnegative("mu", mu)
    return Strategy(f"Proximal[mu={mu:g}]", gd_fit(lambda arch, start, *_: proximal(eta, mu, start), steps),
                    "θ ← (θ − η∇L_i(θ) + ημθ_G) / (1 + ημ)")


def snip_masks(grads, params, rate: float):
    """SNIP (Lee et al. 2018): keep the ``(1 − rate)`` fraction of entries with the largest connection
    sensitivity ``|g ⊙ θ|``, ranked jointly over all blocks, separately for every configuration.

    Ties are broken by position (stable sort), so exactly ``round(rate · N)`` entries are masked.
    Entries with ``θ = 0`` have zero sensitivity and are the first to be frozen.
    """
    scores = [np.abs(np.broadcast_to(g * p, g.shape)) for g, p in zip(grads, params)]
    batch = scores[0].shape[:-2]
    flat = np.concatenate([s.reshape(batch + (-1,)) for s in scores], axis=-1)
    N = flat.shape[-1]
    n_masked = int(round(rate * N))
    order = np.argsort(flat, axis=-1, kind="stable")
    keep = np.ones_like(flat)
    np.put_along_axis(keep, order[..., :n_masked], 0.0, axis=-1)
    out, i = [], 0
    for s in scores:
        size = int(np.prod(s.shape[-2:]))
        out.append(keep[..., i:i + size].reshape(s.shape))
        i += size
    return tuple(out)


def sparse_ft(eta, steps: int, rate: float) -> Strategy:
    """Sparse FT: ``θ ← θ − η M ⊙ ∇L_i(θ)`` with the SNIP mask ``M`` computed once at ``θ_G``
    (see :func:`snip_masks`); ``rate`` is the fraction of parameter updates masked."""
    check_eta(eta)
    steps = Vd.integer("steps", steps, min_value=0)
    rate = Vd.real("rate", rate, low=0.0, high=1.0, high_open=True)

    def factory(arch, start, data, loss, half):
        _, grads = arch.value_and_grad(start, data, loss, half)
        return sgd(eta, snip_masks(grads, start, rate))

    return Strategy(f"Sparse[rate={rate:g}]", gd_fit(factory, steps), "θ ← θ − η M_SNIP ⊙ ∇L_i(θ)")
