"""Figure 12 — FedAvg and the idealised initialisation B_0 = B* under Chen et al.'s Assumption 4.1.

Log-spaced rounds (the curves change over decades, not linearly). Solid: the largest principal angle
between FedAvg's rowspace(B) and rowspace(B*); dashed: the largest angle from the identifiable span{θ_i}
(rank C = 5 < k = 8) into rowspace(B). (a) sin of the angle; (b) its distance to 1 on a log axis, which
separates the curves that (a) draws on top of each other at 1. See :mod:`lpft_theory.theory.collins`.
"""
import numpy as np

from lpft_theory.theory import collins as Co
from paper_checks.collins2022 import ETA_POP, _chen

from ._style import PALETTE, figure

NAME = "fedavg_angles"
TITLE = r"FedAvg under Assumption 4.1: span$\{\theta_i\}$ is learnt with $\tau > 1$, $B^*$ never (rank $C < k$)"
TAUS = (1, 5)


def compute(quick=True, seed=0):
    rounds = 600 if quick else 2000
    seeds = [seed + s for s in range(2 if quick else 4)]
    record = np.unique(np.round(np.logspace(0, np.log10(rounds), 25)).astype(int)).tolist()
    out = {}
    for tau in TAUS:
        to_B, to_span = [], []
        for s in seeds:
            sc = _chen(s)
            r = Co.run_fedavg(sc, tau, ETA_POP, rounds, rng=s + 100, record=[0] + record)
            to_B.append(r["sin"])
            to_span.append([Co.sin_largest_angle(B, sc.truth["thetas"]) for B in r["B"]])
        out[f"tau={tau}"] = {"to_B_star": to_B, "span_theta_into_B": to_span}
    return {"config": {"scenario": "concept shift (Assumption 4.1), d=20, m=3, C=5, lambda=1, k=8", "eta": ETA_POP,
                       "loss": "1/2 E(f-y)^2", "rounds": rounds, "seeds": seeds, "taus": list(TAUS),
                       "init": "orthonormal random B_0, V_0 = 0"},
            "rounds": r["rounds"], "sin": out}


def plot(data):
    fig, (a, b) = figure(2, height=2.75)  # 0.35 in for the legend below
    r = np.maximum(np.asarray(data["rounds"], float), 0.5)
    for (tau, d), col, mk in zip(data["sin"].items(), (PALETTE[0], PALETTE[2]), ("o", "^")):  # τ colours as collins_phase
        t = tau.replace("tau", "\\tau")
        for key, ls, what in (("to_B_star", "-", r"$\sin\theta_{\max}(B, B^*)$"),
                              ("span_theta_into_B", "--", r"span$\{\theta_i\}$ into $B$")):
            y = np.mean(d[key], axis=0)
            kw = {"color": col, "ls": ls, "marker": mk, "ms": 2.5, "lw": 1, "mfc": col if ls == "-" else "white"}
            a.plot(r, y, label=f"${t}$: {what}", **kw)
            b.plot(r, 1 - y, **kw)
    a.annotate(r"$\tau = 1$ and $\tau = 5$ solid lines" "\n" r"both at 1: $B^*$ never learnt;" "\n" "(b) separates them",
               (1.5, 1.0), (0.7, 0.45), fontsize=5.5, ha="left", color="0.15",
               arrowprops={"arrowstyle": "->", "lw": 0.7, "color": "0.15", "shrinkB": 0})
    a.set(xscale="log", xlabel="FedAvg round (log; round 0 at 0.5)", ylabel=r"$\sin$ of largest angle",
          ylim=(-0.02, 1.05), title=r"(a) $\sin\theta_{\max}$: 0 = learnt")
    b.axhline(1.0, color="0.4", lw=0.6, ls=":")
    b.set(xscale="log", yscale="log", xlabel="FedAvg round (log; round 0 at 0.5)",
          ylabel=r"$1-\sin\theta_{\max}$ (log)", title=r"(b) distance to 1: 1 = learnt")
    fig.legend(*a.get_legend_handles_labels(), ncol=2, fontsize=5.5, loc="outside lower center", handlelength=3)
    return fig
