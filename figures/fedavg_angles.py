"""Figure 12 — FedAvg and the idealised initialisation B_0 = B* under Chen et al.'s Assumption 4.1.

Log-spaced rounds (the curves change over decades, not linearly). Solid: the largest principal angle
between FedAvg's rowspace(B) and rowspace(B*); dashed: the largest angle from the identifiable span{θ_i}
(rank C = 5 < k = 8) into rowspace(B). See :mod:`lpft_theory.theory.collins`.
"""
import numpy as np

from lpft_theory.theory import collins as Co
from paper_checks.collins2022 import ETA_POP, _chen

from ._style import PALETTE, figure

NAME = "fedavg_angles"
TITLE = "FedAvg under Assumption 4.1: span{theta_i} is learnt with tau > 1, B* never (rank C < k)"
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
    fig, (ax,) = figure(1)
    r = np.maximum(np.asarray(data["rounds"], float), 0.5)
    for i, (tau, a) in enumerate(data["sin"].items()):
        ax.plot(r, np.mean(a["to_B_star"], axis=0), color=PALETTE[i], lw=3.0 - 1.5 * i, label=rf"${tau.replace('tau', chr(92) + 'tau')}$: "
                r"$\sin\theta_{\max}(B, B^*)$")
        ax.plot(r, np.mean(a["span_theta_into_B"], axis=0), color=PALETTE[i], ls="--",
                label=rf"${tau.replace('tau', chr(92) + 'tau')}$: span$\{{\theta_i\}}$ into $B$")
    ax.set(xscale="log", xlabel="FedAvg round (log scale; round 0 drawn at 0.5)", ylabel=r"$\sin$ of largest angle",
           ylim=(-0.02, 1.05))
    ax.legend(fontsize=5.5, loc="lower left")
    return fig
