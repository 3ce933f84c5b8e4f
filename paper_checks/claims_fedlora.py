r"""Federated LoRA averaging, as plug-in claims: the engine's round (:mod:`lpft_theory.federated_lora`) against the
closed forms (:mod:`lpft_theory.theory.lora_fed`).

* ``fedlora-averaging-error`` — averaging both factors misses ``Σw_i(B_i − B̄)(A_i − Ā)`` of the clients' average
  adapter, exactly, and that error is not zero once clients differ;
* ``fedlora-ffa-exact`` — FFA-LoRA (Sun et al. 2024, arXiv 2403.12313): with a frozen shared ``A`` the server's
  adapter is the average of the clients' adapters; so is every round of RoLoRA's alternation;
* ``fedlora-rolora-linear`` — RoLoRA (Chen et al. 2025, arXiv 2502.01755) in the rank-1 linear model: the
  rounds are the closed-form affine maps, so the alternation converges geometrically to the optimum while
  frozen ``A`` stops at ``‖b̄*‖²‖a*‖² sin²∠(a_0, a*)``.
"""
from __future__ import annotations

import numpy as np

from lpft_theory.adversary import Space
from lpft_theory.data import Moments
from lpft_theory.federated_lora import federated_lora, lora_round
from lpft_theory.theory import lora_fed as L

from .plugin import for_all

SRC = "Sun et al. 2024 (FFA-LoRA); Chen et al. 2025 (RoLoRA)"
D, P, C = 6, 3, 4
ROUNDS = 100


def problem(p: dict):
    """Heterogeneous clients: ``Σ_i = L_iL_iᵀ`` (``L_i = I + spread·G_i/√d``), targets ``W_i* = W_0 + het·M_i``;
    the start ``(A_0, B_0)`` of rank ``r``; the step ``η = eta_frac / (2 λ_max(Σ)(‖A_0‖² + ‖B_0‖² + 1))``."""
    g = np.random.default_rng(p["draw"])
    Ls = np.eye(D) + p["spread"] * g.standard_normal((C, D, D)) / np.sqrt(D)
    Sig = Ls @ np.swapaxes(Ls, 1, 2)
    W0 = g.standard_normal((P, D))
    Wst = W0 + p["het"] * g.standard_normal((C, P, D))
    mom = Moments(Sig, Sig @ np.swapaxes(Wst, 1, 2), np.einsum("ipd,ide,ipe->i", Wst, Sig, Wst))
    A0, B0 = g.standard_normal((p["r"], D)) / np.sqrt(D), 0.3 * g.standard_normal((P, p["r"]))
    eta = p["eta_frac"] / (2 * np.linalg.eigvalsh(Sig)[:, -1].max() * (np.sum(A0 ** 2) + np.sum(B0 ** 2) + 1))
    return W0, A0, B0, mom, eta


def averaging_gap(p: dict, formula=L.averaging_error) -> float:
    """|the engine's averaging error − ``formula``| relative to the clients' average adapter (one "both" round; the
    error itself vanishes with the clients' differences, so it cannot be its own scale)."""
    W0, A0, B0, mom, eta = problem(p)
    rnd = lora_round(W0, A0, B0, mom, eta, p["tau"], "both")
    scale = np.max(np.abs(np.mean(rnd.B_clients @ rnd.A_clients, axis=0)))
    return float(np.max(np.abs(rnd.averaging_error - formula(rnd.A_clients, rnd.B_clients))) / scale)


def exact_average_gap(p: dict, modes=("frozen-A", "alternating")) -> float:
    """max over ``modes`` and two rounds of |server adapter − mean of the clients' adapters| / |adapter|."""
    W0, A0, B0, mom, eta = problem(p)
    worst = 0.0
    for mode in modes:
        A, B = A0, B0
        for r in range(2):
            rnd = lora_round(W0, A, B, mom, eta, p["tau"], mode, r)
            mean = np.mean(rnd.B_clients @ rnd.A_clients, axis=0)
            worst = max(worst, float(np.max(np.abs(rnd.B @ rnd.A - mean)) / np.max(np.abs(mean))))
            A, B = rnd.A, rnd.B
    return worst


def nonzero_instances(ctx) -> dict:
    """Drawn heterogeneous instances: the size of the averaging error of one "both" round relative to the average
    adapter (the "≠"); a violation is an error below 1e-6 of it."""
    sizes = []
    for draw in range(5 if ctx.quick else 20):
        W0, A0, B0, mom, eta = problem({"draw": ctx.seed * 1000 + draw, "spread": 0.5, "het": 1.0, "r": 2,
                                        "eta_frac": 0.5})
        rnd = lora_round(W0, A0, B0, mom, eta, 5, "both")
        sizes.append(float(np.linalg.norm(rnd.averaging_error) / np.linalg.norm(rnd.B @ rnd.A)))
    return {"relative_averaging_error": sizes, "violations": sum(s < 1e-6 for s in sizes), "instances": len(sizes)}


def rank1(p: dict):
    """Rank-1 problem with ``Σ_i = I``: ``a*`` (unit), heads ``b_i* = b̄* + het·h_i``, ``a_0`` at angle ``phi`` from
    ``a*`` (``‖a_0‖ = 1``), ``b_0 = 0``; ``η = eta_frac · cos²φ / (‖b̄*‖² + het² + 1)``."""
    g = np.random.default_rng(p["draw"])
    a_star = g.standard_normal(D)
    a_star /= np.linalg.norm(a_star)
    b_stars = g.standard_normal(P) + p["het"] * g.standard_normal((C, P))
    perp = g.standard_normal(D)
    perp -= (perp @ a_star) * a_star
    a0 = np.cos(p["phi"]) * a_star + np.sin(p["phi"]) * perp / np.linalg.norm(perp)
    W0 = g.standard_normal((P, D))
    Wst = W0 + np.einsum("ip,d->ipd", b_stars, a_star)
    mom = Moments(np.broadcast_to(np.eye(D), (C, D, D)), np.swapaxes(Wst, 1, 2).copy(), np.sum(Wst ** 2, axis=(1, 2)))
    b_bar = b_stars.mean(0)
    eta = p["eta_frac"] * np.cos(p["phi"]) ** 2 / (b_bar @ b_bar + p["het"] ** 2 + 1)
    return W0, a_star, b_stars, a0, mom, eta


def rolora_gap(p: dict, trajectories=(L.rolora_trajectory, L.ffa_trajectory), rounds: int = 10) -> float:
    """max over rounds of |engine (a, b) − closed-form map| / (|a*| + |b̄*|), RoLoRA and FFA-LoRA."""
    W0, a_star, b_stars, a0, mom, eta = rank1(p)
    b_bar, worst = b_stars.mean(0), 0.0
    for mode, traj in zip(("alternating", "frozen-A"), trajectories):
        eng = federated_lora(W0, a0[None], np.zeros((P, 1)), mom, eta, p["tau"], rounds, mode).history
        cf = traj(a0, np.zeros(P), a_star, b_bar, eta, p["tau"], rounds)
        worst = max(worst, max(float(np.max(np.abs(A[0] - a)) + np.max(np.abs(B[:, 0] - b)))
                               for (A, B), (a, b) in zip(eng, cf)))
    return worst / (1 + np.linalg.norm(b_bar))


def convergence_instances(ctx) -> dict:
    """Drawn rank-1 instances run by the engine for :data:`ROUNDS` rounds: RoLoRA's excess loss relative to the start
    (a violation above 1e-3) and FFA-LoRA's excess against its closed-form floor (a violation off by more than 1e-6
    relative)."""
    rows = []
    for draw in range(4 if ctx.quick else 12):
        p = {"draw": 7000 + ctx.seed * 100 + draw, "het": 0.5, "phi": 0.8, "eta_frac": 0.9, "tau": 5}
        W0, a_star, b_stars, a0, mom, eta = rank1(p)
        out = {}
        for mode in ("alternating", "frozen-A"):
            res = federated_lora(W0, a0[None], np.zeros((P, 1)), mom, eta, p["tau"], ROUNDS, mode)
            out[mode] = [L.rank1_losses(A[0], B[:, 0], a_star, b_stars)["excess"] for A, B in
                         (res.history[0], res.history[-1])]
        floor = L.ffa_floor(a0, a_star, b_stars.mean(0))
        rows.append({"rolora_excess_ratio": out["alternating"][1] / out["alternating"][0],
                     "ffa_excess_over_floor": out["frozen-A"][1] / floor, "ffa_floor": floor})
    bad = sum(r["rolora_excess_ratio"] > 1e-3 or abs(r["ffa_excess_over_floor"] - 1) > 1e-6 for r in rows)
    return {"runs": rows, "violations": bad, "instances": len(rows)}


def _box(**kw) -> Space:
    return Space(tuple(kw), tuple(v[0] for v in kw.values()), tuple(v[1] for v in kw.values()),
                 tuple(k for k in kw if k in ("draw", "tau", "r")))


_ROUND = _box(draw=(0, 10_000), spread=(0.0, 1.0), het=(0.0, 2.0), r=(1, 3), eta_frac=(0.05, 0.9), tau=(1, 8))

CHECKS = [
    for_all("fedlora-averaging-error", "Averaging both LoRA factors is not averaging the updates: the server's "
            "mean(B_i) mean(A_i) misses sum_i w_i (B_i - mean B)(A_i - mean A) of mean(B_i A_i), exactly, and this is "
            "non-zero once clients differ", kind="identity", source="this package (federated LoRA)", tol=1e-10,
            figure="lora_fed", space=_ROUND, margin=lambda p: -averaging_gap(p), budget=(24, 80),
            instances=nonzero_instances,
            statistic="|engine averaging error - closed form| / |mean adapter| over one round; its size on drawn "
                      "clients"),
    for_all("fedlora-ffa-exact", "FFA-LoRA: with A frozen and shared, the server average of the clients' B is the "
            "average of their adapters (mean(B_i) A = mean(B_i A)); so is each round of RoLoRA's alternation",
            kind="identity", source=SRC, tol=1e-12, figure="lora_fed", space=_ROUND,
            margin=lambda p: -exact_average_gap(p), budget=(24, 80),
            statistic="|server adapter - mean client adapter| / |adapter|, two rounds of each mode"),
    for_all("fedlora-rolora-linear", "RoLoRA (rank-1 linear model, x ~ N(0, I)): each round is the affine map "
            "b <- b' + (1 - 2 eta |a|^2)^tau (b - b') (A frozen), a <- a' + (1 - 2 eta |b|^2)^tau (a - a') (B "
            "frozen), so the alternation converges to the optimum mean(b*) a*^T geometrically while frozen A "
            "stops at |mean b*|^2 |a*|^2 sin^2(a_0, a*)", kind="identity", source=SRC, tol=1e-10,
            figure="lora_fed", space=_box(draw=(0, 10_000), het=(0.0, 1.0), phi=(0.05, 1.5), eta_frac=(0.05, 0.45),
                                          tau=(1, 6)),
            margin=lambda p: -rolora_gap(p), budget=(20, 60), instances=convergence_instances,
            statistic="|engine rounds - closed-form maps| over 10 rounds of RoLoRA and FFA-LoRA; RoLoRA's excess "
                      "after 100 rounds and FFA-LoRA's against its floor on drawn instances"),
]
