"""Evron et al. 2022 and Goldfarb et al. 2024: forgetting in linear regression, exactly.

(a) Two isotropic tasks in cyclic order, one plane at principal angle θ: forgetting after ``k`` tasks, closed form
(lines) and the exact procedure (dots, sequential fits to convergence); the supremum over all tasks (closed form)
and Evron et al.'s bound ``1/(2e(k − 1))`` (``R = ‖w*‖ = 1``). (b) Goldfarb et al.'s task similarity: forgetting of
the second task a random rotation of ``p`` of the ``d`` coordinates, mean over draws with 95 % intervals, in the
two regimes. See :mod:`paper_checks.claims_forgetting`.
"""
import numpy as np

from lpft_theory.stats import mean_ci
from lpft_theory.theory import forgetting as F
from paper_checks.claims_forgetting import similarity_curves

from ._style import PALETTE, figure

NAME = "forgetting"
TITLE = (r"Forgetting in linear regression: two tasks forget $R^2\|w^*\|^2\,\lfloor k/2\rfloor/k\,\sum_i a_i^2"
         r"\cos^{2(k-1)}\theta_i\sin^2\theta_i$ (Evron et al.); task similarity is non-monotone when overparameterised "
         r"(Goldfarb et al.)")
THETAS = (0.25, 0.6, 1.1)


def compute(quick=True, seed=0):
    ks = np.arange(1, 61)
    curves = {}
    for th in THETAS:
        X1, X2 = np.eye(2)[:1], np.array([[np.cos(th), np.sin(th)]])  # two lines in the plane at angle th
        w = np.array([0.0, 1.0])
        cos, U = F.principal_structure(X1, X2)
        curves[f"{th:g}"] = {"closed": [F.two_task_forgetting(int(k), cos, U.T @ w) for k in ks],
                             "procedure": F.sequence_forgetting([X1, X2], [X1 @ w, X2 @ w],
                                                                F.cyclic_order(2, int(ks[-1]))).tolist()}
    sim = similarity_curves(quick, seed)
    regimes = {name: [mean_ci(rows[:, j]) for j in range(rows.shape[1])] for name, rows in sim["curves"].items()}
    return {"config": {"tasks": "two lines in the plane at principal angle theta, w* = e_2 (|w*| = 1), R = 1",
                       "similarity": "X ~ N(0, I) n x d, y = X w*, second task X O^T with O rotating p coordinates",
                       "seed": seed},
            "k": ks.tolist(), "by_theta": curves, "sup": [F.two_task_sup(int(k)) for k in ks],
            "bound": [np.nan] + [F.evron_two_task_bound(int(k)) for k in ks[1:]],
            "p_over_d": [p / sim["d"] for p in sim["ps"]], "similarity": regimes}


def plot(data):
    fig, (a, b) = figure(2, height=2.6)
    k = np.array(data["k"])
    for i, (th, c) in enumerate(data["by_theta"].items()):
        a.plot(k[1:], c["closed"][1:], color=PALETTE[i], label=rf"$\theta$ = {th}: closed form")
        a.plot(k[1::3], c["procedure"][1::3], "o", ms=2.5, color=PALETTE[i])
    a.plot(k[1:], data["sup"][1:], color="k", lw=1.0, label="supremum over all tasks")
    a.plot(k[1:], data["bound"][1:], color="k", ls="--", lw=1.0, label=r"bound $1/(2e(k-1))$")
    a.set(yscale="log", ylim=(1e-6, 1), xlabel="tasks seen $k$ (cyclic order 1, 2, 1, ...)",
          ylabel=r"forgetting $F(k)$", title="(a) two tasks: lines closed form, dots procedure")
    a.legend(fontsize=5.5, loc="lower left")
    x = data["p_over_d"]
    for i, (name, est) in enumerate(data["similarity"].items()):
        m = np.array([e["mean"] for e in est])
        lo, hi = np.array([e["lo"] for e in est]), np.array([e["hi"] for e in est])
        b.plot(x, m / m.max(), "o-", ms=3, color=PALETTE[3 + i], label=f"{name} (max {m.max():.3g})")
        b.fill_between(x, lo / m.max(), hi / m.max(), color=PALETTE[3 + i], alpha=0.25, lw=0)
    b.set(xlabel=r"rotated share $p/d$ (less similar $\rightarrow$)", ylabel="forgetting / its maximum",
          title="(b) task similarity (95 % intervals)")
    b.legend(fontsize=5.5, loc="upper left")
    return fig
