"""Lee et al. 2023, which block to tune: the target's population loss after tuning the first layer alone, the head
alone, or every block (GD to convergence on ``n`` target points from the source model), per shift setting — the two
idealised shifts of the two-layer linear model and the package's covariate, concept and label scenarios. Mean over
seeds with 95 % intervals. See :mod:`paper_checks.claims_surgical`.
"""
import numpy as np

from lpft_theory.stats import mean_ci
from paper_checks.claims_surgical import METHODS, SETTINGS, which_block

from ._style import METHOD_STYLE, PALETTE, figure

NAME = "surgical"
TITLE = ("Which block to tune (Lee et al.): target loss after first-layer-only, head-only and full FT, per shift "
         "(input-level: first layer predicted best; output-level: head predicted best)")
COLORS = {"first layer": PALETTE[2], "head": METHOD_STYLE["LP"]["color"], "full FT": METHOD_STYLE["FT"]["color"]}


def compute(quick=True, seed=0):
    st = which_block(quick, seed)
    return {"config": {"steps": st["steps"], "seeds": st["seeds"], "loss": "target population E(f - y)^2",
                       "settings": {k: {"level": v[0], "n": v[2]} for k, v in SETTINGS.items()}, "seed": seed},
            "loss": {name: {m: mean_ci(row[m]) for m in METHODS} for name, row in st["settings"].items()}}


def plot(data):
    fig, (ax,) = figure(1, height=3.3, width=6.8)
    names = list(data["loss"])
    x = np.arange(len(names))
    for j, m in enumerate(METHODS):
        est = [data["loss"][n][m] for n in names]
        mean = np.array([e["mean"] for e in est])
        err = np.array([[e["mean"] - max(e["lo"], 1e-12) for e in est], [e["hi"] - e["mean"] for e in est]])
        ax.bar(x + (j - 1) * 0.27, np.maximum(mean, 1e-12), 0.27, yerr=err, color=COLORS[m], label=m,
               error_kw={"lw": 0.7})
    ax.set_xticks(x, [n.replace(" (", "\n(") for n in names], fontsize=6)
    ax.set(yscale="log", ylabel="target loss after tuning (log)", title="mean over seeds, 95 % intervals")
    fig.legend(*ax.get_legend_handles_labels(), title="block tuned", ncol=3, loc="outside lower center")
    return fig
