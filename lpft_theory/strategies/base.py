"""What a PFT strategy is: a named, pure ``fit`` from the global model and a client's data to
personalized parameters, with its update rule as an equation.

``fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None) -> Trajectory``

``params_G`` is the global model (no client axis); ``data`` carries a leading client axis, so one call
personalizes every client at once and the returned params have that client axis. Gradient-based
strategies are GD runs of a :class:`lpft_theory.dynamics.Transform` (an optax-style pair
``init``/``update``); ``wrap`` (a ``Transform → Transform`` function, e.g. loss flooding) is applied to
every transform a strategy runs, so wrappers compose with any strategy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..data import Moments
from ..dynamics import Trajectory, Transform, run, sgd
from ..models import Params


@dataclass(frozen=True)
class Strategy:
    """A named ``fit`` (see the module docstring) with its update rule as ``equation``."""

    name: str
    fit: Callable[..., Trajectory]
    equation: str

    def __call__(self, arch, params_G, data, **kw) -> Trajectory:
        return self.fit(arch, params_G, data, **kw)


def n_clients(data) -> int:
    """Size of the leading client axis of ``Moments`` or ``Samples``."""
    return data.batch_shape[0] if isinstance(data, Moments) else data.X.shape[0]


def broadcast_clients(params: Params, C: int) -> Params:
    """Copy the global model onto every client: ``(…) → (C, …)`` (kept if a client axis exists)."""
    return tuple(np.array(np.broadcast_to(p, (C,) + p.shape[-2:])) if p.ndim == 2 else p for p in params)


def run_wrapped(arch, start, data, transform: Transform, steps: int, *, loss, half, record, wrap) -> Trajectory:
    """:func:`lpft_theory.dynamics.run` with the strategy-level wrapper applied to the transform."""
    t = transform if wrap is None else wrap(transform)
    return run(arch, start, data, t, steps, loss=loss, half=half, record_params=record)


def gd_fit(transform_factory: Callable[..., Transform], steps: int):
    """A ``fit`` running ``steps`` GD steps of ``transform_factory(arch, start, data, loss, half)``
    from the global model copied onto every client."""

    def fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None):
        start = broadcast_clients(arch.check_params(params_G), n_clients(data))
        return run_wrapped(arch, start, data, transform_factory(arch, start, data, loss, half), steps,
                           loss=loss, half=half, record=record, wrap=wrap)

    return fit


def then(first: Trajectory, second: Trajectory) -> Trajectory:
    """Concatenate two phases (the second started where the first ended)."""
    snaps = None
    if first.snapshots is not None and second.snapshots is not None:
        snaps = first.snapshots + second.snapshots[1:]
    return Trajectory(second.params, np.concatenate([first.losses, second.losses[1:]]), snaps)


def head_only(n_blocks: int) -> tuple:
    """Freeze mask that trains only the head (the last block)."""
    return (False,) * (n_blocks - 1) + (True,)


__all__ = ["Strategy", "gd_fit", "run_wrapped", "broadcast_clients", "n_clients", "then", "head_only", "sgd",
           "Transform"]
