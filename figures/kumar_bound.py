"""Figure 2 — Theorem 3.1's lower bound against the actual OOD error along FT; LP-FT beside it."""
import numpy as np

import synthetic
from lpft_theory import gradient_flow, two_layer
from lpft_theory.strategies import lp
from lpft_theory.theory import kumar as K

from ._style import PALETTE, figure

NAME = "kumar_bound"
TITLE = "Theorem 3.1: FT's OOD error stays above the bound; LP-FT's does not need to"


def compute(quick=True, seed=0):
    times = np.linspace(0, 20, 41)
    runs = []
    for s in range(2 if quick else 4):
        sc = synthetic.kumar(16, 2, 6, eps=0.05, sigma_v0=0.2, rng=seed + s)
        t, arch = sc.truth, two_layer(16, 2)
        p0 = (t["B_0"], t["v_0"][:, None])
        ft = gradient_flow(arch, p0, sc.train[0], times)
        probed = tuple(p[0] for p in lp()(arch, p0, sc.train[0]).params)
        lpft = gradient_flow(arch, probed, sc.train[0], times)
        root = lambda tr: [float(np.sqrt(K.ood_loss(v[:, 0], B, t["w_star"]))) for B, v in tr.snapshots]  # noqa: E731
        runs.append({"seed": seed + s, "FT": root(ft), "LP-FT": root(lpft),
                     "bound_eps": K.theorem_3_1_bound(t["B_0"], t["S_perp"], t["v_0"], t["v_star"], t["w_star"], 0.05, 1),
                     "bound_eps2": K.theorem_3_1_bound(t["B_0"], t["S_perp"], t["v_0"], t["v_star"], t["w_star"], 0.05, 2)})
    return {"config": {"setting": "Kumar toy d=16, k=2, n=6, eps=0.05, sigma_v0=0.2, gradient flow"},
            "times": times.tolist(), "runs": runs}


def plot(data):
    fig, (ax,) = figure(1)
    t = data["times"]
    for i, r in enumerate(data["runs"]):
        lab = i == 0
        ax.plot(t, r["FT"], color=PALETTE[0], label="FT" if lab else None)
        ax.plot(t, r["LP-FT"], color=PALETTE[2], label="LP-FT" if lab else None)
        ax.axhline(r["bound_eps"], color=PALETTE[3], ls="--", lw=0.8, label=r"bound ($-\epsilon$)" if lab else None)
        ax.axhline(r["bound_eps2"], color=PALETTE[4], ls=":", lw=0.8, label=r"bound ($-\epsilon^2$)" if lab else None)
    ax.set(xlabel="time $t$", ylabel=r"$\sqrt{L_{ood}}$", yscale="log")
    ax.legend()
    return fig
