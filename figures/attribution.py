"""Figure — where the global-loss change comes from: head, feature and interaction parts per strategy."""
import numpy as np

from lpft_theory import studies

from ._ci import group_ci
from ._style import PART_COLORS, figure

NAME = "attribution"
TITLE = "Head / feature / interaction parts of each client's global-loss change (exact, via hybrid models)"
PARTS = PART_COLORS  # the parts in order, with the colours every attribution figure uses


def compute(quick=True, seed=0):
    r = studies.distortion_scatter(quick, seed)
    per_seed = {}
    for row in r["rows"]:  # one number per seed: the mean over step counts
        per_seed.setdefault((row["strategy"], row["seed"]), []).append([row[p] for p in PARTS])
    rows = [{"strategy": s, "seed": sd, **dict(zip(PARTS, np.mean(v, axis=0)))} for (s, sd), v in per_seed.items()]
    return {"config": {**r["config"], "average": "mean over clients and step counts, then 95% t-interval over seeds"},
            "ci": {p: group_ci(rows, p, ("strategy",)) for p in PARTS}}


def plot(data):
    fig, (ax,) = figure(1, height=2.6, width=4.6)
    strategies = [c["strategy"] for c in data["ci"]["total"]]
    w = 0.2
    for i, (p, color) in enumerate(PARTS.items()):
        m = np.array([c["mean"] for c in data["ci"][p]])
        err = [m - [c["lo"] for c in data["ci"][p]], np.array([c["hi"] for c in data["ci"][p]]) - m]
        ax.bar(np.arange(len(strategies)) + (i - 1.5) * w, m, w, yerr=err, color=color, label=p, capsize=1.5,
               error_kw={"lw": 0.8})
    ax.axhline(0, color="0.3", lw=0.6)
    ax.set_xticks(range(len(strategies)), strategies)
    ax.set(ylabel=r"$\Delta$ global loss (other clients)")
    ax.legend(title="part (95% t-interval)", fontsize=5.5, ncol=2)
    return fig
