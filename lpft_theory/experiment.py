"""One experiment end to end: scenario → global model → every requested strategy → metrics.

This is what ``lpft simulate`` runs; paper checks and figures call :func:`simulate` directly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

import synthetic

from . import _validate as V
from .federated import fedavg
from .losses import convention
from .metrics import cross_matrix, delta_c, distortion, summarize
from .models import DeepLinear, TwoLayerReLU, two_layer_params
from .rng import spawn
from .strategies import registry

MODELS = ("two-layer", "linear", "deep", "relu")
INITS = ("ideal", "fedavg")


@dataclass
class Config:
    """Every knob of one experiment (the resolved configuration is saved with every output)."""

    scenario: str = "concept"
    d: int = 20
    m: int = 3
    clients: int = 5
    lam: float = 1.0
    eps: float = 1.0
    shift: float = 1.0
    geometry: str = "private"
    overlap: float = 0.0
    alpha: float = 0.5
    n_classes: int = 5
    noise: float = 0.0
    n: int = 0  # training points per client; 0 = population (exact moments)
    n_eval: int = 2000  # Monte Carlo evaluation points per client (ReLU, classification, Δ_c)
    model: str = "two-layer"
    width: int = 0  # hidden width; 0 = k = m + clients
    depth: int = 2  # hidden layers of the deep linear model
    init: str = "ideal"
    rounds: int = 50
    local_steps: int = 5
    fed_eta: float = 0.05
    eta: float = 0.1
    steps: int = 1
    lp_mode: str = "exact"
    lp_eta: float = 0.1
    lp_steps: int = 10
    lp_alpha: float = 1.0
    mu: float = 1.0
    sparsity: float = 0.9
    soup_size: int = 3
    lss_verts: int = 2
    lss_div: float = 0.1
    lss_aff: float = 0.1
    purify_lam: float = 1.0
    residual_alpha: float = 0.99
    split: str = "cycle"
    align_lam: float = 0.25
    flood: float = 0.0
    strategies: tuple = ("ft", "lp", "lp-ft")
    half: bool = False
    seed: int = 0

    @property
    def task(self) -> str:
        return "classification" if self.scenario in ("label", "longtail") else "regression"

    def validate(self) -> "Config":
        V.choice("scenario", self.scenario, [s for s in synthetic.SCENARIOS if s != "kumar"])
        V.choice("model", self.model, MODELS)
        V.choice("init", self.init, INITS)
        for name in ("d", "clients"):
            V.integer(name, getattr(self, name), min_value=1)
        for name in ("m", "n", "width", "steps", "rounds", "lp_steps", "seed"):
            V.integer(name, getattr(self, name), min_value=0)
        V.integer("n_eval", self.n_eval, min_value=1)
        V.integer("depth", self.depth, min_value=1)
        V.integer("local_steps", self.local_steps, min_value=1)
        for name in ("eta", "fed_eta", "lp_eta"):
            V.positive(name, getattr(self, name))
        V.nonnegative("lam", self.lam)
        V.probability("overlap", self.overlap)
        unknown = [s for s in self.strategies if s not in registry.NAMES]
        if not self.strategies or unknown:
            raise ValueError(f"strategies must be a non-empty subset of {registry.NAMES}, got unknown {unknown or 'none'}")
        if self.init == "ideal" and self.scenario not in ("concept", "overlap", "combined"):
            raise ValueError(f"init='ideal' needs a (B*, V_com) ground truth (scenario concept, overlap or combined), "
                             f"got scenario={self.scenario!r}; use init='fedavg'")
        if self.init == "ideal" and self.model != "two-layer":
            raise ValueError(f"init='ideal' is the two-layer model's (B*, [V_com; 0]); got model={self.model!r}")
        if self.n == 0 and (self.scenario in ("label", "longtail") or self.model == "relu"):
            raise ValueError(f"n must be >= 1 for scenario={self.scenario!r} with model={self.model!r}: "
                             "population moments exist only for the squared loss of linear models")
        return self


def build_scenario(cfg: Config, rng):
    s = cfg.scenario
    if s in ("concept", "overlap"):
        return synthetic.concept_shift(cfg.d, cfg.m, cfg.clients, cfg.lam, noise=cfg.noise, overlap=cfg.overlap, rng=rng)
    if s == "combined":
        return synthetic.combined_shift(cfg.d, cfg.m, cfg.clients, cfg.lam, eps=cfg.eps, shift=cfg.shift,
                                        geometry=cfg.geometry, noise=cfg.noise, rng=rng)
    if s == "covariate":
        geometry = "random" if cfg.geometry == "private" else cfg.geometry
        return synthetic.covariate_shift(cfg.d, cfg.clients, k=max(cfg.m, 1), shift=cfg.shift, eps=cfg.eps,
                                         geometry=geometry, noise=cfg.noise, rng=rng)
    if s == "label":
        return synthetic.label_shift(cfg.d, cfg.n_classes, cfg.clients, cfg.alpha, rng=rng)
    return synthetic.long_tail(cfg.d, cfg.n_classes, cfg.clients, rng=rng).scenario


def build_model(cfg: Config, scen):
    k = cfg.width or (cfg.m + cfg.clients)
    if cfg.model == "linear":
        return DeepLinear(scen.d, (), scen.p)
    if cfg.model == "two-layer":
        return DeepLinear(scen.d, (k,), scen.p)
    if cfg.model == "deep":
        return DeepLinear(scen.d, (k,) * cfg.depth, scen.p)
    return TwoLayerReLU(scen.d, k, scen.p)


def simulate(cfg: Config, progress=None) -> dict:
    """Run one experiment; returns a JSON-able dict with config, ground truth, convention and results."""
    cfg.validate()
    g_scen, g_data, g_eval, g_init, g_fed, g_strat = spawn(cfg.seed, 6)
    scen = build_scenario(cfg, g_scen)
    arch = build_model(cfg, scen)
    cls = scen.task == "classification"
    loss = "ce" if cls else "mse"
    needs_samples = cls or isinstance(arch, TwoLayerReLU)
    train = scen.sample(cfg.n, g_data) if cfg.n else scen.population
    evals = scen.sample(cfg.n_eval, g_eval)
    eval_data = evals if needs_samples else scen.population

    if cfg.init == "ideal":
        params_G = two_layer_params(*synthetic.idealised_init(scen))
    else:
        start = arch.init(g_init, scale=0.5)
        params_G = fedavg(arch, start, train, cfg.rounds, cfg.local_steps, cfg.fed_eta, loss=loss, half=cfg.half,
                          rng=g_fed).params

    base = cross_matrix(arch, tuple(np.broadcast_to(p, (scen.n_clients,) + p.shape) for p in params_G),
                        eval_data, loss=loss, half=cfg.half)
    rows = {}
    feats_G = arch.features(params_G, evals.X)
    for name in cfg.strategies:
        strat = registry.build(name, cfg)
        traj = strat(arch, params_G, train, loss=loss, half=cfg.half, rng=g_strat)
        M = cross_matrix(arch, traj.params, eval_data, loss=loss, half=cfg.half)
        row = summarize(M, np.diag(base))
        if cls:
            A = cross_matrix(arch, traj.params, evals, metric="accuracy")
            row.update({f"acc_{k}": v for k, v in summarize(A, higher_is_better=True).items()})
        row["dist_F"] = float(np.mean(distortion(traj.params[0], params_G[0]))) if len(params_G) > 1 else float("nan")
        row["delta_c"] = float(np.mean(delta_c(feats_G, arch.features(traj.params, evals.X))))
        rows[strat.name] = row
        if progress is not None:
            progress(strat.name)
    return {
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "ground_truth": scen.summary(),
        "loss_convention": "softmax cross-entropy, mean over points" if cls else convention(cfg.half),
        "global_model_local_loss": float(np.mean(np.diag(base))),
        "global_model_global_loss": float(summarize(base)["global"]) if scen.n_clients > 1 else float("nan"),
        "results": rows,
    }
