"""Baselines, FT, LP (in every reading the papers allow) and LP-FT."""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..data import Samples
from ..dynamics import Trajectory, check_eta, run_head_only, sgd
from ..models import DeepLinear
from ..rng import as_generator
from .base import Strategy, broadcast_clients, gd_fit, head_only, n_clients, run_wrapped, then

LP_MODES = ("exact", "steps", "partial")
#: Relative cut-off for the pseudo-inverse in exact LP: feature directions whose curvature is below
#: RCOND × the largest are treated as absent (minimum-norm head), not inverted into a huge head.
RCOND = 1e-10


def global_only() -> Strategy:
    """No personalization: ``θ_i = θ_G`` for every client."""

    def fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None):
        p = broadcast_clients(arch.check_params(params_G), n_clients(data))
        value = arch.loss(p, data, loss, half)
        return Trajectory(p, np.asarray(value)[None], [p] if record else None)

    return Strategy("global", fit, "θ_i = θ_G")


def local_only(eta: float, steps: int, scale: float = 1.0) -> Strategy:
    """Train from scratch on local data: ``θ_i^0 ~ N(0, scale²/fan_in)``, then ``θ ← θ − η ∇L_i(θ)``."""
    eta, steps = Vd.positive("eta", eta), Vd.integer("steps", steps, min_value=0)

    def fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None):
        start = arch.init(as_generator(rng), scale, batch=(n_clients(data),))
        return run_wrapped(arch, start, data, sgd(eta), steps, loss=loss, half=half, record=record, wrap=wrap)

    return Strategy("local", fit, "θ_i^0 random;  θ ← θ − η ∇L_i(θ)")


def ft(eta, steps: int) -> Strategy:
    """Full fine-tuning: ``θ^{t+1} = θ^t − η ∇_θ L_i(θ^t)``, ``θ^0 = θ_G`` (all blocks)."""
    steps = Vd.integer("steps", steps, min_value=0)
    check_eta(eta)
    return Strategy("FT", gd_fit(lambda *_: sgd(eta), steps), "θ ← θ − η ∇_θ L_i(θ),  θ⁰ = θ_G")


def exact_head(arch, params, data, loss: str = "mse") -> np.ndarray:
    """The head minimising the squared loss with the body fixed.

    Linear bodies: ``V = (P Σ Pᵀ)⁺ P C`` with ``P = W_L⋯W_1`` (population or sample moments).
    ReLU body: least squares ``V = Φ⁺ Y`` on the features ``Φ = relu(X Bᵀ)``. Pseudo-inverses cut
    relative singular values below :data:`RCOND` (``√RCOND`` for ``Φ``, whose squares are the curvature).
    """
    if loss != "mse":
        raise ValueError("exact LP exists for loss='mse' only; use lp(mode='steps') for cross-entropy")
    if isinstance(arch, DeepLinear):
        mom = data.moments(arch.p) if isinstance(data, Samples) else data
        P = arch._partials(params)[-1]
        if P is None:
            return np.linalg.pinv(mom.Sigma, rcond=RCOND, hermitian=True) @ mom.C
        PT = np.swapaxes(P, -1, -2)
        return np.linalg.pinv(P @ mom.Sigma @ PT, rcond=RCOND, hermitian=True) @ (P @ mom.C)
    if not isinstance(data, Samples):
        raise ValueError(f"{type(arch).__name__} needs Samples for exact LP")
    sw = np.sqrt(data.point_weights())[..., None]  # weighted least squares
    return np.linalg.pinv(sw * arch.features(params, data.X), rcond=np.sqrt(RCOND)) @ (sw * data.targets(arch.p))


def lp(mode: str = "exact", *, eta=None, steps: int = 0, alpha: float = 1.0) -> Strategy:
    """Linear probing: train the head ``V`` with the body frozen at ``θ_G``.

    * ``exact``:   ``V = argmin_V L_i(B_G, V)``  (see :func:`exact_head`);
    * ``steps``:   ``V ← V − η ∇_V L_i(B_G, V)`` for ``steps`` steps;
    * ``partial``: ``V = V_G + α (V_exact − V_G)``, ``α ∈ [0, 1]`` ("a step of linear probing").
    """
    Vd.choice("mode", mode, LP_MODES)
    alpha = Vd.probability("alpha", alpha)
    steps = Vd.integer("steps", steps, min_value=0)
    if mode == "steps":
        if eta is None:
            raise ValueError("lp(mode='steps') needs a learning rate eta > 0")
        check_eta(eta)
    a = 1.0 if mode == "exact" else alpha

    def fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None):
        start = broadcast_clients(arch.check_params(params_G), n_clients(data))
        if mode == "steps":  # on the frozen features where that is bit for bit the same (dynamics.run_head_only)
            t = sgd(eta, head_only(len(start)))
            return run_head_only(arch, start, data, t if wrap is None else wrap(t), steps, loss=loss, half=half,
                                 record_params=record)
        target = exact_head(arch, start, data, loss)
        head = start[-1] + a * (target - start[-1])
        params = start[:-1] + (head,)
        losses = np.stack([arch.loss(start, data, loss, half), arch.loss(params, data, loss, half)])
        return Trajectory(params, losses, [start, params] if record else None)

    eq = {"exact": "V = argmin_V L_i(B_G, V)", "steps": "V ← V − η ∇_V L_i(B_G, V)",
          "partial": "V = V_G + α (argmin_V L_i(B_G, V) − V_G)"}[mode]
    return Strategy(f"LP[{mode}]", fit, eq)


def lp_ft(eta, steps: int, probe: Strategy | None = lp()) -> Strategy:
    """LP then FT: ``θ^0 = (B_G, V_LP)``, then ``θ ← θ − η ∇_θ L_i(θ)`` for ``steps`` steps.

    ``probe``: any :func:`lp` reading (default exact); ``None`` means no LP, which is plain FT.
    """
    inner = ft(eta, steps)

    def fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None):
        if probe is None:
            return inner.fit(arch, params_G, data, loss=loss, half=half, record=record, wrap=wrap)
        first = probe.fit(arch, params_G, data, loss=loss, half=half, record=record, wrap=wrap)
        second = run_wrapped(arch, first.params, data, sgd(eta), steps, loss=loss, half=half, record=record,
                             wrap=wrap)
        return then(first, second)

    name = "LP-FT" if probe is not None and probe.name == "LP[exact]" else f"LP-FT[{probe.name if probe else 'no LP'}]"
    return Strategy(name, fit, f"({probe.equation if probe else 'no LP'}) then θ ← θ − η ∇_θ L_i(θ)")
