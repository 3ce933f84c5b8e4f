"""``lpft real``: federated digits under a fair protocol — a converged global model, stable steps, equal
budgets, the same tuning rule for every method, matched personalization.

Per seed:

1. **Data.** :func:`~lpft_theory.empirical.digits.split`, then a validation split carved from every
   client's training data (``val_frac``); test data is only ever *reported*. With ``standardize`` the
   inputs are centred per pixel and scaled by one global standard deviation (statistics of the pooled
   training data, one aggregation round in a federation) and, for the MLP, a constant input 1 gives the
   first layer a bias.
2. **Global models.** FedAvg (cross-entropy, clients weighted by data size) run to a validation plateau
   (:func:`lpft_theory.federated.to_plateau` on the pooled validation loss), and the short
   ``short_rounds``-round model of the old protocol; both curves are kept.
3. **Grid.** Every method sweeps ``etas × steps × its own knob`` (μ, sparsity, soup size; LP-FT: LP length
   ``k``, FT-stage rate ``ρ·η`` with ρ ∈ ``ft_scales``, LP regularised toward the global head with
   ``μ_LP`` ∈ ``lp_mus``); all step sizes run as one batched call, all step counts are read off one
   recorded trajectory (LP-FT's total budget ``T = k + T_FT``, the same as FT's ``T``). Every grid point
   records, per client, whether its training objective rose by more than ``rise_tol`` (relative; the
   objective includes the pull ``(μ/2)‖θ − θ_G‖²`` of the anchored methods, see :func:`stage_rise`): such
   points are *unstable* and never selected (Soup and LSS report the rise of FT at the same ``η, T``: their
   own runs keep no per-step loss).
4. **Protocol variants** (:data:`VARIANTS`), each a rule that picks one point per method:
   ``fixed recipe`` (the old recipe: η = ``eta``, T = ``recipe_steps``, LP-FT = LP T steps at 2η then FT
   T steps at η, i.e. twice the budget) on the short and on the converged global model; ``equal budget``
   (every method at η, T, LP-FT = LP ``k`` + FT ``T − k`` at η); ``tuned`` (the stable point with the best
   validation Average (Local + Global)/2, Local on the client's own validation split, Global on the other
   clients'); ``matched Local`` (per seed the largest validation Local that every method reaches; each
   method's stable point at or above it with the best validation Global); with ``grid_on_short`` also
   ``tuned`` on the short global model. Selection reads validation numbers only (see :func:`select`).
5. **Per variant**: test Local, Global (other clients), Worst, C-Std, both Averages, ``Δ_c``, the fraction
   of clients hurt and unstable; loss flooding of FT and LP-FT at ``b = q · L_train(θ_G)`` for q in
   ``flood_levels``; the head / feature / interaction attribution of each method's global-accuracy change
   (:func:`lpft_theory.attribution.attribution`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from .. import _validate as Vd
from ..attribution import attribution
from ..data import Samples, stack_clients
from ..dynamics import Transform, loss_rise
from ..federated import fedavg, to_plateau
from ..metrics import average_columns, delta_c
from ..rng import spawn
from ..stats import mean_ci
from ..strategies import flooded, ft, lp, lp_ft, lss, proximal_ft, soup, sparse_ft
from ..strategies.base import Strategy, gd_fit
from ..strategies.regularized import proximal
from .digits import SCENARIOS, split
from .torch_arch import cnn, mlp

MODELS = {"mlp": mlp, "cnn": cnn}
SIX = ("FT", "Proximal", "Soup", "Sparse", "LSS", "LP-FT")  # Chen et al.'s Table 2 variants
METHODS = SIX + ("LP",)
VARIANTS = {  # protocol variant → the choices it makes
    "fixed recipe, 30-round global": "30 FedAvg rounds; one eta and T for all; LP-FT gets LP + FT steps (2x budget)",
    "fixed recipe": "converged global model; one eta and T for all; LP-FT gets LP + FT steps (2x budget)",
    "equal budget": "converged global model; one eta and T for all; LP-FT's LP steps count against its T",
    "tuned": "converged global model; each method's eta, T and knob chosen on the validation Average",
    "matched Local": "converged global model; each method's best validation Global at a common validation Local",
    "tuned, 30-round global": "30 FedAvg rounds; each method's eta, T and knob chosen on the validation Average",
}


@dataclass
class RealConfig:
    """Everything that defines a run (module docstring); tuples are grids."""

    scenario: str = "covariate"
    model: str = "mlp"
    seeds: int = 5
    clients: int = 10
    val_frac: float = 0.2
    standardize: bool = True
    fed_eta: float = 0.2
    local_steps: int = 10
    short_rounds: int = 30
    chunk: int = 10
    patience: int = 3
    rel_tol: float = 1e-3
    max_rounds: int = 300
    etas: tuple = (0.05, 0.1, 0.2, 0.4)
    steps: tuple = (20, 40, 100)
    eta: float = 0.2
    recipe_steps: int = 40
    mus: tuple = (0.1, 1.0)
    rates: tuple = (0.5, 0.9)
    soup_sizes: tuple = (2, 3)
    lp_steps: tuple = (10, 20)
    ft_scales: tuple = (1.0, 0.1)
    lp_mus: tuple = (0.0, 1.0)
    flood_levels: tuple = (0.25, 0.5, 0.75)
    rise_tol: float = 1e-3
    lp_converged_steps: int = 400
    grid_on_short: bool = True

    def validate(self) -> "RealConfig":
        Vd.choice("scenario", self.scenario, SCENARIOS)
        Vd.choice("model", self.model, tuple(MODELS))
        Vd.integer("seeds", self.seeds, min_value=2)
        Vd.integer("clients", self.clients, min_value=2, max_value=100)
        Vd.real("val_frac", self.val_frac, low=0.05, high=0.5)
        for k in ("local_steps", "short_rounds", "chunk", "patience", "recipe_steps", "lp_converged_steps"):
            Vd.integer(k, getattr(self, k), min_value=1)
        Vd.integer("max_rounds", self.max_rounds, min_value=self.chunk)
        for k in ("fed_eta", "eta", "rise_tol"):
            Vd.positive(k, getattr(self, k))
        Vd.nonnegative("rel_tol", self.rel_tol)
        grids = {"etas": (Vd.positive, None), "steps": (None, 1), "mus": (Vd.positive, None),
                 "rates": (lambda n, v: Vd.real(n, v, low=0.0, high=1.0, high_open=True), None),
                 "soup_sizes": (None, 2), "lp_steps": (None, 1),
                 "ft_scales": (lambda n, v: Vd.real(n, v, low=0.0, high=1.0, low_open=True), None),
                 "lp_mus": (Vd.nonnegative, None),
                 "flood_levels": (lambda n, v: Vd.real(n, v, low=0.0, high=1.0, low_open=True), None)}
        for k, (check, min_int) in grids.items():
            vals = getattr(self, k)
            if not isinstance(vals, (tuple, list)) or not vals:
                raise ValueError(f"{k} must be a non-empty tuple, got {vals!r}")
            for i, v in enumerate(vals):
                check(f"{k}[{i}]", v) if check else Vd.integer(f"{k}[{i}]", v, min_value=min_int)
        if self.eta not in self.etas:
            raise ValueError(f"eta (the fixed recipe's step size) must be one of etas={self.etas}, got {self.eta}")
        if self.recipe_steps not in self.steps:
            raise ValueError(f"recipe_steps must be one of steps={self.steps}, got {self.recipe_steps}")
        for k, v in (("ft_scales", 1.0), ("lp_mus", 0.0)):
            if v not in getattr(self, k):
                raise ValueError(f"{k} must contain {v} (the equal-budget recipe), got {getattr(self, k)}")
        if max(self.lp_steps) >= self.recipe_steps:
            raise ValueError(f"lp_steps must be < recipe_steps={self.recipe_steps} (LP-FT needs FT steps), "
                             f"got {self.lp_steps}")
        return self

    def recipe(self, method: str) -> dict:
        """The fixed recipe's knob of ``method`` (the old defaults where they exist)."""
        return {"FT": {}, "LP": {"mu": 0.0}, "LSS": {}, "Proximal": {"mu": self.mus[-1]},
                "Sparse": {"rate": self.rates[0]}, "Soup": {"size": self.soup_sizes[-1]},
                "LP-FT": {"k": self.lp_steps[0], "rho": 1.0, "mu_lp": 0.0}}[method]

    def knobs(self, method: str) -> list:
        """Every knob setting of ``method`` in the grid."""
        return {"FT": [{}], "LSS": [{}], "LP": [{"mu": m} for m in self.lp_mus],
                "Proximal": [{"mu": m} for m in self.mus], "Sparse": [{"rate": r} for r in self.rates],
                "Soup": [{"size": s} for s in self.soup_sizes],
                "LP-FT": [{"k": k, "rho": r, "mu_lp": m} for k in self.lp_steps for r in self.ft_scales
                          for m in self.lp_mus]}[method]


# ---------------------------------------------------------------------------- strategies of the grid
def anchored_lp(eta, steps: int, mu: float) -> Strategy:
    """LP regularised toward the global head (body frozen), a proximal step on the head only:

        V ← (V − η ∇_V L_i(B_G, V) + η μ V_G) / (1 + η μ);   μ = 0 is plain LP (``lp(mode="steps")``).
    """
    mu = Vd.nonnegative("mu", mu)

    def factory(arch, start, data, loss, half):
        inner = proximal(eta, mu, start)

        def update(grads, state, params, value, t):
            step, state = inner.update(grads, state, params, value, t)
            return tuple(np.zeros_like(s) for s in step[:-1]) + (step[-1],), state

        return Transform(inner.init, update)

    return Strategy(f"LP[mu={mu:g}]", gd_fit(factory, steps),
                    "V ← (V − η∇_V L_i + ημV_G)/(1 + ημ), body frozen")


def make_strategy(method: str, knob: dict, eta, steps: int) -> Strategy:
    """The strategy of one grid point: ``method`` with ``knob`` at step size ``eta`` for ``steps`` in total."""
    if method == "FT":
        return ft(eta, steps)
    if method == "LP":
        return anchored_lp(eta, steps, knob["mu"])
    if method == "LP-FT":
        return lp_ft(np.multiply(eta, knob["rho"]), steps - knob["k"], anchored_lp(eta, knob["k"], knob["mu_lp"]))
    if method == "Proximal":
        return proximal_ft(eta, steps, knob["mu"])
    if method == "Sparse":
        return sparse_ft(eta, steps, knob["rate"])
    if method == "Soup":
        eta = np.asarray(eta)[None] if np.ndim(eta) else eta  # the soup's ingredient axis comes first
        return soup(eta, steps, knob["size"], sigma=0.01)
    if method == "LSS":
        return lss(eta, steps, n_verts=1, vertex_steps=max(steps // 4, 1))
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


# ---------------------------------------------------------------------------- data and global models
@dataclass
class Prepared:
    """One seed's data: training, validation, test (client axis first) and an evaluation set holding the
    validation and test points of every client side by side (``wv``/``wt`` mark which is which)."""

    train: Samples
    val: Samples
    test: Samples
    X: np.ndarray
    Y: np.ndarray
    wv: np.ndarray
    wt: np.ndarray
    meta: dict


def prepare(cfg: RealConfig, seed: int) -> Prepared:
    fed = split(cfg.scenario, cfg.clients, seed)
    g = spawn(np.random.SeedSequence([seed, 1]), cfg.clients)
    tr, va = [], []
    for s, gk in zip(fed.train, g):
        idx = gk.permutation(s.n)
        n_val = max(1, int(round(cfg.val_frac * s.n)))
        va.append(Samples(s.X[idx[:n_val]], s.Y[idx[:n_val]]))
        tr.append(Samples(s.X[idx[n_val:]], s.Y[idx[n_val:]]))
    te = list(fed.test)
    if cfg.standardize:
        pooled = np.concatenate([s.X for s in tr])
        mu, sd = pooled.mean(0), float((pooled - pooled.mean(0)).std())
        bias = cfg.model == "mlp"

        def fix(s):
            X = (s.X - mu) / sd
            return Samples(np.concatenate([X, np.ones((s.n, 1))], 1) if bias else X, s.Y)

        tr, va, te = [fix(s) for s in tr], [fix(s) for s in va], [fix(s) for s in te]
    both = stack_clients([Samples(np.concatenate([v.X, t.X]), np.concatenate([v.Y, t.Y])) for v, t in zip(va, te)])
    wv = np.zeros_like(both.weights)
    wt = np.zeros_like(both.weights)
    for k, (v, t) in enumerate(zip(va, te)):
        wv[k, : v.n] = 1.0
        wt[k, v.n: v.n + t.n] = 1.0
    meta = {**fed.meta, "train_sizes": [s.n for s in tr], "val_sizes": [s.n for s in va]}
    return Prepared(stack_clients(tr), stack_clients(va), stack_clients(te), both.X, both.Y, wv, wt, meta)


def global_models(cfg: RealConfig, arch, data: Prepared, rng) -> dict:
    """The FedAvg model at the validation plateau and the short ``short_rounds``-round one."""
    weights = np.array(data.meta["train_sizes"], float)
    p0 = arch.init(rng)
    state = {"rounds": 0, "short": None}  # the plateau run passes through the short model: keep it

    def advance(p, n):
        r = state["rounds"]
        if r < cfg.short_rounds < r + n:
            return advance(advance(p, cfg.short_rounds - r), r + n - cfg.short_rounds)
        p = fedavg(arch, p, data.train, n, cfg.local_steps, cfg.fed_eta, loss="ce", weights=weights).params
        state["rounds"] = r + n
        if r + n == cfg.short_rounds:
            state["short"] = p
        return p

    def val_loss(p):
        return float(np.average(arch.loss(p, data.val, "ce"), weights=data.meta["val_sizes"]))

    plateau = to_plateau(advance, val_loss, p0, chunk=cfg.chunk, max_rounds=cfg.max_rounds, patience=cfg.patience,
                         rel_tol=cfg.rel_tol)
    short = state["short"] if state["short"] is not None else advance(plateau.params, cfg.short_rounds - plateau.rounds)
    out = {}
    for name, p, info in (("converged", plateau.params, {"rounds": plateau.rounds, "converged": plateau.converged,
                                                        "curve": [list(c) for c in plateau.curve]}),
                          ("short", short, {"rounds": cfg.short_rounds, "converged": False, "curve": []})):
        acc = _cross(arch, _on_clients(p, cfg.clients), data)[0]
        out[name] = {"params": p, **info, "val_loss": val_loss(p), "val_acc": float(np.mean(acc["val"].diagonal())),
                     "test_acc": float(np.mean(acc["test"].diagonal())),
                     "train_loss": float(np.mean(arch.loss(p, data.train, "ce")))}
    return out


# ---------------------------------------------------------------------------- evaluation
def _cross(arch, params, data: Prepared) -> list:
    """Validation and test cross-accuracy matrices ``M[i, j]`` for params ``(L, C, …)`` (or ``(1, …)``)."""
    P = tuple(np.expand_dims(p, -3) for p in params)  # (L, C, 1, a, b): client i's model on every client j
    hit = (np.argmax(arch.predict(P, data.X), axis=-1) == data.Y).astype(float)  # (L, C, C, n)
    acc = lambda w: np.sum(hit * w, -1) / np.sum(w, -1)  # noqa: E731
    return [{"val": v, "test": t} for v, t in zip(acc(data.wv), acc(data.wt))]


def _on_clients(params, C: int) -> tuple:
    """Client-free params ``(a, b)`` as ``(1, C, a, b)`` (the same model for every client)."""
    return tuple(np.broadcast_to(p, (1, C) + p.shape[-2:]) for p in params)


def _others(M: np.ndarray) -> np.ndarray:
    C = M.shape[-1]
    return (M.sum(-1) - np.diagonal(M, axis1=-2, axis2=-1)) / (C - 1)


def metrics(arch, params, data: Prepared, base: dict, F_G: np.ndarray) -> list:
    """Validation and test metrics of params ``(L, C, …)``: one dict per leading entry."""
    out = []
    F = arch.features(params, data.test.X)
    dc = delta_c(F_G, F, data.test.weights).mean(-1)  # (L,)
    for M, d in zip(_cross(arch, params, data), dc):
        loc, glob = np.diag(M["test"]), _others(M["test"])
        r = {"val_local": float(np.diag(M["val"]).mean()), "val_global": float(_others(M["val"]).mean()),
             "local": float(loc.mean()), "global": float(glob.mean()), "worst": float(loc.min()),
             "c_std": float(loc.std()), "frac_hurt": float(np.mean(loc < base["local_per_client"] - 1e-12)),
             "delta_c": float(d)}
        r.update(average_columns(r["local"], r["global"], r["worst"]))
        out.append(r)
    return out


def _tile(data: Samples, L: int) -> Samples:
    return Samples(np.concatenate([data.X] * L), np.concatenate([data.Y] * L), np.concatenate([data.weights] * L))


def run_grid(cfg: RealConfig, arch, pG, data: Prepared, base: dict, F_G, rng) -> list:
    """Every grid point of every method (module docstring); params kept under ``"params"``."""
    C, etas = cfg.clients, np.array(cfg.etas, float)
    L, T_max = len(etas), max(cfg.steps)
    eta_col = np.repeat(etas, C)
    big = _tile(data.train, L)
    points, ft_rise = [], {}
    for method in METHODS:
        for knob in cfg.knobs(method):
            if method == "LSS":  # no batched step sizes, no recorded steps: one run per (η, T)
                for eta in cfg.etas:
                    for T in cfg.steps:
                        p = make_strategy(method, knob, eta, T)(arch, pG, data.train, loss="ce", rng=rng).params
                        r = metrics(arch, tuple(q[None] for q in p), data, base, F_G)[0]
                        points.append({"method": method, "knob": knob, "eta": eta, "T": T, **r,
                                       "client_rise": ft_rise[(eta, T)], "params": p})
                continue
            traj = make_strategy(method, knob, eta_col, T_max)(arch, pG, big, loss="ce", rng=rng, record=True)
            objective_rise = stage_rise(traj, pG, method, knob, T_max)
            for T in cfg.steps:
                if method == "LP-FT" and T <= knob["k"]:
                    continue
                P = tuple(q.reshape((L, C) + q.shape[-2:]) for q in traj.snapshots[T])
                if method == "Soup":  # ingredient 0 is FT: its rise stands for the soup's
                    rise = [ft_rise[(eta, T)] for eta in cfg.etas]
                else:
                    rise = objective_rise(T).reshape(L, C)
                for i, r in enumerate(metrics(arch, P, data, base, F_G)):
                    eta = cfg.etas[i]
                    if method == "FT":
                        ft_rise[(eta, T)] = rise[i]
                    points.append({"method": method, "knob": knob, "eta": eta, "T": T, **r, "client_rise": rise[i],
                                   "params": tuple(q[i] for q in P)})
    for p in points:
        p.update(_stability(p.pop("client_rise"), cfg.rise_tol))
    return points


def stage_rise(traj, pG, method: str, knob: dict, T_max: int):
    """``T → `` the largest relative one-step rise, per configuration, of the objective each step descends
    within the first ``T`` steps: ``L_i(θ) + (μ/2)‖θ − θ_G‖²`` for the anchored methods (Proximal; LP with μ;
    LP-FT's LP stage with μ_LP), ``L_i`` otherwise — a proximal step may raise ``L_i`` alone by design."""
    mu, k = {"Proximal": (knob.get("mu", 0.0), T_max), "LP": (knob.get("mu", 0.0), T_max),
             "LP-FT": (knob.get("mu_lp", 0.0), knob.get("k", 0))}.get(method, (0.0, 0))
    L = np.asarray(traj.losses)
    if mu == 0 or k == 0:
        return lambda T: loss_rise(L[: T + 1])
    pen = np.stack([0.5 * mu * sum(np.sum((s - g) ** 2, axis=(-2, -1)) for s, g in zip(snap, pG))
                    for snap in traj.snapshots[: k + 1]])
    anchored = L[: k + 1] + pen

    def rise(T):
        if T <= k:
            return loss_rise(anchored[: T + 1])
        return np.maximum(loss_rise(anchored), loss_rise(L[k: T + 1]))

    return rise


def _stability(client_rise, tol: float) -> dict:
    """Per client: did the training loss rise by more than ``tol`` (relative) at some step?"""
    rise = np.asarray(client_rise, float)
    return {"rise": float(rise.max()), "n_unstable": int(np.sum(rise > tol)), "unstable": bool(np.any(rise > tol)),
            "clients_unstable": [int(i) for i in np.flatnonzero(rise > tol)]}


# ---------------------------------------------------------------------------- selection (validation only)
VAL_KEYS = ("method", "knob", "eta", "T", "val_local", "val_global", "unstable")


def select(points: list, rule: str, cfg: RealConfig) -> dict:
    """One point per method under ``rule`` (``equal budget``, ``tuned``, ``matched Local``), reading only
    :data:`VAL_KEYS` of each point: test numbers cannot influence a choice. Returns method → index into
    ``points`` (and ``"level"``, the matched validation Local, for ``matched Local``)."""
    view = [{k: p[k] for k in VAL_KEYS} for p in points]
    out = {}
    if rule == "equal budget":
        for m in METHODS:
            want = cfg.recipe(m)
            out[m] = next(i for i, p in enumerate(view) if p["method"] == m and p["knob"] == want
                          and p["eta"] == cfg.eta and p["T"] == cfg.recipe_steps)
        out["LP-FT (FT stage at η/10)"] = next(
            i for i, p in enumerate(view) if p["method"] == "LP-FT" and p["eta"] == cfg.eta
            and p["T"] == cfg.recipe_steps and p["knob"] == {**cfg.recipe("LP-FT"), "rho": min(cfg.ft_scales)})
        return out
    stable = {m: [i for i, p in enumerate(view) if p["method"] == m and not p["unstable"]] for m in METHODS}
    empty = [m for m, ix in stable.items() if not ix]
    if empty:
        raise ValueError(f"no stable grid point for {empty}: add smaller step sizes to etas={cfg.etas}")
    if rule == "tuned":
        for m, ix in stable.items():  # best validation Average; ties go to the earliest grid point
            out[m] = max(ix, key=lambda i: (view[i]["val_local"] + view[i]["val_global"], -i))
        return out
    if rule == "matched Local":
        level = min(max(view[i]["val_local"] for i in stable[m]) for m in SIX)
        for m, ix in stable.items():
            ok = [i for i in ix if view[i]["val_local"] >= level] or [max(ix, key=lambda i: view[i]["val_local"])]
            out[m] = max(ok, key=lambda i: (view[i]["val_global"], -i))
        out["level"] = level
        return out
    raise ValueError(f"rule must be 'equal budget', 'tuned' or 'matched Local', got {rule!r}")


# ---------------------------------------------------------------------------- the fixed recipe
def recipe_points(cfg: RealConfig, arch, pG, data: Prepared, base: dict, F_G, rng) -> dict:
    """The old recipe at (``eta``, ``recipe_steps``): LP at 2η, LP-FT = LP T steps at 2η + FT T steps at η."""
    e, T = cfg.eta, cfg.recipe_steps
    out = {}
    for m in METHODS:
        if m == "LP-FT":
            strat = lp_ft(e, T, lp("steps", eta=2 * e, steps=T))
        elif m == "LP":
            strat = lp("steps", eta=2 * e, steps=T)
        else:
            strat = make_strategy(m, cfg.recipe(m), e, T)
        traj = strat(arch, pG, data.train, loss="ce", rng=rng, record=m == "Proximal")
        r = metrics(arch, tuple(q[None] for q in traj.params), data, base, F_G)[0]
        rise = (stage_rise(traj, pG, m, cfg.recipe(m), T)(T) if m == "Proximal" else loss_rise(traj.losses)
                if m not in ("Soup", "LSS") else out["FT"]["client_rise"])  # FT's rise stands for Soup's and LSS's
        out[m] = {"method": m, "knob": cfg.recipe(m), "eta": e, "T": 2 * T if m == "LP-FT" else T, **r,
                  **_stability(rise, cfg.rise_tol), "client_rise": rise, "strategy": strat, "params": traj.params}
    return out


# ---------------------------------------------------------------------------- one seed
def _global_eval(arch, data: Prepared):
    def evaluate(params):  # per client: accuracy on the other clients' test data
        return _others(_cross(arch, tuple(p[None] for p in params), data)[0]["test"])
    return evaluate


def _variant(cfg, arch, pG, data, base, chosen: dict, rng, flood_b: list) -> dict:
    """Rows, flooding and attribution of one protocol variant; ``chosen``: method → point (with params)."""
    rows = {m: {k: v for k, v in p.items() if k not in ("params", "strategy", "client_rise")}
            for m, p in chosen.items()}
    evaluate = _global_eval(arch, data)
    attr = {}
    for m in METHODS:
        a = attribution(evaluate, pG, chosen[m]["params"], n_head=1)
        attr[m] = {k: float(np.mean(a[k])) for k in ("total", "head", "feature", "interaction")}
    flood = []
    for m in ("FT", "LP-FT"):
        p = chosen[m]
        strat = p.get("strategy") or make_strategy(m, p["knob"], p["eta"], p["T"])
        for q, b in zip(cfg.flood_levels, flood_b):
            out = flooded(strat, b)(arch, pG, data.train, loss="ce", rng=rng)
            M = _cross(arch, tuple(x[None] for x in out.params), data)[0]["test"]
            flood.append({"q": q, "b": b, "strategy": m, "train_loss": float(np.mean(out.losses[-1])),
                          "local": float(np.diag(M).mean()), "global": float(_others(M).mean())})
    return {"rows": rows, "attribution": attr, "flood": flood}


def _sweep(cfg, arch, pG, data, rng) -> list:
    """Fig. 2: FT at the recipe's η over local steps (test accuracy)."""
    T = max(cfg.steps)
    traj = ft(cfg.eta, T)(arch, pG, data.train, loss="ce", record=True)
    every = max(T // 10, 1)
    out = []
    for t in range(0, T + 1, every):
        M = _cross(arch, tuple(q[None] for q in traj.snapshots[t]), data)[0]["test"]
        out.append({"step": t, "local": float(np.diag(M).mean()), "global": float(_others(M).mean())})
    return out


def run_one(cfg: RealConfig, seed: int) -> dict:
    data = prepare(cfg, seed)
    arch = MODELS[cfg.model](d=data.X.shape[-1]) if cfg.model == "mlp" else MODELS[cfg.model]()
    g_init, g_strat = spawn(seed, 2)
    models = global_models(cfg, arch, data, g_init)
    out = {"seed": seed, "meta": data.meta, "variants": {}, "grid": {}, "sweep": {},
           "global_models": {k: {kk: vv for kk, vv in v.items() if kk != "params"} for k, v in models.items()}}
    for which in ("short", "converged"):
        pG = models[which]["params"]
        C = cfg.clients
        M = _cross(arch, _on_clients(pG, C), data)[0]
        base = {"local_per_client": np.diag(M["test"]), "local": float(np.diag(M["test"]).mean()),
                "global": float(_others(M["test"]).mean()), "val_local": float(np.diag(M["val"]).mean()),
                "val_global": float(_others(M["val"]).mean())}
        F_G = arch.features(pG, data.test.X)
        flood_b = [q * models[which]["train_loss"] for q in cfg.flood_levels]
        gm_row = {k: v for k, v in base.items() if k != "local_per_client"}
        out["sweep"][which] = _sweep(cfg, arch, pG, data, g_strat)
        recipe = recipe_points(cfg, arch, pG, data, base, F_G, g_strat)
        name = "fixed recipe" if which == "converged" else "fixed recipe, 30-round global"
        out["variants"][name] = {**_variant(cfg, arch, pG, data, base, recipe, g_strat, flood_b),
                                 "global_model": which, "base": gm_row}
        if which == "short" and not cfg.grid_on_short:
            continue
        points = run_grid(cfg, arch, pG, data, base, F_G, g_strat)
        out["grid"][which] = [{k: v for k, v in p.items() if k != "params"} for p in points]
        rules = ("tuned",) if which == "short" else ("equal budget", "tuned", "matched Local")
        for rule in rules:
            pick = select(points, rule, cfg)
            name = rule if which == "converged" else f"{rule}, 30-round global"
            chosen = {m: points[i] for m, i in pick.items() if m != "level"}
            v = _variant(cfg, arch, pG, data, base, chosen, g_strat, flood_b)
            if rule == "equal budget":
                extra = points[pick["LP-FT (FT stage at η/10)"]]
                v["rows"]["LP-FT (FT stage at η/10)"] = {k: x for k, x in extra.items() if k != "params"}
            out["variants"][name] = {**v, "global_model": which, "base": gm_row,
                                     **({"level": pick["level"]} if "level" in pick else {})}
        if which == "converged":  # the converged-LP control: LP run far longer at the recipe's 2η
            traj = lp("steps", eta=2 * cfg.eta, steps=cfg.lp_converged_steps)(arch, pG, data.train, loss="ce")
            r = metrics(arch, tuple(q[None] for q in traj.params), data, base, F_G)[0]
            tail = traj.losses[-max(cfg.lp_converged_steps // 10, 1) - 1:]
            out["lp_converged"] = {**r, "steps": cfg.lp_converged_steps,
                                   **_stability(loss_rise(traj.losses), cfg.rise_tol),
                                   "last_10pct_rel_decrease": float(np.mean((tail[0] - tail[-1]) / tail[0])),
                                   "global_change": r["global"] - base["global"]}
    return out


# ---------------------------------------------------------------------------- all seeds
def summarize_runs(runs: list) -> dict:
    """Per variant and method: mean and 95% t-interval over seeds of every numeric metric; ``"controls"``: LP run
    to convergence (``lp_converged_steps`` at 2η) on the converged global model."""
    out = {}
    for v in runs[0]["variants"]:
        rows = runs[0]["variants"][v]["rows"]
        out[v] = {"Global model": {k: mean_ci([r["variants"][v]["base"][k] for r in runs])
                                   for k in runs[0]["variants"][v]["base"]}}
        for m, row in rows.items():
            out[v][m] = {k: mean_ci([r["variants"][v]["rows"][m][k] for r in runs]) for k, x in row.items()
                         if isinstance(x, float) and np.isfinite(x)}
            out[v][m]["frac_seeds_unstable"] = float(np.mean([r["variants"][v]["rows"][m]["unstable"] for r in runs]))
    lpc = [r["lp_converged"] for r in runs]
    out["controls"] = {"LP run to convergence": {k: mean_ci([x[k] for x in lpc]) for k, v in lpc[0].items()
                                                 if isinstance(v, float)}}
    return out


def run_real(cfg: RealConfig, progress=None) -> dict:
    """All seeds; ``progress(seed)`` after each. Returns config, per-seed runs and the summary."""
    cfg.validate()
    runs = []
    for s in range(cfg.seeds):
        runs.append(run_one(cfg, s))
        if progress is not None:
            progress(s)
    return {"config": asdict(cfg), "runs": runs, "summary": summarize_runs(runs)}


QUICK = RealConfig(seeds=3, clients=5, patience=2, max_rounds=150, etas=(0.1, 0.2), steps=(20, 40), mus=(1.0,),
                   rates=(0.5,), soup_sizes=(2,), lp_steps=(10,), flood_levels=(0.5,), lp_converged_steps=100,
                   grid_on_short=False)


@lru_cache(maxsize=None)
def study(quick: bool = True, scenario: str = "covariate", model: str = "mlp") -> dict:
    """The digits study behind the real-data paper checks and figures (cached per process)."""
    base = QUICK if quick else RealConfig()
    return run_real(RealConfig(**{**asdict(base), "scenario": scenario, "model": model}))
