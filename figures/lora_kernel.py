"""Tomihari & Sato's Prop. 4.4: where LoRA's kernel concentrates. For ``A_2`` with ``N(0, σ²)`` entries the
ratio ``⟨A_2x, A_2x'⟩ / ⟨x, x'⟩`` (= ``K^LoRA / K^FT``, both are ``V_0ᵀV_0`` times a scalar) concentrates at
``σ²r``, not at 1: the stated bound ``‖K^LoRA − K^FT‖ <= ε‖V_0V_0ᵀ‖`` fails unless ``σ²r ≈ 1``; the version the
proof gives (scaled by ``σ²r``) holds. Histograms of ``|⟨A_2x, A_2x'⟩ − s⟨x, x'⟩| / (ε s)`` for ``s = 1`` (stated)
and ``s = σ²r`` (proof): the bound holds left of 1. See :mod:`paper_checks.tomihari2024`.
"""
import numpy as np

from paper_checks.tomihari2024 import D_KERNEL, kernel_draws

from ._style import PALETTE, figure

NAME = "lora_kernel"
TITLE = r"Prop. 4.4: $K^{LoRA}$ concentrates at $\sigma^2 r\,K^{FT}$ — stated bound (scale 1) vs proof ($\sigma^2 r$)"
R, SIGMA, EPS = 2000, 1.0, 0.25


def compute(quick=True, seed=0):
    lip, fip = kernel_draws(quick, seed, R, SIGMA)
    s = SIGMA ** 2 * R
    return {"config": {"r": R, "sigma": SIGMA, "eps": EPS, "d": D_KERNEL, "draws": int(lip.size),
                       "inputs": "fresh pair per draw, norms in [0.5, 1]"},
            "stated_ratio": (np.abs(lip - fip) / EPS).tolist(), "proof_ratio": (np.abs(lip - s * fip) / (EPS * s)).tolist()}


def plot(data):
    fig, (a, b) = figure(2, height=2.3)
    c = data["config"]
    a.hist(np.log10(data["stated_ratio"]), bins=30, color=PALETTE[3])
    a.axvline(0.0, color="k", lw=0.8, label="bound")
    a.set(xlabel=r"$\log_{10}\, |K^{LoRA}-K^{FT}| \,/\, \epsilon\|V_0V_0^\top\|$", ylabel="draws",
          title=rf"(a) as stated: fails in {np.mean(np.asarray(data['stated_ratio']) > 1):.0%} of draws")
    b.hist(data["proof_ratio"], bins=30, color=PALETTE[2])
    b.axvline(1.0, color="k", lw=0.8, label="bound")
    b.set(xlabel=r"$|K^{LoRA}-\sigma^2 r K^{FT}| \,/\, \epsilon\sigma^2 r\|V_0V_0^\top\|$",
          title=rf"(b) proof version: fails in {np.mean(np.asarray(data['proof_ratio']) > 1):.0%}")
    a.legend(title=rf"$r={c['r']},\ \sigma={c['sigma']:g},\ \epsilon={c['eps']}$")
    b.legend()
    return fig
