"""Figure 6 — personalized overfitting: global and local loss over local steps (Chen et al. Fig. 2)."""
import numpy as np

from lpft_theory import studies

from ._style import PALETTE, figure

NAME = "overfitting"
TITLE = "Global loss rises while local loss falls with local steps (FT, Sparse, Proximal, LP-FT)"


def compute(quick=True, seed=0):
    return studies.overfitting_curves(quick, seed)


def plot(data):
    fig, (a, b) = figure(2, height=2.6)
    steps = data["steps"]
    for i, (name, c) in enumerate(data["curves"].items()):
        for ax, key in ((a, "global"), (b, "local")):
            Y = np.array(c[key])
            m, s = Y.mean(0), Y.std(0, ddof=1) / np.sqrt(len(Y))
            ls = "--" if name.startswith("LP-FT") else "-"
            ax.plot(steps, m, ls, color=PALETTE[i % len(PALETTE)], label=name if ax is a else None)
            ax.fill_between(steps, m - 1.96 * s, m + 1.96 * s, color=PALETTE[i % len(PALETTE)], alpha=0.15, lw=0)
    a.set(xlabel="local steps $t$", ylabel="global loss (other clients)", title="(a) global")
    b.set(xlabel="local steps $t$", ylabel="local loss", title="(b) local", yscale="log")
    a.legend(ncol=2)
    return fig
