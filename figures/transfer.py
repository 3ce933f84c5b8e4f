"""Tahir et al. 2025, when transfer beats training from scratch (``d = 40``, ``‖β_t‖ = 1``, ``σ = 0.5``,
``‖β_s‖ = 1``). (a) The phase map over target size ``n/d`` and feature overlap ``ω``: the exact boundaries where
linear transfer (LP) and fine-tuning (FT, from the source predictor to convergence) match scratch; shading: the
scratch minus the better of LP and FT (clipped at ±1). (b) Risk against ``n`` at ``ω = 0.8``: closed forms (lines) and Monte Carlo
(dots, 95 % intervals). See :mod:`paper_checks.claims_transfer`.
"""
import numpy as np

from lpft_theory.stats import mean_ci
from lpft_theory.theory import transfer as T

from ._style import METHOD_STYLE, PALETTE, figure

NAME = "transfer"
TITLE = (r"When transfer beats scratch (Tahir et al.): FT wins iff $\omega > \|\beta_s\|/(2\|\beta_t\|)$ at every $n$; "
         r"LP wins above an $n$-dependent overlap")
D, SIGMA, S = 40, 0.5, 1.0


def compute(quick=True, seed=0):
    ns = np.arange(3, D - 2)
    omegas = np.linspace(0, 1, 41)
    gain = [[T.scratch_risk(int(n), D, 1.0, SIGMA ** 2) - min(T.lp_risk(int(n), 1.0, w, SIGMA ** 2),
             T.ft_risk(int(n), D, 1 + S ** 2 - 2 * S * w, SIGMA ** 2)) for n in ns] for w in omegas]
    lp_boundary = [T.lp_threshold(int(n), D, 1.0, SIGMA ** 2) for n in ns]
    om = 0.8
    bt, bs = np.zeros(D), np.zeros(D)
    bt[0], bt[1], bs[0] = om, np.sqrt(1 - om ** 2), S
    n_sim = np.arange(5, D - 4, 4 if quick else 2)
    g = np.random.default_rng(seed + 7)
    sims = [T.simulate(int(n), D, bt, bs, SIGMA, 60 if quick else 200, g) for n in n_sim]
    return {"config": {"d": D, "sigma": SIGMA, "beta_s_norm": S, "beta_t_norm": 1.0, "omega_b": om, "seed": seed},
            "n": ns.tolist(), "omega": omegas.tolist(), "gain": gain, "lp_boundary": lp_boundary,
            "ft_boundary": S / 2,
            "closed": {k: [f(int(n)) for n in ns] for k, f in {
                "scratch": lambda n: T.scratch_risk(n, D, 1.0, SIGMA ** 2),
                "LP": lambda n: T.lp_risk(n, 1.0, om, SIGMA ** 2),
                "FT": lambda n: T.ft_risk(n, D, 1 + S ** 2 - 2 * S * om, SIGMA ** 2)}.items()},
            "n_sim": n_sim.tolist(),
            "sim": {name: [mean_ci(s[key]) for s in sims] for name, key in
                    (("scratch", "scratch"), ("LP", "lp"), ("FT", "ft"))}}


def plot(data):
    fig, (a, b) = figure(2, height=2.7)
    n = np.array(data["n"]) / data["config"]["d"]
    G = np.array(data["gain"])
    lim = 1.0  # the scale of |beta_t|^2; near n = d scratch's variance runs off it (clipped)
    im = a.pcolormesh(n, data["omega"], np.clip(G, -lim, lim), cmap="RdBu", vmin=-lim, vmax=lim, shading="auto")
    fig.colorbar(im, ax=a, label="scratch − best transfer", shrink=0.85)
    a.plot(n, data["lp_boundary"], color=METHOD_STYLE["LP"]["color"], lw=1.5, label="LP = scratch")
    a.axhline(data["ft_boundary"], color=METHOD_STYLE["FT"]["color"], lw=1.5, ls="--", label="FT = scratch")
    a.set(xlabel="target size $n/d$", ylabel=r"feature overlap $\omega$", title="(a) phase map (blue: transfer wins)")
    a.legend(fontsize=5.5, loc="lower right")
    colors = {"scratch": PALETTE[7], "LP": METHOD_STYLE["LP"]["color"], "FT": METHOD_STYLE["FT"]["color"]}
    for key, ys in data["closed"].items():
        b.plot(data["n"], ys, color=colors[key], label=f"{key}: closed form (line), simulation (dots)")
        est = data["sim"][key]
        m = np.array([e["mean"] for e in est])
        err = np.array([[e["mean"] - e["lo"] for e in est], [e["hi"] - e["mean"] for e in est]])
        b.errorbar(data["n_sim"], m, yerr=err, fmt="o", ms=2.5, color=colors[key], lw=0.7)
    b.set(yscale="log", xlabel="target size $n$", ylabel="risk",
          title=rf"(b) risks at $\omega$ = {data['config']['omega_b']}")
    b.legend(fontsize=5.5)
    return fig
