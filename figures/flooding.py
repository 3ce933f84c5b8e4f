"""Figure 8 — loss flooding at b ∈ {0.1, 0.5, 1.0}: FT vs LP-FT at (nearly) equal local loss (Fig. 3b)."""
import pandas as pd
import seaborn as sns

from lpft_theory import studies

from ._style import figure

NAME = "flooding"
TITLE = "Flooding: global accuracy of FT and LP-FT when both are held at local loss b"


def compute(quick=True, seed=0):
    return studies.flooding_study(quick, seed)


def plot(data):
    fig, (a, b) = figure(2)
    df = pd.DataFrame(data["rows"])
    sns.pointplot(df, x="b", y="global_acc", hue="strategy", dodge=0.3, errorbar=("ci", 95), ax=a, markersize=3)
    sns.pointplot(df, x="b", y="train_loss", hue="strategy", dodge=0.3, errorbar=("ci", 95), ax=b, markersize=3)
    a.set(xlabel="flood level $b$ (0 = none)", ylabel="global accuracy (other clients)")
    b.set(xlabel="flood level $b$ (0 = none)", ylabel="final local training loss")
    return fig
