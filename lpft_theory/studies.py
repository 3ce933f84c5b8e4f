"""The synthetic studies behind the papers' empirical claims, shared by paper checks, figures and
notebooks. Each returns a JSON-able dict (``config`` + numbers) and is cached per
``(quick, seed, protocol)``, so ``lpft reproduce`` computes each once.

How each study is run is a :class:`lpft_theory.protocol.Protocol` (global-model rule, step budget,
tuning grid and selection rule, stability guard, seeds), so a verdict can be recomputed under every
protocol of :data:`lpft_theory.protocol.VARIANTS`. The global model is trained by FedAvg from a random
start (not the idealised ``B*``), to a validation plateau unless the protocol says otherwise; the
regression scenarios use exact population losses for training and testing and a separate finite
validation sample for every stopping and selection decision.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

import synthetic

from .attribution import attribution
from .data import stack_clients
from .federated import concat_clients, fedavg, fedavg_runs, principal_angles, to_plateau
from .losses import accuracy
from .metrics import cross_matrix, distortion, per_class_accuracy, summarize
from .models import DeepLinear
from .protocol import FIXED, Protocol, first_passage, global_models, matched_levels, rose, select
from .recipes import CONTROLS, PREFIX_CONSISTENT, TABLE2, method
from .rng import spawn
from .strategies import flooded, ft, lp, lp_ft, proximal_ft, purify, residual, sparse_ft, split_ft, teacher_data


def cached(fn):
    """``functools.lru_cache`` keyed on the *bound* arguments, so ``study(True, 0)``,
    ``study(quick=True, seed=0)`` and ``study(True, 0, FIXED)`` share one entry (plain ``lru_cache`` keys on
    how the call was spelt and would recompute the same study)."""
    sig = inspect.signature(fn)
    inner = functools.lru_cache(maxsize=None)(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return inner(*bound.args, **bound.kwargs)

    wrapper.cache_clear = inner.cache_clear
    wrapper.cache_info = inner.cache_info
    return wrapper

def _combined(seed: int, lam: float = 1.0, d: int = 20, m: int = 3, C: int = 5):
    return synthetic.combined_shift(d, m, C, lam, eps=0.5, shift=1.0, geometry="random", rng=seed)


def _others(M: np.ndarray) -> np.ndarray:
    """Per client, the mean of its row of the cross matrix over the *other* clients (Chen et al.'s Global)."""
    C = M.shape[0]
    return (M.sum(axis=1) - np.diag(M)) / (C - 1)


def _broadcast(params, C: int) -> tuple:
    return tuple(np.broadcast_to(p, (C,) + p.shape[-2:]) for p in params)


def _stacked(models: list, n: int) -> tuple:
    """Several global models (no client axis), each copied onto ``n`` consecutive clients: the per-client
    starting params of runs stacked on the client axis (strategies keep an existing client axis)."""
    return tuple(np.concatenate([np.broadcast_to(m[b], (n,) + m[b].shape[-2:]) for m in models])
                 for b in range(len(models[0])))


def _group(params, n: int, i: int) -> tuple:
    """The ``i``-th group of ``n`` consecutive clients of stacked params."""
    return tuple(p[i * n:(i + 1) * n] for p in params)


class _Setting:
    """One seed of one scenario: the data splits, the model, the metrics and the global model.

    ``train``: what clients and FedAvg train on (population moments, or samples for classification);
    ``val``: a separate finite sample per client — the only data stopping and selection read;
    ``test``: the population (regression) or a large fresh sample (classification), read only to report.
    """

    def __init__(self, scenario: str, seed: int, protocol: Protocol, train_global: bool = True):
        self.scenario, self.seed, self.global_protocol = scenario, seed, protocol
        g_tr, g_val, g_te = spawn(seed, 3)
        lam = 1.0
        if scenario.startswith("combined lam="):
            lam = float(scenario.split("=")[1])
        self.lr_scale = 1.0 / max(1.0, lam ** 2)  # larger λ means larger gradients
        if scenario == "label":
            sc = synthetic.label_shift(20, 5, 5, 0.3, sep=1.5, rng=seed)
            self.loss, self.arch = "ce", DeepLinear(sc.d, (8,), sc.p)
            self.train, self.test = sc.sample(60, g_tr), sc.sample(400, g_te)
            g_eta = 0.5
        else:
            sc = synthetic.concept_shift(20, 3, 5, 1.0, rng=seed) if scenario == "concept" else _combined(seed, lam)
            self.loss, self.arch = "mse", DeepLinear(sc.d, (8,))
            self.train = self.test = sc.population
            g_eta = 0.05 * self.lr_scale
        self.val = sc.sample(protocol.n_val, g_val)
        self.C = sc.n_clients
        self.g_eta = g_eta
        self.lr_base = 10.0 if self.loss == "ce" else 1.0  # cross-entropy on a softmax head takes larger steps
        if train_global:  # else _settings trains the global models of several seeds as one batch
            (self.pG, self.global_info), = global_models(self.arch, [self.train], [self.val_score], [seed], protocol,
                                                         eta=g_eta, loss=self.loss)

    def val_score(self, params) -> float:
        """Validation loss of a global model (no client axis) on every client's validation sample."""
        return float(np.mean(self.arch.loss(params, self.val, self.loss)))

    def val_matrix(self, params) -> np.ndarray:
        return cross_matrix(self.arch, params, self.val, loss=self.loss)

    def test_matrix(self, params) -> np.ndarray:
        """Test metric, lower is better: population MSE, or the error rate ``1 − accuracy``."""
        if self.loss == "ce":
            return 1.0 - cross_matrix(self.arch, params, self.test, metric="accuracy")
        return cross_matrix(self.arch, params, self.test)

    def attribution(self, params) -> dict:
        """Head / feature / interaction parts of every client's change of its test Global (others)."""
        a = attribution(lambda p: _others(self.test_matrix(p)), self.pG, params)
        return {k: float(np.mean(v)) for k, v in a.items()}


_SETTINGS: dict = {}  # (scenario, seed, global protocol) -> _Setting


def _settings(scenario: str, seeds, global_protocol: Protocol) -> list:
    """One :class:`_Setting` per seed, for a scenario and global-model rule (``Protocol.global_part``), cached
    per seed and shared by every protocol and study that needs it. The global models of the seeds not yet
    cached are trained as one batch (:func:`lpft_theory.protocol.global_models`: equal, number for number,
    to training each alone)."""
    keys = [(scenario, int(s), global_protocol) for s in seeds]
    todo = list(dict.fromkeys(k for k in keys if k not in _SETTINGS))
    if todo:
        new = [_Setting(scenario, k[1], global_protocol, train_global=False) for k in todo]
        fitted = global_models(new[0].arch, [st.train for st in new], [st.val_score for st in new],
                               [st.seed for st in new], global_protocol, eta=new[0].g_eta, loss=new[0].loss)
        for k, st, (pG, info) in zip(todo, new, fitted):
            st.pG, st.global_info = pG, info
            _SETTINGS[k] = st
    return [_SETTINGS[k] for k in keys]


def _setting(scenario: str, seed: int, global_protocol: Protocol) -> _Setting:
    """The :class:`_Setting` of one seed (:func:`_settings`)."""
    return _settings(scenario, [seed], global_protocol)[0]


def _clear_settings() -> None:
    _SETTINGS.clear()
    _RUNS.clear()


_setting.cache_clear = _clear_settings


#: methods whose knob may differ per client (one batched call for the whole knob grid)
KNOB_PER_CLIENT = ("Proximal", "Sparse")
#: methods whose runs depend on the budget rule (recipes.method); the others' runs are shared across budgets
BUDGET_DEPENDENT = ("LP-FT", "LP-FT (eta/10)")
_RUNS: dict = {}  # the runs of a method on given settings, shared by protocols that make the same runs


def _runs(sts: list, proto: Protocol, name: str, knobs: tuple, lrs: np.ndarray, steps: tuple) -> list:
    """:func:`_runs_batched`, cached: protocols that differ only in what does not change a method's runs (the
    budget rule, for every method but LP-FT's recipes; the selection rule) share them."""
    key = (tuple((st.scenario, st.seed, st.global_protocol) for st in sts), name, tuple(knobs),
           tuple(float(x) for x in lrs), tuple(steps), proto.budget if name in BUDGET_DEPENDENT else None,
           proto.rise_tol)
    if key not in _RUNS:
        _RUNS[key] = _runs_batched(sts, proto, name, knobs, lrs, steps)
    return _RUNS[key]


def _runs_batched(sts: list, proto: Protocol, name: str, knobs: tuple, lrs: np.ndarray, steps: tuple) -> list:
    """Params and stability of ``name`` at every knob and ``(lr, T)``, per seed of ``sts`` (one scenario) a list
    with one dict per knob: ``{(lr, T): (params, n_unstable, max_rise)}``, keys in the order of the per-seed loop
    this replaces.

    The seeds and the step-size grid run as one batched call (seeds × step sizes × clients on the client
    axis, each client starting from its own seed's global model; methods that draw keep one random stream per
    seed and step size, :func:`lpft_theory.strategies.base.rng_groups`); so does the knob grid of methods whose
    knob may differ per client (:data:`KNOB_PER_CLIENT`). LSS takes one scalar step size per call (one batch of
    all seeds per step size). Methods whose ``T``-step run passes through their shorter runs (and LP-FT's
    recipe, after its exact LP) use one recorded run for every ``T``. Soup and LSS return only their final
    loss, so their stability is not measured (reported as 0 unstable clients).
    """
    S, C, arch, loss = len(sts), sts[0].C, sts[0].arch, sts[0].loss
    calls = [lrs] if name != "LSS" else [np.array([lr]) for lr in lrs]
    order = [(float(lr), T) for lr_group in ([lrs] if name not in ("LSS", "Soup") else [[lr] for lr in lrs])
             for T in steps for lr in lr_group]  # the order of the per-seed loop's rows
    knob_groups = [tuple(knobs)] if name in KNOB_PER_CLIENT and len(knobs) > 1 else [(k,) for k in knobs]
    found = [[{} for _ in knobs] for _ in sts]
    prefix = name in PREFIX_CONSISTENT or (proto.budget == "recipe" and name in ("LP-FT", "LP-FT (eta/10)")
                                           and loss == "mse")
    for k0, kg in zip(np.cumsum([0] + [len(g) for g in knob_groups]), knob_groups):
        for lr_group in calls:
            n_lr = len(lr_group)
            G = len(kg) * n_lr  # groups of C clients per seed: knob-major, then step size
            eta = float(lr_group[0]) if name == "LSS" else np.tile(np.repeat(lr_group, C), len(kg) * S)
            knob = kg[0] if len(kg) == 1 else np.tile(np.repeat(np.asarray(kg, float), n_lr * C), S)
            data = concat_clients([st.train[np.tile(np.arange(C), G)] for st in sts])
            start = _stacked([st.pG for st in sts], G * C)
            rng = [st.seed for st in sts for _ in range(G)]  # one stream per seed, knob and step size, as the loop had
            if name == "LP (exact)":
                traj = method(name, eta, 0, loss=loss)(arch, start, data, loss=loss)
                runs = {T: (traj.params, traj.losses) for T in steps}
            elif prefix:
                off = 0 if name in PREFIX_CONSISTENT else 1  # LP-FT's recipe: snapshot 1 is the exact-LP model
                traj = method(name, eta, max(steps), knob, proto.budget, loss)(arch, start, data, loss=loss, rng=rng,
                                                                               record=True)
                runs = {T: (traj.snapshots[T + off], traj.losses[:T + off + 1]) for T in steps}
            else:
                runs = {}
                for T in steps:
                    traj = method(name, eta, T, knob, proto.budget, loss)(arch, start, data, loss=loss, rng=rng)
                    runs[T] = (traj.params, traj.losses)
            for T, (params, losses) in runs.items():
                unstable = rose(losses, proto.rise_tol)
                L = np.asarray(losses, float)
                rise = np.diff(L, axis=0).max(axis=0) / np.maximum(np.abs(L[0]), 1e-300) if len(L) > 1 else np.zeros(L.shape[1:])
                for i in range(S):
                    for j in range(len(kg)):
                        for g, lr in enumerate(lr_group):
                            grp = i * G + j * n_lr + g
                            sl = slice(grp * C, (grp + 1) * C)
                            found[i][k0 + j][(float(lr), T)] = (_group(params, C, grp), int(np.sum(unstable[sl])),
                                                                float(np.max(rise[sl], initial=0.0)))
    return [[{key: f[key] for key in order} for f in per_knob] for per_knob in found]


def _compare_seeds(sts: list, proto: Protocol, methods: tuple) -> list:
    """Every method on every seed of ``sts`` under ``proto`` (the runs of all seeds batched, :func:`_runs`):
    per seed the validation grid, the selection, test numbers and the Local–Global curve."""
    C = sts[0].C
    lrs = np.array(proto.lrs) * sts[0].lr_scale * sts[0].lr_base
    out = []
    for st in sts:
        M0 = st.test_matrix(_broadcast(st.pG, C))
        base = {"local": float(np.mean(np.diag(M0))), "global": float(np.mean(_others(M0)))}
        out.append({"seed": st.seed, "global_model": {**st.global_info, **base}, "selected": {}, "curves": {},
                    "grid": [], "_base": base})
    for name in methods:
        runs = [{} for _ in sts]
        knobs = proto.knobs(name)
        for st, o, rs, per_knob in zip(sts, out, runs, _runs(sts, proto, name, knobs, lrs, proto.steps)):
            for knob, found in zip(knobs, per_knob):
                for (lr, T), r in found.items():
                    V = st.val_matrix(r[0])
                    o["grid"].append({"method": name, "lr": lr, "steps": T, "knob": knob, "unstable": r[1],
                                      "max_rise": r[2], "val_local": float(np.mean(np.diag(V))),
                                      "val_global": float(np.mean(_others(V)))})
                    rs[(lr, T, str(knob))] = r
        for st, o, rs in zip(sts, out, runs):
            pick = select([g for g in o["grid"] if g["method"] == name], proto)  # validation rows only
            params, n_unst, rise = rs[(pick["lr"], pick["steps"], str(pick["knob"]))]
            M = st.test_matrix(params)
            o["selected"][name] = {"lr": pick["lr"], "steps": pick["steps"], "knob": pick["knob"],
                                   "stable": pick["stable"], "unstable_clients": n_unst, "max_rise": rise,
                                   "local": float(np.mean(np.diag(M))), "global": float(np.mean(_others(M))),
                                   "distortion": float(distortion(params[0], st.pG[0]).mean()),
                                   "attribution": st.attribution(params)}
            curve = [[o["_base"]["local"], o["_base"]["global"]]]  # Local–Global at the chosen (lr, knob) over T
            for T in proto.steps:
                Mt = st.test_matrix(rs[(pick["lr"], T, str(pick["knob"]))][0])
                curve.append([float(np.mean(np.diag(Mt))), float(np.mean(_others(Mt)))])
            o["curves"][name] = curve
    for o in out:
        del o["_base"]
    return out


@cached
def comparison(scenario: str, quick: bool = True, seed: int = 0, protocol: Protocol = FIXED,
               methods: tuple = TABLE2 + CONTROLS) -> dict:
    """The methods on ``scenario`` (``"concept"``, ``"combined"``, ``"combined lam=λ"`` or ``"label"``)
    under ``protocol``, one entry per seed (see :func:`_compare_seeds`). Test metric: population MSE, or
    the error rate for ``"label"``; Local = own client, Global = mean over the other clients."""
    seeds = protocol.seeds(quick, seed)
    per_seed = _compare_seeds(_settings(scenario, seeds, protocol.global_part()), protocol, tuple(methods))
    return {"config": {"scenario": scenario, "protocol": protocol.to_dict(), "methods": list(methods), "seeds": seeds,
                       "metric": "error rate (1 - accuracy)" if scenario == "label" else "population MSE",
                       "model": "two-layer linear, k=8", "selection": "validation split (own and other clients)"},
            "seeds": per_seed}


def matched_global(study: dict, q: float = 0.8, methods=None) -> dict:
    """Global at matched Local, one number per seed and method: each method's Local–Global curve read at
    the common level ``L_q`` (:func:`lpft_theory.protocol.matched_levels`) by first passage."""
    methods = list(methods or study["config"]["methods"])
    out = {m: [] for m in methods}
    for s in study["seeds"]:
        level = matched_levels({m: s["curves"][m] for m in methods}, (q,))[q]
        for m in methods:
            c = np.array(s["curves"][m])
            out[m].append(first_passage(c[:, 0], c[:, 1], level))
    return out


def selected_column(study: dict, name: str, key: str) -> list:
    """One number per seed: ``key`` of method ``name``'s selected configuration (seeds in order)."""
    return [s["selected"][name][key] for s in study["seeds"]]


# ----------------------------------------------------------------------------------- Table 2 analogue
SCENARIOS = ("concept", "combined", "label")


def variant_table(quick: bool = True, seed: int = 0, protocol: Protocol = FIXED) -> dict:
    """The six PFT variants of Table 2 (and the LP controls) on concept, combined and label-shift clients."""
    return {"config": {"scenarios": list(SCENARIOS), "protocol": protocol.to_dict()},
            "scenarios": {s: comparison(s, quick, seed, protocol) for s in SCENARIOS}}


# ----------------------------------------------------------------------------------- App. D.3: heterogeneity
LAMS = (0.1, 0.3, 1.0, 3.0)
HETERO_METHODS = ("FT", "LP-FT", "LP-FT (eta/10)")


def heterogeneity_sweep(quick: bool = True, seed: int = 0, protocol: Protocol = FIXED) -> dict:
    """FT vs LP-FT across heterogeneity λ (App. D.3); step sizes scaled by ``1/max(1, λ²)``."""
    return {"config": {"lams": list(LAMS), "protocol": protocol.to_dict(), "lr_scale": "1 / max(1, lambda^2)"},
            "lams": {lam: comparison(f"combined lam={lam}", quick, seed, protocol, HETERO_METHODS) for lam in LAMS}}


def _regression_globals(scs: list, seeds: list, protocol: Protocol, arch, eta: float = 0.05,
                        scale: float = 0.5) -> list:
    """A FedAvg global model per population-moment scenario (one per seed, trained as one batch), each stopped
    on a separate validation sample: ``[(params, info), …]``."""
    vals = [sc.sample(protocol.n_val, spawn(s, 3)[1]) for sc, s in zip(scs, seeds)]
    return global_models(arch, [sc.population for sc in scs],
                         [lambda p, val=val: float(np.mean(arch.loss(p, val))) for val in vals], list(seeds), protocol,
                         eta=eta, scale=scale)


def _global_curve(arch, snapshots, data, loss="mse"):
    """Local and global (others) loss at every recorded step of a batched-over-clients trajectory."""
    rows = [summarize(cross_matrix(arch, p, data, loss=loss)) for p in snapshots]
    return [r["local"] for r in rows], [r["global"] for r in rows]


# ----------------------------------------------------------------------------------- Fig. 2: overfitting
OVERFIT_CONFIGS = {
    "FT eta=0.02": lambda T: ft(0.02, T), "FT eta=0.05": lambda T: ft(0.05, T), "FT eta=0.1": lambda T: ft(0.1, T),
    "Sparse rate=0.5": lambda T: sparse_ft(0.05, T, 0.5), "Sparse rate=0.9": lambda T: sparse_ft(0.05, T, 0.9),
    "Proximal mu=0.1": lambda T: proximal_ft(0.05, T, 0.1), "Proximal mu=1": lambda T: proximal_ft(0.05, T, 1.0),
    "LP-FT eta=0.05": lambda T: lp_ft(0.05, T),
}


@cached
def overfitting_curves(quick: bool = True, seed: int = 0, protocol: Protocol = FIXED) -> dict:
    """Local and global loss over local steps t = 0..T (the paper's Fig. 2, synthetic), with the training
    loss's largest one-step rise per configuration (all runs here are stable: it is 0)."""
    T = 40 if quick else 100
    seeds = protocol.seeds(quick, seed)
    out = {name: {"local": [], "global": [], "unstable_clients": []} for name in OVERFIT_CONFIGS}
    sts = _settings("combined", seeds, protocol.global_part())
    glob = [st.global_info for st in sts]
    C, arch = sts[0].C, sts[0].arch
    start, data = _stacked([st.pG for st in sts], C), concat_clients([st.train for st in sts])
    for name, make in OVERFIT_CONFIGS.items():  # every seed in one run (seeds stacked on the client axis)
        traj = make(T)(arch, start, data, record=True)
        unstable = rose(traj.losses, protocol.rise_tol)
        for i, st in enumerate(sts):
            snaps = [_group(p, C, i) for p in traj.snapshots[-(T + 1):]]  # LP-FT: t = 0 after LP
            local, gl = _global_curve(arch, snaps, st.train)
            out[name]["local"].append(local)
            out[name]["global"].append(gl)
            out[name]["unstable_clients"].append(int(unstable[i * C:(i + 1) * C].sum()))
    return {"config": {"scenario": "combined (random shifts), d=20, m=3, C=5, lambda=1, eps=0.5", "T": T,
                       "seeds": seeds, "model": "two-layer linear, k=8", "protocol": protocol.to_dict()},
            "global_models": glob, "steps": list(range(T + 1)), "curves": out}


# ----------------------------------------------------------------------------------- Fig. 3a: distortion
SCATTER_STRATEGIES = ("FT", "Proximal", "Sparse", "Soup", "LSS", "LP-FT")


@cached
def distortion_scatter(quick: bool = True, seed: int = 0, protocol: Protocol = FIXED) -> dict:
    """Feature distortion ‖B − B_G‖_F vs global-loss increase, per strategy, steps and seed (Fig. 3a), with
    the head / feature / interaction attribution of every global-loss change (recipe lr 0.05; LP-FT by
    ``protocol.budget``)."""
    steps = (5, 20, 60) if quick else (5, 20, 60, 150)
    seeds = protocol.seeds(quick, seed)
    sts = _settings("combined", seeds, protocol.global_part())
    C, arch = sts[0].C, sts[0].arch
    start, data = _stacked([st.pG for st in sts], C), concat_clients([st.train for st in sts])
    fitted = {}
    for name in SCATTER_STRATEGIES:
        for T in steps:  # every seed in one run per strategy and T; runs that do not depend on the budget shared
            key = ("scatter", tuple((st.scenario, st.seed, st.global_protocol) for st in sts), name, T,
                   protocol.budget if name in BUDGET_DEPENDENT else None)
            if key not in _RUNS:
                _RUNS[key] = method(name, 0.05, T, budget=protocol.budget)(arch, start, data, rng=list(seeds)).params
            fitted[(name, T)] = _RUNS[key]
    rows = []
    for i, (s, st) in enumerate(zip(seeds, sts)):
        pG, population = st.pG, st.train
        evaluate = lambda p: _others(cross_matrix(arch, p, population))  # noqa: E731
        base = float(np.mean(evaluate(_broadcast(pG, C))))
        for name in SCATTER_STRATEGIES:
            for T in steps:
                p = _group(fitted[(name, T)], C, i)
                r = summarize(cross_matrix(arch, p, population))
                a = {k: float(np.mean(v)) for k, v in attribution(evaluate, pG, p).items() if k != "base"}
                rows.append({"strategy": name, "steps": T, "seed": s,
                             "distortion": float(distortion(p[0], pG[0]).mean()),
                             "global_drop": r["global"] - base, "local": r["local"], "global": r["global"], **a})
    return {"config": {"scenario": "combined (random shifts), d=20, m=3, C=5, lambda=1", "steps": list(steps),
                       "eta": 0.05, "protocol": protocol.to_dict()}, "rows": rows}


# ----------------------------------------------------------------------------------- Fig. 3b: flooding
FLOOD_LEVELS = (0.0, 0.1, 0.5, 1.0)


@cached
def flooding_study(quick: bool = True, seed: int = 0, protocol: Protocol = FIXED) -> dict:
    """FT vs LP-FT under loss flooding at b ∈ {0.1, 0.5, 1.0}: cross-entropy on label-shift clients.

    LP-FT is 50 head-only GD steps then FT: ``T`` FT steps under the ``recipe`` budget, ``T − 50`` under
    ``equal`` (where LP-FT with an FT stage at η/10 is added). One number per seed and setting.
    """
    T, eta, k = (150 if quick else 300), 0.5, 50
    seeds = protocol.seeds(quick, seed)
    sts = _settings("label", seeds, protocol.global_part())  # the label-shift clients of Table 2, same global model
    C, arch = sts[0].C, sts[0].arch
    T_ft = T if protocol.budget == "recipe" else T - k
    strategies = {"FT": ft(eta, T), "LP-FT": lp_ft(eta, T_ft, lp("steps", eta=eta, steps=k))}
    specs = {"FT": ("FT", eta, T), "LP-FT": ("LP-FT", eta, T_ft, eta, k)}  # what each run depends on
    if protocol.budget == "equal":
        strategies["LP-FT (eta/10)"] = lp_ft(eta / 10, T_ft, lp("steps", eta=eta, steps=k))
        specs["LP-FT (eta/10)"] = ("LP-FT", eta / 10, T_ft, eta, k)
    # per strategy two batched runs: unflooded (b = 0: the plain strategy, as before) over the seeds, and every
    # level b > 0 over seeds × levels (one flood level per client)
    levels = [b for b in FLOOD_LEVELS if b > 0]
    plain_start, plain_data = _stacked([st.pG for st in sts], C), concat_clients([st.train for st in sts])
    flood_start = _stacked([st.pG for st in sts], len(levels) * C)
    flood_data = concat_clients([st.train[np.tile(np.arange(C), len(levels))] for st in sts])
    b_per_client = np.tile(np.repeat(levels, C), len(sts))
    fitted = {}
    for name, strat in strategies.items():
        key = ("flooding", tuple((st.scenario, st.seed, st.global_protocol) for st in sts), specs[name], tuple(levels))
        if key not in _RUNS:  # FT's runs are the same under both budget rules: shared
            _RUNS[key] = (strat(arch, plain_start, plain_data, loss="ce").params,
                          flooded(strat, b_per_client)(arch, flood_start, flood_data, loss="ce").params)
        plain, flood_p = _RUNS[key]
        for i in range(len(sts)):
            fitted[(i, 0.0, name)] = _group(plain, C, i)
            for j, b in enumerate(levels):
                fitted[(i, b, name)] = _group(flood_p, C, i * len(levels) + j)
    rows = []
    for i, (s, st) in enumerate(zip(seeds, sts)):
        pG, train, test = st.pG, st.train, st.test
        for b in FLOOD_LEVELS:
            for name in strategies:
                p = fitted[(i, b, name)]
                L = summarize(cross_matrix(arch, p, train, loss="ce"))["local"]
                A = summarize(cross_matrix(arch, p, test, metric="accuracy"), higher_is_better=True)
                rows.append({"b": b, "strategy": name, "seed": s, "train_loss": L, "local_acc": A["local"],
                             "global_acc": A["global"], "distortion": float(distortion(p[0], pG[0]).mean())})
    return {"config": {"scenario": "label shift, Dirichlet alpha=0.3, d=20, K=5, C=5, n=60/client",
                       "T": T, "eta": eta, "lp": f"{k} head GD steps", "levels": list(FLOOD_LEVELS),
                       "protocol": protocol.to_dict()}, "rows": rows}


# ----------------------------------------------------------------------------------- FedPuReL analogue
_TRAJECTORIES: dict = {}  # key -> {rounds: params} of a FedAvg run from a fixed start, shared by protocols


def _rounds(key, start, advance):
    """``R ↦`` the params after ``R`` rounds of a FedAvg run from ``start`` (``advance(p, n)`` runs ``n`` more
    rounds), cached under ``key`` at every round count reached: a protocol that stops at a round count another
    protocol's run already passed reads it. With full participation a round depends on the global model alone,
    so ``R`` rounds in one call or in several give the same numbers bit for bit."""
    seen = _TRAJECTORIES.setdefault(key, {0: start})

    def at(R: int):
        if R not in seen:
            r = max(x for x in seen if x <= R)
            seen[R] = advance(seen[r], R - r)
        return seen[R]

    return at


@cached
def longtail_study(quick: bool = True, seed: int = 0, protocol: Protocol = FIXED) -> dict:
    """Frozen features + prototype ("zero-shot") head; FedAvg on the head with and without purification;
    personalization by FT or residual. Balanced and head/medium/tail accuracy (FedPuReL analogue).

    FedAvg (plain and purified) starts at the zero-shot head and runs to a plateau of the clients'
    validation loss, or ``protocol.global_rounds`` rounds under the fixed rule."""
    K, k, eta = 10, 16, 0.5
    rows, glob = [], []
    for s in protocol.seeds(quick, seed):
        lt = synthetic.long_tail(20, K, 5, n_max=500, imbalance=100.0, beta=0.5, sep=1.5, rng=s)
        g_b, g_te, g_loc, g_val = spawn(s, 4)
        B0 = synthetic.orthonormal_rows(k, 20, g_b)
        arch = DeepLinear(20, (k,), K)
        # zero-shot head: unit-norm class prototypes in feature space, no class frequencies
        protos = lt.scenario.truth["class_means"] @ B0.T
        zs = (B0, 3.0 * (protos / np.linalg.norm(protos, axis=1, keepdims=True)).T)
        train = stack_clients(lt.train)
        w = np.array([c.n for c in lt.train], float)
        test = lt.test(200, g_te)
        local_test = lt.scenario.sample(300, g_loc)
        val = lt.scenario.sample(protocol.n_val, g_val)
        common = dict(loss="ce", masks=(False, True), weights=w, rng=s)
        pure = dict(transform=lambda part, p: purify(eta, arch, teacher_data(arch, zs, part, "ce"), 1.0, loss="ce"))
        trained = {}
        for label, extra in (("FedAvg", {}), ("FedAvg+purify", pure)):
            at = _rounds(("longtail", s, label), zs,
                         lambda p, n, extra=extra: fedavg(arch, p, train, n, 5, eta, **common, **extra).params)
            if protocol.global_rule == "fixed":
                trained[label], info = at(protocol.global_rounds), {"rounds": protocol.global_rounds}
            else:
                done = [0]

                def advance(p, n, at=at, done=done):  # to_plateau's chunks, read from the shared trajectory
                    done[0] += n
                    return at(done[0])

                pl = to_plateau(advance, lambda p: float(np.mean(arch.loss(p, val, "ce"))), zs, chunk=protocol.chunk,
                                max_rounds=min(protocol.global_rounds, 40 if quick else 600),  # quick: a cap
                                patience=protocol.patience, rel_tol=protocol.rel_tol)
                trained[label], info = pl.params, {"rounds": pl.rounds, "converged": pl.converged}
            glob.append({"seed": s, "model": label, **info})
        plain, pur = trained["FedAvg"], trained["FedAvg+purify"]
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
    return {"global_models": glob,
            "config": {"K": K, "k": k, "imbalance": 100, "beta": 0.5, "protocol": protocol.to_dict(), "eta": eta,
                       "groups": "head > 100, medium 21-100, tail <= 20 global training samples",
                       "personalization": "head only (frozen features), 50 steps"}, "rows": rows}


# ----------------------------------------------------------------------------------- FlexP-SFL analogue
@cached
def split_study(quick: bool = True, seed: int = 0, protocol: Protocol = FIXED) -> dict:
    """Split FT on a deep linear net: alignment strength λ and split point s vs local/global loss."""
    widths = (12, 10, 8)
    lams = (0.0, 0.25, 1.0, 4.0)
    splits = ("cycle", 1, 2, 3)
    seeds = protocol.seeds(quick, seed)
    scs = [_combined(s, C=4) for s in seeds]
    C, arch = scs[0].n_clients, DeepLinear(scs[0].d, widths)
    globs = _regression_globals(scs, seeds, protocol, arch, eta=0.02, scale=0.8)
    # every seed × λ × split point in one run: one split point and one λ per client
    n = len(lams) * len(splits)
    per_client = {"cycle": [c % (len(widths) + 1) for c in range(C)], **{sp: [sp] * C for sp in splits[1:]}}
    s_k = [x for _ in seeds for _ in lams for sp in splits for x in per_client[sp]]
    lam_k = np.array([lam for _ in seeds for lam in lams for _ in splits for _ in range(C)])
    data = concat_clients([sc.population[np.tile(np.arange(C), n)] for sc in scs])
    fitted = split_ft(0.02, 40, s_k, lam_k)(arch, _stacked([g[0] for g in globs], n * C), data).params
    rows = []
    for i, (s, sc) in enumerate(zip(seeds, scs)):
        for a, lam in enumerate(lams):
            for b, split in enumerate(splits):
                p = _group(fitted, C, (i * len(lams) + a) * len(splits) + b)
                r = summarize(cross_matrix(arch, p, sc.population))
                rows.append({"lam": lam, "split": str(split), "seed": s, **r})
    return {"config": {"widths": list(widths), "eta": 0.02, "steps": 40, "lams": list(lams),
                       "splits": "cycle = heterogeneous s_k = k mod 4; or one s for all",
                       "protocol": protocol.to_dict()}, "rows": rows}


# ----------------------------------------------------------------------------------- FedAvg vs B*
@cached
def fedavg_angles(quick: bool = True, seed: int = 0) -> dict:
    """Principal angles between FedAvg's rowspace(B) and rowspace(B*) over rounds (Collins et al.)."""
    rounds = 60 if quick else 200
    seeds = FIXED.seeds(quick, seed)
    scs = [synthetic.concept_shift(20, 3, 5, 1.0, rng=s) for s in seeds]
    arch = DeepLinear(scs[0].d, (8,))
    out = {}
    for tau in (1, 5, 20):
        largest, smallest, to_wG = [], [], []
        # every seed's FedAvg in one batch (full participation: the FedAvg generator draws nothing)
        starts = [arch.init(spawn(s, 2)[0], scale=0.5) for s in seeds]
        histories = [[p] for p in starts]
        fedavg_runs(arch, starts, [sc.population for sc in scs], rounds, tau, 0.05, history=histories)
        for sc, history in zip(scs, histories):
            mix = sc.population.mean(0)
            w_G = np.linalg.solve(mix.Sigma, mix.C)
            ang = [principal_angles(p[0], sc.truth["B_star"]) for p in history]
            largest.append([float(a.max()) for a in ang])
            smallest.append([float(a.min()) for a in ang])
            to_wG.append([float(principal_angles(p[0], w_G.T).min()) for p in history])
        out[f"tau={tau}"] = {"largest": largest, "smallest": smallest, "to_w_G": to_wG}
    return {"config": {"scenario": "concept shift d=20, m=3, C=5, lambda=1", "rounds": rounds, "eta": 0.05,
                       "width": 8}, "rounds": list(range(rounds + 1)), "angles": out}


def clear_cache() -> None:
    """Forget every cached study (tests use it to recompute from scratch)."""
    for fn in (_setting, comparison, overfitting_curves, distortion_scatter, flooding_study, longtail_study,
               split_study, fedavg_angles):
        fn.cache_clear()
    _TRAJECTORIES.clear()
    _RUNS.clear()
