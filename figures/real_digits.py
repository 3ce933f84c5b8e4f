"""Figure — real images: each method's Global against FT's at matched Local (a forest plot), the FedAvg plateau,
and FT over local steps."""
import numpy as np

from lpft_theory.empirical.experiment import METHODS, study
from lpft_theory.stats import mean_ci

from ._style import figure, method_style

NAME = "real_digits"
TITLE = "Digits (concept shift, MLP): Global vs FT at matched Local, the FedAvg plateau, and FT over local steps"
FOREST = ("matched local", "tuned")  # the primary protocol first; the second drawn beside it, open
REF = "FT"


def _ci(values) -> dict:
    return {k: v for k, v in mean_ci(values).items() if k in ("mean", "lo", "hi", "n")}


def _row(run, method: str, key: str, variant: str = "tuned") -> float:
    v = run["variants"][variant]
    return v["base"][key] if method == "Global model" else v["rows"][method][key]


def forest(runs: list, variants=FOREST, ref: str = REF) -> dict:
    """Per protocol variant and method, the paired (seed by seed) difference to ``ref`` of test Global and
    Local accuracy: mean and 95% t-interval over seeds."""
    out = {}
    for v in variants:
        rows = [r["variants"][v]["rows"] for r in runs]
        if v == "matched local":  # each method read at the common Local level
            rows = [{m: row["at_level"] for m, row in x.items()} for x in rows]
        out[v] = {m: {k: _ci([x[m][k] - x[ref][k] for x in rows]) for k in ("global", "local")}
                  for m in rows[0] if m != ref}
    return out


def compute(quick=True, seed=0):
    res = study(quick, "concept", "mlp")  # the regime with room to personalize (Local gain available ~0.4)
    runs = res["runs"]
    tuned = {m: {k: _ci([_row(r, m, k) - _row(r, "Global model", k) for r in runs]) for k in ("local", "global")}
             for m in METHODS}  # paired with the global model, seed by seed
    sweep = {}
    for which in runs[0]["sweep"]:
        steps = [s["step"] for s in runs[0]["sweep"][which]]
        sweep[which] = {"steps": steps, **{k: [_ci([r["sweep"][which][i][k] for r in runs]) for i in range(len(steps))]
                                           for k in ("local", "global")}}
    return {"config": res["config"], "tuned": tuned, "sweep": sweep, "interval": "95% Student-t over seeds",
            "forest": {"vs": REF, "variants": forest(runs),
                       "matched_level_val_local": [r["variants"]["matched local"]["level"] for r in runs]},
            "plateau_curves": [r["global_models"]["converged"]["curve"] for r in runs],
            "rounds": {w: [r["global_models"][w]["rounds"] for r in runs] for w in runs[0]["global_models"]},
            "test_acc": {w: _ci([r["global_models"][w]["test_acc"] for r in runs]) for w in runs[0]["global_models"]}}


def plot(data):
    fig, (a, b, c) = figure(3, height=2.7, width=7.0)
    a.get_gridspec().set_width_ratios([1, 1, 1.25])  # (c)'s title is wider than an even third: it stays in the canvas
    F = data["forest"]
    methods = [m for m in METHODS if m in F["variants"][FOREST[0]]]  # the study's order (JSON sorts keys)
    y = np.arange(len(methods))[::-1].astype(float)  # first method on top
    for v, dy, filled in zip(F["variants"], (0.14, -0.14), (True, False)):
        for yy, m in zip(y, methods):
            g, st = F["variants"][v][m]["global"], method_style(m)
            a.errorbar(g["mean"], yy + dy, xerr=[[g["mean"] - g["lo"]], [g["hi"] - g["mean"]]], fmt=st["marker"],
                       color=st["color"], mfc=st["color"] if filled else "white", ms=4, capsize=1.5, lw=0.9)
        a.plot([], [], "o", color="0.3", mfc="0.3" if filled else "white", ms=4, label=v)
    a.axvline(0, color="0.2", lw=0.8)
    a.set_yticks(y, methods)
    a.set_ylim(y[-1] - 0.6, y[0] + 0.6)
    a.set(xlabel=rf"$\Delta$ Global accuracy vs {F['vs']} (paired)", title=f"(a) vs {F['vs']}: mean, 95% CI over seeds")
    fig.legend(*a.get_legend_handles_labels(), fontsize=6, loc="outside lower left", ncol=2, frameon=False,
               title="(a) protocol: filled = matched local (primary), open = tuned", title_fontsize=6)
    for i, curve in enumerate(data["plateau_curves"]):
        r, v = np.array(curve).T
        b.plot(r, v, color="0.25", lw=0.8, alpha=0.8, label="seeds" if i == 0 else None)  # FedAvg: no method colour
        b.plot(r[-1], v[-1], "o", color="0.25", ms=3)
    b.axvline(data["config"]["short_rounds"], color="0.5", ls="--", lw=0.8,
              label=f"{data['config']['short_rounds']} rounds (old protocol)")
    acc = data["test_acc"]
    b.set(xlabel="FedAvg rounds", ylabel="validation cross-entropy", title="(b) FedAvg to a validation plateau")
    n_short = data["config"]["short_rounds"]
    lo, hi = b.get_ylim()
    b.set_ylim(lo, hi + 0.5 * (hi - lo))  # headroom: the legend sits above the curves
    b.legend(fontsize=5, loc="upper center", title_fontsize=5,
             title=f"test accuracy: plateau {acc['converged']['mean']:.3f}, {n_short} rounds {acc['short']['mean']:.3f}")
    for which, ls in (("converged", "-"), ("short", "--")):
        if which not in data["sweep"]:
            continue
        s = data["sweep"][which]
        for key, col in (("global", "k"), ("local", "#882255")):  # all FT: not the method colours
            m = np.array([e["mean"] for e in s[key]])
            lo, hi = np.array([e["lo"] for e in s[key]]), np.array([e["hi"] for e in s[key]])
            model = "plateau" if which == "converged" else "30-round"
            c.plot(s["steps"], m, ls=ls, color=col, lw=1, label=f"{key}, {model} model")
            c.fill_between(s["steps"], lo, hi, color=col, alpha=0.15, lw=0)
    c.set(xlabel=r"FT local steps at $\eta$ = " + f"{data['config']['eta']:g}", ylabel="test accuracy",
          title="(c) FT over steps (Fig. 2), 95% CI")
    c.legend(fontsize=5)
    return fig
