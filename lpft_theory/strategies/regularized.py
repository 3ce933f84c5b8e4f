"""Proximal FT (FedProx-style anchor) and sparse FT (SNIP mask)."""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..dynamics import Transform, per_config, check_eta, per_block, sgd
from .base import Strategy, gd_fit


def _per_client(name: str, value, low: float = 0.0, high: float | None = None):
    """A knob: one number, or a 1-D array with one per configuration of the leading (client) axis, each in
    ``[low, high)`` (``high`` open; none when ``None``)."""
    if np.ndim(value) == 0:
        return Vd.real(name, value, low=low, high=high, high_open=high is not None)
    arr = Vd.finite_array(name, value, ndim=1)
    if np.any(arr < low) or (high is not None and np.any(arr >= high)):
        raise ValueError(f"{name} must be in [{low}, {'inf' if high is None else high}) everywhere, got {arr.tolist()}")
    return arr


def _label(value) -> str:
    return f"{value:g}" if np.ndim(value) == 0 else "[" + ",".join(f"{x:g}" for x in value) + "]"


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
            m = mu if np.ndim(mu) == 0 else per_config(mu, g.ndim)
            out.append(lr * (g + m * (p - a)) / (1.0 + lr * m))
        return tuple(out), state

    return Transform(init, update)


def proximal_ft(eta, steps: int, mu: float) -> Strategy:
    """FT with a proximal anchor at the global model (see :func:`proximal`); ``mu``: one value, or one per client
    (settings stacked on the client axis run as one batch)."""
    check_eta(eta)
    steps = Vd.integer("steps", steps, min_value=0)
    mu = _per_client("mu", mu)
    return Strategy(f"Proximal[mu={_label(mu)}]", gd_fit(lambda arch, start, *_: proximal(eta, mu, start), steps),
                    "θ ← (θ − η∇L_i(θ) + ημθ_G) / (1 + ημ)")


def snip_masks(grads, params, rate: float):
    """SNIP (Lee et al. 2018): keep the ``(1 − rate)`` fraction of entries with the largest connection
    sensitivity ``|g ⊙ θ|``, ranked jointly over all blocks, separately for every configuration.

    Ties are broken by position (stable sort), so exactly ``round(rate · N)`` entries are masked. ``rate``: one
    value, or an array with one per configuration.
    Entries with ``θ = 0`` have zero sensitivity and are the first to be frozen.
    """
    scores = [np.abs(np.broadcast_to(g * p, g.shape)) for g, p in zip(grads, params)]
    batch = scores[0].shape[:-2]
    flat = np.concatenate([s.reshape(batch + (-1,)) for s in scores], axis=-1)
    N = flat.shape[-1]
    order = np.argsort(flat, axis=-1, kind="stable")
    if np.ndim(rate) == 0:
        n_masked = int(round(rate * N))
        keep = np.ones_like(flat)
        np.put_along_axis(keep, order[..., :n_masked], 0.0, axis=-1)
    else:  # one rate per configuration: mask the first round(rate·N) entries of each one's order
        n_masked = np.round(np.asarray(rate) * N).astype(np.int64)  # round half to even, as round() does
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(np.arange(N), order.shape), axis=-1)
        keep = (rank >= n_masked.reshape(n_masked.shape + (1,) * (rank.ndim - n_masked.ndim))).astype(flat.dtype)
    out, i = [], 0
    for s in scores:
        size = int(np.prod(s.shape[-2:]))
        out.append(keep[..., i:i + size].reshape(s.shape))
        i += size
    return tuple(out)


def sparse_ft(eta, steps: int, rate: float) -> Strategy:
    """Sparse FT: ``θ ← θ − η M ⊙ ∇L_i(θ)`` with the SNIP mask ``M`` computed once at ``θ_G``
    (see :func:`snip_masks`); ``rate`` is the fraction of parameter updates masked: one value, or one per
    client."""
    check_eta(eta)
    steps = Vd.integer("steps", steps, min_value=0)
    rate = _per_client("rate", rate, high=1.0)

    def factory(arch, start, data, loss, half):
        _, grads = arch.value_and_grad(start, data, loss, half)
        return sgd(eta, snip_masks(grads, start, rate))

    return Strategy(f"Sparse[rate={_label(rate)}]", gd_fit(factory, steps), "θ ← θ − η M_SNIP ⊙ ∇L_i(θ)")
