r"""LoRA fine-tuning (Hu et al. 2022): every body block moves only by a rank-``r`` product.

Each body block ``W`` (for the two-layer model ``f = VᵀBx``, ``W = B``) is reparametrised as

    W = W_G + A_1 A_2,    A_1 ∈ R^{h_out×r} (zero at the start),  A_2 ∈ R^{r×h_in} (random, seeded),

and GD runs on the factors (and on the head ``V`` unless frozen), with ``g_W = ∇_W L`` at the current ``W``:

    A_1 ← A_1 − η g_W A_2ᵀ,      A_2 ← A_2 − η A_1ᵀ g_W,      V ← V − η ∇_V L.

It is written as a transform on the model's own params (state: the factors), so the engine's guards and
wrappers (flooding) apply unchanged: the step returned for ``W`` is ``A_1A_2 − A_1'A_2'``.

Since ``A_1 = 0`` at the start, ``∇_{A_2} L = 0`` there and the first step is exactly
``W_1 − W_G = −η g_W A_2ᵀA_2``: FT's step seen through the kernel ``A_2ᵀA_2`` (the LoRA NTK of Tomihari &
Sato 2024, :mod:`lpft_theory.theory.ntk`). Reduces to: zero steps → the global model; ``r = 0`` (no adapter)
→ LP by GD; ``r = h_in`` with ``init="orthogonal"`` (``A_2ᵀA_2 = I``) → the first step equals FT's.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..dynamics import Transform, check_eta, per_config, sgd
from ..rng import as_generator
from .base import Strategy, broadcast_clients, head_only, n_clients, run_wrapped

INITS = ("gaussian", "orthogonal")


def lora_factors(shape, rank: int, rng=None, sigma: float | None = None, init: str = "gaussian"):
    """``(A_1, A_2)`` for a block of trailing shape ``(h_out, h_in)`` with leading batch axes.

    ``A_1 = 0``. ``init="gaussian"``: ``A_2`` has i.i.d. ``N(0, σ²)`` entries, ``σ = 1/√h_in`` by default
    (LoRA's fan-in scale): the rows have unit expected norm, so ``‖A_2ᵀA_2‖ ≈ 1`` for ``r ≪ h_in`` and
    LoRA is stable at FT's step sizes (``σ = 1/√r`` would give ``E[A_2ᵀA_2] = I`` but ``‖A_2ᵀA_2‖ ≈ h_in/r``). ``init="orthogonal"``: ``A_2`` has orthonormal rows (``r <= h_in``;
    ``A_2ᵀA_2 = I`` when ``r = h_in``), independently per batch entry.
    """
    rank = Vd.integer("rank", rank, min_value=0)
    Vd.choice("init", init, INITS)
    *batch, h_out, h_in = shape
    g = as_generator(rng)
    A1 = np.zeros((*batch, h_out, rank))
    if init == "gaussian":
        s = 1.0 / np.sqrt(h_in) if sigma is None else Vd.positive("sigma", sigma)
        return A1, s * g.standard_normal((*batch, rank, h_in))
    if rank > h_in:
        raise ValueError(f"rank must be in [0, h_in={h_in}] for init='orthogonal', got {rank}")
    Q = np.linalg.qr(g.standard_normal((*batch, h_in, h_in)))[0]
    return A1, np.swapaxes(Q[..., :rank], -1, -2)


def lora(eta, rank: int, rng=None, *, sigma: float | None = None, init: str = "gaussian",
         freeze_head: bool = False) -> Transform:
    """The LoRA update (module docstring) as a transform; the factors are drawn at ``init(params)``."""
    check_eta(eta)

    def init_fn(params):
        g = as_generator(rng)
        return {"eta": eta, "factors": [lora_factors(W.shape, rank, g, sigma, init) for W in params[:-1]]}

    def update(grads, state, params, loss_value, t):
        lr = state["eta"]
        steps, factors = [], []
        for gW, (A1, A2) in zip(grads[:-1], state["factors"]):
            a = per_config(lr, gW.ndim)
            A1n = A1 - a * (gW @ np.swapaxes(A2, -1, -2))
            A2n = A2 - a * (np.swapaxes(A1, -1, -2) @ gW)
            steps.append(A1 @ A2 - A1n @ A2n)
            factors.append((A1n, A2n))
        gV = grads[-1]
        steps.append(np.zeros_like(gV) if freeze_head else per_config(lr, gV.ndim) * gV)
        return tuple(steps), {"eta": lr, "factors": factors}

    return Transform(init_fn, update)


def lora_ft(eta, steps: int, rank: int, *, sigma: float | None = None, init: str = "gaussian",
            freeze_head: bool = False) -> Strategy:
    """LoRA fine-tuning from the global model (module docstring).

    ``rank = 0`` trains the head alone (LP by GD); ``freeze_head`` keeps ``V = V_G``. The adapters' random
    factor comes from the ``rng`` passed to ``fit`` (one draw per client).
    """
    check_eta(eta)
    steps = Vd.integer("steps", steps, min_value=0)
    rank = Vd.integer("rank", rank, min_value=0)
    Vd.choice("init", init, INITS)
    if sigma is not None:
        Vd.positive("sigma", sigma)
    if not isinstance(freeze_head, bool):
        raise TypeError(f"freeze_head must be a bool, got {freeze_head!r}")

    def fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None):
        start = broadcast_clients(arch.check_params(params_G), n_clients(data))
        if rank == 0:  # no adapter: the body cannot move
            transform = sgd(eta, (False,) * len(start) if freeze_head else head_only(len(start)))
        else:
            transform = lora(eta, rank, rng, sigma=sigma, init=init, freeze_head=freeze_head)
        return run_wrapped(arch, start, data, transform, steps, loss=loss, half=half, record=record, wrap=wrap)

    head = "V fixed" if freeze_head else "V ← V − η∇_V L"
    return Strategy(f"LoRA[r={rank}]", fit,
                    f"W = W_G + A_1A_2;  A_1 ← A_1 − η g_W A_2ᵀ,  A_2 ← A_2 − η A_1ᵀ g_W,  {head}")


__all__ = ["lora", "lora_ft", "lora_factors", "INITS"]
