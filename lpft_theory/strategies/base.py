"""What a PFT strategy is: a named, pure ``fit`` from the global model and a client's data to
personalized parameters, with its update rule as an equation.

``fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False) -> Trajectory``

``params_G`` is the global model (no client axis); ``data`` carries a leading client axis, so one call
personalizes every client at once and the returned params have that client axis. Gradient-based
strategies are GD runs of a :class:`lpft_theory.dynamics.Transform` (an optax-style pair
``init``/``update``), so the torch path and the numpy engine share one definition of each update.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..dynamics import Trajectory, Transform, run, sgd
from ..models import Params


@dataclass(frozen=True)
class Strategy:
    name: str
    fit: Callable[..., Trajectory]
    equation: str

    def __call__(self, arch, params_G, data, **kw) -> Trajectory:
        return self.fit(arch, params_G, data, **kw)


def n_clients(data) -> int:
    from ..data import Moments

    return data.batch_shape[0] if isinstance(data, Moments) else data.X.shape[0]


def broadcast_clients(params: Params, C: int) -> Params:
    """Copy the global model onto every client: ``(…) → (C, …)`` (kept if a client axis exists)."""
    return tuple(np.array(np.broadcast_to(p, (C,) + p.shape[-2:])) if p.ndim == 2 else p for p in params)


def gd_fit(transform_factory: Callable[[Params], Transform], steps: int):
    """A ``fit`` that runs ``steps`` GD steps of the transform built from the global params."""

    def fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False):
        start = broadcast_clients(arch.check_params(params_G), n_clients(data))
        return run(arch, start, data, transform_factory(start), steps, loss=loss, half=half, record_params=record)

    return fit


def then(first: Trajectory, second: Trajectory) -> Trajectory:
    """Concatenate two phases (the second started where the first ended)."""
    snaps = None
    if first.snapshots is not None and second.snapshots is not None:
        snaps = first.snapshots + second.snapshots[1:]
    return Trajectory(second.params, np.concatenate([first.losses, second.losses[1:]]), snaps)


__all__ = ["Strategy", "gd_fit", "broadcast_clients", "n_clients", "then", "sgd", "Transform"]
