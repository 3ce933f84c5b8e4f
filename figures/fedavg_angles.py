"""Figure 12 — FedAvg and the idealised initialisation: principal angles between B and B* over rounds."""
import numpy as np

from lpft_theory import studies

from ._style import PALETTE, figure

NAME = "fedavg_angles"
TITLE = "FedAvg aligns rowspace(B) with w_G (smallest angle -> 0) but not with rowspace(B*)"


def compute(quick=True, seed=0):
    return studies.fedavg_angles(quick, seed)


def plot(data):
    fig, (ax,) = figure(1)
    r = data["rounds"]
    for i, (tau, a) in enumerate(data["angles"].items()):
        ax.plot(r, np.mean(a["largest"], axis=0), color=PALETTE[i], label=f"{tau}: largest to $B^*$")
        ax.plot(r, np.mean(a["to_w_G"], axis=0), color=PALETTE[i], ls="--", label=f"{tau}: to $w_G$")
    ax.set(xlabel="FedAvg round", ylabel="principal angle (rad)")
    ax.legend(fontsize=5.5)
    return fig
