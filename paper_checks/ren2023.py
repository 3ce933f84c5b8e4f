r"""Ren, Guo, Bae, Sutherland (ICLR 2023) — "How to prepare your task head for finetuning": the loss at the
start of FT ("energy") controls how far the features move.

Version checked (stated in docs/foundations.md §6):
overparameterised linear regression, ``n < d`` training points ``X``, targets ``y = Xβ*`` with ``β*`` partly
outside the pretrained row space; model ``f = vᵀBx`` (``B_0`` orthonormal rows, small random head ``v_0``);
loss the package's mean squared error (no ½). Head probing (HP): ``τ`` GD steps on ``v`` alone; the energy is
the training loss at the start of FT, ``E(τ) = L(B_0, v_τ)``; then FT: ``T`` GD steps on ``(B, v)``.
Features ``z = Bx`` on the training inputs. Claims: as ``E`` grows (shorter HP), (a) the Euclidean distance
``‖z_T − z_0‖`` and the cosine distance grow (monotone); (b) ``⟨z_T, z_0⟩`` and ``‖z_T‖`` first rise, then fall.

One step makes the mechanism exact: ``z_1(x) − z_0(x) = η c(x) v_τ`` with ``c(x) = (2/n) Σ_i r_i⟨x_i, x⟩``,
``r_i = y_i − f_τ(x_i)``, hence ``⟨z_1, z_0⟩ − ‖z_0‖² = η c(x) f_τ(x)`` — a residual times a prediction, zero at
``v = 0`` and at a perfect fit, so the similarity peaks in between (:func:`one_step_similarity`).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from lpft_theory import gradient_descent
from lpft_theory.adversary import Space, search
from lpft_theory.data import Samples
from lpft_theory.models import DeepLinear
from lpft_theory.rng import spawn
from lpft_theory.stats import mean_ci, spearman_by_seed
from synthetic.base import orthonormal_rows

from .verdict import Verdict, claim, judge

SRC = "Ren et al. 2023"
TITLE = "Ren et al. 2023 — How to prepare your task head for finetuning (energy and feature change)"

TAUS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 512)
ETA, T_FT, V_SCALE, OFF = 0.01, 300, 0.3, 0.5
LOW_END, HIGH_END = (64, 512), (4, 0)  # HP lengths (τ_a, τ_b) with E(τ_a) > E(τ_b): the two ends of the energy range
SETTINGS = {"d=40, k=8, n=10": (40, 8, 10), "d=60, k=4, n=20": (60, 4, 20)}


def instance(d: int, k: int, n: int, rng):
    """``B_0`` (orthonormal rows), ``v_0 ~ N(0, V_SCALE²)``, ``β* = 2B_0ᵀw/√k + ζ`` (``ζ ⊥ rowspace(B_0)``,
    ``‖ζ‖ = OFF``), ``X ~ N(0, I)`` with ``n < d`` rows, ``y = Xβ*``."""
    g = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    B0 = orthonormal_rows(k, d, g)
    w = g.standard_normal(k)
    zeta = g.standard_normal(d)
    zeta -= B0.T @ (B0 @ zeta)
    zeta *= OFF / np.linalg.norm(zeta)
    X = g.standard_normal((n, d))
    return B0, V_SCALE * g.standard_normal((k, 1)), X, X @ (2.0 * B0.T @ w / np.sqrt(k) + zeta)


def feature_stats(Z0, ZT) -> dict:
    """Means over the inputs of ``‖z_T − z_0‖``, ``1 − cos(z_T, z_0)``, ``⟨z_T, z_0⟩``, ``‖z_T‖``."""
    dot = np.sum(ZT * Z0, axis=1)
    nT, n0 = np.linalg.norm(ZT, axis=1), np.linalg.norm(Z0, axis=1)
    return {"euclidean": float(np.linalg.norm(ZT - Z0, axis=1).mean()), "cosine": float(np.mean(1 - dot / (nT * n0))),
            "dot": float(dot.mean()), "norm": float(nT.mean())}


@lru_cache(maxsize=None)
def curves(quick: bool = True, seed: int = 0) -> dict:
    """Per setting and seed: energy and feature statistics after FT, for every HP length in TAUS."""
    n_seeds = 10 if quick else 24
    out = {}
    for name, (d, k, n) in SETTINGS.items():
        rows = []
        for s, g in enumerate(spawn(seed + 23, n_seeds)):
            B0, v0, X, y = instance(d, k, n, g)
            arch, data = DeepLinear(d, (k,)), Samples(X[None], y[None])
            Z0 = X @ B0.T
            # one HP run (snapshots at every τ), then FT of all τ at once as a batch of configurations
            hp = gradient_descent(arch, (B0[None], v0[None]), data, ETA, max(TAUS), masks=(False, True),
                                  record_params=True)
            start = tuple(np.concatenate([hp.snapshots[t][b] for t in TAUS]) for b in range(2))
            tr = gradient_descent(arch, start, data, ETA, T_FT)
            L = tr.losses  # (T + 1, len(TAUS))
            live = L[:-1] > 1e-10 * L[0]  # rises below this are round-off of an interpolating fit
            rise = np.max(np.where(live, np.diff(L, axis=0) / L[:-1], 0.0), axis=0)
            stats = [{"tau": tau, "energy": float(hp.losses[tau][0]), "head_norm": float(np.linalg.norm(start[1][i])),
                      "max_rise": float(rise[i]), **feature_stats(Z0, X @ tr.params[0][i].T)}
                     for i, tau in enumerate(TAUS)]
            rows.append({"seed": s, "stats": stats})
        out[name] = rows
    return {"settings": out, "taus": list(TAUS), "eta": ETA, "T": T_FT}


def monotone_check(ctx, expect_positive: bool = True) -> Verdict:
    """Spearman ρ(energy, distance) within each seed over the HP lengths, t-interval over seeds."""
    effects = {}
    for name, rows in curves(ctx.quick, ctx.seed)["settings"].items():
        for metric in ("euclidean", "cosine"):
            E = [st["energy"] for r in rows for st in r["stats"]]
            m = [st[metric] for r in rows for st in r["stats"]]
            seeds = [r["seed"] for r in rows for _ in r["stats"]]
            eff = spearman_by_seed(E, m, seeds)
            effects[f"{name}: {metric}"] = {k: v for k, v in eff.items() if k != "rho_per_seed"} | {
                "min_rho": float(min(eff["rho_per_seed"]))}
    j = judge(effects, expect_positive)
    return Verdict(
        "ren-energy-monotone", "Feature change grows with the energy: Euclidean and cosine distance between z_T and "
        "z_0 increase with the loss at the start of FT (overparameterised linear regression, head probed tau steps)",
        "Ren et al. 2023", j.status, {"spearman_energy_vs_distance": effects, "reason": j.reason, "taus": list(TAUS),
                                      "eta": ETA, "T": T_FT, "v0_scale": V_SCALE},
        sides=j.sides if j.status == "mixed" else {}, notes=j.reason,
        counterexample={} if j.status != "refuted" else {"call": "paper_checks.ren2023.curves(True, 0)"})


@claim("ren-energy-monotone", figure="ren_energy")
def monotone(ctx) -> Verdict:
    return monotone_check(ctx)


def end_slopes(rows, metric: str, low=LOW_END, high=HIGH_END) -> dict:
    """Signed changes at the two ends of the energy range, per seed (fixed HP lengths, no selection):
    ``rise = y(τ=low[0]) − y(τ=low[1])`` (energy up at the low end: expected > 0) and
    ``fall = y(τ=high[0]) − y(τ=high[1])`` (energy up at the high end: y drops, expected > 0), relative to
    ``|y|`` at the lowest energy. Both positive ⇔ the curve rises, then falls, as the energy grows."""
    idx = {t: i for i, t in enumerate(TAUS)}
    Y = np.array([[st[metric] for st in r["stats"]] for r in rows])
    ref = np.abs(Y[:, idx[low[1]]])
    rise = (Y[:, idx[low[0]]] - Y[:, idx[low[1]]]) / ref
    fall = (Y[:, idx[high[0]]] - Y[:, idx[high[1]]]) / ref
    interior = [0 < int(np.argmax(y)) < len(TAUS) - 1 for y in Y]
    return {"rise": mean_ci(rise), "fall": mean_ci(fall), "frac_interior_peak": float(np.mean(interior)),
            "peak_taus": [TAUS[int(np.argmax(y))] for y in Y]}


def nonmonotone_check(ctx, low=LOW_END, high=HIGH_END) -> Verdict:
    effects, peaks = {}, {}
    for name, rows in curves(ctx.quick, ctx.seed)["settings"].items():
        for metric in ("dot", "norm"):
            e = end_slopes(rows, metric, low, high)
            effects[f"{name}: {metric} rise"] = e["rise"]
            effects[f"{name}: {metric} fall"] = e["fall"]
            peaks[f"{name}: {metric}"] = {"frac_interior_peak": e["frac_interior_peak"], "peak_tau": e["peak_taus"]}
    j = judge(effects)
    return Verdict(
        "ren-similarity-nonmonotone", "As the energy grows, <z_T, z_0> and ||z_T|| first rise, then fall "
        f"(rise: tau {low[1]} -> {low[0]}; fall: tau {high[1]} -> {high[0]} HP steps, relative changes)",
        "Ren et al. 2023", j.status,
        {"effects": effects, "peaks": peaks, "reason": j.reason, "taus": list(TAUS), "eta": ETA, "T": T_FT,
         "v0_scale": V_SCALE, "one_step_identity_max_rel_error": one_step_identity_error(ctx.seed),
         "one_step_identity_adversary": identity_search(ctx.quick, ctx.seed)},
        sides=j.sides if j.status == "mixed" else {}, notes=j.reason,
        counterexample={} if j.status != "refuted" else {"call": "paper_checks.ren2023.curves(True, 0)"})


@claim("ren-similarity-nonmonotone", figure="ren_energy")
def nonmonotone(ctx) -> Verdict:
    return nonmonotone_check(ctx)


def one_step_similarity(X, y, B0, v, x, eta: float):
    """``⟨z_1, z_0⟩ − ‖z_0‖² = η c(x) f(x)``, ``c(x) = (2/n) Σ_i r_i⟨x_i, x⟩`` (mean squared loss, no ½)."""
    r = y - X @ B0.T @ v[:, 0]
    c = 2.0 / len(y) * (x @ X.T) @ r
    return eta * c * (x @ B0.T @ v[:, 0])


def one_step_identity_error(seed: int = 0) -> float:
    """Engine's first FT step vs :func:`one_step_similarity` on the training inputs (relative error)."""
    B0, v0, X, y = instance(40, 8, 10, seed)
    arch = DeepLinear(40, (8,))
    tr = gradient_descent(arch, (B0[None], v0[None]), Samples(X[None], y[None]), ETA, 1)
    Z0, Z1 = X @ B0.T, X @ tr.params[0][0].T
    sim = np.sum(Z1 * Z0, 1) - np.sum(Z0 * Z0, 1)
    cf = one_step_similarity(X, y, B0, v0, X, ETA)
    return float(np.abs(sim - cf).max() / np.abs(sim).max())


CHECKS = [monotone, nonmonotone]


IDENTITY_SPACE = Space(("d", "k", "n_frac", "draw", "log10_eta", "log10_head", "off"), (6, 1, 0.0, 0, -4.0, -2.0, 0.0),
                       (60, 10, 1.0, 10_000, 0.0, 1.5, 2.0), integer=("d", "k", "draw"))


def identity_margin(q: dict) -> float:
    """``1 − |⟨z_1, z_0⟩ − ‖z_0‖² − η c(x) f(x)| / (1e-10 |η c f| + round-off)`` on the training inputs after one engine
    step (any ``d``, ``k < d``, ``n < d``, step size, head and target off the pretrained row space)."""
    d, k = q["d"], min(q["k"], q["d"] - 1)
    n = int(np.clip(round(1 + q["n_frac"] * (d - 2)), 1, d - 1))
    g = np.random.default_rng(q["draw"])
    B0 = orthonormal_rows(k, d, g)
    zeta = g.standard_normal(d)
    zeta -= B0.T @ (B0 @ zeta)
    X = g.standard_normal((n, d))
    y = X @ (B0.T @ g.standard_normal(k) + q["off"] * zeta / np.linalg.norm(zeta))
    v = 10.0 ** q["log10_head"] * g.standard_normal((k, 1))
    eta = 10.0 ** q["log10_eta"]
    tr = gradient_descent(DeepLinear(d, (k,)), (B0[None], v[None]), Samples(X[None], y[None]), eta, 1)
    Z0, Z1 = X @ B0.T, X @ tr.params[0][0].T
    sim = np.sum(Z1 * Z0, 1) - np.sum(Z0 * Z0, 1)
    cf = one_step_similarity(X, y, B0, v, X, eta)
    eps = np.finfo(float).eps
    r = y - X @ B0.T @ v[:, 0]
    floor = 8 * eps * (np.sum(Z0 * Z0, 1) + eta * 2.0 / n * (np.abs(X) @ np.abs(X).T) @ np.abs(r)
                       * np.abs(X @ B0.T @ v[:, 0]) * (d + n + k))
    return float(1.0 - np.max(np.abs(sim - cf) / (1e-10 * np.abs(cf) + floor + 1e-300)))


@lru_cache(maxsize=4)
def identity_search(quick: bool, seed: int) -> dict:
    res = search(identity_margin, IDENTITY_SPACE, budget=40 if quick else 120, rng=seed + 101)
    return {**res.to_dict(), "margin": identity_margin.__doc__.split("\n")[0].strip(),
            "rerun": f"paper_checks.ren2023.identity_margin({res.instance!r})",
            "scope": "the exact one-step mechanism behind (b); the claims themselves are decided by the shared rule "
                     "on the stated settings"}
