"""FedAvg's angle to B* in Collins et al.'s multi-task setting: τ = 1 against τ > 1, and the phase in
(τ, task diversity). See :mod:`lpft_theory.theory.collins`.

(a) Reference setting: d = 20, k = 2, 100 clients with 5–20 samples each, centred diverse heads; sin θ_max
over log-spaced rounds. (b) Population (Σ = I), heads ``w_i = 1 + s z_i``: sin θ_max after R rounds for
local steps τ and diversity s (s = 0: identical tasks, rank Θ = 1 < k).
"""
import numpy as np

from lpft_theory.theory import collins as Co
from paper_checks.collins2022 import ETA_POP, ETA_REF, REFERENCE
from synthetic.multitask import multitask

from ._style import PALETTE, figure

NAME = "collins_phase"
TITLE = r"Collins et al.: FedAvg learns $B^*$ only with $\tau \geq 2$ local steps and diverse tasks"
TAUS_A = (1, 2, 5)
TAUS_B = (1, 2, 3, 5, 10)
SPREADS = (0.0, 0.1, 0.3, 1.0)


def compute(quick=True, seed=0):
    rounds_a, rounds_b = (150, 100) if quick else (400, 300)
    seeds = [seed + s for s in range(2 if quick else 5)]
    record = [0] + np.unique(np.round(np.logspace(0, np.log10(rounds_a), 20)).astype(int)).tolist()
    curves = {}
    for tau in TAUS_A:
        runs = [Co.run_fedavg(multitask(**REFERENCE, rng=s), tau, ETA_REF, rounds_a, samples=True, rng=s + 100,
                              record=record) for s in seeds]
        curves[f"tau={tau}"] = [r["sin"] for r in runs]
    phase = np.zeros((len(TAUS_B), len(SPREADS)))
    for i, tau in enumerate(TAUS_B):
        for j, spread in enumerate(SPREADS):
            sc = multitask(20, 2, 100, head_scales=(1.0, spread), rng=seed + 11)
            phase[i, j] = Co.run_fedavg(sc, tau, ETA_POP, rounds_b, rng=seed + 100, record=[0])["sin"][-1]
    return {"config": {"reference": {**REFERENCE, "n_per_client": list(REFERENCE["n_per_client"]), "eta": ETA_REF,
                                     "rounds": rounds_a, "seeds": seeds, "heads": "centred N(0, I_k)"},
                       "phase": {"population": "Sigma_i = I", "heads": "w_i = (z_i1, s z_i2), centred z", "eta": ETA_POP,
                                 "rounds": rounds_b, "taus": list(TAUS_B), "spreads": list(SPREADS)},
                       "loss": "1/2 E(f-y)^2", "init": "orthonormal random B_0, V_0 = 0"},
            "rounds": record, "curves": curves, "phase": phase.tolist()}


def plot(data):
    fig, (a, b) = figure(2, height=2.5)
    r = np.maximum(np.asarray(data["rounds"], float), 0.5)
    for i, (tau, runs) in enumerate(data["curves"].items()):
        a.plot(r, np.mean(runs, axis=0), color=PALETTE[i], label=rf"$\tau = {tau.split('=')[1]}$")
    a.set(xscale="log", xlabel="FedAvg round (log; round 0 at 0.5)", ylabel=r"$\sin\theta_{\max}(B, B^*)$",
          title="(a) 100 clients, 5-20 samples each", ylim=(-0.02, 1.05))
    a.legend(fontsize=6)
    P = np.log10(np.maximum(np.asarray(data["phase"]), 1e-8))
    im = b.imshow(P, origin="lower", aspect="auto", cmap="viridis", vmin=-8, vmax=0)
    b.grid(False)
    b.set_xticks(range(len(SPREADS)), [f"{s:g}" for s in SPREADS])
    b.set_yticks(range(len(TAUS_B)), [str(t) for t in TAUS_B])
    for i in range(P.shape[0]):
        for j in range(P.shape[1]):
            b.text(j, i, f"{P[i, j]:.1f}", ha="center", va="center", fontsize=5.5, color="w" if P[i, j] < -4 else "k")
    b.set(xlabel=r"task diversity $s$ ($w_i = (z_{i1}, s z_{i2})$)", ylabel=r"local steps $\tau$",
          title=rf"(b) $\log_{{10}}\sin\theta_{{\max}}$ after {data['config']['phase']['rounds']} rounds")
    fig.colorbar(im, ax=b, shrink=0.8)
    return fig
