"""Loss flooding (Ishida et al. 2020) as a wrapper around any strategy."""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..dynamics import Transform, per_config
from .base import Strategy


def _level(b):
    """A flood level: a number >= 0, or a 1-D array of them, one per configuration of the leading axis."""
    if np.ndim(b) == 0:
        return Vd.nonnegative("b", b)
    arr = Vd.finite_array("b", b, ndim=1)
    if np.any(arr < 0):
        raise ValueError(f"b must be >= 0 everywhere (allowed range [0, inf)), got minimum {arr.min()}")
    return arr


def flood(b):
    """``Transform → Transform``: descend on ``|L − b| + b``, i.e. use ``sign(L − b) · ∇L``.

    Gradient ascent whenever a configuration's loss is below the flood level ``b``; with ``b = 0`` the
    (non-negative) loss is never below it and the wrapped transform is unchanged. ``b``: one level, or an
    array with one level per configuration of the leading (client) axis — several levels in one batched run.
    """
    b = _level(b)

    def wrap(inner: Transform) -> Transform:
        def update(grads, state, params, loss_value, t):
            value = np.asarray(loss_value)
            sign = np.where(value < (b if np.ndim(b) == 0 else per_config(b, value.ndim)), -1.0, 1.0)
            flipped = tuple(per_config(sign, g.ndim) * g for g in grads)
            return inner.update(flipped, state, params, loss_value, t)

        return Transform(inner.init, update)

    return wrap


def flooded(strategy: Strategy, b) -> Strategy:
    """``strategy`` with every GD phase flooded at level ``b`` (see :func:`flood`; one level or one per client)."""
    wrapper = flood(b)
    b = _level(b)
    label = f"{b:g}" if np.ndim(b) == 0 else "[" + ",".join(f"{x:g}" for x in b) + "]"

    def fit(arch, params_G, data, *, wrap=None, **kw):
        w = wrapper if wrap is None else (lambda t: wrap(wrapper(t)))
        return strategy.fit(arch, params_G, data, wrap=w, **kw)

    return Strategy(f"{strategy.name}+flood[b={label}]", fit, f"{strategy.equation}, with ∇L → sign(L − b)∇L")
