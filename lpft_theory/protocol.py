"""How an empirical comparison is run, as a value: a :class:`Protocol` is passed to a study (never constants
inside it), so each verdict can be recomputed under several protocols and its robustness reported.

A protocol fixes

* the **global model**: FedAvg from a random start, either to a validation plateau
  (:func:`lpft_theory.federated.to_plateau`; ``global_rule="plateau"``) or for a fixed number of rounds
  (``"fixed"``, e.g. the short, under-trained global model of the earlier studies);
* the **step budget** (:mod:`lpft_theory.recipes`: the papers' ``recipe`` or ``equal`` total steps);
* the **tuning grid** ``lrs × steps × knobs`` and the **selection rule**: among the configurations whose
  training loss never rose (:func:`rose`), minimise on *validation* data
  ``(1 − w)·L_val(own) + w·L_val(others)`` (:func:`select`; test data are never read);
* the **stability guard** tolerance, and the number of seeds.

:data:`VARIANTS` are the protocols every synthetic empirical claim is judged under.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from . import _validate as Vd
from .federated import fedavg, fedavg_runs, to_plateau, to_plateau_runs
from .recipes import BUDGETS, KNOBS
from .rng import spawn

GLOBAL_RULES = ("plateau", "fixed")


@dataclass(frozen=True)
class Protocol:
    """One way to run the comparison (module docstring). Frozen and hashable: studies cache per protocol.

    ``lrs`` / ``steps``: the grid (one value each = a fixed recipe). ``tune_knobs``: sweep each method's
    own knob (:data:`lpft_theory.recipes.KNOBS`) or use its recipe value. ``select_weight`` ``w ∈ [0, 1]``:
    weight of the others' validation loss in the selection criterion. ``rise_tol``: a run is *unstable*
    when its training loss rises by more than ``rise_tol × L_0`` in one step. ``n_val``: validation points
    per client. ``n_seeds``: ``(quick, full)``.
    """

    name: str = "fixed"
    global_rule: str = "plateau"
    global_rounds: int = 600
    chunk: int = 10
    patience: int = 3
    rel_tol: float = 1e-3
    budget: str = "recipe"
    lrs: tuple = (0.05,)
    steps: tuple = (30,)
    tune_knobs: bool = False
    select_weight: float = 0.5
    rise_tol: float = 1e-6
    n_val: int = 100
    n_seeds: tuple = (6, 16)

    def __post_init__(self):
        Vd.choice("global_rule", self.global_rule, GLOBAL_RULES)
        Vd.choice("budget", self.budget, BUDGETS)
        Vd.integer("global_rounds", self.global_rounds, min_value=1)
        Vd.integer("chunk", self.chunk, min_value=1)
        Vd.integer("patience", self.patience, min_value=1)
        if not self.lrs or not self.steps:
            raise ValueError(f"lrs and steps must be non-empty tuples, got lrs={self.lrs}, steps={self.steps}")
        for lr in self.lrs:
            Vd.positive("lrs", lr)
        for T in self.steps:
            Vd.integer("steps", T, min_value=1)
        Vd.probability("select_weight", self.select_weight)
        Vd.nonnegative("rise_tol", self.rise_tol)
        Vd.integer("n_val", self.n_val, min_value=2)
        if len(self.n_seeds) != 2 or min(self.n_seeds) < 2:
            raise ValueError(f"n_seeds must be (quick, full) with at least 2 seeds each, got {self.n_seeds}")

    @property
    def tuned(self) -> bool:
        return len(self.lrs) * len(self.steps) > 1 or self.tune_knobs

    def knobs(self, method: str) -> tuple:
        """The knob values swept for ``method`` (its recipe value alone when knobs are not tuned)."""
        recipe, grid = KNOBS[method]
        return grid if self.tune_knobs else (recipe,)

    def seeds(self, quick: bool, seed: int) -> list[int]:
        return [seed + 1000 * s for s in range(self.n_seeds[0] if quick else self.n_seeds[1])]

    def global_part(self) -> "Protocol":
        """The protocol with only what decides the global model (rule, rounds, plateau, validation size):
        studies cache global models under it, so protocols that differ elsewhere share them."""
        return Protocol("global", self.global_rule, self.global_rounds, self.chunk, self.patience, self.rel_tol,
                        n_val=self.n_val)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


FIXED = Protocol("fixed")
#: every synthetic empirical claim is judged under each of these (the protocol-robustness table)
VARIANTS = {
    # the papers' recipe: one step size and step count for every method, LP-FT = exact LP + T FT steps
    "fixed recipe": FIXED,
    # the same recipe from a short (20-round, under-trained) FedAvg model
    "short global model": replace(FIXED, name="short global model", global_rule="fixed", global_rounds=20),
    # every method gets T steps in total (LP-FT: LP then FT, FT stage at eta)
    "equal budget": replace(FIXED, name="equal budget", budget="equal"),
    # equal budgets, lr × steps × knob tuned on validation data, the same rule for every method
    # (fewer seeds in quick mode: the grid costs ~30 runs per method and seed)
    "tuned": replace(FIXED, name="tuned", budget="equal", lrs=(0.02, 0.05, 0.1), steps=(10, 30, 90), tune_knobs=True,
                     n_seeds=(4, 10)),
    # equal budgets, recipe lr, a grid of step counts: the Local–Global curve, read at matched Local
    "matched local": replace(FIXED, name="matched local", budget="equal", steps=(2, 5, 10, 20, 40, 80)),
}


def global_model(arch, train, evaluate, seed: int, protocol: Protocol, *, eta: float = 0.05, loss: str = "mse",
                 weights=None, scale: float = 0.5, local_steps: int = 5) -> tuple:
    """FedAvg from ``arch.init(scale)`` under ``protocol``'s global rule; returns ``(params, info)``.

    ``evaluate(params) → float``: the validation score (lower is better) the plateau rule watches; it is
    recorded for the fixed rule too. Under the plateau rule the model with the best validation score is
    returned (early stopping: a score that rises again after its plateau is overfitting, not progress).
    ``info``: the rounds of the returned model, rounds run, whether the plateau was reached, the curve.
    """
    g_init, g_fed = spawn(seed, 2)
    p0 = arch.init(g_init, scale=scale)

    def advance(p, n):
        return fedavg(arch, p, train, n, local_steps, eta, loss=loss, weights=weights, rng=g_fed).params

    if protocol.global_rule == "fixed":
        p = advance(p0, protocol.global_rounds)
        info = {"rule": "fixed", "rounds": protocol.global_rounds, "converged": None,
                "curve": [[0, float(evaluate(p0))], [protocol.global_rounds, float(evaluate(p))]]}
        return p, info
    seen = []  # (score, params) at every evaluation: the plateau rule keeps the best one (early stopping)

    def watch(p):
        seen.append((float(evaluate(p)), p))
        return seen[-1][0]

    pl = to_plateau(advance, watch, p0, chunk=protocol.chunk, max_rounds=protocol.global_rounds,
                    patience=protocol.patience, rel_tol=protocol.rel_tol)
    best = min(range(len(seen)), key=lambda i: seen[i][0])
    return seen[best][1], {"rule": "plateau", "rounds": int(pl.curve[best][0]), "rounds_run": pl.rounds,
                           "converged": pl.converged, "curve": [[int(r), float(s)] for r, s in pl.curve]}


def global_models(arch, trains: list, evaluates: list, seeds: list, protocol: Protocol, *, eta: float = 0.05,
                  loss: str = "mse", weights=None, scale: float = 0.5, local_steps: int = 5) -> list:
    """:func:`global_model` for several seeds at once — one ``(params, info)`` per seed, equal to
    ``global_model(arch, trains[i], evaluates[i], seeds[i], protocol, …)`` — with the FedAvg rounds of all seeds
    run as one batch (:func:`lpft_theory.federated.fedavg_runs`; each seed stops on its own plateau,
    :func:`lpft_theory.federated.to_plateau_runs`). ``weights``: ``None`` or one per seed. Full participation
    only (the global models of the studies), so no seed draws a client sample."""
    p0 = []
    for s in seeds:
        g_init, _ = spawn(s, 2)
        p0.append(arch.init(g_init, scale=scale))

    def advance(ps, n, which):
        return fedavg_runs(arch, ps, [trains[i] for i in which], n, local_steps, eta, loss=loss,
                           weights=None if weights is None else [weights[i] for i in which])

    if protocol.global_rule == "fixed":
        ps = advance(p0, protocol.global_rounds, range(len(seeds)))
        return [(p, {"rule": "fixed", "rounds": protocol.global_rounds, "converged": None,
                     "curve": [[0, float(ev(q))], [protocol.global_rounds, float(ev(p))]]})
                for p, q, ev in zip(ps, p0, evaluates)]
    seen = [[] for _ in seeds]

    def watcher(i):
        def watch(p):
            seen[i].append((float(evaluates[i](p)), p))
            return seen[i][-1][0]
        return watch

    pls = to_plateau_runs(advance, [watcher(i) for i in range(len(seeds))], p0, chunk=protocol.chunk,
                          max_rounds=protocol.global_rounds, patience=protocol.patience, rel_tol=protocol.rel_tol)
    out = []
    for pl, sn in zip(pls, seen):
        best = min(range(len(sn)), key=lambda i: sn[i][0])
        out.append((sn[best][1], {"rule": "plateau", "rounds": int(pl.curve[best][0]), "rounds_run": pl.rounds,
                                  "converged": pl.converged, "curve": [[int(r), float(v)] for r, v in pl.curve]}))
    return out


def rose(losses, tol: float) -> np.ndarray:
    """Per configuration: did the training loss rise by more than ``tol·L_0`` in some step?

    ``losses (steps + 1, *batch)``. The rise is measured against the *starting* loss ``L_0`` (not the
    current one), so round-off once a run has interpolated (``L_t ≈ 10⁻¹⁶``) does not count as instability.
    """
    L = np.asarray(losses, float)
    if L.shape[0] < 2:
        return np.zeros(L.shape[1:], bool)
    return np.diff(L, axis=0).max(axis=0) > tol * np.maximum(np.abs(L[0]), 1e-300)


def select(val_rows: list, protocol: Protocol) -> dict:
    """The configuration chosen by the selection rule from *validation* rows only.

    ``val_rows``: dicts with ``val_local``, ``val_global`` (means over clients), ``unstable`` (number of
    clients whose loss rose) and the configuration keys. Stable rows are preferred; when none is stable
    the least unstable are used, and the result says so (``stable = False``). Ties keep the first row.
    """
    if not val_rows:
        raise ValueError("select needs at least one validation row")
    w = protocol.select_weight
    fewest = min(r["unstable"] for r in val_rows)
    pool = [r for r in val_rows if r["unstable"] == fewest]
    best = min(pool, key=lambda r: (1 - w) * r["val_local"] + w * r["val_global"])
    return {**best, "stable": fewest == 0}


def first_passage(local, glob, level: float) -> float:
    """Global value where the Local–Global curve first reaches ``local ≤ level`` (linear between points).

    ``local``, ``glob``: the curve in order of increasing personalization (point 0 = the global model).
    NaN when the curve never reaches ``level``.
    """
    local, glob = np.asarray(local, float), np.asarray(glob, float)
    if local[0] <= level:
        return float(glob[0])
    hit = np.flatnonzero(local <= level)
    if hit.size == 0:
        return float("nan")
    j = hit[0]
    a = (local[j - 1] - level) / (local[j - 1] - local[j])
    return float(glob[j - 1] + a * (glob[j] - glob[j - 1]))


def matched_levels(curves: dict, qs=(0.5, 0.8)) -> dict:
    """Common Local levels of several methods' curves (one seed): ``L_q = L_0 − q (L_0 − L_common)`` with
    ``L_0`` the global model's Local and ``L_common`` the most personalized Local *every* method reaches."""
    L0 = max(c[0][0] for c in curves.values())
    common = max(min(p[0] for p in c) for c in curves.values())
    return {q: L0 - q * (L0 - common) for q in qs}


__all__ = ["Protocol", "FIXED", "VARIANTS", "GLOBAL_RULES", "global_model", "global_models", "rose", "select", "first_passage",
           "matched_levels"]
