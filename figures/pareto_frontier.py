"""Figure — FT and LP-FT at matched personalization: the exact local/global Pareto frontier under
concept shift (2×2 reduction), one FT step by regime of a = ηβ, and how far T-step FT / LP-FT lie above it."""
import numpy as np

import synthetic
from lpft_theory.theory import chen

from ._style import figure, method_style

NAME = "pareto_frontier"
TITLE = (r"Matched personalization (concept shift): one FT step with $a=\eta\beta\leq 1$ lies on the "
         r"local/global frontier, $a>1$ overshoots; (b): how far $T$ steps of FT and LP-FT lie above it")


def compute(quick=True, seed=0):
    lam, C = 1.0, 5
    sc = synthetic.concept_shift(20, 3, C, lam, rng=seed)
    v = float(sc.truth["V_com"] @ sc.truth["V_com"])
    beta = chen.step_curvature(v)
    ell_line = np.linspace(0.0, 1.5, 151) * lam ** 2
    fr = chen.pareto_frontier(ell_line, lam, C)
    a = np.linspace(0.0, 2.4, 241)
    one = chen.concept_losses(a * lam, lam, C)  # one FT step: e = 0, A = aλ
    ells = np.geomspace(0.01, 0.8, 10 if quick else 25) * lam ** 2
    front = chen.pareto_frontier(ells, lam, C)["global"]
    etas = np.linspace(0.02, 2.2, 60 if quick else 200) / beta
    starts = [{"lp_alpha": 0.5}, {"lp_alpha": 1.0}, {"lp_steps": 1}]
    excess = {}
    for T in (2, 5, 20):
        f = chen.matched_global_exact(v, lam, C, ells, T, etas, descent_only=True)["global"]
        g = np.array([chen.matched_global_exact(v, lam, C, ells, T, etas, descent_only=True, **s)["global"]
                      for s in starts])
        g = np.where(np.isnan(g), np.inf, g).min(axis=0)
        excess[str(T)] = {"FT": (f - front).tolist(), "LP-FT": np.where(np.isfinite(g), g - front, np.nan).tolist()}
    return {"config": {"scenario": f"concept shift d=20, m=3, C={C}, lambda={lam}, idealised init, c=2",
                       "seed": seed, "eta_grid": "(0.02, 2.2)/beta", "LP-FT starts": str(starts),
                       "matched": "exact roots in eta of local(eta) = l (Brent), descent steps only"},
            "v": v, "beta": beta, "ell_line": ell_line.tolist(), "frontier": fr["global"].tolist(),
            "frontier_efficient": fr["efficient"].tolist(), "a": a.tolist(), "one_step_local": one["local"].tolist(),
            "one_step_global": one["global"].tolist(), "ells": ells.tolist(), "excess": excess}


def plot(data):
    fig, (ax, bx) = figure(2, height=3.35)  # 0.75 in below the panels for (b)'s legend and key
    ell, G = np.array(data["ell_line"]), np.array(data["frontier"])
    eff = np.array(data["frontier_efficient"])
    a, L1, G1 = np.array(data["a"]), np.array(data["one_step_local"]), np.array(data["one_step_global"])
    ft, lpft = method_style("FT"), method_style("LP-FT")
    for sel, kw, lab in ((a <= 1, {"lw": 3.0, "alpha": 0.45}, r"FT, one step, $a\leq 1$ ($\eta\leq 1/\beta$)"),
                         ((a > 1) & (a <= 2), {"lw": 1.4}, r"FT, $1<a\leq 2$: overshoot, still descent"),
                         (a > 2, {"lw": 1.4, "ls": "--"}, r"FT, $a>2$: the client's loss rises")):
        ax.plot(L1[sel], G1[sel], color=ft["color"], label=lab, **kw)
    ax.plot(ell[eff], G[eff], "k-", lw=0.9, label=r"frontier $G^*(\ell)=\lambda^2+(\lambda-\sqrt{\ell})^2$")
    ax.plot(ell[~eff], G[~eff], "k:", lw=0.9, label="frontier, not efficient")
    ax.plot([0], [2.0], "*", color=lpft["color"], ms=9, mec="white", mew=0.4, label=r"LP-FT (exact LP) $=$ FT at $a=1$")
    ax.set(xlabel=r"local loss $/\lambda^2$", ylabel=r"global loss (other clients) $/\lambda^2$",
           title="(a) one step: LP-FT's win is FT's overshoot", xlim=(-0.03, 2.0), ylim=(0.9, 7.0))
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 0.07), fontsize=5.5)
    ells = np.array(data["ells"])
    floor = 1e-7
    for T, ls, mk in zip(sorted(data["excess"], key=int), ("-", "--", ":"), ("o", "s", "^")):
        for m, st in (("FT", ft), ("LP-FT", lpft)):
            y = np.array(data["excess"][T][m], dtype=float)
            bx.plot(ells, np.maximum(y, floor), ls=ls, marker=mk, color=st["color"], ms=2.5, lw=1,
                    label=rf"{m}, $T={T}$")
    bx.axhline(floor, color="0.6", lw=0.6)
    bx.set(xscale="log", yscale="log", xlabel=r"matched local loss $\ell$",
           ylabel=r"excess global loss $G-G^*(\ell)$",
           title=r"(b) $T$ steps: how far above the frontier")
    # the key sits below the panels: it says what a point is and hides no curve
    fig.legend(*bx.get_legend_handles_labels(), ncol=3, fontsize=5.5, loc="outside lower center", handlelength=3,
               title_fontsize=5.5,
               title=r"(b) a point: the lowest global loss $G$ that $T$ descent steps reach at local loss $\ell$ (best $\eta$;" "\n"
                     r"LP-FT also its LP length) minus the frontier $G^*(\ell)$ of (a); 0 = on it, lower is better." "\n"
                     r"Colour: method; line and marker: $T$. $T=1$: both exactly 0; values $<10^{-7}$ drawn at $10^{-7}$ (grey).")
    return fig
