"""The synthetic studies behind the papers' empirical claims, shared by paper checks, figures and
notebooks. Each returns a JSON-able dict (``config`` + numbers) and is cached per ``(quick, seed)``,
so ``lpft reproduce`` computes each once.

Every study uses a global model trained by FedAvg from a random start (not the idealised ``B*``),
exact population losses for the regression scenarios, and several scenario seeds.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

import synthetic

from .data import stack_clients
from .federated import fedavg, principal_angles
from .losses import accuracy
from .metrics import cross_matrix, distortion, per_class_accuracy, summarize
from .models import DeepLinear
from .rng import spawn
from .strategies import (flooded, ft, lp, lp_ft, lss, proximal_ft, purify, residual, soup,
                         sparse_ft, split_ft, teacher_data)


def _seeds(quick: bool, seed: int, n_quick: int = 6, n_full: int = 16) -> list[int]:
    return [seed + 1000 * s for s in range(n_quick if quick else n_full)]


def _combined(seed: int, lam: float = 1.0, d: int = 20, m: int = 3, C: int = 5):
    return synthetic.combined_shift(d, m, C, lam, eps=0.5, shift=1.0, geometry="random", rng=seed)


def _fedavg_global(arch, data, seed: int, rounds: int, loss: str = "mse", eta: float = 0.05, weights=None,
                   scale: float = 0.5):
    g_init, g_fed = spawn(seed, 2)
    return fedavg(arch, arch.init(g_init, scale=scale), data, rounds, 5, eta, loss=loss, weights=weights,
                  rng=g_fed).params


def _global_curve(arch, traj, data, loss="mse"):
    """Local and global (others) loss at every recorded step of a batched-over-clients trajectory."""
    rows = [summarize(cross_matrix(arch, p, data, loss=loss)) for p in traj.snapshots]
    return [r["local"] for r in rows], [r["global"] for r in rows]


# ----------------------------------------------------------------------------------- Fig. 2: overfitting
OVERFIT_CONFIGS = {
    "FT eta=0.02": lambda T: ft(0.02, T), "FT eta=0.05": lambda T: ft(0.05, T), "FT eta=0.1": lambda T: ft(0.1, T),
    "Sparse rate=0.5": lambda T: sparse_ft(0.05, T, 0.5), "Sparse rate=0.9": lambda T: sparse_ft(0.05, T, 0.9),
    "Proximal mu=0.1": lambda T: proximal_ft(0.05, T, 0.1), "Proximal mu=1": lambda T: proximal_ft(0.05, T, 1.0),
    "LP-FT eta=0.05": lambda T: lp_ft(0.05, T),
}


@lru_cache(maxsize=None)
def overfitting_curves(quick: bool = True, seed: int = 0) -> dict:
    """Local and global loss over local steps t = 0..T (the paper's Fig. 2, synthetic)."""
    T = 40 if quick else 100
    seeds = _seeds(quick, seed)
    out = {name: {"local": [], "global": []} for name in OVERFIT_CONFIGS}
    for s in seeds:
        sc = _combined(s)
        arch = DeepLinear(sc.d, (8,))
        pG = _fedavg_global(arch, sc.population, s, 60 if quick else 150)
        for name, make in OVERFIT_CONFIGS.items():
            traj = make(T)(arch, pG, sc.population, record=True)
            snaps = traj.snapshots[-(T + 1):]  # LP-FT: t = 0 is the start of FT, after LP
            local, glob = _global_curve(arch, type(traj)(traj.params, traj.losses, snaps), sc.population)
            out[name]["local"].append(local)
            out[name]["global"].append(glob)
    return {"config": {"scenario": "combined (random shifts), d=20, m=3, C=5, lambda=1, eps=0.5", "T": T,
                       "seeds": seeds, "model": "two-layer linear, k=8", "global_model": "FedAvg"},
            "steps": list(range(T + 1)), "curves": out}


# ----------------------------------------------------------------------------------- Fig. 3a: distortion
SCATTER_STRATEGIES = {
    "FT": lambda T: ft(0.05, T), "Proximal": lambda T: proximal_ft(0.05, T, 1.0),
    "Sparse": lambda T: sparse_ft(0.05, T, 0.5), "Soup": lambda T: soup(0.05, T, 3, sigma=0.05),
    "LSS": lambda T: lss(0.05, T, n_verts=1, vertex_steps=max(T // 4, 1)), "LP-FT": lambda T: lp_ft(0.05, T),
}


@lru_cache(maxsize=None)
def distortion_scatter(quick: bool = True, seed: int = 0) -> dict:
    """Feature distortion ‖B − B_G‖_F vs global-loss increase, per strategy, steps and seed (Fig. 3a)."""
    steps = (5, 20, 60) if quick else (5, 20, 60, 150)
    rows = []
    for s in _seeds(quick, seed):
        sc = _combined(s)
        arch = DeepLinear(sc.d, (8,))
        pG = _fedavg_global(arch, sc.population, s, 60 if quick else 150)
        base = summarize(cross_matrix(arch, tuple(np.broadcast_to(p, (sc.n_clients,) + p.shape) for p in pG),
                                      sc.population))["global"]
        for name, make in SCATTER_STRATEGIES.items():
            for T in steps:
                p = make(T)(arch, pG, sc.population, rng=s).params
                r = summarize(cross_matrix(arch, p, sc.population))
                rows.append({"strategy": name, "steps": T, "seed": s, "distortion": float(distortion(p[0], pG[0]).mean()),
                             "global_drop": r["global"] - base, "local": r["local"], "global": r["global"]})
    return {"config": {"scenario": "combined (random shifts), d=20, m=3, C=5, lambda=1", "steps": list(steps),
                       "global_model": "FedAvg", "eta": 0.05}, "rows": rows}


# ----------------------------------------------------------------------------------- Fig. 3b: flooding
@lru_cache(maxsize=None)
def flooding_study(quick: bool = True, seed: int = 0) -> dict:
    """FT vs LP-FT under loss flooding at b ∈ {0.1, 0.5, 1.0}: cross-entropy on label-shift clients."""
    levels = (0.0, 0.1, 0.5, 1.0)
    T, eta = (150, 0.5) if quick else (300, 0.5)
    rows = []
    for s in _seeds(quick, seed):
        sc = synthetic.label_shift(20, 5, 5, 0.3, sep=1.5, rng=s)
        g_tr, g_te = spawn(s, 2)
        train, test = sc.sample(60, g_tr), sc.sample(400, g_te)
        arch = DeepLinear(sc.d, (8,), sc.p)
        pG = _fedavg_global(arch, train, s, 40 if quick else 100, loss="ce", eta=0.5)
        for b in levels:
            for name, strat in (("FT", ft(eta, T)), ("LP-FT", lp_ft(eta, T, lp("steps", eta=eta, steps=50)))):
                st = flooded(strat, b) if b > 0 else strat
                p = st(arch, pG, train, loss="ce").params
                L = summarize(cross_matrix(arch, p, train, loss="ce"))["local"]
                A = summarize(cross_matrix(arch, p, test, metric="accuracy"), higher_is_better=True)
                rows.append({"b": b, "strategy": name, "seed": s, "train_loss": L, "local_acc": A["local"],
                             "global_acc": A["global"], "distortion": float(distortion(p[0], pG[0]).mean())})
    return {"config": {"scenario": "label shift, Dirichlet alpha=0.3, d=20, K=5, C=5, n=60/client",
                       "T": T, "eta": eta, "lp": "50 head GD steps", "levels": list(levels)}, "rows": rows}


# ----------------------------------------------------------------------------------- Table 2 analogue
VARIANTS = {
    "FT": lambda: ft(0.05, 30), "Proximal": lambda: proximal_ft(0.05, 30, 1.0), "Soup": lambda: soup(0.05, 30, 3, sigma=0.05),
    "Sparse": lambda: sparse_ft(0.05, 30, 0.5), "LSS": lambda: lss(0.05, 30, n_verts=1, vertex_steps=8),
    "LP-FT": lambda: lp_ft(0.05, 30),
}


@lru_cache(maxsize=None)
def variant_table(quick: bool = True, seed: int = 0) -> dict:
    """The six PFT variants on concept, combined and label-shift clients (Table 2, synthetic)."""
    rows = []
    for s in _seeds(quick, seed):
        scens = {"concept": synthetic.concept_shift(20, 3, 5, 1.0, rng=s), "combined": _combined(s)}
        for sname, sc in scens.items():
            arch = DeepLinear(sc.d, (8,))
            pG = _fedavg_global(arch, sc.population, s, 60 if quick else 150)
            for vname, make in VARIANTS.items():
                p = make()(arch, pG, sc.population, rng=s).params
                r = summarize(cross_matrix(arch, p, sc.population))
                rows.append({"scenario": sname, "variant": vname, "seed": s, "metric": "loss", **r})
        sc = synthetic.label_shift(20, 5, 5, 0.3, sep=1.5, rng=s)
        g_tr, g_te = spawn(s, 2)
        train, test = sc.sample(60, g_tr), sc.sample(400, g_te)
        arch = DeepLinear(sc.d, (8,), sc.p)
        pG = _fedavg_global(arch, train, s, 40 if quick else 100, loss="ce", eta=0.5)
        for vname, make in VARIANTS.items():
            strat = lp_ft(0.5, 30, lp("steps", eta=0.5, steps=30)) if vname == "LP-FT" else make()
            p = strat(arch, pG, train, loss="ce", rng=s).params
            r = summarize(cross_matrix(arch, p, test, metric="accuracy"), higher_is_better=True)
            rows.append({"scenario": "label", "variant": vname, "seed": s, "metric": "accuracy", **r})
    return {"config": {"variants": list(VARIANTS), "steps": 30, "global_model": "FedAvg",
                       "note": "regression: population losses (lower is better); label: accuracy"}, "rows": rows}


# ----------------------------------------------------------------------------------- App. D.3: heterogeneity
@lru_cache(maxsize=None)
def heterogeneity_sweep(quick: bool = True, seed: int = 0) -> dict:
    """FT vs LP-FT global loss across heterogeneity λ, with FedAvg global models (App. D.3)."""
    lams = (0.1, 0.3, 1.0, 3.0)
    rows = []
    for s in _seeds(quick, seed):
        for lam in lams:
            sc = _combined(s, lam)
            arch = DeepLinear(sc.d, (8,))
            pG = _fedavg_global(arch, sc.population, s, 60 if quick else 150, eta=0.05 / max(1.0, lam ** 2))
            eta = 0.02 / max(1.0, lam ** 2)  # same step for both; larger λ means larger gradients
            for name, strat in (("FT", ft(eta, 30)), ("LP-FT", lp_ft(eta, 30))):
                r = summarize(cross_matrix(arch, strat(arch, pG, sc.population).params, sc.population))
                rows.append({"lam": lam, "strategy": name, "seed": s, **r})
    return {"config": {"scenario": "combined (random shifts)", "lams": list(lams), "eta": "0.02 / max(1, lambda^2)",
                       "steps": 30},
            "rows": rows}


# ----------------------------------------------------------------------------------- FedPuReL analogue
@lru_cache(maxsize=None)
def longtail_study(quick: bool = True, seed: int = 0) -> dict:
    """Frozen features + prototype ("zero-shot") head; FedAvg on the head with and without purification;
    personalization by FT or residual. Balanced and head/medium/tail accuracy (FedPuReL analogue)."""
    K, k, rounds, eta = 10, 16, (30 if quick else 60), 0.5
    rows = []
    for s in _seeds(quick, seed):
        lt = synthetic.long_tail(20, K, 5, n_max=500, imbalance=100.0, beta=0.5, sep=1.5, rng=s)
        g_b, g_te, g_loc = spawn(s, 3)
        B0 = synthetic.orthonormal_rows(k, 20, g_b)
        arch = DeepLinear(20, (k,), K)
        # zero-shot head: unit-norm class prototypes in feature space, no class frequencies
        protos = lt.scenario.truth["class_means"] @ B0.T
        zs = (B0, 3.0 * (protos / np.linalg.norm(protos, axis=1, keepdims=True)).T)
        train = stack_clients(lt.train)
        w = np.array([c.n for c in lt.train], float)
        test = lt.test(200, g_te)
        local_test = lt.scenario.sample(300, g_loc)
        common = dict(loss="ce", masks=(False, True), weights=w, rng=s)
        plain = fedavg(arch, zs, train, rounds, 5, eta, **common).params
        pur = fedavg(arch, zs, train, rounds, 5, eta, transform=lambda part, p: purify(
            eta, arch, teacher_data(arch, zs, part, "ce"), 1.0, loss="ce"), **common).params
        models = {"zero-shot": zs, "FedAvg": plain, "FedAvg+purify": pur}
        pers = {"FedAvg+FT": lp("steps", eta=eta, steps=50)(arch, plain, train, loss="ce").params,
                "purify+FT": lp("steps", eta=eta, steps=50)(arch, pur, train, loss="ce").params,
                "purify+residual (FedPuReL)": residual(eta, 50, 0.99)(arch, pur, train, loss="ce").params}
        for name, p in {**models, **pers}.items():
            per_class = np.atleast_2d(per_class_accuracy(arch.predict(p, test.X), test.Y, K))
            local = accuracy(arch.predict(p, local_test.X), local_test.Y)  # each client on its own distribution
            rows.append({"model": name, "seed": s, "balanced": float(per_class.mean()),
                         **{grp: float(per_class[:, idx].mean()) for grp, idx in lt.groups.items()},
                         "personalized": float(np.mean(local))})
    return {"config": {"K": K, "k": k, "imbalance": 100, "beta": 0.5, "rounds": rounds, "eta": eta,
                       "groups": "head > 100, medium 21-100, tail <= 20 global training samples",
                       "personalization": "head only (frozen features), 50 steps"}, "rows": rows}


# ----------------------------------------------------------------------------------- FlexP-SFL analogue
@lru_cache(maxsize=None)
def split_study(quick: bool = True, seed: int = 0) -> dict:
    """Split FT on a deep linear net: alignment strength λ and split point s vs local/global loss."""
    widths = (12, 10, 8)
    lams = (0.0, 0.25, 1.0, 4.0)
    rows = []
    for s in _seeds(quick, seed):
        sc = _combined(s, C=4)
        arch = DeepLinear(sc.d, widths)
        pG = _fedavg_global(arch, sc.population, s, 60 if quick else 150, eta=0.02, scale=0.8)
        for lam in lams:
            for split in ("cycle", 1, 2, 3):
                p = split_ft(0.02, 40, split, lam)(arch, pG, sc.population).params
                r = summarize(cross_matrix(arch, p, sc.population))
                rows.append({"lam": lam, "split": str(split), "seed": s, **r})
    return {"config": {"widths": list(widths), "eta": 0.02, "steps": 40, "lams": list(lams),
                       "splits": "cycle = heterogeneous s_k = k mod 4; or one s for all"}, "rows": rows}


# ----------------------------------------------------------------------------------- FedAvg vs B*
@lru_cache(maxsize=None)
def fedavg_angles(quick: bool = True, seed: int = 0) -> dict:
    """Principal angles between FedAvg's rowspace(B) and rowspace(B*) over rounds (Collins et al.)."""
    rounds = 60 if quick else 200
    out = {}
    for tau in (1, 5, 20):
        largest, smallest, to_wG = [], [], []
        for s in _seeds(quick, seed):
            sc = synthetic.concept_shift(20, 3, 5, 1.0, rng=s)
            arch = DeepLinear(sc.d, (8,))
            g_init, g_fed = spawn(s, 2)
            res = fedavg(arch, arch.init(g_init, scale=0.5), sc.population, rounds, tau, 0.05, rng=g_fed)
            mix = sc.population.mean(0)
            w_G = np.linalg.solve(mix.Sigma, mix.C)
            ang = [principal_angles(p[0], sc.truth["B_star"]) for p in res.history]
            largest.append([float(a.max()) for a in ang])
            smallest.append([float(a.min()) for a in ang])
            to_wG.append([float(principal_angles(p[0], w_G.T).min()) for p in res.history])
        out[f"tau={tau}"] = {"largest": largest, "smallest": smallest, "to_w_G": to_wG}
    return {"config": {"scenario": "concept shift d=20, m=3, C=5, lambda=1", "rounds": rounds, "eta": 0.05,
                       "width": 8}, "rounds": list(range(rounds + 1)), "angles": out}


def clear_cache() -> None:
    """Forget every cached study (tests use it to recompute from scratch)."""
    for fn in (overfitting_curves, distortion_scatter, flooding_study, variant_table, heterogeneity_sweep,
               longtail_study, split_study, fedavg_angles):
        fn.cache_clear()
