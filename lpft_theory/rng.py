"""Seeding: one ``np.random.SeedSequence`` per run, spawned per client or configuration.

The same seed gives bit-identical output because every random draw in the package goes through a
``Generator`` obtained here, never through global state.
"""
from __future__ import annotations

import numbers

import numpy as np

RngLike = "int | np.random.Generator | np.random.SeedSequence | None"


def as_generator(rng) -> np.random.Generator:
    """Accept an int seed, a ``SeedSequence``, a ``Generator`` (returned as is) or ``None`` (seed 0).

    ``None`` maps to seed 0, not to fresh entropy: the package promises reproducible output.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        rng = 0
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if isinstance(rng, bool) or not isinstance(rng, numbers.Integral) or rng < 0:
        raise TypeError(f"rng must be a non-negative int, a SeedSequence or a Generator, got {rng!r}")
    return np.random.default_rng(int(rng))


def spawn(rng, n: int) -> list[np.random.Generator]:
    """``n`` statistically independent generators derived from ``rng`` (one per client/config)."""
    if isinstance(rng, np.random.Generator):
        return list(rng.spawn(n))
    seq = rng if isinstance(rng, np.random.SeedSequence) else np.random.SeedSequence(0 if rng is None else int(rng))
    return [np.random.default_rng(s) for s in seq.spawn(n)]
