"""Ren et al. 2023 in an overparameterised linear model: feature change against the energy left by the head.

Each line is one instance (seed); its points are head-probing lengths τ, plotted at the energy ``E(τ)`` (the
training loss at the start of FT) relative to the largest, ``E(0)``. (a) ``‖z_T − z_0‖`` grows with the
energy (monotone). (b) ``⟨z_T, z_0⟩`` and (c) ``‖z_T‖``, relative to their value at the lowest energy, first
rise then fall. See :mod:`paper_checks.ren2023`.
"""
import numpy as np

from paper_checks.ren2023 import ETA, SETTINGS, T_FT, TAUS, V_SCALE, curves

from ._style import PALETTE, figure

NAME = "ren_energy"
TITLE = r"Ren et al.: $\|z_T-z_0\|$ grows with the energy $E$; $\langle z_T,z_0\rangle$ and $\|z_T\|$ rise, then fall"


def compute(quick=True, seed=0):
    c = curves(quick, seed)
    out = {}
    for name, rows in c["settings"].items():
        out[name] = [{"seed": r["seed"], **{m: [st[m] for st in r["stats"]] for m in
                                             ("energy", "euclidean", "dot", "norm")}} for r in rows]
    return {"config": {"taus": list(TAUS), "eta": ETA, "T": T_FT, "v0_scale": V_SCALE, "settings": list(SETTINGS),
                       "loss": "mean (f-y)^2 on n < d training points", "features": "z = B x on the training inputs"},
            "settings": out}


def plot(data):
    fig, axes = figure(3, height=2.65, width=7.0)  # 0.35 in for the legend below
    for i, (name, rows) in enumerate(data["settings"].items()):
        for j, r in enumerate(rows):
            E = np.asarray(r["energy"])
            e = E / E.max()
            kw = dict(color=PALETTE[i], lw=0.7, alpha=0.7, marker="o", ms=1.5, label=name if j == 0 else None)
            axes[0].plot(e, r["euclidean"], **kw)
            lo = int(np.argmin(E))
            axes[1].plot(e, np.asarray(r["dot"]) / r["dot"][lo], **kw)
            axes[2].plot(e, np.asarray(r["norm"]) / r["norm"][lo], **kw)
    axes[0].set(xlabel=r"energy $E(\tau)/E(0)$", ylabel=r"$\|z_T-z_0\|$", title="(a) distance: monotone")
    axes[1].set(xlabel=r"energy $E(\tau)/E(0)$", ylabel=r"$\langle z_T,z_0\rangle$ / value at lowest $E$",
                title="(b) similarity: rise, then fall")
    axes[2].set(xlabel=r"energy $E(\tau)/E(0)$", ylabel=r"$\|z_T\|$ / value at lowest $E$",
                title="(c) norm: rise, then fall")
    fig.legend(*axes[0].get_legend_handles_labels(), title=r"setting (one line per seed)", ncol=2,
               loc="outside lower center")  # below the panels: it hides no line
    return fig
