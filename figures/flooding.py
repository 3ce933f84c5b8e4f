"""Figure 8 — loss flooding at b ∈ {0.1, 0.5, 1.0}: FT vs LP-FT at (nearly) equal local loss (Fig. 3b)."""
from lpft_theory import studies

from ._ci import errorbars, group_ci
from ._style import figure, method_style

NAME = "flooding"
TITLE = "Flooding: global accuracy of FT and LP-FT when both are held at local loss b"


def compute(quick=True, seed=0):
    r = studies.flooding_study(quick, seed)
    return {**r, "ci": {k: group_ci(r["rows"], k, ("strategy", "b")) for k in ("global_acc", "train_loss")},
            "interval": "95% Student-t over seeds"}


def plot(data):
    fig, (a, b) = figure(2)
    levels = data["config"]["levels"]
    for ax, key in ((a, "global_acc"), (b, "train_loss")):
        for i, name in enumerate(dict.fromkeys(c["strategy"] for c in data["ci"][key])):
            cis = [c for c in data["ci"][key] if c["strategy"] == name]
            st = method_style(name)
            errorbars(ax, cis, lambda c: levels.index(c["b"]), name, st["color"], marker=st["marker"],
                      offset=0.12 * (i - 0.5))
        ax.set_xticks(range(len(levels)), [f"{b:g}" for b in levels])
        ax.set_xlabel("flood level $b$ (categorical axis; 0 = none)")
    a.set(ylabel="global accuracy (other clients)")
    b.set(ylabel="final local training loss")
    a.legend(title="95% t-interval, seeds")
    return fig
