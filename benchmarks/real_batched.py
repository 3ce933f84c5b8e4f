"""The real-digits grid: one batched run (methods × step sizes × knobs × seeds × clients) against the loops it
replaces, side by side in one run (interleaved repeats, benchmarks/_timing.py).

Contenders, each training every grid point of every method (no evaluation) for the same seeds:

* ``batched``: :func:`lpft_theory.empirical.experiment.run_grid` — one torch GD loop over all rows (plus LSS's
  own batched loop);
* ``per-method loop`` (the previous code's shape): per seed and per (method, knob), one engine call with the
  step sizes batched and every T read off one recorded run; LSS one call per (η, T);
* ``per-configuration loop``: per seed and per grid point, one engine call (a plain per-configuration torch loop).

Usage: ``python benchmarks/real_batched.py [--model mlp|cnn] [--seeds 2] [--repeats 3] [--json PATH]``.
"""
import argparse
import json
from dataclasses import replace

import numpy as np

from lpft_theory import threads
from lpft_theory.data import Samples
from lpft_theory.empirical import experiment as X

from _timing import environment, interleaved, ratio


def setup(model: str, seeds: int):
    cfg = replace(X.QUICK, model=model, scenario="concept", seeds=seeds, steps=(5, 10, 20), recipe_steps=10, eta=0.1)
    cfg.validate()
    preps = [X.prepare(cfg, s) for s in range(seeds)]
    arch = X._arch(cfg, preps[0].train.X.shape[-1])
    inits = [arch.init(s) for s in range(seeds)]  # a global model per seed (untrained: the cost is the same)
    pG = tuple(np.stack([p[b] for p in inits]) for b in range(len(inits[0])))
    return cfg, preps, arch, pG


def batched(cfg, preps, arch, pG):
    bank = X.Bank(cfg, arch, preps)
    X.run_grid(cfg, arch, pG, bank, list(range(len(preps))))


def per_method(cfg, preps, arch, pG):
    for s, d in enumerate(preps):
        g = tuple(p[s] for p in pG)
        C = d.train.X.shape[0]
        for m in X.METHODS:
            for knob in cfg.knobs(m):
                etas = np.array([e * knob.get("eta_scale", 1.0) for e in cfg.etas])
                if m == "LSS":
                    for e in etas:
                        for T in cfg.steps:
                            X.make_strategy(m, knob, e, T)(arch, g, d.train, loss="ce", rng=0)
                    continue
                big = Samples(np.concatenate([d.train.X] * len(etas)), np.concatenate([d.train.Y] * len(etas)),
                              np.concatenate([d.train.weights] * len(etas)))
                eta_col = np.repeat(etas, C)
                T = max(cfg.steps) if m != "Soup" else max(cfg.steps)  # Soup: one run at the largest budget
                X.make_strategy(m, knob, eta_col, T)(arch, g, big, loss="ce", rng=0, record=True)


def per_config(cfg, preps, arch, pG):
    for s, d in enumerate(preps):
        g = tuple(p[s] for p in pG)
        for m in X.METHODS:
            for knob, eta, T in X.grid(cfg, m):
                X.make_strategy(m, knob, eta, T)(arch, g, d.train, loss="ce", rng=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    threads.configure()
    cfg, preps, arch, pG = setup(args.model, args.seeds)
    t = interleaved({"batched": lambda: batched(cfg, preps, arch, pG),
                     "per-method loop": lambda: per_method(cfg, preps, arch, pG),
                     "per-configuration loop": lambda: per_config(cfg, preps, arch, pG)}, args.repeats, warmup=False)
    res = {"environment": environment(), "model": args.model, "seeds": args.seeds, "clients": cfg.clients,
           "grid_points_per_method": X.grid_counts(cfg)["FT"], "times": t,
           "batched_vs_per_method": ratio(t, "per-method loop", "batched"),
           "batched_vs_per_config": ratio(t, "per-configuration loop", "batched")}
    print(f"{args.model}, {args.seeds} seeds x {cfg.clients} clients, {res['grid_points_per_method']} points x "
          f"{len(X.METHODS)} methods: " + ", ".join(f"{k} {v['min_s']:.2f} s" for k, v in t.items()))
    for k in ("batched_vs_per_method", "batched_vs_per_config"):
        print(f"  {k}: {res[k]['of_min']:.1f}x (median {res[k]['median']:.1f}x)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)


if __name__ == "__main__":
    main()
