r"""Federated LoRA averaging in closed form (the rounds are :mod:`lpft_theory.federated_lora`).

**Averaging both factors is not averaging the adapters.** With weights ``w_i`` (``Σw_i = 1``), ``B̄ = Σw_iB_i``,
``Ā = Σw_iA_i``:

    Σ_i w_i B_iA_i − B̄Ā = Σ_i w_i (B_i − B̄)(A_i − Ā)          (:func:`averaging_error`)

(expand the right side: the cross terms are ``−B̄Ā − B̄Ā + B̄Ā``). It is the weighted cross-covariance of the
two factors over the clients: zero when either factor is the same on every client — a frozen shared ``A``
(FFA-LoRA, Sun et al. 2024) or RoLoRA's alternation (Chen et al. 2025), which trains one factor per round.

**Rank-1 linear model** (the setting of RoLoRA's linear analysis as this package states it): ``x ~ N(0, I_d)``
(``Σ_i = I``), client ``i``'s target ``W_i* = W_0 + b_i*a*ᵀ`` (a shared direction ``a*``, heterogeneous heads
``b_i*``), adapter ``ΔW = baᵀ`` (``r = 1``), population loss ``‖baᵀ − b_i*a*ᵀ‖²_F`` (no ½). Its gradient in ``b``
is ``2(b‖a‖² − b_i*⟨a*, a⟩)``: affine with the *same* linear part on every client, so the average of the
clients' ``τ``-step local iterates is ``τ`` GD steps on the average loss, and one round is the affine map
(:func:`b_round`, :func:`a_round`)

    b ← b° + (1 − 2η‖a‖²)^τ (b − b°),   b° = b̄*⟨a*, a⟩/‖a‖²        (a frozen: a B-round)
    a ← a° + (1 − 2η‖b‖²)^τ (a − a°),   a° = a*⟨b̄*, b⟩/‖b‖²        (b frozen: an A-round)

The mean loss is ``‖baᵀ − b̄*a*ᵀ‖² + H`` with ``H = ‖a*‖² Σw_i‖b_i* − b̄*‖²`` the heterogeneity no shared
adapter can remove (:func:`rank1_losses`). Hence:

* **RoLoRA** (alternating): the part of ``a`` off ``a*`` shrinks by ``(1 − 2η‖b‖²)^τ`` each A-round, so the
  adapter converges geometrically to the optimum ``b̄*a*ᵀ`` whenever ``0 < η‖b_t‖², η‖a_t‖² < 1`` and
  ``⟨a_0, a*⟩ ≠ 0`` (:func:`rolora_trajectory`);
* **FFA-LoRA** (``a = a_0`` frozen): ``b → b°(a_0)`` and the excess loss stops at
  ``‖b̄*‖²‖a*‖² sin²∠(a_0, a*)`` (:func:`ffa_floor`) — about ``‖b̄*‖²‖a*‖²(1 − 1/d)`` for a random ``a_0``.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd

__all__ = ["averaging_error", "b_round", "a_round", "rolora_trajectory", "ffa_trajectory", "ffa_floor",
           "rank1_losses"]


def averaging_error(As, Bs, weights=None) -> np.ndarray:
    """``Σ w_i (B_i − B̄)(A_i − Ā)`` = ``Σ w_iB_iA_i − B̄Ā`` for factors stacked on a leading client axis."""
    As, Bs = np.asarray(As, float), np.asarray(Bs, float)
    w = np.full(As.shape[0], 1.0 / As.shape[0]) if weights is None else np.asarray(weights, float) / np.sum(weights)
    dA = As - np.tensordot(w, As, axes=1)
    dB = Bs - np.tensordot(w, Bs, axes=1)
    return np.tensordot(w, dB @ dA, axes=1)


def b_round(a, b, a_star, b_bar, eta: float, tau: int) -> np.ndarray:
    """One B-round (``a`` frozen) of the rank-1 model, in closed form (module docstring)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    b_opt = np.asarray(b_bar, float) * (np.asarray(a_star, float) @ a) / (a @ a)
    return b_opt + (1.0 - 2.0 * eta * (a @ a)) ** tau * (b - b_opt)


def a_round(a, b, a_star, b_bar, eta: float, tau: int) -> np.ndarray:
    """One A-round (``b`` frozen) of the rank-1 model, in closed form (module docstring)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    a_opt = np.asarray(a_star, float) * (np.asarray(b_bar, float) @ b) / (b @ b)
    return a_opt + (1.0 - 2.0 * eta * (b @ b)) ** tau * (a - a_opt)


def rolora_trajectory(a0, b0, a_star, b_bar, eta: float, tau: int, rounds: int) -> list:
    """``[(a, b)]`` after each RoLoRA round (even rounds train ``b``, odd rounds ``a``), the start first."""
    tau, rounds = Vd.integer("tau", tau, min_value=1), Vd.integer("rounds", rounds, min_value=0)
    a, b = np.asarray(a0, float), np.asarray(b0, float)
    out = [(a, b)]
    for r in range(rounds):
        if r % 2 == 0:
            b = b_round(a, b, a_star, b_bar, eta, tau)
        else:
            a = a_round(a, b, a_star, b_bar, eta, tau)
        out.append((a, b))
    return out


def ffa_trajectory(a0, b0, a_star, b_bar, eta: float, tau: int, rounds: int) -> list:
    """``[(a_0, b)]`` after each FFA-LoRA round (``a = a_0`` frozen, every round trains ``b``)."""
    tau, rounds = Vd.integer("tau", tau, min_value=1), Vd.integer("rounds", rounds, min_value=0)
    a, b = np.asarray(a0, float), np.asarray(b0, float)
    out = [(a, b)]
    for _ in range(rounds):
        b = b_round(a, b, a_star, b_bar, eta, tau)
        out.append((a, b))
    return out


def ffa_floor(a0, a_star, b_bar) -> float:
    """FFA-LoRA's excess loss at convergence: ``‖b̄*‖²‖a*‖² sin²∠(a_0, a*)``."""
    a0, a_star, b_bar = (np.asarray(x, float) for x in (a0, a_star, b_bar))
    return float((b_bar @ b_bar) * ((a_star @ a_star) - (a_star @ a0) ** 2 / (a0 @ a0)))


def rank1_losses(a, b, a_star, b_stars, weights=None) -> dict:
    """``{"mean": Σw_i‖baᵀ − b_i*a*ᵀ‖², "excess": ‖baᵀ − b̄*a*ᵀ‖², "heterogeneity": H}`` (module docstring)."""
    a, b, a_star, b_stars = (np.asarray(x, float) for x in (a, b, a_star, b_stars))
    w = np.full(b_stars.shape[0], 1.0 / b_stars.shape[0]) if weights is None else np.asarray(weights) / np.sum(weights)
    b_bar = w @ b_stars
    excess = float(np.sum((np.outer(b, a) - np.outer(b_bar, a_star)) ** 2))
    het = float((a_star @ a_star) * (w @ np.sum((b_stars - b_bar) ** 2, axis=1)))
    return {"mean": excess + het, "excess": excess, "heterogeneity": het}
