"""Figure 10 — long tail: head / medium / tail accuracy after FedAvg, purification and personalization."""
import numpy as np

from lpft_theory import studies

from ._ci import group_ci
from ._style import PALETTE, figure

NAME = "longtail"
TITLE = "Class balance: zero-shot, FedAvg, purification, and personalization (FedPuReL analogue)"

ORDER = ["zero-shot", "FedAvg", "FedAvg+purify", "FedAvg+FT", "purify+FT", "purify+residual (FedPuReL)"]
GROUPS = ["head", "medium", "tail", "balanced"]


def compute(quick=True, seed=0):
    r = studies.longtail_study(quick, seed)
    return {**r, "ci": {g: group_ci(r["rows"], g, ("model",)) for g in GROUPS}, "interval": "95% Student-t over seeds"}


def plot(data):
    fig, (ax,) = figure(1, height=2.6, width=5.0)
    w = 0.8 / len(ORDER)
    for i, model in enumerate(ORDER):
        cis = [next(c for c in data["ci"][g] if c["model"] == model) for g in GROUPS]
        m = np.array([c["mean"] for c in cis])
        err = [m - [c["lo"] for c in cis], np.array([c["hi"] for c in cis]) - m]
        ax.bar(np.arange(len(GROUPS)) + (i - (len(ORDER) - 1) / 2) * w, m, w, yerr=err, color=PALETTE[i], label=model,
               capsize=1.5, error_kw={"lw": 0.8})
    ax.set_xticks(range(len(GROUPS)), GROUPS)
    ax.set(xlabel="class group (balanced test set)", ylabel="accuracy (95% t-int., seeds)")
    ax.legend(ncol=2, fontsize=5.5)
    return fig
