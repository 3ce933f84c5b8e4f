"""Loss flooding (Ishida et al. 2020) as a wrapper around any strategy."""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..dynamics import Transform, per_config
from .base import Strategy


def flood(b: float):
    """``Transform → Transform``: descend on ``|L − b| + b``, i.e. use ``sign(L − b) · ∇L``.

    Gradient ascent whenever a configuration's loss is below the flood level ``b``; with ``b = 0`` the
    (non-negative) loss is never below it and the wrapped transform is unchanged.
    """
    b = Vd.nonnegative("b", b)

    def wrap(inner: Transform) -> Transform:
        def update(grads, state, params, loss_value, t):
            sign = np.where(np.asarray(loss_value) < b, -1.0, 1.0)
            flipped = tuple(per_config(sign, g.ndim) * g for g in grads)
            return inner.update(flipped, state, params, loss_value, t)

        return Transform(inner.init, update)

    return wrap


def flooded(strategy: Strategy, b: float) -> Strategy:
    """``strategy`` with every GD phase flooded at level ``b`` (see :func:`flood`)."""
    wrapper = flood(b)

    def fit(arch, params_G, data, *, wrap=None, **kw):
        w = wrapper if wrap is None else (lambda t: wrap(wrapper(t)))
        return strategy.fit(arch, params_G, data, wrap=w, **kw)

    return Strategy(f"{strategy.name}+flood[b={b:g}]", fit, f"{strategy.equation}, with ∇L → sign(L − b)∇L")
