"""Figure 4 — phase diagram of G_FT − G_LPFT over (η, λ) with the derived boundary, two LP readings."""
import numpy as np

import synthetic
from lpft_theory import two_layer, two_layer_params
from lpft_theory.metrics import cross_matrix, summarize
from lpft_theory.strategies import ft, lp, lp_ft
from lpft_theory.theory import chen

from ._style import figure

NAME = "phase_diagram"
TITLE = r"Where LP-FT beats FT (concept shift): the boundary $a = \eta c\,(1 + \|V_{com}\|^2) = 1$"


def compute(quick=True, seed=0):
    sc = synthetic.concept_shift(20, 3, 5, 1.0, rng=seed)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    etas = np.linspace(0.01, 1.0, 40 if quick else 100)
    lams = np.linspace(0.05, 3.0, 40 if quick else 100)
    gaps = {}
    for reading in ("exact", "step"):
        gaps[reading] = [[(lambda r: r["ft"]["global"] - r["lp_ft"]["global"])(chen.theorem_4_4(v, lam, eta, 5, lp=reading))
                          for eta in etas] for lam in lams]
    checks = []
    for eta, lam in [(0.2, 0.5), (0.6, 0.5), (0.2, 2.0), (0.6, 2.0)]:
        s2 = synthetic.concept_shift(20, 3, 5, lam, rng=seed)
        arch, pG = two_layer(20, 8), two_layer_params(*synthetic.idealised_init(s2))
        for reading, probe in (("exact", lp()), ("step", lp("steps", eta=eta, steps=1))):
            f = summarize(cross_matrix(arch, ft(eta, 1)(arch, pG, s2.population).params, s2.population))["global"]
            g = summarize(cross_matrix(arch, lp_ft(eta, 1, probe)(arch, pG, s2.population).params, s2.population))["global"]
            checks.append({"eta": eta, "lam": lam, "reading": reading, "sim_gap": f - g})
    return {"config": {"scenario": "concept shift d=20, m=3, C=5 (lambda varies), idealised init, c=2", "seed": seed},
            "v": v, "etas": etas.tolist(), "lams": lams.tolist(), "gap": gaps, "eta_star": 1 / (2 * (1 + v)),
            "simulation_checks": checks}


def plot(data):
    from matplotlib.colors import SymLogNorm
    from matplotlib.lines import Line2D

    fig, axes = figure(2, height=3.1)  # 2.6 in for the panels, 0.5 in for the legend below
    etas, lams = np.array(data["etas"]), np.array(data["lams"])
    for ax, (reading, title) in zip(axes, (("exact", "(a) exact LP"), ("step", "(b) one LP step"))):
        G = np.array(data["gap"][reading]) / lams[:, None] ** 2
        # a symmetric log scale: the large gaps at large (η, λ) must not wash out the sign elsewhere
        lim = float(np.abs(G).max())
        m = ax.pcolormesh(etas, lams, G, cmap="RdBu", norm=SymLogNorm(0.05, vmin=-lim, vmax=lim, base=10),
                          shading="auto")
        ax.contour(etas, lams, G, levels=[0.0], colors="k", linewidths=0.8)
        if reading == "exact":
            ax.axvline(data["eta_star"], color="k", ls="--", lw=0.8)
        for c in data["simulation_checks"]:
            if c["reading"] == reading:
                ax.plot(c["eta"], c["lam"], marker="^" if c["sim_gap"] > 0 else "v", color="k", ms=4, ls="none")
        ax.set(xlabel=r"$\eta$", ylabel=r"$\lambda$", title=title)
        ticks = [t for t in (-10.0, -1.0, -0.1, 0.0, 0.1, 1.0, 10.0) if abs(t) <= lim]
        fig.colorbar(m, ax=ax, ticks=ticks, format="%g", label=r"$(G_{FT} - G_{LP\text{-}FT})/\lambda^2$ (symlog)")
    handles = [Line2D([], [], color="k", lw=0.8, label="gap = 0 (closed form)"),
               Line2D([], [], color="k", ls="--", lw=0.8, label=r"$\eta c(1+\|V_{com}\|^2)=1$"),
               Line2D([], [], marker="^", color="k", ls="none", ms=4, label="simulation: LP-FT better"),
               Line2D([], [], marker="v", color="k", ls="none", ms=4, label="simulation: FT better")]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=6,
               title="blue: LP-FT has the lower global loss, red: FT", title_fontsize=6)
    return fig
