r"""Exact solutions of two-layer linear gradient flow, and the balance it conserves.

Loss ``L = ½E‖f(x) − y‖²`` (``half=True``), whitened inputs ``E[xxᵀ] = I``, target ``y = W*x`` with
``W* = U S Vᵀ`` (``S = diag(s_α)``). Model ``f = W_2W_1x`` (engine: ``DeepLinear(d, (h,), p)`` with params
``(W_1, V)``, ``W_2 = Vᵀ``).

**Decoupled initialisation.** ``W_1 = diag(b) V_rᵀ``, ``W_2 = U_r diag(a)`` (``U_r, V_r`` the first r
singular vectors). Gradient flow keeps this form; mode α has ``ȧ = b(s − ab)``, ``ḃ = a(s − ab)``, so
``δ = a² − b²`` is conserved and ``u = ab`` obeys

    u̇ = (a² + b²)(s − u) = √(δ² + 4u²) (s − u).

* ``δ = 0`` (balanced; Saxe, McClelland & Ganguli 2014, with their time constant τ = 1):
  ``u(t) = s e^{2st} / (e^{2st} − 1 + s/u_0)``  (:func:`saxe_mode`).
* ``δ ≠ 0`` (λ-balanced, λ = δ: Kunin et al. 2024's single neuron ``f = a wᵀx`` with ``w ∥ β*``;
  Dominé et al. 2025's λ-balanced networks for decoupled initialisations): with ``c = δ/2`` and
  ``R = √(s² + c²)``, separation of variables gives the exact time to reach ``u``:

    t(u) = F(u) − F(u_0),   F(u) = (1/2R) · ln[(R√(u² + c²) + su + c²) / (s − u)]     (u < s),

  (:func:`lambda_balanced_time`), inverted by a bracketing root finder (:func:`lambda_balanced_mode`);
  ``δ → 0`` recovers Saxe's formula.

**λ-balanced, any initialisation (Dominé et al. 2025; Kunin et al. 2024's single neuron).** With
``M = E[yxᵀ]`` (``p×d``), ``W_1 (h×d)``, ``W_2 (p×h)`` and the conserved ``W_2ᵀW_2 − W_1W_1ᵀ = λI_h``, stack
``Q = [W_1ᵀ; W_2]``. Then ``W_2ᵀW_2 = (QᵀQ + λI)/2``, ``W_1W_1ᵀ = (QᵀQ − λI)/2`` and the flow becomes
``Q̇ = AQ − ½Q(QᵀQ)`` with ``A = [[λ/2·(−I_d), Mᵀ], [M, λ/2·I_p]]``, so ``P = QQᵀ`` obeys the Riccati equation
``Ṗ = AP + PA − P²``, solved exactly by

    P(t) = e^{At} Q_0 [I_h + Q_0ᵀ S(t) Q_0]^{-1} Q_0ᵀ e^{At},   S(t) = ∫_0^t e^{2As} ds      (:func:`riccati_gram`)

(differentiate: the bracket's derivative is ``Q_0ᵀe^{2At}Q_0``, which produces ``−P²``). ``W_2W_1(t)`` is the
lower-left block of ``P``. A single neuron ``f = a wᵀx`` (``h = p = 1``) is always λ-balanced with
``λ = δ = a² − ‖w‖²``, so this is Kunin et al.'s exact solution for every ``w_0``, aligned with ``β*`` or not:
``β(t) = a w`` is the lower-left block, ``a(t)² `` the lower-right entry.

**Balance (Du et al. 2018).** For ``f = VᵀBx`` under flow ``BBᵀ − VVᵀ`` is constant (so the change of the
feature Gram equals the change of the head Gram). Under GD with gradients ``g_B = V gᵀ``, ``g_V = B g``
the first-order terms cancel and, exactly,

    (BBᵀ − VVᵀ)_T − (BBᵀ − VVᵀ)_0 = η² Σ_{t<T} (g_B g_Bᵀ − g_V g_Vᵀ)_t        (:func:`balance_drift`).

LP moves ``V`` alone: it changes the balance by ``−(V_LPV_LPᵀ − V_0V_0ᵀ)`` before FT starts, and FT then
conserves (flow) the new, larger head Gram — the head norm of :mod:`lpft_distortion`.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import brentq

from .. import _validate as Vd


def saxe_mode(t, s: float, u0: float) -> np.ndarray:
    """``u(t) = s e^{2st} / (e^{2st} − 1 + s/u_0)`` (balanced mode, ``0 < u_0``, ``s > 0``)."""
    s, u0 = Vd.positive("s", s), Vd.positive("u0", u0)
    e = np.exp(2.0 * s * np.asarray(t, float))
    return s * e / (e - 1.0 + s / u0)


def _F(u, s, c):
    R = np.sqrt(s * s + c * c)
    return np.log((R * np.sqrt(u * u + c * c) + s * u + c * c) / (s - u)) / (2.0 * R)


def lambda_balanced_time(u, s: float, u0: float, delta: float) -> np.ndarray:
    """``t(u) = F(u) − F(u_0)``: the time gradient flow needs to take a mode from ``u_0`` to ``u``
    (``0 < u_0 <= u < s``), for the conserved imbalance ``δ = a² − b²``."""
    s, u0 = Vd.positive("s", s), Vd.positive("u0", u0)
    delta = Vd.real("delta", delta)
    if u0 >= s:
        raise ValueError(f"u0 must be in (0, s={s}), got {u0}")
    return _F(np.asarray(u, float), s, delta / 2.0) - _F(u0, s, delta / 2.0)


def lambda_balanced_mode(t, s: float, u0: float, delta: float) -> np.ndarray:
    """``u(t)``: :func:`lambda_balanced_time` inverted (``brentq``, ``xtol = 1e-15``) at each ``t >= 0``."""
    out = []
    for ti in np.atleast_1d(np.asarray(t, float)):
        if ti <= 0:
            out.append(u0)
            continue
        hi = s * (1.0 - 1e-15)
        if lambda_balanced_time(hi, s, u0, delta) <= ti:
            out.append(hi)
            continue
        out.append(brentq(lambda u: lambda_balanced_time(u, s, u0, delta) - ti, u0, hi, xtol=1e-15, rtol=1e-15))
    return np.array(out)


def decoupled_init(U, Vr, a, b):
    """Engine params ``(W_1, V) = (diag(b) V_rᵀ, diag(a) U_rᵀ)`` for ``W_* = U S V_rᵀ``: ``U (p, r)``, ``V_r (d, r)``."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return (b[:, None] * np.asarray(Vr).T, a[:, None] * np.asarray(U).T)


def mode_strengths(params, U, Vr) -> np.ndarray:
    """``u_α = U_αᵀ W_2 W_1 V_α`` (the diagonal of ``Uᵀ W_2W_1 V_r``)."""
    W1, V = params
    return np.diagonal(np.asarray(U).T @ V.T @ W1 @ np.asarray(Vr), axis1=-2, axis2=-1)


def balance(B, V) -> np.ndarray:
    """``BBᵀ − VVᵀ`` (``k×k``) for ``f = VᵀBx`` (``V (…, k, p)``)."""
    return B @ np.swapaxes(B, -1, -2) - V @ np.swapaxes(V, -1, -2)


def balance_drift(grads_B, grads_V, eta: float) -> np.ndarray:
    """``η² Σ_t (g_B g_Bᵀ − g_V g_Vᵀ)_t`` from gradients along a GD run (lists over t)."""
    eta = Vd.positive("eta", eta)
    return eta ** 2 * sum(gb @ np.swapaxes(gb, -1, -2) - gv @ np.swapaxes(gv, -1, -2) for gb, gv in zip(grads_B, grads_V))


RICCATI_PIECE = 0.25  # time per exact piece of riccati_gram


def lambda_balanced_init(W1, lam: float, R=None):
    """``(W_1, W_2)`` with ``W_2ᵀW_2 − W_1W_1ᵀ = λI``: ``W_2 = R (W_1W_1ᵀ + λI)^{1/2}``, ``R (p×h)`` with
    orthonormal columns (default: the first h columns of the identity). Needs ``λ > −λ_min(W_1W_1ᵀ)``."""
    W1 = np.asarray(W1, float)
    lam = Vd.real("lam", lam)
    h = W1.shape[0]
    evals, U = np.linalg.eigh(W1 @ W1.T + lam * np.eye(h))
    if evals.min() <= 0:
        raise ValueError(f"lam must be > -lambda_min(W1 W1^T) = {lam - evals.min():.6g}, got {lam}")
    root = (U * np.sqrt(evals)) @ U.T
    R = np.eye(h) if R is None else np.asarray(R, float)
    return W1, R @ root


def riccati_gram(t, W1_0, W2_0, M, lam: float) -> np.ndarray:
    """``P(t) = Q(t)Q(t)ᵀ`` (module docstring) at each ``t >= 0``: shape ``(len(t), d + p, d + p)``.

    ``W1_0 (h×d)``, ``W2_0 (p×h)`` must satisfy ``W_2ᵀW_2 − W_1W_1ᵀ = λI`` (checked to 1e-10 relative)."""
    W1_0, W2_0, M = (np.asarray(a, float) for a in (W1_0, W2_0, M))
    lam = Vd.real("lam", lam)
    h, d = W1_0.shape
    p = W2_0.shape[0]
    if W2_0.shape != (p, h) or M.shape != (p, d):
        raise ValueError(f"shapes must be W1_0 (h, d), W2_0 (p, h), M (p, d); got {W1_0.shape}, {W2_0.shape}, {M.shape}")
    gap = W2_0.T @ W2_0 - W1_0 @ W1_0.T - lam * np.eye(h)
    scale = max(1.0, float(np.abs(W1_0 @ W1_0.T).max()))
    if np.abs(gap).max() > 1e-10 * scale:
        raise ValueError(f"the initialisation is not lam-balanced: max |W2^T W2 - W1 W1^T - lam I| = {np.abs(gap).max():.3g}")
    A = np.block([[-lam / 2 * np.eye(d), M.T], [M, lam / 2 * np.eye(p)]])
    alpha, U = np.linalg.eigh(A)
    t = np.atleast_1d(np.asarray(t, float))
    if np.any(t < 0) or np.any(np.diff(t) < 0):
        raise ValueError(f"t must be non-decreasing and >= 0, got {t}")
    # The formula is a semigroup in Q (P depends on Q_0 only through Q_0Q_0ᵀ), so it is applied in pieces of
    # length <= RICCATI_PIECE: Q ← e^{AΔ} Q [I + Qᵀ S(Δ) Q]^{-1/2}. Exact for any Δ; short pieces keep e^{AΔ}
    # moderate, where one piece of length 8 would mix e^{±30} terms and lose ~6 digits.
    Z = U.T @ np.vstack([W1_0.T, W2_0])  # Q in A's eigenbasis
    out, now = [], 0.0
    for ti in t:
        n = int(np.ceil((ti - now) / RICCATI_PIECE))
        for _ in range(n):
            dt = (ti - now) / n
            integ = np.where(np.abs(alpha * dt) < 1e-8, dt * (1 + alpha * dt), np.expm1(2 * alpha * dt) / np.where(alpha == 0, 1.0, 2 * alpha))
            ev, W = np.linalg.eigh(np.eye(h) + Z.T @ (integ[:, None] * Z))
            Z = (np.exp(alpha * dt)[:, None] * Z) @ (W / np.sqrt(ev)) @ W.T
        now = ti
        Q = U @ Z
        out.append(Q @ Q.T)
    return np.array(out)


def riccati_product(t, W1_0, W2_0, M, lam: float) -> np.ndarray:
    """``W_2W_1(t)`` (``p×d``): the lower-left block of :func:`riccati_gram`."""
    d = np.asarray(W1_0).shape[1]
    return riccati_gram(t, W1_0, W2_0, M, lam)[:, d:, :d]
