"""Figure 11 — split fine-tuning: alignment strength λ and split point vs local and global loss."""
import pandas as pd
import seaborn as sns

from lpft_theory import studies

from ._style import figure

NAME = "split"
TITLE = "Split FT (FlexP-SFL analogue): alignment trades local fit for global performance"


def compute(quick=True, seed=0):
    return studies.split_study(quick, seed)


def plot(data):
    fig, (a, b) = figure(2)
    df = pd.DataFrame(data["rows"])
    sns.pointplot(df, x="lam", y="global", hue="split", errorbar=("ci", 95), ax=a, markersize=3)
    sns.pointplot(df, x="lam", y="local", hue="split", errorbar=("ci", 95), ax=b, markersize=3)
    a.set(xlabel=r"alignment $\lambda$", ylabel="global loss (other clients)", title="(a) global")
    b.set(xlabel=r"alignment $\lambda$", ylabel="local loss", title="(b) local")
    a.legend(title="split $s$", fontsize=5.5)
    b.get_legend().remove()
    return fig
