"""Figure 10 — long tail: head / medium / tail accuracy after FedAvg, purification and personalization."""
import pandas as pd
import seaborn as sns

from lpft_theory import studies

from ._style import figure

NAME = "longtail"
TITLE = "Class balance: zero-shot, FedAvg, purification, and personalization (FedPuReL analogue)"

ORDER = ["zero-shot", "FedAvg", "FedAvg+purify", "FedAvg+FT", "purify+FT", "purify+residual (FedPuReL)"]


def compute(quick=True, seed=0):
    return studies.longtail_study(quick, seed)


def plot(data):
    fig, (ax,) = figure(1, height=2.6, width=5.0)
    df = pd.DataFrame(data["rows"]).melt(id_vars=["model", "seed"], value_vars=["head", "medium", "tail", "balanced"],
                                         var_name="classes", value_name="accuracy")
    sns.barplot(df, x="classes", y="accuracy", hue="model", hue_order=ORDER, errorbar=("ci", 95), ax=ax)
    ax.set(xlabel="class group (balanced test set)", ylabel="accuracy")
    ax.legend(ncol=2, fontsize=5.5)
    return fig
