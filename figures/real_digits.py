"""Figure 13 — real images: every strategy on federated digits (MLP, covariate shift), with intervals."""
import numpy as np

from lpft_theory.empirical.experiment import study

from ._style import PALETTE, figure

NAME = "real_digits"
TITLE = "Digits (covariate shift, MLP): local vs global accuracy per strategy, and FT over local steps"


def compute(quick=True, seed=0):
    res = study(quick)
    steps = [s["step"] for s in res["runs"][0]["sweep"]]
    return {"config": res["config"], "summary": res["summary"], "steps": steps,
            "sweep_local": [[s["local"] for s in r["sweep"]] for r in res["runs"]],
            "sweep_global": [[s["global"] for s in r["sweep"]] for r in res["runs"]]}


def plot(data):
    fig, (a, b) = figure(2, height=2.6)
    for i, (name, m) in enumerate(data["summary"].items()):
        x, y = m["local"], m["global"]
        a.errorbar(x["mean"], y["mean"], xerr=x["hi"] - x["mean"], yerr=y["hi"] - y["mean"], fmt="osD^v<>"[i % 7], ms=3,
                   color=PALETTE[i % len(PALETTE)], label=name, capsize=1.5, lw=0.8)
    a.set(xlabel="local accuracy", ylabel="global accuracy (other clients)", title="(a) strategies (95% CI)")
    a.legend(ncol=2, fontsize=5)
    for key, col, lab in (("sweep_global", PALETTE[0], "global"), ("sweep_local", PALETTE[1], "local")):
        Y = np.array(data[key])
        m, s = Y.mean(0), Y.std(0, ddof=1) / np.sqrt(len(Y))
        b.plot(data["steps"], m, color=col, label=lab)
        b.fill_between(data["steps"], m - 1.96 * s, m + 1.96 * s, color=col, alpha=0.2, lw=0)
    b.set(xlabel="FT local steps", ylabel="accuracy", title="(b) FT over local steps (Fig. 2)")
    b.legend()
    return fig
