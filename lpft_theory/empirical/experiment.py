"""``lpft real``: FedAvg on federated digits, then every strategy of the zoo, with the paper's metrics.

Per seed: split the digits, train the global model with FedAvg (cross-entropy, full-batch local steps,
clients weighted by data size), personalize with each strategy (all clients at once through ``vmap``),
and measure on every client's test set: Local, Global (other clients), C-Std, Worst, both readings of
Average, Chen et al.'s ``Δ_c`` on penultimate features, the fraction of clients hurt, and — for the
long-tail split — head/medium/tail accuracy. Across seeds: means with 95% t-intervals.
Also the paper's Fig. 2 sweep (accuracy over local steps), Fig. 3a scatter (``Δ_c`` vs global drop)
and Fig. 3b flooding ablation (b ∈ {0.1, 0.5, 1.0}).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from .. import _validate as Vd
from ..data import Samples, stack_clients
from ..federated import fedavg
from ..metrics import average_columns, cross_matrix, delta_c, per_class_accuracy, summarize
from ..rng import spawn
from ..stats import mean_ci
from ..strategies import flooded, ft, lp, lp_ft, lss, proximal_ft, purified_ft, residual, soup, sparse_ft, split_ft
from .digits import SCENARIOS, split
from .torch_arch import cnn, mlp

MODELS = {"mlp": mlp, "cnn": cnn}


@dataclass
class RealConfig:
    scenario: str = "covariate"
    model: str = "mlp"
    seeds: int = 5
    clients: int = 10
    rounds: int = 30
    local_steps: int = 5
    fed_eta: float = 0.5
    eta: float = 0.2
    steps: int = 40
    sweep_steps: int = 80
    flood_levels: tuple = (0.1, 0.5, 1.0)

    def validate(self) -> "RealConfig":
        Vd.choice("scenario", self.scenario, SCENARIOS)
        Vd.choice("model", self.model, tuple(MODELS))
        Vd.integer("seeds", self.seeds, min_value=2)
        Vd.integer("clients", self.clients, min_value=2, max_value=100)
        for k in ("rounds", "local_steps", "steps", "sweep_steps"):
            Vd.integer(k, getattr(self, k), min_value=1)
        Vd.positive("fed_eta", self.fed_eta)
        Vd.positive("eta", self.eta)
        return self


def strategies(cfg: RealConfig) -> dict:
    e, T = cfg.eta, cfg.steps
    probe = lp("steps", eta=2 * e, steps=T)
    return {"FT": ft(e, T), "LP": probe, "LP-FT": lp_ft(e, T, probe), "Proximal": proximal_ft(e, T, 1.0),
            "Sparse": sparse_ft(e, T, 0.5), "Soup": soup(e, T, 3, sigma=0.01),
            "LSS": lss(e, T, n_verts=1, vertex_steps=max(T // 4, 1)), "Purified": purified_ft(e, T),
            "Residual": residual(2 * e, T), "Split": split_ft(e, T, "cycle", 0.25, "kl")}


def run_one(cfg: RealConfig, seed: int) -> dict:
    fed = split(cfg.scenario, cfg.clients, seed)
    arch = MODELS[cfg.model]()
    train, test = stack_clients(fed.train), stack_clients(fed.test)
    pooled = Samples(np.concatenate([t.X for t in fed.test]), np.concatenate([t.Y for t in fed.test]))
    g_init, g_fed, g_strat = spawn(seed, 3)
    sizes = np.array([s.n for s in fed.train], float)
    pG = fedavg(arch, arch.init(g_init), train, cfg.rounds, cfg.local_steps, cfg.fed_eta, loss="ce", weights=sizes,
                rng=g_fed).params
    C = cfg.clients
    broadcast = tuple(np.broadcast_to(p, (C,) + p.shape) for p in pG)
    A_G = cross_matrix(arch, broadcast, test, metric="accuracy")
    base = summarize(A_G, higher_is_better=True)
    F_G = arch.features(pG, test.X)
    rows = {"Global model": {**base, **average_columns(base["local"], base["global"], base["worst"]), "delta_c": 0.0}}
    for name, strat in strategies(cfg).items():
        p = strat(arch, pG, train, loss="ce", rng=g_strat).params
        r = summarize(cross_matrix(arch, p, test, metric="accuracy"), np.diag(A_G), higher_is_better=True)
        r.update(average_columns(r["local"], r["global"], r["worst"]))
        r["delta_c"] = float(np.mean(delta_c(F_G, arch.features(p, test.X), test.weights)))
        if fed.groups is not None:
            pc = per_class_accuracy(arch.predict(p, pooled.X), pooled.Y, arch.p)  # (C, K)
            r.update({g: float(pc[:, idx].mean()) for g, idx in fed.groups.items()})
        rows[name] = r
    # Fig. 2: accuracy over local steps
    traj = ft(cfg.eta, cfg.sweep_steps)(arch, pG, train, loss="ce", record=True)
    every = max(cfg.sweep_steps // 8, 1)
    sweep = [{"step": t, **summarize(cross_matrix(arch, traj.snapshots[t], test, metric="accuracy"), higher_is_better=True)}
             for t in range(0, cfg.sweep_steps + 1, every)]
    # Fig. 3b: flooding at equal training loss
    flood = []
    for b in cfg.flood_levels:
        for name, base_strat in (("FT", ft(cfg.eta, cfg.sweep_steps)),
                                 ("LP-FT", lp_ft(cfg.eta, cfg.sweep_steps, lp("steps", eta=2 * cfg.eta, steps=cfg.steps)))):
            out = flooded(base_strat, b)(arch, pG, train, loss="ce")
            s = summarize(cross_matrix(arch, out.params, test, metric="accuracy"), higher_is_better=True)
            flood.append({"b": b, "strategy": name, "train_loss": float(np.mean(out.losses[-1])), **s})
    return {"seed": seed, "meta": fed.meta, "table": rows, "sweep": sweep, "flood": flood}


def summarize_runs(runs: list) -> dict:
    """Mean and 95% interval over seeds of every metric of every strategy."""
    out = {}
    for name in runs[0]["table"]:
        out[name] = {k: mean_ci([r["table"][name][k] for r in runs])
                     for k in runs[0]["table"][name] if isinstance(runs[0]["table"][name][k], float)}
    return out


def run_real(cfg: RealConfig, progress=None) -> dict:
    """All seeds; ``progress(seed)`` after each. Returns config, per-seed runs and the summary table."""
    cfg.validate()
    runs = []
    for s in range(cfg.seeds):
        runs.append(run_one(cfg, s))
        if progress is not None:
            progress(s)
    return {"config": asdict(cfg), "runs": runs, "summary": summarize_runs(runs)}


QUICK = RealConfig(seeds=3, clients=6, rounds=40, local_steps=5, steps=20, sweep_steps=40)


@lru_cache(maxsize=None)
def study(quick: bool = True, scenario: str = "covariate", model: str = "mlp") -> dict:
    """The digits study behind the real-data paper checks and figure (cached per process)."""
    base = QUICK if quick else RealConfig()
    return run_real(RealConfig(**{**asdict(base), "scenario": scenario, "model": model}))
