"""Adversarial search for counterexamples to a "for all" statement (a bound, a condition, an identity, a frontier).

A statement is written as a *margin* ``m(θ)`` over an admissible instance space: ``m >= 0`` where the statement
holds at instance ``θ``, ``m < 0`` where it fails (for a bound ``bound − quantity``; for a condition the signed
distance of the outcome from the predicted side). :func:`search` minimises the margin over a box of
parameters that a ``build(θ)`` function maps onto the paper's own assumptions (orthonormal frames, heads near
and far from the target, conditioning, steps up to ``2/β`` …), with a fixed evaluation budget:

1. random instances (the baseline: what sampling alone finds), a ``corner_share`` of them with each parameter
   put on a face of the box with probability 0.3 (the corners: heads at the target, features inside the span…);
2. multi-start L-BFGS-B from the best of them, in the unit-cube coordinates of the box (the margin is smooth
   inside the box: a thin violating corner next to a slope is reached by descent, which sampling of the same
   budget misses); the gradient is a forward difference, all ``p + 1`` points of it evaluated together;
3. ``scipy.optimize.differential_evolution`` seeded with the best points (global, derivative free);
4. L-BFGS-B again from the best point found, with the last ``final_share`` of the budget (the evolution finds
   the basin, descent its bottom: a violating corner on the box's faces is reached this way).

``batched=True``: ``margin`` takes a *list* of instances and returns one margin each, so a whole random
sample, a finite-difference stencil or a generation of the evolution is one call (an engine that integrates
many instances at once pays its overhead once per call, not per instance). The budget counts instances in
both modes, and the two modes spend it on the same points.

The result names the budget spent, the worst margin and the instance attaining it, rerunnable from
``(space, x)`` alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from .rng import as_generator


@dataclass(frozen=True)
class Space:
    """A box of named parameters; ``build`` (in the caller) maps a point of the box to an admissible instance.

    ``names``: parameter names; ``lo``/``hi``: bounds; ``integer``: names rounded to integers before use."""

    names: tuple
    lo: tuple
    hi: tuple
    integer: tuple = ()

    def __post_init__(self):
        if not (len(self.names) == len(self.lo) == len(self.hi)) or not self.names:
            raise ValueError(f"Space needs names, lo and hi of one non-zero length, got {self.names}, {self.lo}, {self.hi}")
        if any(not (a < b) for a, b in zip(self.lo, self.hi)):
            raise ValueError(f"Space needs lo < hi for every parameter, got lo={self.lo}, hi={self.hi}")
        unknown = set(self.integer) - set(self.names)
        if unknown:
            raise ValueError(f"Space.integer names unknown parameters {sorted(unknown)}")

    def point(self, x) -> dict:
        """The named instance parameters of a box point (integers rounded)."""
        return {n: (int(round(v)) if n in self.integer else float(v)) for n, v in zip(self.names, x)}

    def sample(self, g, n: int) -> np.ndarray:
        lo, hi = np.asarray(self.lo, float), np.asarray(self.hi, float)
        return lo + (hi - lo) * g.random((n, len(self.names)))


@dataclass
class Search:
    """What :func:`search` found: ``worst_margin`` and its ``instance`` (named parameters), the evaluations
    spent by each stage, and the worst margin random sampling alone reached with its share of the budget.
    ``failures``: how many evaluated instances had a margin below ``fail_below`` (default 0); ``failing_box``:
    the range of every parameter over them (where in the box the statement failed)."""

    worst_margin: float
    instance: dict
    evaluations: int
    budget: int
    random_worst: float
    stages: dict = field(default_factory=dict)
    failures: int = 0
    failing_box: dict = field(default_factory=dict)

    @property
    def broken(self) -> bool:
        return self.worst_margin < 0

    def to_dict(self) -> dict:
        return {"worst_margin": self.worst_margin, "instance": self.instance, "evaluations": self.evaluations,
                "budget": self.budget, "random_worst_margin": self.random_worst, "stages": self.stages,
                "failures": self.failures, "failing_box": self.failing_box,
                "method": "random sampling, multi-start L-BFGS-B, differential evolution, L-BFGS-B from the best"}


class _Stop(Exception):
    pass


def search(margin, space: Space, budget: int = 600, rng=0, random_share: float = 0.25, polish_starts: int = 3,
           stop_below: float | None = None, batched: bool = False, polish_share: float = 0.25,
           fd_step: float = 1e-5, fail_below: float = 0.0, final_share: float = 0.1,
           corner_share: float = 0.25) -> Search:
    """Minimise ``margin(instance_dict) -> float`` over ``space`` within ``budget`` evaluations.

    ``random_share`` of the budget goes to random instances (``corner_share`` of them on faces of the box, the
    rest uniform; ``random_worst`` is the uniform ones' worst, the baseline), ``polish_share`` to L-BFGS-B from the
    ``polish_starts`` best of them, ``final_share`` to L-BFGS-B from the best point at the end, the rest to
    differential evolution seeded with the best points. A non-finite
    margin counts as ``+inf`` (an inadmissible point, never a counterexample). ``stop_below``: stop as soon as a
    margin below it is found (e.g. ``-1e-9``: any counterexample). ``batched``: ``margin(list of instance dicts)
    -> sequence of margins`` (see the module docstring). ``fd_step``: the finite-difference step of the
    L-BFGS-B gradient, as a fraction of each parameter's range. ``fail_below``: the margin below which an
    evaluated instance counts in ``failures`` and ``failing_box`` (a statement's tolerance, e.g. ``-1e-6``).
    """
    if budget < 20:
        raise ValueError(f"budget must be >= 20 evaluations, got {budget}")
    if not (0 < random_share <= 1 and 0 <= polish_share <= 1 and 0 <= final_share <= 1):
        raise ValueError(f"random_share must be in (0, 1], polish_share and final_share in [0, 1], got "
                         f"{random_share}, {polish_share}, {final_share}")
    g = as_generator(rng)
    lo, hi = np.asarray(space.lo, float), np.asarray(space.hi, float)
    p = len(lo)
    continuous = np.array([n not in space.integer for n in space.names])
    seen: list = []  # (margin, unit-cube point)

    def evaluate(U) -> np.ndarray:
        """Margins of the unit-cube points ``U (N, p)`` (recorded); stops at the budget or below ``stop_below``."""
        U = np.clip(np.atleast_2d(np.asarray(U, float)), 0.0, 1.0)
        left = budget - len(seen)
        if left <= 0:
            raise _Stop
        take = U[:left]
        inst = [space.point(lo + u * (hi - lo)) for u in take]
        if batched:
            m = np.asarray(margin(inst), float).reshape(-1)
            if m.shape[0] != len(inst):
                raise ValueError(f"a batched margin must return one value per instance: {len(inst)} asked, "
                                 f"{m.shape[0]} returned")
        else:
            m = np.array([float(margin(i)) for i in inst])
        m = np.where(np.isfinite(m), m, np.inf)
        seen.extend(zip(m.tolist(), take.copy()))
        if take.shape[0] < U.shape[0] or (stop_below is not None and m.min() < stop_below):
            raise _Stop
        return m

    def best(n):
        return [x for _, x in sorted(seen, key=lambda t: t[0])[:n]]

    stages = {}
    n_rand = max(5, int(random_share * budget))
    n_corner = int(corner_share * n_rand)
    U = g.random((n_rand, p))
    faces = g.random((n_corner, p)) < 0.3
    U[n_rand - n_corner:][faces] = (g.random(int(faces.sum())) < 0.5).astype(float)
    try:
        evaluate(U)
    except _Stop:
        pass
    random_worst = min(m for m, _ in seen[:n_rand - n_corner]) if len(seen) > n_rand - n_corner else min(
        m for m, _ in seen)
    stages["random"] = len(seen)

    def done() -> bool:
        return len(seen) >= budget or (stop_below is not None and min(m for m, _ in seen) < stop_below)

    h = fd_step * continuous

    def value_and_grad(u):
        # forward differences, stepping inward at the upper face; integer parameters have no gradient
        step = np.where(u + h > 1.0, -h, h)
        pts = np.vstack([u, u + np.diag(step)[continuous]])
        m = evaluate(pts)
        grad = np.zeros(p)
        if np.isfinite(m[0]):
            grad[continuous] = np.where(np.isfinite(m[1:]), (m[1:] - m[0]) / step[continuous], 0.0)
        return (m[0] if np.isfinite(m[0]) else 1e300), grad

    per = 1 + int(continuous.sum())

    def polish(stage: str, starts: list, cap: int):
        start = len(seen)
        try:
            for j, u0 in enumerate(starts):
                if len(seen) + per > cap or done():
                    break
                optimize.minimize(value_and_grad, u0, jac=True, method="L-BFGS-B", bounds=[(0.0, 1.0)] * p,
                                  options={"maxfun": max(2, (cap - len(seen)) // (per * (len(starts) - j)))})
        except _Stop:
            pass
        stages[stage] = len(seen) - start

    if not done() and polish_share > 0:
        polish("lbfgsb_from_random", best(polish_starts), len(seen) + int(polish_share * budget))
    reserve = int(final_share * budget) if per <= final_share * budget else 0
    if not done() and len(seen) < budget - reserve:
        start = len(seen)
        init = np.array(best(5 * p))

        def de_func(x):
            room = budget - reserve - len(seen)
            x = np.asarray(x, float)
            if room <= 0:
                raise _Stop
            if x.ndim == 1:
                return float(evaluate(x)[0])
            if x.shape[1] > room:
                evaluate(x.T[:room])
                raise _Stop
            return evaluate(x.T)

        try:
            optimize.differential_evolution(de_func, [(0.0, 1.0)] * p,
                                            init=init if init.shape[0] >= 5 else "latinhypercube",
                                            maxiter=10_000, tol=0, polish=False, seed=int(g.integers(1 << 31)),
                                            vectorized=batched, updating="deferred")
        except _Stop:
            pass
        stages["differential_evolution"] = len(seen) - start
    if not done() and reserve:
        polish("lbfgsb_from_best", best(1), budget)
    worst, u = min(seen, key=lambda t: t[0])
    bad = np.array([x for m, x in seen if m < fail_below]).reshape(-1, p)
    box = {} if not len(bad) else {n: [float(a), float(b)] for n, a, b in
                                   zip(space.names, lo + bad.min(0) * (hi - lo), lo + bad.max(0) * (hi - lo))}
    return Search(float(worst), space.point(lo + u * (hi - lo)), len(seen), budget, float(random_worst), stages,
                  int(len(bad)), box)


__all__ = ["Space", "Search", "search"]
