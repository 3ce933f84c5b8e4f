"""Each PFT method as a recipe ``(η, T, knob) → Strategy`` under a step-budget rule.

Two budget rules (:data:`BUDGETS`):

* ``recipe`` — the papers' recipes: LP-FT is *exact* (converged) LP followed by ``T`` FT steps at ``η``;
  every other method runs ``T`` steps. Cross-entropy has no closed-form head: there "converged" LP is
  :data:`CE_LP_STEPS` head-only GD steps at ``η``.
* ``equal``  — every method gets ``T`` gradient steps in total. LP-FT with LP fraction ``f`` runs
  ``k = round(f·T)`` head-only GD steps at ``η`` and then ``T − k`` FT steps at ``ρ·η`` (the knob is
  the pair ``(f, ρ)``; Kumar et al.'s recipe uses ``ρ < 1``). With ``f = 0`` it *is* FT with ``T`` steps.

Knobs (one per method, tuned like the step size): Proximal ``μ``, Sparse the masked fraction, Soup
the number of ingredients ``M``, LSS the number of extra vertices, LP-FT ``(f, ρ)``, LP-reg-FT
``(f, μ)`` (its LP stage is head-only proximal GD toward the global head ``V_G``,
``V ← (V − η∇_V L_i + ημV_G)/(1 + ημ)``). Controls: ``LP`` (``T`` head-only GD steps) and
``LP (exact)`` (converged LP, no step count).
"""
from __future__ import annotations

import numpy as np

from . import _validate as Vd
from .dynamics import Transform
from .strategies import Strategy, ft, lp, lp_ft, lss, proximal, proximal_ft, soup, sparse_ft
from .strategies.base import gd_fit

BUDGETS = ("recipe", "equal")
#: the knob every method uses in a fixed recipe, and its grid when tuned
KNOBS = {
    "FT": (None, (None,)),
    "Proximal": (1.0, (0.1, 1.0)),
    "Sparse": (0.5, (0.5, 0.9)),
    "Soup": (3, (2, 4)),
    "LSS": (1, (1, 2)),
    "LP-FT": ((0.5, 1.0), ((0.25, 1.0), (0.5, 1.0), (0.25, 0.1), (0.5, 0.1))),
    "LP-FT (eta/10)": ((0.5, 0.1), ((0.5, 0.1),)),
    "LP-reg-FT": ((0.5, 1.0), ((0.5, 0.3), (0.5, 3.0))),
    "LP": (None, (None,)),
    "LP (exact)": (None, (None,)),
}
#: the six variants of Chen et al.'s Table 2 (competitors for "best")
TABLE2 = ("FT", "Proximal", "Soup", "Sparse", "LSS", "LP-FT")
#: methods reported beside them (not competitors): LP-FT's other recipes and LP-only controls
CONTROLS = ("LP-FT (eta/10)", "LP-reg-FT", "LP", "LP (exact)")
#: methods whose run of ``T`` steps passes through their run of ``t < T`` steps (one recorded run serves
#: every step count)
PREFIX_CONSISTENT = ("FT", "Proximal", "Sparse", "Soup", "LP")
CE_LP_STEPS = 300


def converged_lp(eta, loss: str = "mse") -> Strategy:
    """LP to convergence: the exact head for the squared loss, else :data:`CE_LP_STEPS` head GD steps."""
    return lp("exact") if loss == "mse" else lp("steps", eta=eta, steps=CE_LP_STEPS)


def _head_proximal(eta, mu: float, anchor) -> Transform:
    """Head-only proximal GD toward the global head (the body blocks do not move)."""
    inner = proximal(eta, mu, anchor)

    def update(grads, state, params, value, t):
        step, state = inner.update(grads, state, params, value, t)
        return tuple(np.zeros_like(s) for s in step[:-1]) + (step[-1],), state

    return Transform(inner.init, update)


def lp_reg(eta, steps: int, mu: float) -> Strategy:
    """LP regularised toward the global head: ``V ← (V − η∇_V L_i(B_G, V) + ημ V_G)/(1 + ημ)``."""
    steps = Vd.integer("steps", steps, min_value=0)
    mu = Vd.nonnegative("mu", mu)
    return Strategy(f"LP-reg[mu={mu:g}]", gd_fit(lambda arch, start, *_: _head_proximal(eta, mu, start), steps),
                    "V ← (V − η∇_V L_i(B_G, V) + ημV_G) / (1 + ημ)")


def _split(T: int, frac: float) -> int:
    frac = Vd.real("LP fraction", frac, low=0.0, high=1.0)
    return int(round(frac * T))


def method(name: str, eta, T: int, knob=None, budget: str = "recipe", loss: str = "mse") -> Strategy:
    """The strategy of method ``name`` (a key of :data:`KNOBS`) at step size ``eta`` (scalar or an array over
    the client axis) and step budget ``T`` under the budget rule ``budget``; ``knob=None`` uses the recipe's.
    ``loss`` decides what converged LP is (:func:`converged_lp`)."""
    Vd.choice("method", name, tuple(KNOBS))
    Vd.choice("budget", budget, BUDGETS)
    T = Vd.integer("T", T, min_value=0)
    knob = KNOBS[name][0] if knob is None else knob
    if name == "FT":
        return ft(eta, T)
    if name == "Proximal":
        return proximal_ft(eta, T, knob)
    if name == "Sparse":
        return sparse_ft(eta, T, knob)
    if name == "Soup":
        return soup(eta, T, int(knob), sigma=0.05)
    if name == "LSS":
        return lss(float(np.max(eta)), T, n_verts=int(knob), vertex_steps=max(T // 4, 1))
    if name == "LP":
        return lp("steps", eta=eta, steps=T)
    if name == "LP (exact)":
        return converged_lp(eta, loss)
    frac, second = knob
    if name == "LP-reg-FT":
        k = _split(T, frac)
        return lp_ft(eta, T - k, lp_reg(eta, k, second))
    # LP-FT and LP-FT (eta/10): the knob is (LP fraction, FT-stage rate ratio)
    if budget == "recipe":
        return lp_ft(np.multiply(eta, second), T, converged_lp(eta, loss))
    k = _split(T, frac)
    return lp_ft(np.multiply(eta, second), T - k, lp("steps", eta=eta, steps=k) if k else None)


__all__ = ["BUDGETS", "KNOBS", "TABLE2", "CONTROLS", "PREFIX_CONSISTENT", "CE_LP_STEPS", "converged_lp", "lp_reg",
           "method"]
