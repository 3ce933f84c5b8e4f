r"""Surgical fine-tuning (Lee et al., ICLR 2023): tune one chosen subset of blocks, freeze the rest.

    θ^{(b)} ← θ^{(b)} − η ∇_b L_i(θ)   for b ∈ blocks,      θ^{(b)} = θ_G^{(b)} otherwise.

``blocks`` are block indices (``0`` the first layer, ``-1`` the head). Reduces to: every block → FT; the head
alone → LP by GD (:func:`~lpft_theory.strategies.lp` with ``mode="steps"``). First-layer-only FT of the two-layer
linear model ``f = VᵀBx`` moves the predictor ``β = BᵀV`` only inside ``rowspace(X)`` (``ΔB = V gᵀ`` with ``g``
in the span of the data), so run to convergence it ends at one projection, ``β_0 + X⁺(y − Xβ_0)``
(:mod:`lpft_theory.theory.surgical`).
"""
from __future__ import annotations

import numbers

from .. import _validate as Vd
from ..dynamics import check_eta, sgd
from .base import Strategy, gd_fit


def surgical_ft(eta, steps: int, blocks=(0,)) -> Strategy:
    """GD on the listed ``blocks`` only (module docstring); ``blocks=(0,)`` is first-layer-only FT."""
    check_eta(eta)
    steps = Vd.integer("steps", steps, min_value=0)
    blocks = (blocks,) if isinstance(blocks, numbers.Integral) else tuple(blocks)
    if not blocks or not all(isinstance(b, numbers.Integral) and not isinstance(b, bool) for b in blocks):
        raise TypeError(f"blocks must be a non-empty sequence of block indices, got {blocks!r}")

    def transform(arch, start, data, loss, half):
        n = len(start)
        bad = [b for b in blocks if not -n <= b < n]
        if bad:
            raise ValueError(f"blocks must be in [{-n}, {n - 1}] for a model with {n} blocks, got {list(blocks)}")
        chosen = {b % n for b in blocks}
        return sgd(eta, tuple(b in chosen for b in range(n)))

    name = "first-layer FT" if blocks == (0,) else f"Surgical[{','.join(map(str, blocks))}]"
    return Strategy(name, gd_fit(transform, steps), f"θ^(b) ← θ^(b) − η ∇_b L_i(θ) for b in {list(blocks)}, others θ_G")


def first_layer_ft(eta, steps: int) -> Strategy:
    """First-layer-only FT: :func:`surgical_ft` with ``blocks=(0,)``."""
    return surgical_ft(eta, steps, (0,))


__all__ = ["surgical_ft", "first_layer_ft"]
