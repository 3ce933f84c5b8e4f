"""Figure — real images: the tuned methods on federated digits, the FedAvg plateau and FT over local steps."""
import numpy as np

from lpft_theory.empirical.experiment import METHODS, study
from lpft_theory.stats import mean_ci

from ._style import PALETTE, figure

NAME = "real_digits"
TITLE = "Digits (covariate shift, MLP): tuned methods, the FedAvg plateau, and FT over local steps"


def _ci(values) -> dict:
    return {k: v for k, v in mean_ci(values).items() if k in ("mean", "lo", "hi", "n")}


def _row(run, method: str, key: str, variant: str = "tuned") -> float:
    v = run["variants"][variant]
    return v["base"][key] if method == "Global model" else v["rows"][method][key]


def compute(quick=True, seed=0):
    res = study(quick)
    runs = res["runs"]
    tuned = {m: {k: _ci([_row(r, m, k) - _row(r, "Global model", k) for r in runs]) for k in ("local", "global")}
             for m in METHODS}  # paired with the global model, seed by seed
    sweep = {}
    for which in runs[0]["sweep"]:
        steps = [s["step"] for s in runs[0]["sweep"][which]]
        sweep[which] = {"steps": steps, **{k: [_ci([r["sweep"][which][i][k] for r in runs]) for i in range(len(steps))]
                                           for k in ("local", "global")}}
    return {"config": res["config"], "tuned": tuned, "sweep": sweep, "interval": "95% Student-t over seeds",
            "plateau_curves": [r["global_models"]["converged"]["curve"] for r in runs],
            "rounds": {w: [r["global_models"][w]["rounds"] for r in runs] for w in runs[0]["global_models"]},
            "test_acc": {w: _ci([r["global_models"][w]["test_acc"] for r in runs]) for w in runs[0]["global_models"]}}


def plot(data):
    fig, (a, b, c) = figure(3, height=2.7, width=7.0)  # 0.2 in for the legend below
    a.get_gridspec().set_width_ratios([1, 1, 1.25])  # (c)'s title is wider than an even third: it stays in the canvas
    a.plot(0, 0, "*", color="black", ms=7, label="global model", zorder=5)
    for i, name in enumerate(METHODS):
        x, y = data["tuned"][name]["local"], data["tuned"][name]["global"]
        a.errorbar(x["mean"], y["mean"], xerr=[[x["mean"] - x["lo"]], [x["hi"] - x["mean"]]],
                   yerr=[[y["mean"] - y["lo"]], [y["hi"] - y["mean"]]], fmt="osD^v<>"[i % 7], ms=3.5,
                   color=PALETTE[i], label=name, capsize=1.5, lw=0.7, alpha=0.9)
    a.axhline(0, color="0.5", lw=0.5)
    a.axvline(0, color="0.5", lw=0.5)
    a.set(xlabel=r"$\Delta$ local accuracy vs global model", ylabel=r"$\Delta$ global accuracy (other clients)",
          title="(a) tuned, paired 95% CI")
    fig.legend(*a.get_legend_handles_labels(), loc="outside lower center", ncol=8, fontsize=6,
               frameon=False)
    for i, curve in enumerate(data["plateau_curves"]):
        r, v = np.array(curve).T
        b.plot(r, v, color=PALETTE[0], lw=0.8, alpha=0.8, label="seeds" if i == 0 else None)
        b.plot(r[-1], v[-1], "o", color=PALETTE[0], ms=3)
    b.axvline(data["config"]["short_rounds"], color=PALETTE[3], ls="--", lw=0.8,
              label=f"{data['config']['short_rounds']} rounds (old protocol)")
    acc = data["test_acc"]
    b.set(xlabel="FedAvg rounds", ylabel="validation cross-entropy", yscale="log",
          title="(b) FedAvg to a validation plateau")
    b.text(0.97, 0.6, f"test accuracy\nplateau {acc['converged']['mean']:.3f}\n30 rounds {acc['short']['mean']:.3f}",
           transform=b.transAxes, ha="right", fontsize=6)
    b.legend(fontsize=5)
    for which, ls in (("converged", "-"), ("short", "--")):
        if which not in data["sweep"]:
            continue
        s = data["sweep"][which]
        for key, col in (("global", PALETTE[0]), ("local", PALETTE[1])):
            m = np.array([e["mean"] for e in s[key]])
            lo, hi = np.array([e["lo"] for e in s[key]]), np.array([e["hi"] for e in s[key]])
            model = "plateau" if which == "converged" else "30-round"
            c.plot(s["steps"], m, ls=ls, color=col, lw=1, label=f"{key}, {model} model")
            c.fill_between(s["steps"], lo, hi, color=col, alpha=0.15, lw=0)
    c.set(xlabel=r"FT local steps at $\eta$ = " + f"{data['config']['eta']:g}", ylabel="test accuracy",
          title="(c) FT over steps (Fig. 2), 95% CI")
    c.legend(fontsize=5)
    return fig
