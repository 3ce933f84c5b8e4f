"""FlexP-SFL-style split fine-tuning with alignment (Yuan et al. 2025), as a post-hoc PFT strategy.

The body blocks ``θ^{(0)}, …, θ^{(L−1)}`` (all but the head) are split per client: client ``k`` owns
the input-side blocks ``[0, s_k)`` and its head; blocks ``[s_k, L)`` are the server's single shared
copy, which no client may personalize, so they stay at ``θ_G``. Client ``k`` minimises

    L_k(θ) + λ · A_k(θ),   A_k = E‖h_{s_k}(θ; x) − h_{s_k}(θ_G; x)‖²   (regression, "mse")
                           A_k = KL(softmax h_{s_k}(θ_G; x) ‖ softmax h_{s_k}(θ; x))   (classification, "kl")

where ``h_s`` is the representation after ``s`` blocks — the shared server layers' representation at
the same depth is ``h_s(θ_G)``. Hence ``s_k = L`` with ``λ = 0`` is FT and ``s_k = 0`` is LP by GD.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..data import Moments, Samples
from ..dynamics import Transform, check_eta, sgd
from ..models import DeepLinear, TwoLayerReLU
from .base import Strategy, broadcast_clients, n_clients, run_wrapped
from .fedpurel import teacher_data

ALIGN = ("mse", "kl")


def _sub_network(arch: DeepLinear, params, s: int):
    """The first ``s`` blocks as a deep linear net whose "head" is ``W_sᵀ``: ``h_s = W_s⋯W_1 x``."""
    sub = DeepLinear(arch.d, arch.widths[: s - 1], arch.widths[s - 1])
    return sub, tuple(params[: s - 1]) + (np.swapaxes(params[s - 1], -1, -2),)


def alignment_grads(arch, params, anchor, data, s: int, align: str = "mse", half: bool = False):
    """Gradients of ``A`` (module docstring) w.r.t. the first ``s`` blocks (others zero)."""
    zeros = [np.zeros(np.broadcast_shapes(p.shape, a.shape)) for p, a in zip(params, anchor)]
    if s == 0:
        return tuple(zeros)
    if hasattr(arch, "alignment_grads"):  # architectures with their own representation (torch models)
        g = arch.alignment_grads(params, anchor, data, s, align, half)
        return tuple(np.broadcast_to(x, z.shape) for x, z in zip(g, zeros))
    if isinstance(arch, DeepLinear):
        sub, sp = _sub_network(arch, params, s)
        _, sa = _sub_network(arch, anchor, s)
        if isinstance(data, Moments) and align != "mse":
            raise ValueError("align='kl' needs Samples; population Moments support align='mse'")
        loss = "ce" if align == "kl" else "mse"
        # the anchor's representation h_s(θ_G) is a distillation target, exactly as for a teacher
        _, g = sub.value_and_grad(sp, teacher_data(sub, sa, data, loss), loss, half)
        g = list(g[:-1]) + [np.swapaxes(g[-1], -1, -2)]
        return tuple(g + zeros[s:])
    if isinstance(arch, TwoLayerReLU):
        if not isinstance(data, Samples) or align != "mse":
            raise ValueError("split FT on the ReLU model supports Samples with align='mse'")
        Z = data.X @ np.swapaxes(params[0], -1, -2)
        R = np.maximum(Z, 0) - np.maximum(data.X @ np.swapaxes(anchor[0], -1, -2), 0)
        factor = 1.0 if half else 2.0
        gB = factor * np.swapaxes(R * (Z > 0) * data.point_weights()[..., None], -1, -2) @ data.X
        return (gB,) + tuple(zeros[1:])
    raise TypeError(f"split FT does not know the architecture {type(arch).__name__}")


def split_ft(eta, steps: int, splits, lam: float = 0.25, align: str = "mse") -> Strategy:
    """Split fine-tuning with alignment (see module docstring).

    ``splits``: one split point ``s`` for every client, a sequence with one ``s_k`` per client
    (heterogeneous compute budgets), or ``"cycle"`` for ``s_k = k mod (L + 1)`` (every depth used);
    each ``0 <= s_k <= L`` (number of body blocks). ``lam``: one alignment strength, or one per client
    (settings stacked on the client axis run as one batch).
    """
    check_eta(eta)
    steps = Vd.integer("steps", steps, min_value=0)
    if np.ndim(lam) == 0:
        lam = Vd.nonnegative("lam", lam)
    else:
        lam = Vd.finite_array("lam", lam, ndim=1)
        if np.any(lam < 0):
            raise ValueError(f"lam must be in [0.0, inf) everywhere, got minimum {lam.min()}")
    Vd.choice("align", align, ALIGN)
    cycle = isinstance(splits, str)
    if cycle and splits != "cycle":
        raise ValueError(f"splits must be an int, a sequence of ints or 'cycle', got {splits!r}")
    splits_arr = np.zeros(1, dtype=int) if cycle else np.atleast_1d(np.asarray(splits))
    if not np.issubdtype(splits_arr.dtype, np.integer) or splits_arr.ndim != 1:
        raise TypeError(f"splits must be an int, a sequence of ints or 'cycle', got {splits!r}")

    def fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None):
        C = n_clients(data)
        L = len(params_G) - 1
        if cycle:
            s = np.arange(C) % (L + 1)
        else:
            s = np.broadcast_to(splits_arr, (C,)) if splits_arr.size in (1, C) else None
        if s is None:
            raise ValueError(f"splits must have one entry per client ({C}), got {splits_arr.size}")
        if s.min() < 0 or s.max() > L:
            raise ValueError(f"split points must be in [0, {L}] (body blocks of the model), got {s.tolist()}")
        if np.ndim(lam) and lam.size != C:
            raise ValueError(f"lam must have one entry per client ({C}), got {lam.size}")
        start = broadcast_clients(arch.check_params(params_G), C)
        owned = tuple((b < s).astype(float).reshape(C, 1, 1) for b in range(L)) + (True,)
        inner = sgd(eta, owned)
        aligned = (s > 0) & (np.asarray(lam) > 0)  # clients with an alignment term (s = 0 owns no body block)

        def update(grads, state, params, value, t):
            if aligned.any():
                total = [np.array(g) for g in grads]
                for sv in np.unique(s[aligned]):  # the alignment gradient of the clients split at sv, on them alone
                    idx = np.flatnonzero(aligned & (s == sv))
                    sub = slice(None) if idx.size == C else idx
                    ga = alignment_grads(arch, tuple(p[sub] for p in params), tuple(a[sub] for a in start), data[sub],
                                         int(sv), align, half)
                    w = lam if np.ndim(lam) == 0 else lam[sub].reshape(-1, 1, 1)
                    for b in range(int(sv)):  # blocks from sv on have no alignment gradient
                        total[b][sub] = total[b][sub] + w * ga[b]
                grads = tuple(total)
            return inner.update(grads, state, params, value, t)

        return run_wrapped(arch, start, data, Transform(inner.init, update), steps, loss=loss, half=half,
                           record=record, wrap=wrap)

    label = "cycle" if cycle else (splits_arr.tolist() if splits_arr.size > 1 else int(splits_arr[0]))
    lam_label = f"{lam:g}" if np.ndim(lam) == 0 else "[" + ",".join(f"{x:g}" for x in lam) + "]"
    return Strategy(f"Split[s={label},lam={lam_label}]", fit, "client layers [0, s_k) + head: L_k + λ·A_k; server layers frozen")


__all__ = ["split_ft", "alignment_grads", "ALIGN"]
