"""Figure 7 — feature distortion vs global-loss increase across strategies (Chen et al. Fig. 3a)."""
import numpy as np

from lpft_theory import studies
from lpft_theory.stats import spearman_by_seed

from ._style import figure

NAME = "distortion_scatter"
TITLE = "Feature distortion against the rise in global loss, per strategy and number of steps"
COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]  # Okabe–Ito: distinct hues
MARKERS = ["o", "s", "^", "D", "v", "P"]


def compute(quick=True, seed=0):
    r = studies.distortion_scatter(quick, seed)
    rows = r["rows"]
    rho = spearman_by_seed([x["distortion"] for x in rows], [x["global_drop"] for x in rows], [x["seed"] for x in rows])
    slope, intercept = np.polyfit([x["distortion"] for x in rows], [x["global_drop"] for x in rows], 1)
    return {**r, "spearman_per_seed": rho, "fit": {"slope": float(slope), "intercept": float(intercept),
                                                   "kind": "least squares over all points (a guide to the eye)"}}


def plot(data):
    fig, (ax,) = figure(1, height=3.1)  # 0.3 in for the legend below
    rows = data["rows"]
    steps = sorted({r["steps"] for r in rows})
    for i, name in enumerate(dict.fromkeys(r["strategy"] for r in rows)):
        sub = [r for r in rows if r["strategy"] == name]
        ax.scatter([r["distortion"] for r in sub], [r["global_drop"] for r in sub],
                   s=[6 + 8 * steps.index(r["steps"]) for r in sub], c=COLORS[i], marker=MARKERS[i], alpha=0.7, lw=0,
                   label=name)
    x = np.linspace(0, max(r["distortion"] for r in rows), 50)
    ax.plot(x, data["fit"]["slope"] * x + data["fit"]["intercept"], "k--", lw=0.8, label="least-squares fit")
    rho = data["spearman_per_seed"]
    ax.text(0.02, 0.97, rf"Spearman $\rho$ per seed: {rho['mean']:.2f} [{rho['lo']:.2f}, {rho['hi']:.2f}]"
            f" (n = {rho['n']} seeds)\nmarker size: steps T = {', '.join(map(str, steps))}",
            transform=ax.transAxes, va="top", fontsize=5.5)
    ax.set(xlabel=r"distortion $\|B - B_G\|_F$", ylabel="global loss increase (other clients)")
    fig.legend(ncol=4, fontsize=5.5, loc="outside lower center")  # below the axes: it hides no point
    return fig
