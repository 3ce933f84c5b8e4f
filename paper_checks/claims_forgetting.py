r"""Evron et al. (COLT 2022) and Goldfarb, Evron et al. (ICLR 2024): forgetting in linear regression, exactly —
written as plug-in claims (:mod:`paper_checks.plugin`). Closed forms in :mod:`lpft_theory.theory.forgetting`.

* ``forgetting-projection`` — fitting to convergence is one projection; two tasks in cyclic order forget exactly
  ``R²(⌊k/2⌋/k) Σ ⟨u_i,w*⟩² cos^{2(k−1)}θ_i sin²θ_i``; the package's global loss after FT of a linear model is
  that projection (engine: ``strategies.ft`` run to convergence, ``metrics.cross_matrix``).
* ``forgetting-two-task-bound`` / ``forgetting-cyclic-bound`` — the stated worst cases, against the adversary.
* ``forgetting-similarity-nonmonotone`` — Goldfarb et al.'s task-similarity shape, by Monte Carlo of the exact
  procedure.

The instances: two rank-3 tasks in ``d = 8`` whose row spaces meet at principal angles ``θ_1..θ_3`` (rotated off
the axes by a fixed Haar rotation), rows scaled by ``R`` (and, for the bound, by singular values ``s_2, s_3``);
``T`` rank-1 tasks in ``d = 4`` for the ``T``-task bound.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

import synthetic
from lpft_theory.adversary import Space
from lpft_theory.data import Samples
from lpft_theory.metrics import cross_matrix
from lpft_theory.models import DeepLinear
from lpft_theory.rng import spawn
from lpft_theory.stats import paired_difference
from lpft_theory.strategies import ft
from lpft_theory.theory import forgetting as F

from .plugin import for_all, judged

SRC = "Evron et al. 2022; Goldfarb et al. 2024"
TITLE = "Evron et al. 2022; Goldfarb, Evron et al. 2024 — forgetting in linear regression, exactly"
D = 8
_ROT = F.haar_rotation(D, 2022)
ANGLES = tuple(f"theta{i}" for i in range(3))
W = tuple(f"w{i}" for i in range(D))


def two_tasks(p: dict, spread: bool = False):
    """``(X_1, X_2, w*)`` of the module docstring from a named instance ``p``; ``spread``: rows scaled by
    ``(1, s2, s3)`` (non-isotropic tasks, ``‖X_m‖₂ = R``)."""
    th = np.array([p[a] for a in ANGLES])
    S2 = np.zeros((3, D))
    S2[range(3), range(3)], S2[range(3), range(3, 6)] = np.cos(th), np.sin(th)
    sv = np.array([1.0, p["s2"], p["s3"]]) if spread else np.ones(3)
    X1, X2 = ((p["R"] * sv[:, None] * S) @ _ROT.T for S in (np.eye(D)[:3], S2))
    return X1, X2, _ROT @ np.array([p[w] for w in W])


def closed_vs_procedure(p: dict, formula=F.two_task_forgetting) -> float:
    """``|closed form − exact procedure| / (R²‖w*‖²)`` after ``k`` tasks (``formula``: the closed form to test)."""
    X1, X2, w = two_tasks(p)
    cos, U = F.principal_structure(X1, X2)
    proc = F.sequence_forgetting([X1, X2], [X1 @ w, X2 @ w], F.cyclic_order(2, p["k"]), at=[p["k"]])[0]
    return abs(formula(p["k"], cos, U.T @ w, p["R"]) - proc) / max(p["R"] ** 2 * (w @ w), 1e-12)


def engine_instances(ctx, formula=F.global_loss_after_ft) -> dict:
    """Closed forms against the engine: GD run to convergence (``strategies.ft`` on the linear model) from a global
    model ``w_G`` on every client of a covariate-shift scenario (shared ``w*``, ``n < d``), the package's global loss
    of the result (``metrics.cross_matrix``) against ``formula``, and two tasks learnt one after the other by the
    same engine."""
    d, n, C = 12, 5, 4
    g = np.random.default_rng(ctx.seed)
    sc = synthetic.covariate_shift(d, C, k=4, shift=1.0, eps=1.0, rng=g)
    data, w_star = sc.sample(n, g), sc.truth["w_star"]
    w_G = w_star + 0.5 * g.standard_normal(d)
    hess = 2 * np.linalg.eigvalsh(np.swapaxes(data.X, 1, 2) @ data.X / n)[:, -1]
    arch = DeepLinear(d)
    steps = 600 if ctx.quick else 1500
    fitted = ft(1.0 / hess, steps)(arch, (w_G[:, None],), data).params[0][..., 0]
    closed = np.stack([F.fit_to_convergence(w_G, data.X[i], data.Y[i, :, 0]) for i in range(C)])
    M_engine = cross_matrix(arch, (fitted[..., None],), sc.population)
    M_closed = np.stack([formula(w_G, data.X[i], data.Y[i, :, 0], sc.population.Sigma, np.broadcast_to(w_star, (C, d)))
                         for i in range(C)])
    errs = {"fit_vs_projection": float(np.max(np.abs(fitted - closed)) / np.max(np.abs(closed))),
            "global_loss_vs_formula": float(np.max(np.abs(M_engine - M_closed)) / np.max(M_closed))}
    # two isotropic tasks learnt in turn by the engine: forgetting after k = 1..4 against the closed form
    p = {**dict(zip(ANGLES, (0.3, 0.7, 1.2))), **dict(zip(W, g.standard_normal(D))), "R": 1.3}
    X1, X2, w = two_tasks(p)
    cos, U = F.principal_structure(X1, X2)
    tasks = [Samples(X[None], (X @ w)[None, :, None]) for X in (X1, X2)]
    wk, seen, got = np.zeros((D, 1)), [], []
    for k in range(1, 5):
        task = tasks[(k - 1) % 2]
        eta = 1.0 / (2 * p["R"] ** 2 / 3)  # the mean loss's curvature is 2R²/3 on the task's row space
        wk = ft(eta, 200)(DeepLinear(D), (wk,), task).params[0][0]
        seen.append(task)
        got.append(sum(float(np.sum((t.X[0] @ wk - t.Y[0]) ** 2)) for t in seen) / k)
    closed_k = [F.two_task_forgetting(k, cos, U.T @ w, p["R"]) for k in range(1, 5)]
    errs["engine_sequence_vs_closed_form"] = float(np.max(np.abs(np.array(got) - closed_k)) / (p["R"] ** 2 * (w @ w)))
    return {"engine": errs, "violations": sum(e > 1e-8 for e in errs.values()), "instances": len(errs)}


def two_task_margin(p: dict, bound=F.evron_two_task_bound) -> float:
    """``1 − F(k)/bound`` for two (non-isotropic) tasks, ``F`` by the exact procedure (``< 0``: broken)."""
    X1, X2, w = two_tasks(p, spread=True)
    Fk = F.sequence_forgetting([X1, X2], [X1 @ w, X2 @ w], F.cyclic_order(2, p["k"]), at=[p["k"]])[0]
    return 1.0 - Fk / max(bound(p["k"], p["R"], float(np.sqrt(w @ w))), 1e-300)


def supremum_instances(ctx, bound=F.evron_two_task_bound) -> dict:
    """The exact supremum of two-task forgetting (closed form) against the bound for every ``k`` up to 200 (2000)."""
    ks = np.arange(2, 201 if ctx.quick else 2001)
    ratio = np.array([F.two_task_sup(int(k)) / bound(int(k)) for k in ks])
    return {"sup_over_bound_max": float(ratio.max()), "at_k": int(ks[ratio.argmax()]),
            "violations": int(np.sum(ratio > 1 + 1e-12)), "instances": int(ks.size)}


def rank_one_tasks(p: dict):
    """``T`` rank-1 tasks in ``d = 4``: task ``m``'s row is ``r_m`` times the unit vector of angles ``(α, β, γ)_m``."""
    def unit(a, b, c):
        return np.array([np.cos(a), np.sin(a) * np.cos(b), np.sin(a) * np.sin(b) * np.cos(c),
                         np.sin(a) * np.sin(b) * np.sin(c)])
    Xs = [p[f"r{m}"] * unit(p[f"a{m}"], p[f"b{m}"], p[f"c{m}"])[None] for m in range(p["T"])]
    return Xs, unit(p["wa"], p["wb"], p["wc"])


def cyclic_margin(p: dict, bound=F.evron_cyclic_bound) -> float:
    """``1 − F(k)/bound`` after ``k = cycles·T`` tasks in cyclic order."""
    Xs, w = rank_one_tasks(p)
    k, R = p["cycles"] * p["T"], max(p[f"r{m}"] for m in range(p["T"]))
    Fk = F.sequence_forgetting(Xs, [X @ w for X in Xs], F.cyclic_order(p["T"], k), at=[k])[0]
    return 1.0 - Fk / bound(k, p["T"], 4, R)


@lru_cache(maxsize=None)
def similarity_curves(quick: bool = True, seed: int = 0, d: int = 60) -> dict:
    """Goldfarb et al.'s forgetting (relative to ``‖y‖²``) at ``p`` rotated coordinates, per regime and draw (the
    same ``X``, ``w*`` for every ``p`` of a draw: paired)."""
    ps = (0, d // 8, d // 4, d // 2, 3 * d // 4, d)
    out = {}
    # the overparameterised effects are small and cheap to draw, the near-threshold ones large and dearer
    for name, n, draws in (("overparameterised (n = 2, d = 60)", 2, 120 if quick else 300),
                           ("near the threshold (n = 54, d = 60)", 54, 30 if quick else 80)):
        rows = np.empty((draws, len(ps)))
        for i, g in enumerate(spawn(seed + 2024 + n, draws)):
            X = g.standard_normal((n, d))
            y = X @ g.standard_normal(d)
            rows[i] = [F.rotation_task_forgetting(X, y, p, g) for p in ps]
        out[name] = rows
    return {"ps": ps, "d": d, "curves": out}


def similarity_effects(ctx) -> tuple:
    c = similarity_curves(ctx.quick, ctx.seed)
    i = {p: j for j, p in enumerate(c["ps"])}
    lo, mid, hi = c["d"] // 8, c["d"] // 2, c["d"]
    (over, F_over), (near, F_near) = c["curves"].items()
    eff = {f"{over}: rise p={lo}->{mid}": paired_difference(F_over[:, i[mid]], F_over[:, i[lo]]),
           f"{over}: fall p={mid}->{hi}": paired_difference(F_over[:, i[mid]], F_over[:, i[hi]]),
           f"{near}: rise p={lo}->{mid}": paired_difference(F_near[:, i[mid]], F_near[:, i[lo]]),
           f"{near}: rise p={mid}->{hi}": paired_difference(F_near[:, i[hi]], F_near[:, i[mid]])}
    means = {k: [float(x) for x in v.mean(axis=0)] for k, v in c["curves"].items()}
    return eff, {"mean_forgetting_by_p": means, "ps": list(c["ps"])}


_BOX = dict(zip(ANGLES, [(0.0, 1.5707963)] * 3)) | dict(zip(W, [(-1.0, 1.0)] * D))


def _space(extra: dict, integer=()) -> Space:
    box = {**_BOX, **extra}
    return Space(tuple(box), tuple(v[0] for v in box.values()), tuple(v[1] for v in box.values()), integer)


_CYC = {"T": (3, 5.49), "cycles": (12, 150), "wa": (0, 3.14), "wb": (0, 3.14), "wc": (0, 6.28)} | {
    f"{x}{m}": (lo, hi) for m in range(5) for x, lo, hi in (("a", 0, 3.14), ("b", 0, 3.14), ("c", 0, 6.28),
                                                             ("r", 0.3, 1.0))}

CHECKS = [
    for_all("forgetting-projection", "Fitting a client to convergence from w is the projection w + X+(y - Xw); two "
            "tasks in cyclic order forget exactly F(k) = R^2 (floor(k/2)/k) sum_i <u_i,w*>^2 cos^(2(k-1)) theta_i "
            "sin^2 theta_i (principal angles between the tasks); the package's global loss after FT of a linear "
            "model is that projection", kind="identity", source=SRC, figure="forgetting", tol=1e-9,
            space=_space({"k": (1, 40), "R": (0.3, 3.0)}, ("k",)), margin=lambda p: -closed_vs_procedure(p),
            budget=(60, 200), instances=engine_instances,
            statistic="|closed form - exact procedure| / (R^2 |w*|^2); engine runs to convergence vs the projection"),
    for_all("forgetting-two-task-bound", "Evron et al.: two tasks in cyclic order forget at most R^2 |w*|^2 / "
            "(2e(k-1)) after k >= 2 tasks (R = max ||X_m||)", source=SRC, figure="forgetting",
            space=_space({"k": (2, 60), "R": (0.3, 3.0), "s2": (0.05, 1.0), "s3": (0.05, 1.0)}, ("k",)),
            margin=two_task_margin, budget=(60, 240), instances=supremum_instances,
            statistic="min over instances of 1 - F(k)/bound, F by the exact procedure; the closed-form supremum "
                      "over all tasks against the bound for every k"),
    for_all("forgetting-cyclic-bound", "Evron et al.: T tasks in d dimensions in cyclic order forget at most "
            "T^2 min(1/sqrt(k), d/k) R^2 |w*|^2 after k tasks", source=SRC, figure="forgetting",
            space=Space(tuple(_CYC), tuple(v[0] for v in _CYC.values()), tuple(v[1] for v in _CYC.values()),
                        ("T", "cycles")), margin=cyclic_margin, budget=(40, 160),
            statistic="min over instances of 1 - F(k)/bound (rank-1 tasks, d = 4, |w*| = 1)"),
    judged("forgetting-similarity-nonmonotone", "Goldfarb et al.: with the second task a random rotation of p of "
           "the d coordinates of the first, forgetting peaks at intermediate similarity when the model is highly "
           "overparameterised, and falls monotonically with similarity (rises with p) near the interpolation "
           "threshold", effects=similarity_effects, delta=0.002, source=SRC, figure="forgetting",
           statistic="paired difference of forgetting / |y|^2 between rotation sizes p, per regime"),
]
