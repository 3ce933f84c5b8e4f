"""Figure — Local–Global curves: each method's Global against its Local as the step budget grows
(equal budgets, recipe step size), with the matched-Local level where the primary statistic is read."""
import numpy as np

from lpft_theory import studies
from lpft_theory.protocol import VARIANTS, matched_levels
from lpft_theory.recipes import TABLE2

from ._style import figure, method_style

NAME = "local_global"
TITLE = "Local-Global curves (equal budgets): Global at matched Local is the fair comparison"
METHODS = TABLE2 + ("LP-FT (eta/10)",)
Q = 0.8


def compute(quick=True, seed=0):
    out = {"config": {"protocol": VARIANTS["matched local"].to_dict(), "q": Q,
                      "curve": "mean over seeds of (Local, Global) after T = 0 (global model) and each T of the grid"},
           "scenarios": {}}
    for scen in studies.SCENARIOS:
        st = studies.comparison(scen, quick, seed, VARIANTS["matched local"])
        curves = {m: np.mean([s["curves"][m] for s in st["seeds"]], axis=0).tolist() for m in METHODS}
        levels = [matched_levels({m: s["curves"][m] for m in TABLE2}, (Q,))[Q] for s in st["seeds"]]
        out["scenarios"][scen] = {"curves": curves, "matched_level_mean": float(np.mean(levels)),
                                  "metric": st["config"]["metric"],
                                  "steps": [0] + list(st["config"]["protocol"]["steps"])}
    return out


def plot(data):
    fig, axes = figure(3, height=2.5, width=7.0)
    for ax, (scen, d) in zip(axes, data["scenarios"].items()):
        for i, m in enumerate(METHODS):
            c = np.array(d["curves"][m])
            st = method_style(m)
            variant = m == "LP-FT (eta/10)"  # LP-FT's colour, dashed with open markers: a variant of it
            # widths narrowing in drawing order: curves that coincide show as nested stripes, none hidden
            ax.plot(c[:, 0], c[:, 1], ls="--" if variant else "-", mfc="white" if variant else st["color"],
                    ms=3, lw=2.4 - 0.25 * i, mew=0.7, label=m.replace("eta", r"$\eta$"), **st)
        ax.axvline(d["matched_level_mean"], color="0.4", lw=0.8, ls=":")
        ax.set(title=f"{scen} ({d['metric']})", xlabel="Local (own client)", ylabel="Global (other clients)")
        ax.invert_xaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(METHODS), fontsize=6,
               title=r"mean over seeds of (Local, Global) at $T = 0$ and each step budget; dotted line: matched Local "
                     r"($q = 0.8$), where the primary statistic is read")
    return fig
