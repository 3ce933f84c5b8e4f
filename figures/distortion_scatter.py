"""Figure 7 — feature distortion vs global-loss increase across strategies (Chen et al. Fig. 3a)."""
import pandas as pd
import seaborn as sns

from lpft_theory import studies

from ._style import figure

NAME = "distortion_scatter"
TITLE = "Feature distortion against the rise in global loss, per strategy and number of steps"


def compute(quick=True, seed=0):
    return studies.distortion_scatter(quick, seed)


def plot(data):
    fig, (ax,) = figure(1, height=2.6)
    df = pd.DataFrame(data["rows"])
    sns.scatterplot(df, x="distortion", y="global_drop", hue="strategy", size="steps", sizes=(8, 40), alpha=0.8, ax=ax)
    ax.set(xlabel=r"distortion $\|B - B_G\|_F$", ylabel="global loss increase")
    ax.legend(ncol=2, fontsize=5.5)
    return fig
