r"""The NTK view of LP-FT (Tomihari & Sato, NeurIPS 2024) for a linear feature map, exactly.

Model ``f(x) = Vᵀφ(x)``, ``φ(x) = Bx`` (engine: ``DeepLinear(d, (k,), p)``, ``V ∈ R^{k×p}``; the paper writes
the head as ``V ∈ R^{p×k}``, so its ``V_0ᵀδ`` and ``V_0V_0ᵀ`` are ``V_0δ`` and ``V_0ᵀV_0`` here). Cross-entropy
with the package's convention, the **mean** over points: ``L = Σ_i ω_i ℓ_i`` with ``ω_i = 1/n`` (or the
normalised point weights), ``∂L/∂f_i = −ω_i δ_i``, ``δ_i = e_{y_i} − softmax(f_0(x_i))``.

**One step (corollary).** ``∇_B L = −Σ_i ω_i V δ_i x_iᵀ``, so one GD step of size ``η`` gives, for every x,

    φ_1(x) − φ_0(x) = η Σ_i ω_i ⟨x, x_i⟩ V_0 δ_i                                  (:func:`one_step_feature_change`)

(the paper's summed loss is ``ω_i = 1``: its ``η`` is ``η/n`` here). It is zero for ``x ⊥ span{x_i}``.
The head enters linearly: under ``(B_0, V_0) → (B_0/α, αV_0)`` the logits ``f_0`` and hence every ``δ_i``
are unchanged, the feature change scales as ``α``, and the logit change it causes,
``V_0ᵀ(φ_1 − φ_0)(x) = η Σ_i ω_i ⟨x, x_i⟩ V_0ᵀV_0 δ_i`` (the FT-effective NTK term), as ``α²``.

**LoRA vs FT kernels (Prop. 4.4).** The body part of the NTK is ``K^FT(x, x') = ⟨x, x'⟩ V_0ᵀV_0``. LoRA
``B = B_0 + A_1A_2`` with ``A_1 = 0`` and ``A_2`` i.i.d. ``N(0, σ²)`` (``r×d``) has, at the start,
``K^LoRA(x, x') = ⟨A_2x, A_2x'⟩ V_0ᵀV_0`` (:func:`lora_kernel`; the ``A_2`` gradient is zero there).
Johnson–Lindenstrauss on ``x ± x'`` plus polarisation gives, for ``‖x‖, ‖x'‖ <= c`` and a fixed pair,

    P( ‖K^LoRA − σ²r K^FT‖ <= ε σ²r c² ‖V_0V_0ᵀ‖ ) >= 1 − 4 exp(−(ε² − ε³) r / 4)       (proof version),

while the proposition as printed has the same left-hand side and the right-hand side ``c ε ‖V_0V_0ᵀ‖`` (it lacks
the ``σ²r c`` the gap scales with; the proof version implies it whenever ``σ²rc <= 1``). Both sides are
``V_0ᵀV_0`` times a scalar, so ``V_0`` cancels; the failure probability of a fixed pair is computed exactly by
:func:`lora_kernel_failure_probability`.
"""
from __future__ import annotations

import numpy as np
from scipy import integrate, special

from .. import _validate as Vd
from ..losses import softmax


def residual_directions(logits, labels) -> np.ndarray:
    """``δ_i = e_{y_i} − softmax(f_0(x_i))`` (rows), from logits ``(…, n, p)`` and integer labels ``(…, n)``."""
    logits = np.asarray(logits, float)
    return np.eye(logits.shape[-1])[np.asarray(labels)] - softmax(logits)


def one_step_feature_change(x, X, labels, B0, V0, eta: float, weights=None) -> np.ndarray:
    """``φ_1(x) − φ_0(x) = η Σ_i ω_i ⟨x, x_i⟩ V_0 δ_i`` for query points ``x (m, d)``: shape ``(m, k)``.

    ``ω_i = 1/n`` (the package's mean loss) unless ``weights`` (summed loss: ``weights = ones``,
    unnormalised, i.e. ``ω_i = weights_i``) is given.
    """
    eta = Vd.positive("eta", eta)
    X, B0, V0 = np.asarray(X, float), np.asarray(B0, float), np.asarray(V0, float)
    w = np.full(X.shape[0], 1.0 / X.shape[0]) if weights is None else np.asarray(weights, float)
    delta = residual_directions(X @ B0.T @ V0, labels)
    return eta * (np.asarray(x, float) @ X.T) @ (w[:, None] * (delta @ V0.T))


def ft_kernel(x, xp, V0) -> np.ndarray:
    """``K^FT(x, x') = ⟨x, x'⟩ V_0ᵀV_0`` (``p×p``; batched over leading axes of ``x, x'``)."""
    V0 = np.asarray(V0, float)
    return np.sum(np.asarray(x) * np.asarray(xp), axis=-1)[..., None, None] * (V0.T @ V0)


def lora_kernel(x, xp, V0, A2) -> np.ndarray:
    """``K^LoRA(x, x') = ⟨A_2x, A_2x'⟩ V_0ᵀV_0`` at the LoRA start (``A_1 = 0``); ``A_2 (…, r, d)``."""
    A2 = np.asarray(A2, float)
    V0 = np.asarray(V0, float)
    ax = np.einsum("...rd,...d->...r", A2, np.asarray(x, float))
    axp = np.einsum("...rd,...d->...r", A2, np.asarray(xp, float))
    return np.sum(ax * axp, axis=-1)[..., None, None] * (V0.T @ V0)


def jl_failure_probability(r: int, eps: float) -> float:
    """``4 exp(−(ε² − ε³) r / 4)``: the probability Prop. 4.4 allows its bound to fail (``0 < ε < 1``)."""
    r = Vd.integer("r", r, min_value=1)
    eps = Vd.real("eps", eps, low=0.0, high=1.0, low_open=True, high_open=True)
    return float(min(1.0, 4.0 * np.exp(-(eps ** 2 - eps ** 3) * r / 4.0)))


def lora_kernel_failure_probability(r: int, sigma: float, x_sq: float, xp_sq: float, inner: float, tau: float) -> float:
    """``P(|⟨A_2x, A_2x'⟩ − σ²r⟨x, x'⟩| > τ)`` exactly, for ``A_2 (r×d)`` i.i.d. ``N(0, σ²)`` and a fixed pair with
    ``‖x‖² = x_sq``, ``‖x'‖² = xp_sq``, ``⟨x, x'⟩ = inner``.

    Each row ``g`` of ``A_2/σ`` gives ``(gᵀx)(gᵀx')``, a quadratic form in a Gaussian pair whose matrix has
    eigenvalues ``λ± = (⟨x, x'⟩ ± ‖x‖‖x'‖)/2``; summed over the ``r`` rows, ``⟨A_2x, A_2x'⟩/σ² = λ₊X − |λ₋|Y``
    with ``X, Y`` independent ``χ²_r``. Each tail is one integral over ``Y`` (``scipy.integrate.quad``, relative
    accuracy 1e-10) of ``χ²_r`` survival functions."""
    r = Vd.integer("r", r, min_value=1)
    lp = 0.5 * (inner + np.sqrt(x_sq * xp_sq))
    lm = 0.5 * (np.sqrt(x_sq * xp_sq) - inner)
    lp, lm = max(lp, 0.0), max(lm, 0.0)
    half, lg = 0.5 * r, special.gammaln(0.5 * r)

    def pdf(y):  # χ²_r density (scipy.special: ~100× faster than scipy.stats inside quad)
        return np.exp((half - 1.0) * np.log(y) - 0.5 * y - half * np.log(2.0) - lg) if y > 0 else float(r == 2) * 0.5

    def above(c, a, b):  # P(a X − b Y > c), a, b >= 0
        if a == 0.0:
            return float(special.chdtr(r, -c / b)) if (b > 0 and c < 0) else float(c < 0 and b == 0)
        if b == 0.0:
            return float(special.chdtrc(r, c / a)) if c > 0 else 1.0
        lo = max(0.0, -c / b)  # below it (c + bY < 0) the survival function is 1
        head = float(special.chdtr(r, lo)) if c < 0 else 0.0
        hi = max(lo, r + 60.0 * np.sqrt(2.0 * r) + 60.0)  # beyond: a χ²_r tail below e^-60 of the mass
        # where the integrand's mass sits (it can be far in Y's lower tail when the probability is tiny)
        ys = np.linspace(lo, hi, 401)[1:]
        with np.errstate(divide="ignore"):
            logf = (half - 1.0) * np.log(ys) - 0.5 * ys + np.log(special.chdtrc(r, np.maximum((c + b * ys) / a, 0.0)))
        if not np.isfinite(logf).any():  # below 1e-300 everywhere: negligible against any allowed probability here
            return head
        peak = float(ys[int(np.argmax(logf))])
        pts = sorted({float(np.clip(peak + w * np.sqrt(2.0 * r), lo, hi)) for w in (-3, -1, 0, 1, 3)} - {lo, hi})
        val = integrate.quad(lambda y: pdf(y) * special.chdtrc(r, max((c + b * y) / a, 0.0)), lo, hi, points=pts or None,
                             epsabs=0.0, epsrel=1e-10, limit=400)[0]
        return head + val

    t, m = tau / sigma ** 2, r * inner
    return float(min(1.0, above(m + t, lp, lm) + above(-(m - t), lm, lp)))


def kernel_gap(K_lora, K_ft, scale: float = 1.0) -> np.ndarray:
    """``‖K^LoRA − scale·K^FT‖₂`` (spectral norm over the trailing ``p×p``)."""
    return np.linalg.norm(np.asarray(K_lora) - scale * np.asarray(K_ft), ord=2, axis=(-2, -1))


def stated_bound(V0, eps: float, c: float = 1.0) -> float:
    """Prop. 4.4 as stated: ``c ε ‖V_0V_0ᵀ‖`` (compared with ``‖K^LoRA − K^FT‖``)."""
    V0 = np.asarray(V0, float)
    return float(c * eps * np.linalg.norm(V0.T @ V0, ord=2))


def proof_bound(V0, eps: float, sigma: float, r: int, c: float = 1.0) -> float:
    """The version its proof gives: ``c ε σ²r ‖V_0V_0ᵀ‖`` (compared with ``‖K^LoRA − σ²r K^FT‖``)."""
    return float(sigma ** 2 * r) * stated_bound(V0, eps, c)
