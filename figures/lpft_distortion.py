"""When LP-FT distorts less: the exact one-step condition and the ratio after T steps, per scenario family.

(a) ``‖B_1 − B_0‖`` of LP-FT over FT: the closed form ``‖V_LP‖‖g_LP‖ / (‖V_0‖‖g_0‖)`` against the simulated
ratio (one point per client). (b) The ratio after T steps against the ratio of starting losses: LP
always lowers the loss (x < 1), the features move more whenever y > 1. See
:mod:`lpft_theory.theory.lpft_distortion`.
"""

from lpft_theory.theory import lpft_distortion as D
from paper_checks.foundations import ETA_FT, T_FT, distortion_runs

from ._style import PALETTE, figure

NAME = "lpft_distortion"
TITLE = r"LP-FT distorts more after one step iff $\|V_{LP}\|\,\|g_{LP}\| > \|V_0\|\,\|g_0\|$"


def compute(quick=True, seed=0):
    runs = distortion_runs(quick, seed)
    fams = {}
    for fam, rows in runs["families"].items():
        pred, sim, lossr, endr = [], [], [], []
        for r in rows:
            a = D.one_step_distortion(r["B0"], r["V_lp"], r["pop"], ETA_FT)
            b = D.one_step_distortion(r["B0"], r["V0"], r["pop"], ETA_FT)
            pred += (a / b).tolist()
            sim += (r["runs"]["LP-FT"]["dist"][1] / r["runs"]["FT"]["dist"][1]).tolist()
            lossr += (r["runs"]["LP-FT"]["loss"][0] / r["runs"]["FT"]["loss"][0]).tolist()
            endr += (r["runs"]["LP-FT"]["dist"][-1] / r["runs"]["FT"]["dist"][-1]).tolist()
        fams[fam] = {"pred_ratio_1": pred, "sim_ratio_1": sim, "loss_ratio_0": lossr, "ratio_T": endr}
    return {"config": {"eta": ETA_FT, "T": T_FT, "seeds": runs["seeds"], "model": "two-layer linear, k=8",
                       "global_model": "FedAvg (random-init: orthonormal random B_0, head 0.1 N(0, I))",
                       "loss": "E(f-y)^2"}, "families": fams}


def plot(data):
    fig, (a, b) = figure(2, height=2.5)
    for i, (fam, f) in enumerate(data["families"].items()):
        a.scatter(f["sim_ratio_1"], f["pred_ratio_1"], s=8, color=PALETTE[i], label=fam)
        b.scatter(f["loss_ratio_0"], f["ratio_T"], s=8, color=PALETTE[i], label=fam)
    lo = min(min(f["sim_ratio_1"]) for f in data["families"].values())
    hi = max(max(f["sim_ratio_1"]) for f in data["families"].values())
    a.plot([lo, hi], [lo, hi], color="k", lw=0.6, label="closed form = simulation")
    a.set(xlabel=r"simulated $\|B_1-B_0\|$: LP-FT / FT", ylabel=r"$\|V_{LP}\|\|g_{LP}\| \,/\, \|V_0\|\|g_0\|$",
          title="(a) one step, exact")
    b.axhline(1.0, color="k", lw=0.6)
    b.set(xlabel=r"starting loss: LP-FT / FT", ylabel=rf"$\|B_T-B_0\|$: LP-FT / FT ($T={data['config']['T']}$)",
          title="(b) after T steps")
    a.legend(fontsize=5.5)
    return fig
