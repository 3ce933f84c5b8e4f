"""Figure 9 — partial feature overlap: where LP-FT wins over (a, ω), closed form and simulation."""
import numpy as np

import synthetic
from lpft_theory import two_layer, two_layer_params
from lpft_theory.metrics import cross_matrix, summarize
from lpft_theory.strategies import ft, lp_ft
from lpft_theory.theory import chen

from ._style import figure

NAME = "overlap"
TITLE = (r"Overlap $\omega$: LP-FT wins iff $(a-1)(a-r) > 0$, $a = \eta c(1+\|V_{com}\|^2)$; "
         r"$r = 2\omega-1$ (other clients), $r = (2\omega(C-1)-(C-2))/C$ (mixture)")


def compute(quick=True, seed=0):
    a_grid = np.linspace(0.02, 2.0, 50 if quick else 120)
    w_grid = np.linspace(0.0, 1.0, 50 if quick else 120)
    gap = [[(a - 1) * (a - (2 * w - 1)) for a in a_grid] for w in w_grid]
    sims = []
    for a, w in [(0.3, 0.2), (0.3, 0.9), (0.9, 0.9), (1.5, 0.2), (0.6, 0.5), (1.5, 0.9)]:
        sc = synthetic.concept_shift(20, 3, 5, 1.0, overlap=w, rng=seed)
        v = float(sc.truth["V_com"] @ sc.truth["V_com"])
        eta = a / (2 * (1 + v))
        arch, pG = two_layer(20, 8), two_layer_params(*synthetic.idealised_init(sc))
        f = summarize(cross_matrix(arch, ft(eta, 1)(arch, pG, sc.population).params, sc.population))["global"]
        g = summarize(cross_matrix(arch, lp_ft(eta, 1)(arch, pG, sc.population).params, sc.population))["global"]
        fm = summarize(cross_matrix(arch, ft(eta, 1)(arch, pG, sc.population).params, sc.population))["global_mixture"]
        gm = summarize(cross_matrix(arch, lp_ft(eta, 1)(arch, pG, sc.population).params, sc.population))["global_mixture"]
        sims.append({"a": a, "omega": w, "sim_gap": f - g, "sim_gap_mixture": fm - gm,
                     "closed_gap": (lambda r: r["ft"]["global"] - r["lp_ft"]["global"])(chen.theorem_4_4(v, 1.0, eta, 5, omega=w))})
    return {"config": {"scenario": "concept shift with overlap, d=20, m=3, C=5, lambda=1", "seed": seed},
            "a": a_grid.tolist(), "omega": w_grid.tolist(), "gap_sign_factor": gap, "simulations": sims, "n_clients": 5}


def plot(data):
    fig, (ax,) = figure(1, height=2.6, width=7.1)  # room for the legend beside the axes
    a, w = np.array(data["a"]), np.array(data["omega"])
    G = np.array(data["gap_sign_factor"])
    ax.contourf(a, w, np.sign(G), levels=[-1.5, 0, 1.5], colors=["#d55e00", "#0072b2"], alpha=0.35)
    ax.plot([1, 1], [0, 1], "k-", lw=0.8, label="$a = 1$")
    ax.plot(2 * w - 1, w, "k--", lw=0.8, label=r"$a = 2\omega - 1$ (others)")
    C = data["n_clients"]
    ax.plot((2 * w * (C - 1) - (C - 2)) / C, w, color="0.35", ls="-.", lw=0.8,
            label=rf"$a = (2\omega(C-1)-(C-2))/C$ (mixture, $C={C}$)")
    for s in data["simulations"]:
        ax.plot(s["a"], s["omega"], marker="^" if s["sim_gap"] > 0 else "v", color="k", ms=4)
    ax.set(xlim=(a[0], a[-1]), ylim=(0, 1), xlabel=r"$a = \eta c (1 + \|V_{com}\|^2)$", ylabel=r"overlap $\omega$")
    fig.legend(title="shading: other clients' reading\nblue: LP-FT wins, orange: FT\ntriangles: simulation\n(up: LP-FT wins)",
               loc="outside right center")
    return fig
