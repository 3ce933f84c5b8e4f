"""Figure 3 — Lemma 4.3: one FT step's distortion and global loss vs η; simulation over closed form."""
import numpy as np

import synthetic
from lpft_theory import two_layer, two_layer_params
from lpft_theory.metrics import cross_matrix, distortion, summarize
from lpft_theory.strategies import ft, lp_ft
from lpft_theory.theory import chen

from ._style import PALETTE, figure

NAME = "lemma43"
TITLE = (r"Lemma 4.3: $\|B_{FT} - B^*\|_F = \eta c \lambda \|V_{com}\|$, and where LP-FT's global loss is lower "
         r"($\eta c(1+\|V_{com}\|^2) > 1$)")


def compute(quick=True, seed=0):
    lams = (0.5, 1.0, 2.0)
    etas_line = np.linspace(0.0, 1.0, 101)
    etas_sim = np.linspace(0.05, 1.0, 6 if quick else 12)
    out = {}
    for lam in lams:
        sc = synthetic.concept_shift(20, 3, 5, lam, rng=seed)
        v = float(sc.truth["V_com"] @ sc.truth["V_com"])
        arch = two_layer(20, 8)
        pG = two_layer_params(*synthetic.idealised_init(sc))
        sim_d, sim_g, sim_l = [], [], []
        for eta in etas_sim:
            p = ft(float(eta), 1)(arch, pG, sc.population).params
            sim_d.append(float(distortion(p[0], pG[0]).mean()))
            sim_g.append(summarize(cross_matrix(arch, p, sc.population))["global"])
            q = lp_ft(float(eta), 1)(arch, pG, sc.population).params
            sim_l.append(summarize(cross_matrix(arch, q, sc.population))["global"])
        out[str(lam)] = {"v": v, "closed_distortion": (2 * etas_line * lam * np.sqrt(v)).tolist(),
                         "closed_global_FT": [chen.theorem_4_4(v, lam, e, 5)["ft"]["global"] for e in etas_line],
                         "closed_global_LPFT": 2 * lam ** 2, "sim_distortion": sim_d, "sim_global_FT": sim_g,
                         "sim_global_LPFT": sim_l}
    return {"config": {"scenario": "concept shift d=20, m=3, C=5, idealised init", "loss": "E(f-y)^2 (c=2)",
                       "seed": seed}, "etas_line": etas_line.tolist(), "etas_sim": etas_sim.tolist(), "by_lambda": out}


def plot(data):
    fig, (a, b) = figure(2)
    for i, (lam, r) in enumerate(data["by_lambda"].items()):
        a.plot(data["etas_line"], r["closed_distortion"], color=PALETTE[i], label=rf"$\lambda$={lam}")
        a.plot(data["etas_sim"], r["sim_distortion"], "o", ms=3, color=PALETTE[i])
        b.plot(data["etas_line"], np.array(r["closed_global_FT"]) / float(lam) ** 2, color=PALETTE[i])
        b.plot(data["etas_sim"], np.array(r["sim_global_FT"]) / float(lam) ** 2, "o", ms=3, color=PALETTE[i])
    v = next(iter(data["by_lambda"].values()))["v"]
    b.axhline(2.0, color="k", ls="--", lw=0.8, label=r"LP-FT: $2\lambda^2$")
    b.axvline(1 / (2 * (1 + v)), color="0.5", ls=":", lw=0.8, label=r"$\eta c(1+\|V_{com}\|^2)=1$: overshoot beyond")
    b.axvspan(1 / (1 + v), max(data["etas_line"]), color="0.85", lw=0,
              label=r"$\eta c(1+\|V_{com}\|^2)>2$: the client's own loss rises")
    a.set(xlabel=r"$\eta$", ylabel=r"$\|B_{FT}-B^*\|_F$", title="(a) distortion: lines closed form, dots simulation")
    b.set(xlabel=r"$\eta$", ylabel=r"global loss $/\lambda^2$", title=r"(b) FT global loss / $\lambda^2$ (all $\lambda$ coincide)")
    a.legend()
    b.legend(fontsize=5.5, loc="upper left")
    return fig
