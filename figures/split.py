"""Figure 11 — split fine-tuning: alignment strength λ and split point vs local and global loss."""
from lpft_theory import studies

from ._ci import errorbars, group_ci
from ._style import PALETTE, figure

NAME = "split"
TITLE = "Split FT (FlexP-SFL analogue): alignment trades local fit for global performance"


def compute(quick=True, seed=0):
    r = studies.split_study(quick, seed)
    return {**r, "ci": {k: group_ci(r["rows"], k, ("split", "lam")) for k in ("global", "local")},
            "interval": "95% Student-t over seeds"}


def plot(data):
    fig, (a, b) = figure(2)
    lams = data["config"]["lams"]
    splits = list(dict.fromkeys(c["split"] for c in data["ci"]["global"]))
    for ax, key in ((a, "global"), (b, "local")):
        for i, s in enumerate(splits):
            cis = [c for c in data["ci"][key] if c["split"] == s]
            errorbars(ax, cis, lambda c: lams.index(c["lam"]), s, PALETTE[i], offset=0.08 * (i - 1.5))
        ax.set_xticks(range(len(lams)), [f"{x:g}" for x in lams])
        ax.set_xlabel(r"alignment $\lambda$ (categorical axis)")
    a.set(ylabel="global loss (other clients)", title="(a) global")
    b.set(ylabel="local loss", title="(b) local")
    a.legend(title="split $s$ (95% t-int.)", fontsize=5.5)
    return fig
