"""Federated averaging, vectorised across clients, and how close it gets to the true representation.

FedAvg round r: a subset ``S_r`` of ``⌈q·C⌉`` clients (participation fraction ``q``) each run ``τ`` local
GD steps from the global model θ_r, and

    θ_{r+1} = Σ_{i∈S_r} w_i θ_i^{(τ)} / Σ_{i∈S_r} w_i,

with ``w_i`` the client's data size (uniform when all are equal). The local steps of all participating
clients run as one batched GD call.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import subspace_angles

from . import _validate as V
from .data import Moments, Samples
from .dynamics import masked, run, sgd
from .models import Params
from .rng import as_generator


class FedAvgResult:
    """``params``: the final global model (no client axis); ``history``: the global params after each round
    (round 0 = initialisation); ``global_loss``: the loss on the mixture of all clients, per round — computed
    on first access (callers that advance FedAvg in chunks read only ``params``)."""

    def __init__(self, params: Params, history: list, mixture_loss):
        self.params, self.history, self._mixture_loss, self._global_loss = params, history, mixture_loss, None

    @property
    def global_loss(self) -> np.ndarray:
        if self._global_loss is None:
            self._global_loss = np.array([self._mixture_loss(p) for p in self.history])
        return self._global_loss


def _n_clients(data) -> int:
    if isinstance(data, Moments):
        return data.batch_shape[0]
    if isinstance(data, Samples):
        return data.X.shape[0]
    raise TypeError(f"client_data must be Moments or Samples with a leading client axis, got {type(data).__name__}")


def fedavg(arch, params0: Params, client_data, rounds: int, local_steps: int, eta: float, *,
           participation: float = 1.0, weights=None, loss: str = "mse", half: bool = False, rng=None,
           masks=None, transform=None) -> FedAvgResult:
    """Run FedAvg (see module docstring). ``client_data`` has a leading client axis.

    ``masks``: per-block freeze masks of the local GD (e.g. train only the head). ``transform``: a
    function ``(data_of_participants, params) → Transform`` replacing plain GD in local training (e.g.
    FedPuReL's gradient purification); ``masks`` restrict its steps too (:func:`lpft_theory.dynamics.masked`).
    """
    rounds = V.integer("rounds", rounds, min_value=0)
    local_steps = V.integer("local_steps", local_steps, min_value=1)
    eta = V.positive("eta", eta)
    q = V.probability("participation", participation)
    if q == 0:
        raise ValueError("participation must be in (0, 1], got 0.0")
    C = _n_clients(client_data)
    w = np.ones(C) if weights is None else V.finite_array("weights", weights, ndim=1)
    if w.shape[0] != C or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {C} non-negative numbers with a positive sum, got {w}")
    g = as_generator(rng)
    params = arch.check_params(params0)
    history = [params]
    n_part = max(1, int(np.ceil(q * C)))
    for _ in range(rounds):
        idx = np.arange(C) if n_part == C else np.sort(g.choice(C, size=n_part, replace=False))
        part = client_data[idx]
        t = sgd(eta, masks) if transform is None else masked(transform(part, params), masks)
        local = run(arch, params, part, t, local_steps, loss=loss, half=half).params
        wi = w[idx] / w[idx].sum()
        params = tuple(np.tensordot(wi, np.broadcast_to(p, (len(idx),) + p.shape[-2:]), axes=1) for p in local)
        history.append(params)
    mixture = client_data.mean(0) if isinstance(client_data, Moments) else client_data
    return FedAvgResult(params, history, lambda p: np.mean(arch.loss(p, mixture, loss, half)))


def concat_clients(datas: list):
    """Several runs' client data (``Moments`` or ``Samples`` with a leading client axis, equal shapes) stacked on
    the client axis, run after run."""
    first = datas[0]
    if isinstance(first, Moments):
        parts = [(np.broadcast_to(d.Sigma, d.batch_shape + d.Sigma.shape[-2:]),
                  np.broadcast_to(d.C, d.batch_shape + d.C.shape[-2:]), np.broadcast_to(d.s, d.batch_shape))
                 for d in datas]
        return Moments(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
    if isinstance(first, Samples):
        W = None if first.weights is None else np.concatenate([d.weights for d in datas])
        return Samples(np.concatenate([d.X for d in datas]), np.concatenate([d.Y for d in datas]), W)
    raise TypeError(f"client data must be Moments or Samples, got {type(first).__name__}")


def fedavg_runs(arch, params0: list, client_data: list, rounds: int, local_steps: int, eta: float, *, weights=None,
                loss: str = "mse", half: bool = False, masks=None, transform=None, history: list | None = None) -> list:
    """Several independent FedAvg runs with full participation, advanced as one batch: the final global model of
    each, equal number for number to ``fedavg(arch, params0[i], client_data[i], …).params``.

    Every round, the local steps of all runs' clients are one GD call on the clients stacked on the client axis
    (each client starts from its own run's global model), and each run averages its own clients. ``client_data``:
    one per run, equal shapes; ``weights``: ``None`` or one weight vector per run; ``transform(data, params)``:
    as in :func:`fedavg`, called with the stacked data and the stacked per-client starts. ``history``: a list with
    one list per run, to which every run's global model after each round is appended (as ``fedavg``'s history).
    """
    rounds = V.integer("rounds", rounds, min_value=0)
    local_steps = V.integer("local_steps", local_steps, min_value=1)
    eta = V.positive("eta", eta)
    R = len(params0)
    if R == 0 or len(client_data) != R:
        raise ValueError(f"fedavg_runs needs one client data set per run, got {len(client_data)} for {R} runs")
    C = _n_clients(client_data[0])
    if any(_n_clients(d) != C for d in client_data):
        raise ValueError("fedavg_runs needs the same number of clients in every run")
    ws = [np.ones(C) if weights is None or weights[i] is None else V.finite_array("weights", weights[i], ndim=1)
          for i in range(R)]
    for w in ws:
        if w.shape[0] != C or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be {C} non-negative numbers with a positive sum, got {w}")
    wi = [w / w.sum() for w in ws]
    data = client_data[0] if R == 1 else concat_clients(list(client_data))
    params = [arch.check_params(p) for p in params0]
    for _ in range(rounds):
        start = tuple(np.concatenate([np.broadcast_to(p[b], (C,) + p[b].shape[-2:]) for p in params])
                      for b in range(len(params[0])))
        t = sgd(eta, masks) if transform is None else masked(transform(data, start), masks)
        local = run(arch, start, data, t, local_steps, loss=loss, half=half).params
        params = [tuple(np.tensordot(wi[r], x[r * C:(r + 1) * C], axes=1) for x in local) for r in range(R)]
        if history is not None:
            for h, p in zip(history, params):
                h.append(p)
    return params


@dataclass
class Plateau:
    """What :func:`to_plateau` returns: the model at the stopping round and the validation curve."""

    params: Params
    rounds: int  # rounds run in total
    curve: list  # (round, validation score) after every chunk, round 0 first
    converged: bool  # False when max_rounds was reached before the plateau


def to_plateau(advance, evaluate, params: Params, *, chunk: int, max_rounds: int, patience: int = 3,
               rel_tol: float = 1e-3) -> Plateau:
    """Train until the validation score stops improving (a stopping rule, not a fixed round count).

    ``advance(params, n)`` runs ``n`` more rounds and returns the new params; ``evaluate(params)`` is a
    validation score, lower is better (a loss, or 1 − accuracy). Stops after ``patience`` chunks of
    ``chunk`` rounds in a row without a relative improvement of ``rel_tol`` over the best score so far,
    or at ``max_rounds``; returns the params at the stop with the whole curve.
    """
    chunk = V.integer("chunk", chunk, min_value=1)
    max_rounds = V.integer("max_rounds", max_rounds, min_value=chunk)
    patience = V.integer("patience", patience, min_value=1)
    rel_tol = V.nonnegative("rel_tol", rel_tol)
    best = float(evaluate(params))
    curve, rounds, stale = [(0, best)], 0, 0
    while rounds < max_rounds and stale < patience:
        n = min(chunk, max_rounds - rounds)
        params = advance(params, n)
        rounds += n
        score = float(evaluate(params))
        if not np.isfinite(score):
            raise FloatingPointError(f"validation score became {score} after {rounds} FedAvg rounds")
        curve.append((rounds, score))
        if score < best - rel_tol * abs(best):
            best, stale = score, 0
        else:
            stale += 1
    return Plateau(params, rounds, curve, stale >= patience)


def to_plateau_runs(advance, evaluates: list, params: list, *, chunk: int, max_rounds: int, patience: int = 3,
                    rel_tol: float = 1e-3) -> list:
    """:func:`to_plateau` for several independent runs at once, each with its own stopping decision: one
    :class:`Plateau` per run, equal to ``to_plateau`` run on each alone.

    ``advance(params_list, n, which)`` runs ``n`` more rounds of the runs ``which`` (indices, in order) from
    ``params_list`` and returns their new params; ``evaluates[i]`` scores run ``i``. Runs still going have all
    run the same number of rounds, so each chunk is one batched call; a run that stops leaves the batch.
    """
    chunk = V.integer("chunk", chunk, min_value=1)
    max_rounds = V.integer("max_rounds", max_rounds, min_value=chunk)
    patience = V.integer("patience", patience, min_value=1)
    rel_tol = V.nonnegative("rel_tol", rel_tol)
    params = list(params)
    best = [float(ev(p)) for ev, p in zip(evaluates, params)]
    curves = [[(0, b)] for b in best]
    stale = [0] * len(params)
    rounds = 0
    active = list(range(len(params))) if max_rounds > 0 else []
    while active:
        n = min(chunk, max_rounds - rounds)
        for i, p in zip(active, advance([params[i] for i in active], n, active)):
            params[i] = p
        rounds += n
        for i in active:
            score = float(evaluates[i](params[i]))
            if not np.isfinite(score):
                raise FloatingPointError(f"validation score became {score} after {rounds} FedAvg rounds")
            curves[i].append((rounds, score))
            if score < best[i] - rel_tol * abs(best[i]):
                best[i], stale[i] = score, 0
            else:
                stale[i] += 1
        active = [i for i in active if rounds < max_rounds and stale[i] < patience]
    return [Plateau(p, c[-1][0], c, s >= patience) for p, c, s in zip(params, curves, stale)]


def principal_angles(B1: np.ndarray, B2: np.ndarray) -> np.ndarray:
    """Principal angles (radians, descending) between ``rowspace(B1)`` and ``rowspace(B2)``."""
    B1 = V.finite_array("B1", B1, ndim=2)
    B2 = V.finite_array("B2", B2, ndim=2)
    if B1.shape[1] != B2.shape[1]:
        raise ValueError(f"B1 and B2 must have the same number of columns d, got {B1.shape} and {B2.shape}")
    return subspace_angles(B1.T, B2.T)
