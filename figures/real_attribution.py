"""Figure — real images: where each method's global-accuracy change comes from (head / features / both)."""
import numpy as np

from lpft_theory.empirical.experiment import METHODS, study
from lpft_theory.stats import mean_ci

from ._style import PART_COLORS, figure

NAME = "real_attribution"
TITLE = ("Digits (concept shift, MLP): head / feature / interaction parts of the global-accuracy change (exact hybrid attribution; "
         "both panels on one y-scale)")
PARTS = ("head", "feature", "interaction")
PANELS = ("fixed recipe", "tuned")  # the mechanism claim's primary protocol first


def compute(quick=True, seed=0):
    res = study(quick, "concept", "mlp")  # the regime with room to personalize
    runs = res["runs"]
    out = {}
    for v in PANELS:
        out[v] = {m: {k: {kk: vv for kk, vv in mean_ci([r["variants"][v]["attribution"][m][k] for r in runs]).items()
                          if kk in ("mean", "lo", "hi", "n")} for k in PARTS + ("total",)} for m in METHODS}
    return {"config": res["config"], "attribution": out, "interval": "95% Student-t over seeds (client means per seed)",
            "identity": "head + feature + interaction = total (exact per client)"}


def plot(data):
    fig, axes = figure(len(PANELS), height=2.7, width=7.0)  # 0.2 in for the legend below
    x = np.arange(len(METHODS))
    axes[1].sharey(axes[0])  # one scale: the panels' changes differ in size, and look it
    for ax, v in zip(axes, PANELS):
        A = data["attribution"][v]
        for j, part in enumerate(PARTS + ("total",)):
            m = np.array([A[k][part]["mean"] for k in METHODS])
            lo, hi = np.array([A[k][part]["lo"] for k in METHODS]), np.array([A[k][part]["hi"] for k in METHODS])
            xs = x + (j - 1.5) * 0.2
            if part == "total":
                ax.errorbar(xs, m, yerr=[m - lo, hi - m], fmt="D", color="black", ms=3, capsize=1.5, lw=0.8,
                            label="total")
            else:
                ax.bar(xs, m, width=0.2, color=PART_COLORS[part], label=part)
                ax.errorbar(xs, m, yerr=[m - lo, hi - m], fmt="none", ecolor="0.25", capsize=1.2, lw=0.6)
        ax.axhline(0, color="0.3", lw=0.6)
        ax.set_xticks(x, METHODS, rotation=30, fontsize=6)
        ax.set(title=v)
    axes[0].set_ylabel(r"$\Delta$ global accuracy (other clients)")
    axes[1].tick_params(labelleft=False)
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=5.5, ncol=4, loc="outside lower center", frameon=False,
               title="mean over seeds, 95% t-interval; shared y-axis", title_fontsize=6)
    return fig
