"""What a PFT strategy is: a named, pure ``fit`` from the global model and a client's data to
personalized parameters, with its update rule as an equation.

``fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None) -> Trajectory``

``params_G`` is the global model (no client axis); ``data`` carries a leading client axis, so one call
personalizes every client at once and the returned params have that client axis. Gradient-based
strategies are GD runs of a :class:`lpft_theory.dynamics.Transform` (an optax-style pair
``init``/``update``); ``wrap`` (a ``Transform → Transform`` function, e.g. loss flooding) is applied to
every transform a strategy runs, so wrappers compose with any strategy. ``rng`` (strategies that draw): a
seed or generator, or a sequence of them, one per equal group of consecutive clients (:func:`rng_groups`), so
independent problems stacked on the client axis keep their own random streams.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..data import Moments
from ..dynamics import Trajectory, Transform, run, sgd
from ..models import Params
from ..rng import as_generator


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


def rng_groups(rng, C: int) -> list:
    """``rng`` as ``[(clients, generator), …]``: one generator for all ``C`` clients, or — when ``rng`` is a list
    or tuple — one per equal group of consecutive clients (independent problems stacked on the client axis, e.g.
    the seeds of a study run as one batch). Each group draws from its own stream exactly what a call on its
    clients alone with that ``rng`` would draw, so stacking changes no number."""
    if not isinstance(rng, (list, tuple)):
        return [(slice(None), as_generator(rng))]
    G = len(rng)
    if G == 0 or C % G:
        raise ValueError(f"rng as a sequence needs one entry per equal group of clients; {G} groups for {C} clients")
    n = C // G
    return [(slice(i * n, (i + 1) * n), as_generator(r)) for i, r in enumerate(rng)]


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


__all__ = ["Strategy", "gd_fit", "run_wrapped", "broadcast_clients", "n_clients", "rng_groups", "then", "head_only",
           "sgd", "Transform"]
