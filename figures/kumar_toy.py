"""Figure 1 — Kumar et al.'s toy: fine-tuning moves the features only inside S = rowspace(X)."""
import numpy as np

import synthetic
from lpft_theory import Samples, gradient_flow, two_layer
from lpft_theory.metrics import distortion_split
from lpft_theory.strategies import lp

from ._style import figure, method_style

NAME = "kumar_toy"
TITLE = r"Features change only in the span $S$ of the training data (Lemma A.3): $B_t u = B_0 u$ for $u \in S^\perp$"


def compute(quick=True, seed=0):
    # (a) d = 2, one training point: B ∈ R^{1×2} can only move along x_1
    x1 = np.array([[1.0, 0.4]])
    w_star = np.array([0.3, 1.0])
    data2 = Samples(x1, x1 @ w_star[:, None])
    B0, v0 = np.array([[0.8, 0.6]]), np.array([[0.5]])
    path = gradient_flow(two_layer(2, 1), (B0, v0), data2, np.linspace(0, 3, 31)).snapshots
    # (b) d = 20: norms of the change on S and on S-perp over time, FT and LP-FT
    sc = synthetic.kumar(20, 2, 8, eps=0.2, rng=seed)
    t = sc.truth
    times = np.concatenate([[0.0], np.geomspace(1e-3, 10 if quick else 30, 20)])
    arch = two_layer(20, 2)
    start = (t["B_0"], t["v_0"][:, None])
    probed = lp()(arch, start, sc.train[0]).params
    out = {}
    for name, p0 in (("FT", start), ("LP-FT", tuple(p[0] for p in probed))):
        traj = gradient_flow(arch, p0, sc.train[0], times)
        split = np.array([distortion_split(B, t["B_0"], sc.train.X[0]) for B, _ in traj.snapshots])
        out[name] = {"on_S": split[:, 0].tolist(), "on_S_perp": split[:, 1].tolist()}
    return {"config": {"panel_a": "d=2, one point x1=(1, 0.4), gradient flow to t=3",
                       "panel_b": "Kumar toy d=20, k=2, n=8, eps=0.2, gradient flow", "seed": seed},
            "x1": x1[0].tolist(), "B_path": [B[0].tolist() for B, _ in path], "times": times.tolist(), "norms": out}


def plot(data):
    fig, (a, b) = figure(2)
    P = np.array(data["B_path"])
    x1 = np.array(data["x1"]) / np.linalg.norm(data["x1"])
    s = np.linspace(-0.6, 0.6, 2)
    a.plot(P[0, 0] + s * x1[0], P[0, 1] + s * x1[1], color="0.6", lw=0.8, label=r"$B_0 + S$")
    a.plot(P[0, 0] - s * x1[1], P[0, 1] + s * x1[0], color="0.6", lw=0.8, ls="--", label=r"$B_0 + S^\perp$")
    a.plot(P[:, 0], P[:, 1], "o-", ms=2, color=method_style("FT")["color"], label=r"$B_t$ (FT, flow)")
    a.set(xlabel=r"$B_{1}$", ylabel=r"$B_{2}$", title="(a) $d = 2$: $B_t$ moves along $S$", aspect="equal")
    a.legend(loc="lower left")
    t = data["times"]
    noise = 1e-13  # float64 round-off of O(1) entries, accumulated over the integration
    b.axhspan(0, noise, color="0.85", lw=0, label=r"round-off ($<10^{-13}$): exactly 0")
    for name, n in data["norms"].items():
        st = method_style(name)
        b.plot(t, n["on_S"], color=st["color"], marker=st["marker"], ms=2, label=f"{name}: on $S$")
        b.plot(t, n["on_S_perp"], color=st["color"], ls="--", label=rf"{name}: on $S^\perp$")
    # symlog: t = 0 (no change yet, exactly 0) and round-off stay visible instead of falling off a log axis
    b.set_yscale("symlog", linthresh=noise, linscale=0.6)
    b.set_xscale("symlog", linthresh=1e-3)  # t = 0 stays on the axis
    b.set(ylim=(0, 10), xlabel="time $t$ (gradient flow, symlog)", ylabel=r"$\|(B_t - B_0)P\|_F$ (symlog)",
          title=r"(b) $d = 20$: change on $S$ and on $S^\perp$")
    b.set_yticks([0, 1e-12, 1e-9, 1e-6, 1e-3, 1])
    b.legend(ncol=1, loc="lower right", bbox_to_anchor=(1.0, 0.08), fontsize=5.5)
    return fig
