"""Kumar et al. 2022 on real images: a digits analogue of their Living-17 experiment (which this package cannot
ship).

* **Pretraining domain**: half of the digits (the *source* images, per seed), each shown under random
  transforms — rotation uniform in ±``angle`` degrees and additive noise of sd ``noise`` — and trained (body
  and a 10-class head) by full-batch GD for ``pretrain_steps``: features that cover the transforms.
* **ID target**: ``n_id`` clean images from the other half, a *new* head ``V_0 ~ N(0, 1/h)`` (Kumar et al.'s
  FT starts from a random head), ``n_val`` clean validation images.
* **OOD**: the held-out target test images under the pretraining transforms (the same family, fresh draws).

Methods on the equal grid ``etas × steps × 2 knobs`` (:func:`grid`): FT (knob: a second step size), LP
(knob: a second step size), LP-FT (knob: LP length k), and the positive control Mix = WiSE-FT ``(1 − a)
θ_FT + a θ_LP`` (Wortsman et al. 2022: known to raise OOD accuracy at equal ID). Everything is one batched
run over seeds and grid points (:mod:`lpft_theory.empirical.batched`). Per point: ID validation and test
accuracy, OOD accuracy and the relative feature change ``mean_x ‖φ(x) − φ_0(x)‖ / mean_x ‖φ_0(x)‖`` on ID and
on OOD test inputs (``φ_0``: the pretrained body). Protocols: ``fixed recipe`` (η = ``eta``, T =
``recipe_steps``, LP-FT = LP T/2 + FT T/2) and ``matched local`` (each method read, by linear
interpolation along its trajectories, at the ID validation accuracy ``L_0 + q (L_common − L_0)``;
:func:`lpft_theory.empirical.experiment.at_level`).

Defaults (chosen by the positive control's detectability, ID convergence and cost — not by the LP-FT − FT
reading): a shift the pretraining covers but the ID data does not (rotations up to ±60°, noise sd 0.1; at
sd 0.4 the noise destroyed most of the OOD signal and the CNN's pretraining did not converge), a pretraining
run to a small loss (250 steps at 0.3), ``n_id = 200`` so FT reaches ≈ 0.9 ID accuracy within 100 steps,
``n_val = 100`` / ``n_test = 500`` for a finer validation level and tighter OOD reads, and ``q = 0.9``: the
matched level sits near the end of fine-tuning (≈ 0.8 ID validation accuracy) instead of half-way up from
the random head (``L_0`` ≈ 0.08), where ``q = 0.5`` put it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from .. import _validate as Vd
from ..data import Samples
from ..rng import spawn
from ..stats import mean_ci
from . import batched as B
from .digits import load
from .experiment import MODELS, TOL, at_level

METHODS = ("FT", "LP", "LP-FT")
CONTROL = "Mix"
VARIANTS = {"fixed recipe": "eta and T of the recipe; LP-FT = LP T/2 + FT T/2 steps",
            "matched local": "each method read at a common ID validation accuracy (interpolated along its trajectories)"}


@dataclass
class KumarConfig:
    model: str = "mlp"
    seeds: int = 5
    angle: float = 60.0
    noise: float = 0.1
    pretrain_steps: int = 250
    pretrain_eta: float = 0.3
    n_id: int = 200
    n_val: int = 100
    n_test: int = 500
    etas: tuple = (0.1, 0.4)
    eta_scales: tuple = (1.0, 0.5)
    lp_steps: tuple = (5, 10)
    mix_weights: tuple = (0.25, 0.5)
    steps: tuple = (25, 50, 100)
    eta: float = 0.1
    recipe_steps: int = 100
    match_q: float = 0.9
    device: str = "cpu"

    def validate(self) -> "KumarConfig":
        Vd.choice("model", self.model, tuple(MODELS))
        Vd.integer("seeds", self.seeds, min_value=2)
        for k in ("pretrain_steps", "n_id", "n_val", "n_test", "recipe_steps"):
            Vd.integer(k, getattr(self, k), min_value=1)
        if len({len(self.eta_scales), len(self.lp_steps), len(self.mix_weights)}) != 1:
            raise ValueError("eta_scales, lp_steps and mix_weights must have the same length (equal tuning budget)")
        if max(self.lp_steps) >= min(self.steps):
            raise ValueError(f"lp_steps must be < min(steps)={min(self.steps)}, got {self.lp_steps}")
        if self.eta not in self.etas or self.recipe_steps not in self.steps:
            raise ValueError("eta must be one of etas and recipe_steps one of steps")
        return self

    def knobs(self, method: str) -> list:
        return {"FT": [{"eta_scale": s} for s in self.eta_scales], "LP": [{"eta_scale": s} for s in self.eta_scales],
                "LP-FT": [{"k": k} for k in self.lp_steps], "Mix": [{"a": a} for a in self.mix_weights]}[method]


def grid_counts(cfg: KumarConfig) -> dict:
    return {m: len(cfg.knobs(m)) * len(cfg.etas) * len(cfg.steps) for m in METHODS + (CONTROL,)}


def _shift(X, g, angle, noise):
    imgs = X.reshape(-1, 8, 8)
    out = np.stack([ndimage.rotate(im, a, reshape=False, order=1) for im, a in
                    zip(imgs, g.uniform(-angle, angle, len(imgs)))])
    return np.clip(out + noise * g.standard_normal(out.shape), 0, 1).reshape(-1, 64)


def prepare(cfg: KumarConfig, seed: int) -> dict:
    X, y = load()
    g = np.random.default_rng(np.random.SeedSequence([seed, 17]))
    idx = g.permutation(len(y))
    src, tgt = idx[: len(y) // 2], idx[len(y) // 2:]
    id_tr, id_val = tgt[: cfg.n_id], tgt[cfg.n_id: cfg.n_id + cfg.n_val]
    test = tgt[cfg.n_id + cfg.n_val: cfg.n_id + cfg.n_val + cfg.n_test]
    sets = {"source": (_shift(X[src], g, cfg.angle, cfg.noise), y[src]), "id": (X[id_tr], y[id_tr]),
            "val": (X[id_val], y[id_val]), "test_id": (X[test], y[test]),
            "test_ood": (_shift(X[test], g, cfg.angle, cfg.noise), y[test])}
    mu = sets["source"][0].mean(0)
    sd = float((sets["source"][0] - mu).std())
    bias = cfg.model == "mlp"
    fix = lambda Z: np.concatenate([(Z - mu) / sd, np.ones((len(Z), 1))], 1) if bias else (Z - mu) / sd  # noqa
    return {k: (fix(Z), t) for k, (Z, t) in sets.items()}


def _data(sets: list, key: str, p: int, dev) -> B.Data:
    n = max(len(s[key][1]) for s in sets)
    X = np.stack([np.pad(s[key][0], ((0, n - len(s[key][1])), (0, 0))) for s in sets])
    Y = np.stack([np.pad(s[key][1], (0, n - len(s[key][1]))) for s in sets])
    W = np.stack([np.pad(np.ones(len(s[key][1])), (0, n - len(s[key][1]))) for s in sets])
    return B.Data.of(Samples(X, Y, W), p, dev)


def run_kumar(cfg: KumarConfig) -> dict:
    cfg.validate()
    S = cfg.seeds
    sets = [prepare(cfg, s) for s in range(S)]
    d = sets[0]["id"][0].shape[1]
    blas = "numpy" if cfg.device == "cpu" else "torch"
    arch = MODELS[cfg.model](d=d, blas=blas) if cfg.model == "mlp" else MODELS[cfg.model](blas=blas)
    dev = cfg.device
    src, idd = _data(sets, "source", 10, dev), _data(sets, "id", 10, dev)
    inits = [arch.init(spawn(s, 3)[0]) for s in range(S)]
    p0 = tuple(np.stack([p[b] for p in inits]) for b in range(len(inits[0])))
    pre = B.train(arch, p0, p0, B.Rows.block(np.arange(S), eta=cfg.pretrain_eta), src, cfg.pretrain_steps,
                  record={cfg.pretrain_steps})
    body = pre.snapshots[cfg.pretrain_steps][:-1]
    heads = np.stack([arch.init(spawn(s, 3)[1])[-1] for s in range(S)])
    start = tuple(body) + (heads,)
    # one batched run: every (method, knob, eta) trajectory of every seed
    trajs, blocks = [], []
    for m in METHODS:
        for knob in cfg.knobs(m):
            for e in cfg.etas:
                eta = e * knob.get("eta_scale", 1.0)
                kw = {"eta": eta, "head_until": 10 ** 9 if m == "LP" else knob.get("k", 0)}
                trajs.append((m, tuple(knob.items()), eta))
                blocks.append(B.Rows.block(np.arange(S), **kw))
    trajs.append(("recipe", (("k", cfg.recipe_steps // 2),), cfg.eta))
    blocks.append(B.Rows.block(np.arange(S), eta=cfg.eta, head_until=cfg.recipe_steps // 2))
    n = len(trajs)
    st = tuple(np.tile(p, (n, 1, 1)) for p in start)
    run = B.train(arch, st, st, B.Rows.cat(blocks), idd, max(cfg.steps), record=set(cfg.steps))
    pts = {}
    for i, (m, knob, eta) in enumerate(trajs):
        for T in cfg.steps:
            pts[(m, knob, eta, T)] = tuple(p[i * S:(i + 1) * S] for p in run.snapshots[T])
    lp_pts = {(e, T): pts[("LP", (("eta_scale", 1.0),), e, T)] for e in cfg.etas for T in cfg.steps}
    for knob in cfg.knobs(CONTROL):
        a = knob["a"]
        for e in cfg.etas:
            for T in cfg.steps:
                ftp = pts[("FT", (("eta_scale", 1.0),), e, T)]
                pts[(CONTROL, tuple(knob.items()), e, T)] = tuple((1 - a) * f + a * q for f, q in zip(ftp, lp_pts[(e, T)]))
    keys = list(pts)
    allp = tuple(np.concatenate([pts[k][b] for k in keys] + [start[b]]) for b in range(len(start)))
    K = len(keys) + 1
    ev = {}
    for name in ("val", "test_id", "test_ood"):
        Dn = _data(sets, name, 10, dev)
        F, pred = B.evaluate(arch, allp, Dn.X.repeat(K, 1, 1))
        w = (Dn.W > 0).cpu().numpy()
        acc = ((pred == Dn.Y.cpu().numpy()[None].repeat(K, 0).reshape(pred.shape)) * np.tile(w, (K, 1))).sum(-1) \
            / np.tile(w, (K, 1)).sum(-1)
        ev[name] = {"acc": acc.reshape(K, S), "F": F.reshape((K, S) + F.shape[1:]), "w": w}
    def change(name):  # relative feature change vs the pretrained body (the start's features)
        F, F0, w = ev[name]["F"], ev[name]["F"][-1][None], ev[name]["w"][None]
        return (np.linalg.norm(F - F0, axis=-1) * w).sum(-1) / (np.linalg.norm(F0, axis=-1) * w).sum(-1)
    ch_id, ch_ood = change("test_id"), change("test_ood")
    runs = []
    for s in range(S):
        base = {"val_local": float(ev["val"]["acc"][-1, s]), "local": float(ev["test_id"]["acc"][-1, s]),
                "global": float(ev["test_ood"]["acc"][-1, s]), "change_id": 0.0, "change_ood": 0.0}
        grid = []
        for j, (m, knob, eta, T) in enumerate(keys):
            grid.append({"method": m, "knob": dict(knob), "eta": eta, "T": T, "unstable": False,
                         "val_local": float(ev["val"]["acc"][j, s]), "local": float(ev["test_id"]["acc"][j, s]),
                         "global": float(ev["test_ood"]["acc"][j, s]), "change_id": float(ch_id[j, s]),
                         "change_ood": float(ch_ood[j, s])})
        ft_like = [p for p in grid if p["method"] != "recipe"]
        best = {m: max(p["val_local"] for p in ft_like if p["method"] == m) for m in METHODS + (CONTROL,)}
        common = min(best[m] for m in METHODS)
        level = base["val_local"] + cfg.match_q * (common - base["val_local"])
        lev_c = base["val_local"] + cfg.match_q * (min(best["FT"], best[CONTROL]) - base["val_local"])
        matched = {m: at_level(ft_like, m, lev_c if m == CONTROL else level, base, keys=_KEYS) for m in METHODS}
        matched["_control"] = {CONTROL: at_level(ft_like, CONTROL, lev_c, base, keys=_KEYS),
                               "FT": at_level(ft_like, "FT", lev_c, base, keys=_KEYS)}
        pick = lambda m, T, knob: next(p for p in grid if p["method"] == m and p["T"] == T and p["eta"] == cfg.eta  # noqa
                                       and p["knob"] == knob)
        fixed = {"FT": pick("FT", cfg.recipe_steps, {"eta_scale": 1.0}), "LP": pick("LP", cfg.recipe_steps, {"eta_scale": 1.0}),
                 "LP-FT": next(p for p in grid if p["method"] == "recipe" and p["T"] == cfg.recipe_steps)}
        fixed["_control"] = {CONTROL: pick(CONTROL, cfg.recipe_steps, {"a": cfg.mix_weights[-1]}), "FT": fixed["FT"]}
        runs.append({"seed": s, "base": base, "level": level, "control_level": lev_c,
                     "variants": {"fixed recipe": fixed, "matched local": matched},
                     "pretrain_loss": [float(pre.losses[0, s]), float(pre.losses[-1, s])],
                     "grid": [p for p in grid if p["method"] != "recipe"]})
    return {"config": asdict(cfg), "grid_counts": grid_counts(cfg), "runs": runs,
            "summary": {v: {m: {k: mean_ci([r["variants"][v][m][k] for r in runs]) for k in _KEYS[:2] + _KEYS[3:]}
                            for m in METHODS} for v in VARIANTS}}


_KEYS = ("local", "global", "val_local", "change_id", "change_ood")


@lru_cache(maxsize=None)
def study(quick: bool = True, model: str = "mlp") -> dict:
    return run_kumar(KumarConfig(model=model, seeds=3 if quick else 5))


def kumar_study(quick: bool = True) -> dict:
    """``model → study``: both models (``quick``: the MLP)."""
    return {m: study(quick, m) for m in (("mlp",) if quick else tuple(MODELS))}


__all__ = ["KumarConfig", "run_kumar", "study", "kumar_study", "TOL"]
