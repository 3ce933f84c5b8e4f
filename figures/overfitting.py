"""Figure 6 — personalized overfitting: global and local loss over local steps (Chen et al. Fig. 2)."""
import numpy as np
from scipy import stats as st

from lpft_theory import studies

from ._style import figure, method_style

NAME = "overfitting"
TITLE = "Global loss rises while local loss falls with local steps (FT, Sparse, Proximal, LP-FT)"


def _band(Y, log=False):
    """Mean and 95% Student-t band over seeds (rows); on log10 values for a log axis (geometric mean)."""
    Z = np.log10(np.maximum(Y, 1e-300)) if log else Y
    m, se = Z.mean(0), Z.std(0, ddof=1) / np.sqrt(len(Z))
    h = st.t.ppf(0.975, len(Z) - 1) * se
    out = np.stack([m, m - h, m + h])
    return 10 ** out if log else out


def _label(name):
    return name.replace("eta", r"$\eta$").replace("mu", r"$\mu$")


def compute(quick=True, seed=0):
    r = studies.overfitting_curves(quick, seed)
    bands = {name: {"global": _band(np.array(c["global"])).tolist(),
                    "local": _band(np.array(c["local"]), log=True).tolist()} for name, c in r["curves"].items()}
    return {**r, "bands": bands, "interval": "95% Student-t over seeds (local: on log10 values)"}


def plot(data):
    fig, (a, b) = figure(2, height=3.05)  # 0.45 in for the legend below
    steps = data["steps"]
    seen = {}  # method → how many of its settings are drawn: one line style per setting, in order
    for name, band in data["bands"].items():
        st = method_style(name)
        k = seen[name.split(" ")[0]] = seen.get(name.split(" ")[0], -1) + 1
        kw = {"color": st["color"], "ls": ("-", "--", ":")[k % 3], "marker": st["marker"], "ms": 3,
              "markevery": max(len(steps) // 5, 1), "lw": 1.2}
        for ax, key in ((a, "global"), (b, "local")):
            m, lo, hi = np.array(band[key])
            ax.plot(steps, m, label=_label(name) if ax is a else None, **kw)
            ax.fill_between(steps, lo, hi, color=st["color"], alpha=0.12, lw=0)
    a.set(xlabel="local steps $t$", ylabel="global loss (other clients)", title="(a) global")
    b.set(xlabel="local steps $t$", ylabel="local loss (geometric mean)", title="(b) local", yscale="log")
    # below the panels: it hides no band. Colour: the method; line style: its setting
    fig.legend(ncol=4, title="colour: method, line style: its setting; bands: 95% t-interval over seeds",
               fontsize=5.5, loc="outside lower center", handlelength=3.5)
    return fig
