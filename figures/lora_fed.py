"""Federated LoRA averaging. (a) The rank-1 linear model: excess loss over the optimum per round for RoLoRA
(alternating), FFA-LoRA (frozen ``A``) and FedAvg of both factors — the engine's rounds (lines) and, for the first
two, the closed-form affine maps (dots); FFA-LoRA's floor ``‖b̄*‖²‖a*‖² sin²∠(a_0, a*)`` dashed. (b) One round of
both-factor averaging on heterogeneous clients: the server's error ``‖mean(B_iA_i) − B̄Ā‖`` (engine) against the
closed form ``‖Σw_i(B_i − B̄)(A_i − Ā)‖``, as the clients' targets spread. See :mod:`paper_checks.claims_fedlora`.
"""
import numpy as np

from lpft_theory.federated_lora import federated_lora, lora_round
from lpft_theory.theory import lora_fed as L
from paper_checks.claims_fedlora import P, problem, rank1

from ._style import PALETTE, figure

NAME = "lora_fed"
TITLE = (r"Federated LoRA: averaging both factors misses $\sum_i w_i(B_i-\bar B)(A_i-\bar A)$; frozen $A$ (FFA-LoRA) "
         r"averages exactly but stalls at its floor; alternating (RoLoRA) converges")
MODES = {"alternating": "RoLoRA (alternating)", "frozen-A": "FFA-LoRA (frozen A)", "both": "FedAvg of both factors"}


def compute(quick=True, seed=0):
    p = {"draw": 11 + seed, "het": 0.5, "phi": 0.8, "eta_frac": 0.9, "tau": 5}
    W0, a_star, b_stars, a0, mom, eta = rank1(p)
    rounds = 40
    excess, closed = {}, {}
    for mode in MODES:
        res = federated_lora(W0, a0[None], np.zeros((P, 1)), mom, eta, p["tau"], rounds, mode)
        excess[mode] = [L.rank1_losses(A[0], B[:, 0], a_star, b_stars)["excess"] for A, B in res.history]
    for mode, traj in (("alternating", L.rolora_trajectory), ("frozen-A", L.ffa_trajectory)):
        closed[mode] = [L.rank1_losses(a, b, a_star, b_stars)["excess"]
                        for a, b in traj(a0, np.zeros(P), a_star, b_stars.mean(0), eta, p["tau"], rounds)]
    hets = np.linspace(0.0, 2.0, 9)
    engine_err, closed_err = [], []
    for h in hets:
        W0b, A0, B0, momb, etab = problem({"draw": 5 + seed, "spread": 0.5, "het": float(h), "r": 2, "eta_frac": 0.5})
        rnd = lora_round(W0b, A0, B0, momb, etab, 5, "both")
        engine_err.append(float(np.linalg.norm(rnd.averaging_error)))
        closed_err.append(float(np.linalg.norm(L.averaging_error(rnd.A_clients, rnd.B_clients))))
    return {"config": {"rank1": p, "rounds": rounds, "eta": eta, "round_problem": "d=6, p=3, C=4, r=2, tau=5",
                       "seed": seed},
            "excess": excess, "closed": closed, "ffa_floor": L.ffa_floor(a0, a_star, b_stars.mean(0)),
            "het": hets.tolist(), "engine_error": engine_err, "closed_error": closed_err}


def plot(data):
    fig, (a, b) = figure(2, height=2.6)
    for i, (mode, label) in enumerate(MODES.items()):
        y = np.maximum(np.array(data["excess"][mode]), 1e-30)
        a.plot(np.arange(y.size), y, color=PALETTE[i], label=label)
        if mode in data["closed"]:
            c = np.maximum(np.array(data["closed"][mode]), 1e-30)
            a.plot(np.arange(c.size)[::2], c[::2], "o", ms=2.5, color=PALETTE[i])
    a.axhline(data["ffa_floor"], color=PALETTE[1], ls="--", lw=0.8, label="FFA-LoRA floor (closed form)")
    a.set(yscale="log", ylim=(1e-30, None), xlabel="round", ylabel="excess loss over the optimum",
          title="(a) rank-1 model: lines engine, dots closed form")
    a.legend(fontsize=5.5, loc="lower left")
    b.plot(data["het"], data["engine_error"], color=PALETTE[2], label="engine: mean(B_iA_i) - mean(B) mean(A)")
    b.plot(data["het"], data["closed_error"], "o", ms=3, color="k", label=r"closed form $\sum w_i(B_i-\bar B)(A_i-\bar A)$")
    b.set(xlabel="spread of the clients' targets", ylabel="averaging error (Frobenius)",
          title="(b) one round of both-factor averaging")
    b.legend(fontsize=5.5)
    return fig
