"""Adversarial search for counterexamples to a "for all" statement (a bound, a condition, an identity, a frontier).

A statement is written as a *margin* ``m(θ)`` over an admissible instance space: ``m >= 0`` where the statement
holds at instance ``θ``, ``m < 0`` where it fails (for a bound ``bound − quantity``; for a condition the signed
distance of the outcome from the predicted side). :func:`search` minimises the margin over a box of
parameters that a ``build(θ)`` function maps onto the paper's own assumptions (orthonormal frames, heads near
and far from the target, conditioning, steps up to ``2/β`` …), with a fixed evaluation budget:

1. random instances (the baseline: what sampling alone finds);
2. multi-start L-BFGS-B from the best of them (the margin is smooth inside the box: a thin violating corner
   next to a slope is reached by descent, which sampling of the same budget misses);
3. ``scipy.optimize.differential_evolution`` seeded with the best points, with what is left (global,
   derivative free).

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
    spent by each stage, and the worst margin random sampling alone reached with its share of the budget."""

    worst_margin: float
    instance: dict
    evaluations: int
    budget: int
    random_worst: float
    stages: dict = field(default_factory=dict)

    @property
    def broken(self) -> bool:
        return self.worst_margin < 0

    def to_dict(self) -> dict:
        return {"worst_margin": self.worst_margin, "instance": self.instance, "evaluations": self.evaluations,
                "budget": self.budget, "random_worst_margin": self.random_worst, "stages": self.stages,
                "method": "random sampling, then multi-start L-BFGS-B, then differential evolution"}


def search(margin, space: Space, budget: int = 600, rng=0, random_share: float = 0.25, polish_starts: int = 3,
           stop_below: float | None = None) -> Search:
    """Minimise ``margin(instance_dict) -> float`` over ``space`` within ``budget`` evaluations.

    ``random_share`` of the budget goes to uniform random instances, up to a quarter to L-BFGS-B from the
    ``polish_starts`` best of them, the rest to differential evolution seeded with the best points. A non-finite margin counts
    as ``+inf`` (an inadmissible point, never a counterexample). ``stop_below``: stop as soon as a margin below it
    is found (e.g. ``-1e-9``: any counterexample).
    """
    if budget < 20:
        raise ValueError(f"budget must be >= 20 evaluations, got {budget}")
    g = as_generator(rng)
    seen: list = []

    class _Stop(Exception):
        pass

    def f(x) -> float:
        if len(seen) >= budget:
            raise _Stop
        x = np.clip(np.asarray(x, float), space.lo, space.hi)
        m = float(margin(space.point(x)))
        m = m if np.isfinite(m) else np.inf
        seen.append((m, x.copy()))
        if stop_below is not None and m < stop_below:
            raise _Stop
        return m

    n_rand = max(5, int(random_share * budget))
    stages = {}
    try:
        for x in space.sample(g, n_rand):
            f(x)
    except _Stop:
        pass
    random_worst = min(m for m, _ in seen)
    stages["random"] = len(seen)
    bounds = list(zip(space.lo, space.hi))

    def polish(stage: str, share: float):
        start, cap = len(seen), len(seen) + int(share * budget)
        try:
            for _, x0 in sorted(seen, key=lambda t: t[0])[:polish_starts]:
                if len(seen) >= cap:
                    break
                optimize.minimize(f, x0, method="L-BFGS-B", bounds=bounds,
                                  options={"maxfun": max(10, (cap - len(seen)) // (len(bounds) + 1))})
        except _Stop:
            pass
        stages[stage] = len(seen) - start

    def done() -> bool:
        return len(seen) >= budget or (stop_below is not None and min(m for m, _ in seen) < stop_below)

    if not done():
        polish("lbfgsb_from_random", 0.25)
    if not done():
        start = len(seen)
        pop = 5
        init = np.array([x for _, x in sorted(seen, key=lambda t: t[0])[:pop * len(bounds)]])
        try:
            optimize.differential_evolution(f, bounds, init=init if init.shape[0] >= 5 else "latinhypercube",
                                            maxiter=10_000, tol=0, polish=False, seed=int(g.integers(1 << 31)))
        except _Stop:
            pass
        stages["differential_evolution"] = len(seen) - start
    worst, x = min(seen, key=lambda t: t[0])
    return Search(float(worst), space.point(x), len(seen), budget, float(random_worst), stages)


__all__ = ["Space", "Search", "search"]
