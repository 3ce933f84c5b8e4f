"""``lpft real``: federated digits in regimes where personalization matters, every method tuned on an equal
grid, compared at a fixed recipe, at equal budget, tuned, and at matched Local — with a positive control.

One call (:func:`run_real`) runs one shift and one model for all seeds; every torch computation is batched
over seeds, clients and grid points (:mod:`lpft_theory.empirical.batched`).

1. **Regime** (:data:`REGIMES`): per shift the split's parameters and the reason personalization matters
   there (few classes per client, permuted labels, strong transforms with few images, little shared pixel
   support, a long tail). A validation split is carved from every client's training data (``val_frac``);
   test data is only ever *reported*. With ``standardize`` inputs are centred per pixel and scaled by one
   global standard deviation (pooled training statistics, one aggregation round); the MLP gets a constant
   input 1 (a first-layer bias).
2. **Global model.** FedAvg (cross-entropy, clients weighted by data size) run to its own validation plateau
   per seed (:func:`~lpft_theory.empirical.batched.fedavg_to_plateau`, the rule of
   :func:`lpft_theory.federated.to_plateau`); the ``short_rounds`` model on the way is kept for reference.
   ``local_gain_available`` = the best test Local of any stable grid point − the global model's test Local:
   how much room the regime leaves.
3. **Grid, equal for every method** (:func:`grid`): ``etas × steps × 2 knob values`` = the same number of
   configurations for each method (:func:`grid_counts`). Knobs: Proximal μ, Sparse rate, Soup size M, LP's
   pull μ toward the global head, LP-FT's LP length k, and, for the knob-free FT and LSS, a second step size
   ``η · eta_scales[1]``. ``T`` counts *gradient evaluations per client* (equal compute): a soup of M trains
   each ingredient ``⌊T/M⌋`` steps, LSS spends ``⌊T/4⌋·2`` of its ``T`` on its second vertex, LP-FT spends k on
   LP. Every row records the objective it descends; a grid point is *unstable* when it rose by more than
   ``rise_tol`` (relative) in a step — Soup by any ingredient's own run, LSS by its first vertex's objective
   or a final training loss above the global model's.
4. **The positive control** ``Mix`` (WiSE-FT, Wortsman et al. 2022): ``θ = (1 − a) θ_FT + a θ_G`` on FT's
   grid points (``a`` ∈ ``mix_weights``) — a method known to keep the global model. Each claim is read only
   where its testbed detects Mix − FT > 0 under the claim's primary protocol.
5. **Protocol variants** (:data:`VARIANTS`): ``fixed recipe`` (the papers' recipe at η = ``eta``,
   T = ``recipe_steps``: LP at 2η, LP-FT = LP T steps at 2η + FT T steps at η, Soup = M ingredients of T
   steps, LSS as published — not equal compute), ``equal budget`` (every method at η, T, its recipe knob,
   T gradient evaluations), ``tuned`` (each method's stable point with the best mean own-validation Local),
   ``matched local`` (per seed the level ``L_G + q (L_common − L_G)``, ``q`` = ``match_q``, between the global
   model's own-validation Local ``L_G`` and ``L_common``, the smallest over the six methods of their best
   stable own-validation Local — the rule of :func:`lpft_theory.protocol.matched_levels`; each method's
   stable point closest above it, compared with a 1e-9 tolerance). **Selection reads only
   each client's own validation accuracy** (means over clients, one aggregation round): no client's choice
   sees another client's data, and no test number (:func:`select`).
6. **Per variant**: test Local, Global (other clients' test sets), Worst, C-Std, both Averages, ``Δ_c``, the
   fraction of clients hurt; loss flooding of FT and LP-FT at ``b = q · L_train(θ_G)`` for q in
   ``flood_levels``; the head / feature / interaction attribution of each method's Global change.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch

from .. import _validate as Vd
from ..data import Samples, stack_clients
from ..dynamics import Transform, loss_rise
from ..metrics import average_columns
from ..rng import spawn
from ..stats import mean_ci
from ..strategies import ft, lp_ft, lss, proximal_ft, soup, sparse_ft
from ..strategies.base import Strategy, gd_fit
from ..strategies.regularized import proximal
from . import batched as B
from .digits import SCENARIOS, split
from .torch_arch import cnn, mlp

MODELS = {"mlp": mlp, "cnn": cnn}
SIX = ("FT", "Proximal", "Soup", "Sparse", "LSS", "LP-FT")  # Chen et al.'s Table 2 variants
METHODS = SIX + ("LP",)
CONTROL = "Mix"  # the positive control (module docstring, 4.)
ALL = METHODS + (CONTROL,)
VARIANTS = {  # protocol variant → the choices it makes
    "fixed recipe": "plateau global model; the papers' recipe: one eta and T; LP-FT = LP T + FT T steps, Soup M x T "
                    "(not equal compute)",
    "equal budget": "plateau global model; one eta and T; T gradient evaluations per client for every method",
    "tuned": "plateau global model; each method's stable grid point with the best own-validation Local",
    "matched local": "plateau global model; each method's stable grid point closest above a common own-validation "
                     "Local (the smallest of the six methods' best)",
}
SELECTION_DATA = ("each client's own validation split only (per-client accuracies averaged over clients, one "
                  "aggregation round); never another client's data, never test data")
TOL = 1e-9  # the matched level's comparison tolerance (a mean of accuracies is a float sum)

REGIMES = {  # shift → (split parameters, training images per client (0 = all), why personalization matters)
    "covariate": ({"transform": "shift-invert"}, 60, "a fixed, information-preserving change per client (its own "
                  "cyclic translation by 1-2 pixels, inverted intensities on every other client): a client's images "
                  "are learnable, but one global model must serve ten input distributions at once"),
    "concept": ({"n_swaps": 4}, 60, "four label swaps per client: the same image means different labels on different "
                "clients, which no single global model can fit"),
    "label": ({"classes_per_client": 2}, 30, "pathological non-IID: two classes per client, so a client's own label "
              "prior is far from the global one"),
    "overlap": ({"overlap": 0.2, "visible": 0.5}, 60, "each client sees half the pixels, 6 of them shared: the global "
                "model must read 10 different views"),
    "longtail": ({"imbalance": 50.0, "beta": 0.3}, 60, "class counts from 1x to 50x and a skewed Dirichlet(0.3) split: "
                 "head classes dominate the global model, a client's own classes differ"),
}


@dataclass
class RealConfig:
    """Everything that defines a run (module docstring); tuples are grids."""

    scenario: str = "covariate"
    model: str = "mlp"
    seeds: int = 5
    clients: int = 10
    val_frac: float = 0.25
    max_test: int = 30
    standardize: bool = True
    fed_eta: float = 0.3
    local_steps: int = 5
    short_rounds: int = 30
    chunk: int = 10
    patience: int = 3
    rel_tol: float = 1e-3
    max_rounds: int = 300
    etas: tuple = (0.1, 0.5)
    eta_scales: tuple = (1.0, 0.5)
    steps: tuple = (5, 10, 20, 40)
    eta: float = 0.1
    recipe_steps: int = 20
    match_q: float = 0.5
    mus: tuple = (0.1, 1.0)
    rates: tuple = (0.5, 0.9)
    soup_sizes: tuple = (2, 3)
    lp_steps: tuple = (2, 4)
    lp_mus: tuple = (0.0, 1.0)
    mix_weights: tuple = (0.25, 0.5)
    flood_levels: tuple = (0.25, 0.5, 0.75)
    rise_tol: float = 1e-3
    device: str = "cpu"

    KNOBS = ("eta_scales", "mus", "rates", "soup_sizes", "lp_steps", "lp_mus", "mix_weights")

    def validate(self) -> "RealConfig":
        Vd.choice("scenario", self.scenario, SCENARIOS)
        Vd.choice("model", self.model, tuple(MODELS))
        Vd.integer("seeds", self.seeds, min_value=2)
        Vd.integer("clients", self.clients, min_value=2, max_value=100)
        Vd.real("val_frac", self.val_frac, low=0.05, high=0.5)
        for k in ("local_steps", "short_rounds", "chunk", "patience", "recipe_steps", "max_test"):
            Vd.integer(k, getattr(self, k), min_value=1)
        Vd.integer("max_rounds", self.max_rounds, min_value=self.chunk)
        for k in ("fed_eta", "eta", "rise_tol"):
            Vd.positive(k, getattr(self, k))
        Vd.nonnegative("rel_tol", self.rel_tol)
        Vd.real("match_q", self.match_q, low=0.0, high=1.0, low_open=True)
        if not isinstance(self.device, str) or not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device must be 'cpu' or 'cuda[:n]', got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} but torch sees no CUDA device; use device='cpu'")
        grids = {"etas": (Vd.positive, None), "steps": (None, 1), "mus": (Vd.positive, None),
                 "eta_scales": (lambda n, v: Vd.real(n, v, low=0.0, high=1.0, low_open=True), None),
                 "rates": (lambda n, v: Vd.real(n, v, low=0.0, high=1.0, high_open=True), None),
                 "soup_sizes": (None, 2), "lp_steps": (None, 1), "lp_mus": (Vd.nonnegative, None),
                 "mix_weights": (lambda n, v: Vd.real(n, v, low=0.0, high=1.0, low_open=True, high_open=True), None),
                 "flood_levels": (lambda n, v: Vd.real(n, v, low=0.0, high=1.0, low_open=True), None)}
        for k, (check, min_int) in grids.items():
            vals = getattr(self, k)
            if not isinstance(vals, (tuple, list)) or not vals:
                raise ValueError(f"{k} must be a non-empty tuple, got {vals!r}")
            for i, v in enumerate(vals):
                check(f"{k}[{i}]", v) if check else Vd.integer(f"{k}[{i}]", v, min_value=min_int)
        sizes = {k: len(getattr(self, k)) for k in self.KNOBS}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"every method's knob grid must have the same length (equal tuning budget), got {sizes}")
        if self.eta_scales[0] != 1.0:
            raise ValueError(f"eta_scales must start with 1.0 (the recipe's step size), got {self.eta_scales}")
        if self.eta not in self.etas:
            raise ValueError(f"eta (the fixed recipe's step size) must be one of etas={self.etas}, got {self.eta}")
        if self.recipe_steps not in self.steps:
            raise ValueError(f"recipe_steps must be one of steps={self.steps}, got {self.recipe_steps}")
        if max(self.lp_steps) >= min(self.steps):
            raise ValueError(f"lp_steps must be < min(steps)={min(self.steps)} (LP-FT needs FT steps at every T), "
                             f"got {self.lp_steps}")
        return self

    def recipe(self, method: str) -> dict:
        """The knob of ``method`` in the fixed recipe and the equal-budget variant."""
        return {"FT": {"eta_scale": 1.0}, "LSS": {"eta_scale": 1.0}, "LP": {"mu": 0.0}, "Proximal": {"mu": self.mus[-1]},
                "Sparse": {"rate": self.rates[0]}, "Soup": {"size": self.soup_sizes[-1]}, "LP-FT": {"k": self.lp_steps[0]},
                "Mix": {"a": self.mix_weights[-1]}}[method]

    def knobs(self, method: str) -> list:
        """Every knob setting of ``method`` in the grid (the same number for every method)."""
        return {"FT": [{"eta_scale": s} for s in self.eta_scales], "LSS": [{"eta_scale": s} for s in self.eta_scales],
                "LP": [{"mu": m} for m in self.lp_mus], "Proximal": [{"mu": m} for m in self.mus],
                "Sparse": [{"rate": r} for r in self.rates], "Soup": [{"size": s} for s in self.soup_sizes],
                "LP-FT": [{"k": k} for k in self.lp_steps], "Mix": [{"a": a} for a in self.mix_weights]}[method]


def grid(cfg: RealConfig, method: str) -> list:
    """The grid points ``(knob, eta, T)`` of ``method``: ``knobs × etas × steps``; ``eta`` is the step size the
    point runs at (FT and LSS: ``η · eta_scale``)."""
    out = []
    for knob in cfg.knobs(method):
        for e in cfg.etas:
            for T in cfg.steps:
                out.append((knob, e * knob.get("eta_scale", 1.0), T))
    return out


def grid_counts(cfg: RealConfig) -> dict:
    """Configurations per method (equal by construction; tests assert it)."""
    return {m: len(grid(cfg, m)) for m in ALL}


def gradient_evaluations(method: str, knob: dict, T: int) -> int:
    """Gradient evaluations per client of one grid point (the equal-compute budget ``T``)."""
    if method == "Soup":
        return knob["size"] * (T // knob["size"])
    if method == "LSS":
        return _lss_split(T)[0] + 2 * _lss_split(T)[1]
    return T


def _lss_split(T: int) -> tuple:
    """LSS's ``(first-vertex steps, second-vertex steps)`` within ``T`` gradient evaluations (2 draws a step)."""
    v = max(T // 4, 1)
    return max(T - 2 * v, 0), v


# ---------------------------------------------------------------------------- the engine's strategies (reference)
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
    """The engine's strategy of one grid point (``eta``: the point's own step size; ``steps``: its budget T),
    the per-configuration reference the batched grid is tested against."""
    if method == "FT":
        return ft(eta, steps)
    if method == "LP":
        return anchored_lp(eta, steps, knob["mu"])
    if method == "LP-FT":
        return lp_ft(eta, steps - knob["k"], anchored_lp(eta, knob["k"], 0.0))
    if method == "Proximal":
        return proximal_ft(eta, steps, knob["mu"])
    if method == "Sparse":
        return sparse_ft(eta, steps, knob["rate"])
    if method == "Soup":
        return soup(eta, steps // knob["size"], knob["size"], sigma=0.01)
    if method == "LSS":
        first, second = _lss_split(steps)
        return lss(eta, first, n_verts=1, vertex_steps=second)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


# ---------------------------------------------------------------------------- data
@dataclass
class Prepared:
    """One seed's data (client axis first); ``meta``: the split's description and sizes."""

    train: Samples
    val: Samples
    test: Samples
    meta: dict


def prepare(cfg: RealConfig, seed: int) -> Prepared:
    params, max_train, _ = REGIMES[cfg.scenario]
    fed = split(cfg.scenario, cfg.clients, seed, **params)
    g = spawn(np.random.SeedSequence([seed, 1]), cfg.clients)
    tr, va, te = [], [], []
    for s, t, gk in zip(fed.train, fed.test, g):
        idx = gk.permutation(s.n)
        n_val = max(1, int(round(cfg.val_frac * s.n)))
        va.append(Samples(s.X[idx[:n_val]], s.Y[idx[:n_val]]))
        keep = idx[n_val:] if not max_train else idx[n_val:n_val + max_train]
        tr.append(Samples(s.X[keep], s.Y[keep]))
        te.append(Samples(t.X[: cfg.max_test], t.Y[: cfg.max_test]))
    if cfg.standardize:
        pooled = np.concatenate([s.X for s in tr])
        mu, sd = pooled.mean(0), float((pooled - pooled.mean(0)).std())
        bias = cfg.model == "mlp"

        def fix(s):
            X = (s.X - mu) / sd
            return Samples(np.concatenate([X, np.ones((s.n, 1))], 1) if bias else X, s.Y)

        tr, va, te = [fix(s) for s in tr], [fix(s) for s in va], [fix(s) for s in te]
    meta = {**fed.meta, "train_sizes": [s.n for s in tr], "val_sizes": [s.n for s in va],
            "test_sizes": [s.n for s in te]}
    return Prepared(stack_clients(tr), stack_clients(va), stack_clients(te), meta)


def _pad_stack(parts: list) -> Samples:
    """Per-seed ``Samples (C, n_s, d)`` → one ``(S·C, max n, d)`` with zero-weight padding."""
    n = max(p.n for p in parts)
    X = np.concatenate([np.pad(p.X, ((0, 0), (0, n - p.n), (0, 0))) for p in parts])
    Y = np.concatenate([np.pad(p.Y, ((0, 0), (0, n - p.n))) for p in parts])
    W = np.concatenate([np.pad(p.weights, ((0, 0), (0, n - p.n))) for p in parts])
    return Samples(X, Y, W)


class Bank:
    """Every seed's data as tensors, rows seed-major (``s·C + c``), and the evaluation layout: each model row
    is evaluated on all test points of its seed (``test_X``, one set per seed, owner ``test_owner``) and on its
    own validation points."""

    def __init__(self, cfg: RealConfig, arch, preps: list):
        self.S, self.C, self.p = len(preps), cfg.clients, arch.p
        dev = cfg.device
        self.train = B.Data.of(_pad_stack([d.train for d in preps]), self.p, dev)
        self.val = B.Data.of(_pad_stack([d.val for d in preps]), self.p, dev)
        E, nE = [], max(int(d.test.weights.sum()) for d in preps)
        for d in preps:
            keep = d.test.weights > 0
            x, y = d.test.X[keep], d.test.Y[keep]
            o = np.repeat(np.arange(self.C), keep.sum(1))
            E.append((np.pad(x, ((0, nE - len(y)), (0, 0))), np.pad(y, (0, nE - len(y))),
                      np.pad(o, (0, nE - len(y)), constant_values=-1)))
        self.nE = nE
        nV = self.val.X.shape[1]
        self.test_X = torch.as_tensor(np.stack([E[s][0] for s in range(self.S)]), device=self.train.X.device)  # (S, nE, d)
        self.test_y = np.stack([E[s][1] for s in range(self.S)])  # (S, nE)
        self.test_owner = np.stack([E[s][2] for s in range(self.S)])  # (S, nE), -1 = padding
        self.val_y = _np(self.val.Y).reshape(self.S, self.C, nV)
        self.val_w = (_np(self.val.W) > 0).reshape(self.S, self.C, nV)

    def data_rows(self, k: int = 1) -> np.ndarray:
        """Data-row indices for ``k`` stacked copies of every (seed, client)."""
        return np.tile(np.arange(self.S * self.C), k)


def _np(t):
    return t.detach().cpu().numpy()


# ---------------------------------------------------------------------------- evaluation
def global_features(arch, bank: Bank, pG) -> dict:
    """The global models' features: ``"test" (S, nE, k)`` on each seed's test points, ``"val" (S·C, nV, k)`` on
    each client's own validation points."""
    F_t, _ = B.evaluate(arch, pG, bank.test_X, src=np.arange(bank.S))
    F_v, _ = B.evaluate(arch, _on_rows(pG, bank.C), bank.val.X)
    return {"test": F_t, "val": F_v}


def _head_preds(F: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Predicted labels of heads ``V (R, k, p)`` on features ``F (R, n, k)``."""
    return np.matmul(F, V).argmax(-1)


def predictions(arch, bank: Bank, params, glob=None, head_only=None, features: bool = True) -> tuple:
    """Test features and predictions ``(R, nE, k)``, ``(R, nE)`` and own-validation predictions ``(R, nV)``
    of model rows ``(K·S·C, …)`` (seed-major client rows, ``K`` copies): each seed's test points are one image
    set shared by all its models (:func:`lpft_theory.empirical.batched.evaluate`). ``head_only (K,)``: copies
    whose body is the global model's — their features are ``glob`` (:func:`global_features`), only their heads
    are applied."""
    S, C, nE = bank.S, bank.C, bank.nE
    R = params[0].shape[0]
    idx = np.tile(np.arange(S * C), R // (S * C))
    head = np.zeros(R, bool) if head_only is None else np.repeat(np.asarray(head_only, bool), S * C)
    full, part = np.flatnonzero(~head), np.flatnonzero(head)
    k, nV = arch.shapes()[-1][0], bank.val.X.shape[1]
    F_t = np.empty((R, nE, k)) if features else None
    pred_t, pred_v = np.empty((R, nE), int), np.empty((R, nV), int)
    if len(full):
        P = tuple(p[full] for p in params) if len(part) else params
        F, pred_t[full] = B.evaluate(arch, P, bank.test_X, src=idx[full] // C, features=features)
        if features:
            F_t[full] = F
        pred_v[full] = B.evaluate(arch, P, bank.val.X, src=idx[full], features=False)[1]
    if len(part):
        V = params[-1][part]
        Ft = glob["test"][idx[part] // C]
        if features:
            F_t[part] = Ft
        pred_t[part] = _head_preds(Ft, V)
        pred_v[part] = _head_preds(glob["val"][idx[part]], V)
    return F_t, pred_t, pred_v


def _cross(bank: Bank, pred_t: np.ndarray) -> np.ndarray:
    """Test cross-accuracy matrices ``(K, S, C, C)`` from test predictions ``(K·S·C, nE)``."""
    S, C, nE = bank.S, bank.C, bank.nE
    pred = pred_t.reshape(-1, S, C, nE)
    hit_t = pred == bank.test_y[None, :, None, :]  # (K, S, C, nE)
    own = bank.test_owner[None, :, None, :]
    onehot = (own[..., None] == np.arange(C)).astype(float)  # (1, S, 1, nE, C)
    return np.einsum("ksin,ksinj->ksij", hit_t.astype(float), np.broadcast_to(onehot, hit_t.shape + (C,))) \
        / onehot.sum(-2)


def evaluate(cfg, arch, bank: Bank, params, F_G=None, glob=None, head_only=None) -> dict:
    """Metrics of model rows ``(K·S·C, …)`` (``K`` stacked copies of the seed-major client rows): per copy and
    seed the cross-accuracy matrix on test data, own-validation accuracy, and ``Δ_c`` against ``F_G`` (the
    global model's features on the same points). Returns arrays ``(K, S, …)``. ``glob``, ``head_only``: as
    :func:`predictions`."""
    S, C, nE = bank.S, bank.C, bank.nE
    F, pred_t, pred_v = predictions(arch, bank, params, glob, head_only)
    K = F.shape[0] // (S * C)
    F = F.reshape((K, S, C) + F.shape[1:])
    own = bank.test_owner[None, :, None, :]
    val = (pred_v.reshape(K, S, C, -1) == bank.val_y[None]) * bank.val_w[None]
    out = {"M": _cross(bank, pred_t), "val_local": val.sum(-1) / bank.val_w.sum(-1)[None], "F": F}
    if F_G is not None:
        out["delta_c"] = _delta_c(F, F_G, own, C)
    return out


def _delta_c(F, F_G, own, C: int) -> np.ndarray:
    mine = (own == np.arange(C)[None, None, :, None]).astype(float)  # (1, S, C, nE): the client's own test points
    dist = np.linalg.norm(F - F_G[None], axis=-1)
    return (dist * mine).sum(-1) / mine.sum(-1)


def _others(M: np.ndarray) -> np.ndarray:
    C = M.shape[-1]
    return (M.sum(-1) - np.diagonal(M, axis1=-2, axis2=-1)) / (C - 1)


def _row(ev: dict, k: int, s: int, base_local=None) -> dict:
    """The metric row of copy ``k``, seed ``s`` (client means)."""
    M = ev["M"][k, s]
    loc, glob = np.diag(M), _others(M)
    r = {"val_local": float(ev["val_local"][k, s].mean()), "local": float(loc.mean()), "global": float(glob.mean()),
         "worst": float(loc.min()), "c_std": float(loc.std())}
    if base_local is not None:
        r["frac_hurt"] = float(np.mean(loc < base_local - 1e-12))
    if "delta_c" in ev:
        r["delta_c"] = float(ev["delta_c"][k, s].mean())
    r.update(average_columns(r["local"], r["global"], r["worst"]))
    return r


# ---------------------------------------------------------------------------- the grid, batched
def _on_rows(pG, C: int, k: int = 1) -> tuple:
    """Per-seed global models ``(S, a, b)`` copied onto ``k`` stacked copies of the seed-major client rows."""
    return tuple(np.tile(np.repeat(p, C, axis=0), (k, 1, 1)) for p in pG)


def _soup_starts(cfg, pG, C: int, size: int, seeds: list) -> tuple:
    """A soup's ingredient starts ``(size, S·C, a, b)``: ingredient 0 the global model, the others perturbed by
    N(0, 0.01²) drawn per seed (common to every step size) in the order of :func:`lpft_theory.strategies.soup`."""
    out = [np.repeat(np.repeat(p, C, axis=0)[None], size, axis=0) for p in pG]
    for s_i, s in enumerate(seeds):
        g = np.random.default_rng(np.random.SeedSequence([s, 7, size]))
        for p in out:
            rows = slice(s_i * C, (s_i + 1) * C)
            p[1:, rows] += 0.01 * g.standard_normal(p[1:, rows].shape)
    return tuple(out)


def run_grid(cfg: RealConfig, arch, pG, bank: Bank, seeds: list) -> dict:
    """Every grid point of every method and the fixed recipe's extra runs, as one batched GD run (plus LSS's
    own loop). Returns ``(method, knob, eta, T) → {"params": (S·C rows), "rise": (S, C)}`` and the recipe's
    points under ``("recipe", method)``."""
    S, C = bank.S, bank.C
    rows_per = S * C
    blocks, starts, record, need = [], [], set(), []
    n_traj = 0

    def add(block_kw, steps_needed: int, start=None):
        nonlocal n_traj
        blocks.append(B.Rows.block(bank.data_rows(), **block_kw))
        starts.append(_on_rows(pG, C) if start is None else start)
        need.append(np.full(rows_per, steps_needed))
        n_traj += 1
        return n_traj - 1

    traj_of = {}
    for m in ("FT", "LP", "LP-FT", "Proximal", "Sparse"):
        for knob in cfg.knobs(m):
            for e in cfg.etas:
                eta = e * knob.get("eta_scale", 1.0)
                kw = {"eta": eta}
                if m == "LP":
                    kw.update(head_until=10 ** 9, mu=knob["mu"])
                elif m == "LP-FT":
                    kw.update(head_until=knob["k"])
                elif m == "Proximal":
                    kw.update(mu=knob["mu"])
                elif m == "Sparse":
                    kw.update(sparse=knob["rate"])
                traj_of[(m, tuple(knob.items()), eta)] = add(kw, max(cfg.steps))
    record |= set(cfg.steps) | {0}
    soup_traj = {}
    for size in cfg.soup_sizes:
        start = _soup_starts(cfg, pG, C, size, seeds)
        for e in cfg.etas:
            last = max(max(cfg.steps) // size, cfg.recipe_steps if size == cfg.soup_sizes[-1] and e == cfg.eta else 0)
            # ingredient 0 starts at the global model itself: plain GD at e, FT's trajectory (read off it)
            ft = traj_of[("FT", (("eta_scale", 1.0),), e)]
            need[ft] = np.maximum(need[ft], last)
            soup_traj[(size, e)] = [ft] + [add({"eta": e}, last, tuple(p[i] for p in start)) for i in range(1, size)]
            record |= {T // size for T in cfg.steps}
    e, T = cfg.eta, cfg.recipe_steps
    rec_lp = add({"eta": 2 * e, "head_until": 10 ** 9}, T)
    rec_lpft = add({"eta": e, "eta_lp": 2 * e, "head_until": T}, 2 * T)
    record |= {T, 2 * T}
    T_max = max(max(cfg.steps), 2 * T)
    rows = B.Rows.cat(blocks)
    start = tuple(np.concatenate([s[b] for s in starts]) for b in range(len(pG)))
    anchor = _on_rows(pG, C, n_traj)
    run = B.train(arch, start, anchor, rows, bank.train, T_max, record=sorted(record), row_steps=np.concatenate(need))
    L = run.losses  # (T_max + 1, n_traj · S · C)

    def take(i, t):
        sl = slice(i * rows_per, (i + 1) * rows_per)
        return tuple(p[sl] for p in run.snapshots[t]), L[: t + 1, sl]

    def rise(losses):
        return loss_rise(losses).reshape(S, C)

    out = {}
    for (m, knob_items, eta), i in traj_of.items():
        knob = dict(knob_items)
        for T_ in cfg.steps:
            P, Ls = take(i, T_)
            out[(m, knob_items, eta, T_)] = {"params": P, "rise": rise(Ls), "losses": Ls}
    for (size, e_), ingr in soup_traj.items():
        for T_ in cfg.steps:
            parts = [take(i, T_ // size) for i in ingr]
            P = tuple(np.mean([p[0][b] for p in parts], axis=0) for b in range(len(pG)))
            r = np.max([rise(p[1]) for p in parts], axis=0)
            out[("Soup", (("size", size),), e_, T_)] = {"params": P, "rise": r}
        if size == cfg.soup_sizes[-1] and e_ == e:  # the recipe: M ingredients of T steps each
            parts = [take(i, T) for i in ingr]
            out[("recipe", "Soup")] = {"params": tuple(np.mean([p[0][b] for p in parts], axis=0)
                                                       for b in range(len(pG))),
                                       "rise": np.max([rise(p[1]) for p in parts], axis=0)}
    P, Ls = take(rec_lp, T)
    out[("recipe", "LP")] = {"params": P, "rise": rise(Ls)}
    P, Ls = take(rec_lpft, 2 * T)
    out[("recipe", "LP-FT")] = {"params": P, "rise": rise(Ls), "losses": Ls}
    out.update(_lss_points(cfg, arch, pG, bank, seeds))
    return out


def _lss_points(cfg, arch, pG, bank, seeds) -> dict:
    """LSS at every grid point and at the recipe (the published schedule: T first-vertex steps + ⌊T/4⌋
    second-vertex steps of 2 draws). The first vertex is plain GD from the global model, so one batched run
    over step sizes, seeds and clients serves every T (read off at each T's first-vertex steps; the recipe's
    are the grid's η rows); each T's second vertex is its own batched run with its own draws."""
    S, C = bank.S, bank.C
    etas = [e * s for s in cfg.eta_scales for e in cfg.etas]
    base = np.asarray(B.value_and_grad(arch, [torch.as_tensor(p, device=bank.train.X.device)
                                              for p in _on_rows(pG, C)], bank.train, False)[0].cpu()).reshape(S, C)
    out = {}
    jobs = [(T, False) for T in cfg.steps] + [(cfg.recipe_steps, True)]
    split = {(T, recipe): (T, max(T // 4, 1)) if recipe else _lss_split(T) for T, recipe in jobs}
    es_all = list(dict.fromkeys(etas + [cfg.eta]))  # every step size once; the recipe's is one of the grid's
    D = bank.train.take(bank.data_rows(len(es_all)))
    eta_all = np.repeat(es_all, S * C)
    firsts = {f for f, _ in split.values()}
    snaps, obj_all = B.lss_first(arch, _on_rows(pG, C, len(es_all)), D, eta_all, max(firsts), record=firsts)
    for T, recipe in jobs:
        es = [cfg.eta] if recipe else etas
        first, second = split[(T, recipe)]
        pick = np.concatenate([np.arange(S * C) + es_all.index(e) * S * C for e in es])
        ix = torch.as_tensor(pick, device=bank.train.X.device)
        rng = np.random.default_rng(np.random.SeedSequence([seeds[0], 11, T, int(recipe)]))
        P, last = B.lss_second(arch, [p[ix] for p in snaps[first]], _on_rows(pG, C, len(es)), D.sub(ix),
                               eta_all[pick], second, n_samples=2, rng=rng)
        obj = obj_all[: first + 1, pick]
        for j, e in enumerate(es):
            sl = slice(j * S * C, (j + 1) * S * C)
            r = np.maximum(loss_rise(obj[:, sl]).reshape(S, C),
                           np.where(last[sl].reshape(S, C) > base * (1 + cfg.rise_tol), np.inf, 0.0))
            point = {"params": tuple(p[sl] for p in P), "rise": r}
            if recipe:
                out[("recipe", "LSS")] = point
            else:
                scale = cfg.eta_scales[j // len(cfg.etas)]
                out[("LSS", (("eta_scale", scale),), e, T)] = point
    return out


def _stability(client_rise, tol: float) -> dict:
    rise = np.asarray(client_rise, float)
    return {"rise": float(rise.max()), "n_unstable": int(np.sum(rise > tol)), "unstable": bool(np.any(rise > tol)),
            "clients_unstable": [int(i) for i in np.flatnonzero(rise > tol)]}


# ---------------------------------------------------------------------------- selection (own validation data only)
VAL_KEYS = ("method", "knob", "eta", "T", "val_local", "n_unstable")


def select(points: list, rule: str, cfg: RealConfig, methods=ALL, base_val_local: float | None = None) -> dict:
    """One point per method under ``rule`` (``equal budget``, ``tuned``, ``matched local``), reading only
    :data:`VAL_KEYS` of each point (:data:`SELECTION_DATA`). Returns method → index into ``points`` (and
    ``"level"``, the matched own-validation Local, for ``matched local``; ``"control level"`` for the control's
    pair Mix / FT, read at the level both reach)."""
    view = [{k: p[k] for k in VAL_KEYS} for p in points]
    out = {}
    if rule == "equal budget":
        for m in methods:
            want = cfg.recipe(m)
            eta = cfg.eta * want.get("eta_scale", 1.0)
            out[m] = next(i for i, p in enumerate(view) if p["method"] == m and p["knob"] == want
                          and p["eta"] == eta and p["T"] == cfg.recipe_steps)
        return out
    # the stable points; a method with none keeps its least unstable ones (fewest clients whose objective rose)
    floor = {m: min(p["n_unstable"] for p in view if p["method"] == m) for m in methods}
    stable = {m: [i for i, p in enumerate(view) if p["method"] == m and p["n_unstable"] == floor[m]] for m in methods}
    out["least_unstable"] = {m: f for m, f in floor.items() if f > 0}
    if rule == "tuned":
        for m, ix in stable.items():  # best own-validation Local; ties go to the earliest grid point
            out[m] = max(ix, key=lambda i: (view[i]["val_local"], -i))
        return out
    if rule == "matched local":
        best = {m: max(view[i]["val_local"] for i in ix) for m, ix in stable.items()}
        common = min(best[m] for m in SIX if m in best)
        L0 = common if base_val_local is None else base_val_local
        level = L0 + cfg.match_q * (common - L0)

        def closest(ix, lev):  # the stable point closest above the level (1e-9 tolerance); else the best one
            ok = [i for i in ix if view[i]["val_local"] >= lev - TOL]
            return min(ok, key=lambda i: (view[i]["val_local"], view[i]["T"], i)) if ok else \
                max(ix, key=lambda i: (view[i]["val_local"], -i))

        for m, ix in stable.items():
            out[m] = closest(ix, level)
        out["level"] = level
        if CONTROL in stable:
            lev_c = min(level, L0 + cfg.match_q * (min(best[CONTROL], best["FT"]) - L0))
            out["control level"] = lev_c
            out["control FT"] = closest(stable["FT"], lev_c)
            out[CONTROL] = closest(stable[CONTROL], lev_c)
        return out
    raise ValueError(f"rule must be 'equal budget', 'tuned' or 'matched local', got {rule!r}")


def at_level(points: list, method: str, level: float, base: dict, keys=("local", "global", "val_local"),
             max_unstable: int = 0) -> dict:
    """``method``'s test Local and Global at the own-validation Local ``level``: along each of its trajectories
    (one knob and step size, points in order of T from the global model ``base`` at T = 0, cut at the first
    point with more than ``max_unstable`` unstable clients) linear interpolation between the last point below the level and the first at or above it
    (1e-9 tolerance; :func:`lpft_theory.protocol.first_passage`'s reading), then the mean over the trajectories
    that reach it. Reads test numbers only *at* a level fixed by validation data; chooses nothing."""
    trajs = {}
    for p in points:
        if p["method"] == method:
            trajs.setdefault((tuple(sorted(p["knob"].items())), p["eta"]), []).append(p)
    if base["val_local"] >= level - TOL:  # the global model (T = 0, every trajectory's start) is at the level
        return {**{k: float(base[k]) for k in keys}, "trajectories": len(trajs), "of": len(trajs)}
    reads = []
    for pts in trajs.values():
        prev = base
        for p in sorted(pts, key=lambda q: q["T"]):
            if p.get("n_unstable", 0) > max_unstable:
                break
            if p["val_local"] >= level - TOL:
                gap = p["val_local"] - prev["val_local"]
                w = 1.0 if gap <= 0 else min(max((level - prev["val_local"]) / gap, 0.0), 1.0)
                reads.append({k: prev[k] + w * (p[k] - prev[k]) for k in keys})
                break
            prev = p
    if not reads:
        return {**{k: float("nan") for k in keys}, "trajectories": 0, "of": len(trajs)}
    return {**{k: float(np.mean([r[k] for r in reads])) for k in keys},
            "trajectories": len(reads), "of": len(trajs)}


# ---------------------------------------------------------------------------- one shift, one model, all seeds
def _arch(cfg, d: int):
    blas = "numpy" if cfg.device == "cpu" else "torch"
    return MODELS[cfg.model](d=d, blas=blas) if cfg.model == "mlp" else MODELS[cfg.model](blas=blas)


def global_models(cfg, arch, bank: Bank, preps: list, seeds: list) -> dict:
    """FedAvg to each seed's validation plateau (all seeds at once) and the ``short_rounds`` model on the way."""
    p0 = [arch.init(spawn(s, 2)[0]) for s in seeds]
    p0 = tuple(np.stack([p[b] for p in p0]) for b in range(len(p0[0])))
    w = np.array([d.meta["train_sizes"] for d in preps], float)
    wv = np.array([d.meta["val_sizes"] for d in preps], float)
    res = B.fedavg_to_plateau(arch, p0, bank.train, w, bank.val, wv, eta=cfg.fed_eta, local_steps=cfg.local_steps,
                              chunk=cfg.chunk, max_rounds=cfg.max_rounds, patience=cfg.patience, rel_tol=cfg.rel_tol,
                              keep_round=cfg.short_rounds)
    return res


def _flood_runs(cfg, arch, pG, bank, picks: dict, train_loss: np.ndarray, grid_losses=None, ev=None) -> dict:
    """FT and LP-FT of every variant's choice (per seed), flooded at ``b = q · L_train(θ_G)``, all in one batched
    run. ``picks``: variant → per seed → method → point. Returns variant → per seed → list of rows.

    A flooded run is its grid point's own trajectory until its objective first falls below ``b`` (the flood
    sign is +1 until then: the same arithmetic). ``grid_losses`` (per grid key, the objective ``(T + 1, S·C)``
    along the point's trajectory; ``None`` where not recorded) and ``ev`` (the grid's evaluation): a client
    whose trajectory never fell below ``b`` before its last step keeps its grid point's loss and accuracies
    and is not run again."""
    S, C = bank.S, bank.C
    blocks, keys, starts, need, block_of, reuse = [], [], [], [], {}, {}
    for v, per_seed in picks.items():
        for s, chosen in enumerate(per_seed):
            for m in ("FT", "LP-FT"):
                p = chosen[m]
                for q in (cfg.flood_levels if v == "fixed recipe" else _middle(cfg.flood_levels)):
                    if v == "fixed recipe" and m == "LP-FT":
                        kw = {"eta": p["eta"], "eta_lp": 2 * p["eta"], "head_until": p["T"] // 2}
                    else:
                        kw = {"eta": p["eta"], "head_until": p["knob"].get("k", 0) if m == "LP-FT" else 0}
                    sig = (s, q, p["T"], tuple(sorted(kw.items())))  # the same run chosen twice is run once
                    if sig not in block_of:
                        b = q * train_loss[s]
                        run_c = np.arange(C)
                        L = None if grid_losses is None or ev is None else grid_losses[p["key"]]
                        if L is not None:
                            L = L[:, s * C:(s + 1) * C]
                            run_c = np.flatnonzero((L[:p["T"]] < b).any(0))  # clients that reach the flood level
                            reuse[sig] = (L[p["T"]], ev["M"][p["key"], s])
                        block_of[sig] = (len(blocks), run_c)
                        if len(run_c):
                            blocks.append(B.Rows.block(s * C + run_c, flood=b, **kw))
                            starts.append(tuple(np.repeat(g[s:s + 1], len(run_c), axis=0) for g in pG))
                            need.append(np.full(len(run_c), p["T"]))
                    keys.append((v, s, m, q, p["T"], sig))
    out = {v: [[] for _ in range(S)] for v in picks}
    onehot = (bank.test_owner[:, :, None] == np.arange(C)).astype(float)  # (S, nE, C)
    M_run, L_run = {}, {}
    if blocks:
        rows = B.Rows.cat(blocks)
        start = tuple(np.concatenate([st[b] for st in starts]) for b in range(len(pG)))
        T_of = [int(n[0]) for n in need]
        run = B.train(arch, start, start, rows, bank.train, max(T_of), record=sorted(set(T_of)),
                      row_steps=np.concatenate(need))
        # each block read off at its own T; all evaluated at once on their seeds' test points
        off = np.cumsum([0] + [len(n) for n in need])
        P = tuple(np.concatenate([run.snapshots[T][b][off[i]:off[i + 1]] for i, T in enumerate(T_of)])
                  for b in range(len(pG)))
        _, pred = B.evaluate(arch, P, bank.test_X, src=rows.data // C, features=False)
        for sig, (i, run_c) in block_of.items():
            if len(run_c):
                s = sig[0]
                hit = (pred[off[i]:off[i + 1]] == bank.test_y[s][None]).astype(float)
                M_run[sig] = hit @ onehot[s] / onehot[s].sum(0)
                L_run[sig] = run.losses[T_of[i], off[i]:off[i + 1]]
    for v, s, m, q, T, sig in keys:
        run_c = block_of[sig][1]
        if sig in reuse:
            loss, M = reuse[sig][0].copy(), reuse[sig][1].copy()
        else:
            loss, M = np.empty(C), np.empty((C, C))
        if len(run_c):
            loss[run_c], M[run_c] = L_run[sig], M_run[sig]
        out[v][s].append({"q": q, "b": float(q * train_loss[s]), "strategy": m,
                          "train_loss": float(loss.mean()),
                          "local": float(np.diag(M).mean()), "global": float(_others(M).mean())})
    return out


def _middle(levels) -> tuple:
    """The middle flood level (the robustness variants flood at it alone; the fixed recipe at every level)."""
    return (sorted(levels)[len(levels) // 2],)


def _attribution(cfg, arch, pG, bank, chosen: dict, ev, ev_base, glob, heads) -> dict:
    """Head / feature / interaction parts of the Global change (:mod:`lpft_theory.attribution`) of every chosen
    model: the two hybrids of each — its head on the global features (``glob``), the global head on its
    features (already in ``ev["F"]``), so no model is run again. ``chosen``: key → per seed the copy index in
    ``ev``; ``heads``: the heads of ``ev``'s model rows. Returns key → parts ``(S,)``."""
    S, C, nE = bank.S, bank.C, bank.nE
    keys = list(chosen)
    js = np.array([chosen[k] for k in keys])  # (n, S)
    seeds = np.broadcast_to(np.arange(S), js.shape)
    rows = ((js * S + seeds) * C)[..., None] + np.arange(C)  # (n, S, C): model rows in ev's layout
    V = heads[rows.ravel()]  # the chosen heads
    F_new = ev["F"][js[..., None], seeds[..., None], np.arange(C)].reshape((-1, nE) + ev["F"].shape[-1:])
    V_G = np.repeat(pG[-1], C, axis=0)  # (S·C, k, p)
    head = _head_preds(np.tile(np.repeat(glob["test"], C, axis=0), (len(keys), 1, 1)), V)
    feat = _head_preds(F_new, np.tile(V_G, (len(keys), 1, 1)))
    glob_h, glob_f = _others(_cross(bank, head)).mean(-1), _others(_cross(bank, feat)).mean(-1)  # (n, S)
    base = _others(ev_base["M"][0]).mean(-1)  # (S,)
    return {k: {"head": glob_h[j] - base, "feature": glob_f[j] - base} for j, k in enumerate(keys)}


def run_real(cfg: RealConfig, progress=None) -> dict:
    """All seeds of one shift and one model at once. Returns config, per-seed runs and the summary."""
    cfg.validate()
    seeds = list(range(cfg.seeds))
    preps = [prepare(cfg, s) for s in seeds]
    arch = _arch(cfg, preps[0].train.X.shape[-1])
    bank = Bank(cfg, arch, preps)
    S, C = bank.S, bank.C
    fed = global_models(cfg, arch, bank, preps, seeds)
    pG = fed["params"]
    base_ev = evaluate(cfg, arch, bank, _on_rows(pG, C))
    F_G = base_ev["F"][0]  # (S, C, nE, k): the global model's features (the same for every client of a seed)
    base_ev["delta_c"] = _delta_c(base_ev["F"], F_G, bank.test_owner[None, :, None, :], C)
    glob = global_features(arch, bank, pG)
    short_ev = evaluate(cfg, arch, bank, _on_rows(fed["kept"], C))
    train_loss = np.asarray(B.value_and_grad(arch, [torch.as_tensor(p, device=bank.train.X.device)
                                                    for p in _on_rows(pG, C)], bank.train, False)[0].cpu())
    train_loss = (train_loss.reshape(S, C) * np.array([d.meta["train_sizes"] for d in preps])).sum(1) \
        / np.array([sum(d.meta["train_sizes"]) for d in preps])
    if progress is not None:
        progress("global model")
    pts = run_grid(cfg, arch, pG, bank, seeds)
    if progress is not None:
        progress("grid")
    # the control: Mix of FT's points (a = mix weight) and the global model
    G_rows = _on_rows(pG, C)
    for knob in cfg.knobs(CONTROL):
        a = knob["a"]
        for e in cfg.etas:
            for T in cfg.steps:
                P = pts[("FT", (("eta_scale", 1.0),), e, T)]["params"]
                pts[(CONTROL, (("a", a),), e, T)] = {"params": tuple((1 - a) * p + a * g for p, g in zip(P, G_rows)),
                                                     "rise": pts[("FT", (("eta_scale", 1.0),), e, T)]["rise"]}
    rec_ft = pts[("FT", (("eta_scale", 1.0),), cfg.eta, cfg.recipe_steps)]["params"]
    a = cfg.recipe(CONTROL)["a"]
    pts[("recipe", CONTROL)] = {"params": tuple((1 - a) * p + a * g for p, g in zip(rec_ft, G_rows)),
                                "rise": pts[("FT", (("eta_scale", 1.0),), cfg.eta, cfg.recipe_steps)]["rise"]}
    keys = list(pts)
    params = tuple(np.concatenate([pts[k]["params"][b] for k in keys]) for b in range(len(pG)))
    head_only = [k[0] == "LP" or k == ("recipe", "LP") for k in keys]  # LP's body is the global model's, exactly
    ev = evaluate(cfg, arch, bank, params, F_G, glob, head_only)
    base_local = np.array([np.diag(base_ev["M"][0, s]) for s in range(S)])
    grids, recipes = [[] for _ in range(S)], [{} for _ in range(S)]
    for j, k in enumerate(keys):
        for s in range(S):
            r = {**_row(ev, j, s, base_local[s]), **_stability(pts[k]["rise"][s], cfg.rise_tol)}
            if k[0] == "recipe":
                m = k[1]
                recipes[s][m] = {"method": m, "knob": cfg.recipe(m), "eta": cfg.eta,
                                 "T": 2 * cfg.recipe_steps if m == "LP-FT" else cfg.recipe_steps, "key": j, **r}
            else:
                m, knob, eta, T = k
                grids[s].append({"method": m, "knob": dict(knob), "eta": eta, "T": T,
                                 "grad_evals": gradient_evaluations(m, dict(knob), T), "key": j, **r})
    for s in range(S):  # the recipe's points that are grid points
        for m in ("FT", "Proximal", "Sparse"):
            want = cfg.recipe(m)
            recipes[s][m] = next(p for p in grids[s] if p["method"] == m and p["knob"] == want
                                 and p["eta"] == cfg.eta and p["T"] == cfg.recipe_steps)
    # selection per seed, per variant
    picks = {v: [] for v in VARIANTS}
    for s in range(S):
        picks["fixed recipe"].append({m: recipes[s][m] for m in ALL})
        for rule in ("equal budget", "tuned", "matched local"):
            sel = select(grids[s], rule, cfg, base_val_local=float(base_ev["val_local"][0, s].mean()))
            chosen = {m: grids[s][sel[m]] for m in ALL}
            if rule == "matched local":
                base_pt = {"local": float(np.diag(base_ev["M"][0, s]).mean()),
                           "global": float(_others(base_ev["M"][0, s]).mean()),
                           "val_local": float(base_ev["val_local"][0, s].mean())}
                floor = sel["least_unstable"]
                for m in ALL:
                    lev = sel["control level"] if m == CONTROL else sel["level"]
                    chosen[m] = {**chosen[m], "at_level": at_level(grids[s], m, lev, base_pt,
                                                                   max_unstable=floor.get(m, 0))}
                chosen["_control_FT"] = {**grids[s][sel["control FT"]],
                                         "at_level": at_level(grids[s], "FT", sel["control level"], base_pt,
                                                              max_unstable=floor.get("FT", 0))}
                chosen["_level"] = sel["level"]
                chosen["_control_level"] = sel["control level"]
            picks[rule].append(chosen)
    # attribution of every chosen model (all variants, all seeds), from the evaluation's features
    chosen = {(v, m): [picks[v][s][m]["key"] for s in range(S)] for v in VARIANTS for m in ALL}
    attr = _attribution(cfg, arch, pG, bank, chosen, ev, base_ev, glob, params[-1])
    flood = _flood_runs(cfg, arch, pG, bank, picks, train_loss, [pts[k].get("losses") for k in keys], ev)
    if progress is not None:
        progress("variants")
    runs = []
    for s in range(S):
        gm = {"local": float(np.diag(base_ev["M"][0, s]).mean()), "global": float(_others(base_ev["M"][0, s]).mean()),
              "val_local": float(base_ev["val_local"][0, s].mean())}
        strip = lambda p: {k: v for k, v in p.items() if k != "key"}  # noqa: E731
        variants = {}
        for v in VARIANTS:
            rows = {m: strip(picks[v][s][m]) for m in METHODS}
            att = {}
            for m in ALL:
                total = picks[v][s][m]["global"] - gm["global"]
                h, f = float(attr[(v, m)]["head"][s]), float(attr[(v, m)]["feature"][s])
                att[m] = {"total": total, "head": h, "feature": f, "interaction": total - h - f}
            control = {"Mix": strip(picks[v][s][CONTROL]),
                       "FT": strip(picks[v][s].get("_control_FT", picks[v][s]["FT"]))}
            variants[v] = {"rows": rows, "control": control, "attribution": att, "flood": flood[v][s], "base": gm,
                           "global_model": "converged"}
            if v == "matched local":
                variants[v]["level"] = picks[v][s]["_level"]
                variants[v]["control_level"] = picks[v][s]["_control_level"]
        stable_local = [p["local"] for p in grids[s] if not p["unstable"] and p["method"] in METHODS]
        sweep = [{"step": 0, "local": gm["local"], "global": gm["global"]}] + [
            {"step": p["T"], "local": p["local"], "global": p["global"]} for p in grids[s]
            if p["method"] == "FT" and p["knob"] == {"eta_scale": 1.0} and p["eta"] == cfg.eta]
        runs.append({
            "seed": seeds[s], "meta": preps[s].meta, "variants": variants,
            "grid": {"converged": [strip(p) for p in grids[s]]}, "sweep": {"converged": sweep},
            "local_gain_available": max(stable_local) - gm["local"] if stable_local else float("nan"),
            "global_models": {
                "converged": {"rounds": fed["rounds"][s], "converged": fed["converged"][s],
                              "curve": [list(c) for c in fed["curves"][s]], "train_loss": float(train_loss[s]),
                              "test_acc": gm["local"], "val_acc": gm["val_local"]},
                "short": {"rounds": cfg.short_rounds, "converged": False, "curve": [],
                          "test_acc": float(np.diag(short_ev["M"][0, s]).mean())}}})
    return {"config": asdict(cfg), "regime": {"shift": cfg.scenario, "split": REGIMES[cfg.scenario][0],
                                             "train_per_client": REGIMES[cfg.scenario][1] or "all",
                                             "reason": REGIMES[cfg.scenario][2]},
            "selection_data": SELECTION_DATA, "grid_counts": grid_counts(cfg),
            "local_gain_available": mean_ci([r["local_gain_available"] for r in runs]),
            "runs": runs, "summary": summarize_runs(runs)}


# ---------------------------------------------------------------------------- all seeds
def summarize_runs(runs: list) -> dict:
    """Per variant and method (and the control): mean and 95% t-interval over seeds of every numeric metric."""
    out = {}
    for v in runs[0]["variants"]:
        V0 = runs[0]["variants"][v]
        out[v] = {"Global model": {k: mean_ci([r["variants"][v]["base"][k] for r in runs]) for k in V0["base"]}}
        for m, row in V0["rows"].items():
            out[v][m] = {k: mean_ci([r["variants"][v]["rows"][m][k] for r in runs]) for k, x in row.items()
                         if isinstance(x, float) and np.isfinite(x)}
            out[v][m]["frac_seeds_unstable"] = float(np.mean([r["variants"][v]["rows"][m]["unstable"] for r in runs]))
        out[v]["control (Mix)"] = {k: mean_ci([r["variants"][v]["control"]["Mix"][k] for r in runs])
                                   for k in ("local", "global")}
    return out


QUICK = RealConfig(seeds=3, clients=5, patience=2, max_rounds=100, flood_levels=(0.5,))


def quick_shifts() -> tuple:
    """The shifts a ``--quick`` study covers (at least two, MLP only)."""
    return ("concept", "label")


@lru_cache(maxsize=None)
def study(quick: bool = True, scenario: str = "covariate", model: str = "mlp") -> dict:
    """One (shift, model) digits study (cached per process)."""
    base = QUICK if quick else RealConfig()
    return run_real(RealConfig(**{**asdict(base), "scenario": scenario, "model": model}))


def settings(quick: bool) -> list:
    """The (shift, model) pairs of the real study: every shift with both models; ``quick``: two shifts, MLP."""
    if quick:
        return [(s, "mlp") for s in quick_shifts()]
    return [(s, m) for s in SCENARIOS for m in MODELS]


def real_study(quick: bool = True) -> dict:
    """Every (shift, model) study of :func:`settings`: ``"shift/model" → study``."""
    return {f"{s}/{m}": study(quick, s, m) for s, m in settings(quick)}
