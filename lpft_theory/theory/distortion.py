r"""How far fine-tuning can move the features, in terms of the loss at the start of fine-tuning.

**Proposition (energy bound).** Let ``θ = (B, V, …)`` follow gradient flow ``θ̇ = −∇L(θ)`` on any
differentiable loss ``L >= 0``. Then for every block, in particular the feature extractor ``B``,

    ‖B_t − B_0‖_F <= ‖θ_t − θ_0‖ <= √(t · (L(θ_0) − L(θ_t))) <= √(t · L(θ_0)).

*Proof.* ``‖θ_t − θ_0‖ <= ∫_0^t ‖∇L‖ ds <= √t (∫_0^t ‖∇L‖² ds)^{1/2}`` (Cauchy–Schwarz) and
``d/ds L(θ_s) = −‖∇L‖²``, so ``∫_0^t ‖∇L‖² = L(θ_0) − L(θ_t)``. ∎

For **gradient descent** with step η, if every step makes *sufficient decrease*
``L_{s+1} <= L_s − (η/2)‖∇L_s‖²`` (true whenever η <= 1/β for the smoothness β of L on the segment), then

    ‖B_T − B_0‖_F <= η Σ_s ‖∇_B L_s‖ <= √(2ηT · (L_0 − L_T)) <= √(2ηT · L_0).

Without sufficient decrease the bound can fail; :func:`sufficient_decrease` checks it along a run.

**Consequence for LP-FT.** LP-FT starts its FT phase at ``L_0^{LP-FT} = min_V L(B_0, V) <= L(B_0, V_0) =
L_0^{FT}``, so its distortion bound is never larger than FT's, for the same time or number of steps;
when LP reaches zero loss (Chen et al.'s concept shift with ``B_0 = B*``) LP-FT moves no feature at all.
This is the mechanism the papers name ("the energy the head leaves"): not a property of the FT phase,
but of where it starts.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd


def flow_bound(t, L0, Lt=0.0) -> np.ndarray:
    """``√(t (L_0 − L_t))``: bound on ``‖θ_t − θ_0‖`` (hence ``‖B_t − B_0‖_F``) under gradient flow."""
    return np.sqrt(np.maximum(np.asarray(t, float) * (np.asarray(L0) - np.asarray(Lt)), 0.0))


def gd_bound(eta: float, T, L0, LT=0.0) -> np.ndarray:
    """``√(2ηT (L_0 − L_T))``: bound on ``‖B_T − B_0‖_F`` for GD with sufficient decrease."""
    Vd.positive("eta", eta)
    return np.sqrt(np.maximum(2.0 * eta * np.asarray(T, float) * (np.asarray(L0) - np.asarray(LT)), 0.0))


def sufficient_decrease(losses, grad_sq_norms, eta: float, rtol: float = 1e-12) -> np.ndarray:
    """Per step: ``L_{s+1} <= L_s − (η/2)‖∇L_s‖²`` (up to ``rtol`` of ``L_s`` for round-off)."""
    L = np.asarray(losses, float)
    g2 = np.asarray(grad_sq_norms, float)
    return L[1:] <= L[:-1] - 0.5 * eta * g2[: len(L) - 1] + rtol * np.abs(L[:-1])
