"""A specialised GD step for the engine's dominant case, bit for bit equal to the general fused step.

The case: the two-layer linear model ``f = vᵀBx`` (one hidden layer, scalar output ``p = 1``) on the
population squared loss (``Moments`` with ``Σ`` the identity or one shared matrix), plain GD (one learning
rate per configuration, no mask, no snapshots). :func:`applies` tests it; ``dynamics.run`` uses
:class:`TwoLayerMoments` wherever it applies and the general fused step elsewhere.

With ``β = Bᵀv`` and ``G = η·factor·(Σβ − C)`` (factor 2, or 1 with ``half``), one GD step is

    L = c·(Σ_j β_j (Σβ − 2C)_j + s),   g = B G,   B ← B − v Gᵀ,   v ← v − g,

the same floating-point operations on the same values as ``DeepLinear._moments_value_and_grad`` with
``scale=η`` followed by the in-place subtraction (``η·(2x) = (2η)·x`` exactly, so folding the factor into the
learning rate changes no bit). Only the organisation of the passes changes:

* configurations are flattened and swept in blocks of about ``block_bytes`` of ``B`` (the passes after the
  first hit the cache); all views and buffers are prepared once per run, so a block's step is ~10 numpy
  calls (the general step makes ~25 per block, through four layers of Python);
* the next step's ``β = B_{t+1}ᵀ v_{t+1}`` is computed at the end of the block's step, while its ``B`` is in
  cache, so the loss at ``θ_{t+1}`` (the final loss too) needs no pass over ``B`` of its own;
* the rank-1 update ``B ← B − v Gᵀ`` is one broadcast multiply into a buffer and one subtraction — in
  torch for large blocks when torch is already imported (its broadcasting kernel is faster; ``mul`` then
  ``sub_`` round exactly as numpy does, so the result does not depend on which library ran it). Torch is
  never imported for this (that would cost ~1 s); ``torch.addcmul_`` is not used: its fused multiply-add
  rounds once and would change bits.

Equality with the general path: tests/test_kernels.py (bit for bit with the fused step, and to round-off
with the unfused general path). Speed (benchmarks/engine.py): 1.2-1.5x the fused step on small problems
(per-step overhead), 1.1-1.3x on large batches, where both are bound by numpy's in-cache passes (15 % and
26 % of the memory roofline), not by memory.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from .data import Moments
from .losses import shared_times
from .models import DeepLinear

# Below this many entries of B in a block, a broadcast multiply beats einsum for v Gᵀ (dispatch cost), and
# numpy beats torch (torch's per-call overhead is larger).
SMALL_BLOCK = 1 << 12
TORCH_BLOCK = 1 << 14


def _broadcast(*shapes) -> tuple:
    """``np.broadcast_shapes``, with a quick answer when the shapes agree (the common case: the per-run setup
    is what small problems pay for)."""
    out = ()
    for shp in shapes:
        if shp != out and shp:
            if out:
                return np.broadcast_shapes(*shapes)
            out = shp
    return out


def _batch(params, data) -> tuple:
    return _broadcast(*(p.shape[:-2] for p in params), data.Sigma.shape[:-2], data.C.shape[:-2], np.shape(data.s))


def applies(arch, params, data, loss: str, lr) -> bool:
    """Is this the case :class:`TwoLayerMoments` computes? Two-layer linear (``DeepLinear`` with one hidden
    layer), ``p = 1``, ``Moments`` whose ``Σ`` is the identity or a single shared ``d×d`` matrix, loss
    ``"mse"``, float64 parameters, and a learning rate ``lr`` (scalar, or an array over leading batch axes)."""
    if lr is None or loss != "mse" or not isinstance(arch, DeepLinear) or len(arch.widths) != 1 or arch.p != 1:
        return False
    if not isinstance(data, Moments) or data.C.shape[-1] != 1 or data.Sigma.shape[-1] != arch.d:
        return False
    if data.Sigma.ndim != 2 and not data.identity:
        return False
    if any(p.dtype != np.float64 for p in params):
        return False
    try:  # anything that does not broadcast is left to the general path (and its error messages)
        bs = _batch(params, data)
        if not isinstance(lr, (float, int)):
            shp = np.shape(lr)
            if len(shp) > len(bs) or _broadcast(shp, bs[:len(shp)]) != bs[:len(shp)]:
                return False
    except (ValueError, TypeError):
        return False
    return math.prod(bs) > 0


def _flat(a, bs: tuple, trailing: tuple) -> np.ndarray:
    """``a`` broadcast to ``bs + trailing`` as ``(N,) + trailing``: a view where one exists, else a copy."""
    if a.shape == bs + trailing:
        return a.reshape((-1,) + trailing)
    if a.shape == trailing:
        return np.broadcast_to(a, (math.prod(bs),) + trailing)
    return np.broadcast_to(a, bs + trailing).reshape((-1,) + trailing)


def _own(p, shape) -> np.ndarray:
    """A C-ordered copy of ``p`` at ``shape``."""
    return np.array(p if p.shape == shape else np.broadcast_to(p, shape), order="C")


class TwoLayerMoments:
    """One run's GD state. Owns C-ordered copies of ``B`` and ``v`` at the full batch shape (:attr:`params`,
    updated in place) and ``β``. :meth:`step` returns the loss at ``θ_t`` (batch shape) and, with
    ``update``, moves to ``θ_{t+1}``.

    ``update_with``: ``"auto"`` (torch for blocks of at least ``TORCH_BLOCK`` entries if torch is already
    imported, else numpy), ``"numpy"`` or ``"torch"`` — bit for bit the same result.
    """

    def __init__(self, arch: DeepLinear, params, data: Moments, lr, half: bool = False,
                 block_bytes: int = 1 << 20, update_with: str = "auto"):
        if update_with not in ("auto", "numpy", "torch"):
            raise ValueError(f"update_with must be 'auto', 'numpy' or 'torch', got {update_with!r}")
        k, d = arch.widths[0], arch.d
        bs = _batch(params, data)
        self.batch, self.half = bs, bool(half)
        self.params = (_own(params[0], bs + (k, d)), _own(params[1], bs + (k, 1)))
        B, V = self.params[0].reshape(-1, k, d), self.params[1].reshape(-1, k, 1)  # views
        N = B.shape[0]
        factor = 1.0 if half else 2.0  # a power of two: (factor·η)·x is bit for bit η·(factor·x)
        if isinstance(lr, (float, int)) or np.ndim(lr) == 0:
            flr = factor * float(lr)
        else:
            lr = np.asarray(lr, dtype=np.float64)
            flr = _flat((factor * lr).reshape(lr.shape + (1,) * (len(bs) - lr.ndim + 2)), bs, (1, 1))
        C, twoC = _flat(data.C, bs, (d, 1)), _flat(2.0 * data.C, bs, (d, 1))
        self.s = data.s if np.ndim(data.s) == 0 else _flat(data.s, bs, ())
        self.N = N
        self.Sigma = None if data.identity else data.Sigma
        self.beta = np.matmul(np.swapaxes(B, -1, -2), V)  # β_0; later ones are computed inside the step
        rows = int(min(N, max(1, block_bytes // (8 * k * d))))
        tmp, G, gv, t = np.empty((rows, k, d)), np.empty((rows, d, 1)), np.empty((rows, k, 1)), np.empty((rows, d, 1))
        torch = sys.modules.get("torch") if update_with == "auto" else None
        if update_with == "torch":
            import torch
        self.blocks = []
        for a in range(0, N, rows):
            if rows == N:  # one block: the arrays themselves
                sl, b = slice(None), (B, V, self.beta, C, twoC, flr)
            else:
                sl = slice(a, min(a + rows, N))
                b = (B[sl], V[sl], self.beta[sl], C[sl], twoC[sl], flr if isinstance(flr, float) else flr[sl])
            n = b[0].shape[0]
            if n != rows:
                G, gv, t, tmp = G[:n], gv[:n], t[:n], tmp[:n]
            self.blocks.append(b + (sl, G, gv, t, self._rank_one(b[0], b[1], G, tmp, torch, update_with)))

    @staticmethod
    def _rank_one(B, V, G, tmp, torch, how):
        """``B ← B − V Gᵀ`` for one block, as a closure over its views."""
        Gr = np.swapaxes(G, -1, -2)
        if how == "torch" or (torch is not None and B.size >= TORCH_BLOCK):
            Bt, Vt, Grt, Tt, mul = (*(torch.from_numpy(x) for x in (B, V)), torch.from_numpy(G).transpose(-1, -2),
                                    torch.from_numpy(tmp), torch.mul)
            return lambda: Bt.sub_(mul(Vt, Grt, out=Tt))
        if B.size < SMALL_BLOCK:
            return lambda: np.subtract(B, np.multiply(V, Gr, out=tmp), out=B)
        return lambda: np.subtract(B, np.einsum("...ki,...di->...kd", V, G, out=tmp), out=B)

    def step(self, update: bool = True) -> np.ndarray:
        """The loss at the current ``θ`` and, with ``update``, one GD step in place."""
        # Σβ (general Σ): one GEMM over all configurations, as the general step makes for a batch that fits
        # one block — a GEMM's rounding may depend on its width, so blocks of it could differ in the last bit
        SB = None if self.Sigma is None else shared_times(self.Sigma, self.beta)
        val = np.empty(self.N)
        for B, V, beta, C, twoC, flr, sl, G, gv, t, rank_one in self.blocks:
            Sb = beta if SB is None else SB[sl]
            np.subtract(Sb, twoC, out=t)
            np.multiply(beta, t, out=t)
            np.sum(t, axis=(-1, -2), out=val[sl])
            if update:
                np.subtract(Sb, C, out=G)
                np.multiply(flr, G, out=G)
                np.matmul(B, G, out=gv)
                rank_one()
                np.subtract(V, gv, out=V)
                np.matmul(np.swapaxes(B, -1, -2), V, out=beta)  # β at θ_{t+1}, while B is in cache
        val += self.s
        if self.half:
            val *= 0.5
        return val.reshape(self.batch)


__all__ = ["applies", "TwoLayerMoments", "SMALL_BLOCK", "TORCH_BLOCK"]
