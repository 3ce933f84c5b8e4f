"""Figure 7 — feature distortion vs global-loss increase across strategies (Chen et al. Fig. 3a)."""
import numpy as np

from lpft_theory import studies
from lpft_theory.stats import spearman_by_seed

from ._style import figure, method_style

NAME = "distortion_scatter"
TITLE = "Feature distortion against the rise in global loss, per strategy and number of steps"


def compute(quick=True, seed=0):
    r = studies.distortion_scatter(quick, seed)
    rows = r["rows"]
    rho = spearman_by_seed([x["distortion"] for x in rows], [x["global_drop"] for x in rows], [x["seed"] for x in rows])
    slope, intercept = np.polyfit([x["distortion"] for x in rows], [x["global_drop"] for x in rows], 1)
    return {**r, "spearman_per_seed": rho, "fit": {"slope": float(slope), "intercept": float(intercept),
                                                   "kind": "least squares over all points (a guide to the eye)"}}


def plot(data):
    fig, (ax,) = figure(1, height=3.3)  # 0.5 in for the legend below
    rows = data["rows"]
    steps = sorted({r["steps"] for r in rows})
    for name in dict.fromkeys(r["strategy"] for r in rows):
        sub = [r for r in rows if r["strategy"] == name]
        st = method_style(name)
        ax.scatter([r["distortion"] for r in sub], [r["global_drop"] for r in sub],
                   s=[6 + 8 * steps.index(r["steps"]) for r in sub], c=st["color"], marker=st["marker"], alpha=0.7,
                   lw=0, label=name)
    x = np.linspace(0, max(r["distortion"] for r in rows), 50)
    ax.plot(x, data["fit"]["slope"] * x + data["fit"]["intercept"], "k--", lw=0.8, label="least-squares fit")
    ax.set(xlabel=r"distortion $\|B - B_G\|_F$", ylabel="global loss increase (other clients)")
    rho = data["spearman_per_seed"]
    # the statistic and the size key in the legend's title, below the axes: nothing is drawn over a point
    fig.legend(ncol=4, fontsize=5.5, loc="outside lower center", title_fontsize=6,
               title=rf"Spearman $\rho$ per seed: {rho['mean']:.2f} [{rho['lo']:.2f}, {rho['hi']:.2f}] "
                     f"(95% t, n = {rho['n']} seeds)\nmarker size: steps $T$ = {', '.join(map(str, steps))}")
    return fig
