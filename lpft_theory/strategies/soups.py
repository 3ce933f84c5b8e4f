"""Model soups: a uniform soup of fine-tuned ingredients, and Local Superior Soups (LSS)."""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..data import Samples
from ..dynamics import DivergenceError, Trajectory, Transform, check_eta, sgd
from .base import Strategy, broadcast_clients, n_clients, rng_groups, run_wrapped

SOUP_MODES = ("perturb", "bootstrap")


def soup(eta, steps: int, size: int, *, sigma: float = 0.01, mode: str = "perturb") -> Strategy:
    """Uniform model soup (Wortsman et al. 2022): ``θ_i = (1/M) Σ_m FT(θ_G + δ_m; D_i^{(m)})``.

    Ingredient 0 is plain FT (``δ_0 = 0``, the client's own data). The others differ by
    ``mode="perturb"``: a start ``θ_G + δ_m``, ``δ_m ~ N(0, σ²)`` entrywise; or ``mode="bootstrap"``
    (``Samples`` only): a bootstrap resample of the local data — the full-batch analogue of a different
    data order. All ingredients of all clients train in one batched GD run. ``eta``: a scalar, or an array
    over the clients; ``rng``: a seed, or one per equal group of clients (:func:`~.base.rng_groups`).
    """
    check_eta(eta)
    steps = Vd.integer("steps", steps, min_value=0)
    size = Vd.integer("size", size, min_value=1)
    sigma = Vd.nonnegative("sigma", sigma)
    Vd.choice("mode", mode, SOUP_MODES)
    behind = lambda e: e if np.ndim(e) == 0 else np.asarray(e, dtype=np.float64)[None]  # noqa: E731
    lr_behind = tuple(behind(e) for e in eta) if isinstance(eta, (tuple, list)) else behind(eta)

    def fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None):
        C = n_clients(data)
        groups = rng_groups(rng, C)  # one stream, or one per group of clients (stacked problems)
        start = tuple(np.repeat(p[None], size, axis=0) for p in broadcast_clients(arch.check_params(params_G), C))
        if mode == "perturb":
            for sl, g in groups:
                for p in start:
                    p[1:, sl] += sigma * g.standard_normal(p[1:, sl].shape)
            batch_data = data
        else:
            if not isinstance(data, Samples):
                raise ValueError("soup(mode='bootstrap') needs finite Samples, not population Moments")
            pw = data.point_weights()  # resample each client's points in proportion to their weights
            idx = np.empty((size, C, data.n), dtype=np.int64)
            for sl, g in groups:
                clients = range(C)[sl]
                idx[:, sl] = np.stack([np.stack([g.choice(data.n, size=data.n, p=pw[i]) for i in clients])
                                       for _ in range(size)])
            idx[0] = np.arange(data.n)
            rows = np.arange(C)[None, :, None]
            W = None if data.weights is None else np.broadcast_to((data.weights > 0).astype(float), idx.shape).copy()
            if W is not None:
                W[1:] = 1.0
                W[0] = data.weights
            batch_data = Samples(data.X[rows, idx], data.Y[rows, idx], W)
        # a step size per client sits behind the ingredient axis (run reads step sizes over the leading axes)
        traj = run_wrapped(arch, start, batch_data, sgd(lr_behind), steps, loss=loss, half=half, record=record,
                           wrap=wrap)
        mean = lambda ps: tuple(p.mean(axis=0) for p in ps)  # noqa: E731
        soup_params = mean(traj.params)
        snaps = [mean(s) for s in traj.snapshots] if record else None
        return Trajectory(soup_params, np.asarray(arch.loss(soup_params, data, loss, half))[None], snaps)

    return Strategy(f"Soup[M={size}]", fit, "θ_i = (1/M) Σ_m FT_m(θ_G + δ_m)")


def lss(eta, steps: int, *, n_verts: int = 2, div: float = 0.1, aff: float = 0.1, n_samples: int = 2,
        vertex_steps: int | None = None) -> Strategy:
    """Local Superior Soups (Chen et al., NeurIPS 2024), in the form implemented here:

    1. Vertex ``θ_0``: ``steps`` GD steps on ``L_i(θ) + a‖θ − θ_G‖²`` from ``θ_G`` (affinity ``a``).
    2. For ``v = 1..n_verts``: a new vertex starts at the mean of the existing ones (which are then
       frozen) and takes ``vertex_steps`` GD steps on

           E_{w~Dir(1)} L_i(Σ_j w_j θ_j) − δ · (1/v) Σ_{j<v} ‖θ_v − θ_j‖² + a‖θ_v − θ_G‖²,

       the expectation estimated with ``n_samples`` random interpolations per step; its gradient in
       ``θ_v`` is ``E[w_v ∇L_i(θ̃)] − (2δ/v) Σ_j (θ_v − θ_j) + 2a(θ_v − θ_G)``.
    3. ``θ_i`` = the mean of all vertices.

    Differences from the authors' code: plain GD instead of Adam; diversity is the mean squared distance
    to the earlier vertices (which equals their Cayley–Menger simplex volume for two vertices) rather
    than the simplex volume for more; one interpolation draw is shared by the clients of a batch (by each
    group of clients when ``rng`` is a sequence, :func:`~.base.rng_groups`). With ``n_verts = 0`` and ``a = 0``
    LSS is FT.
    """
    check_eta(eta)
    steps = Vd.integer("steps", steps, min_value=0)
    n_verts = Vd.integer("n_verts", n_verts, min_value=0)
    div, aff = Vd.nonnegative("div", div), Vd.nonnegative("aff", aff)
    n_samples = Vd.integer("n_samples", n_samples, min_value=1)
    vsteps = steps if vertex_steps is None else Vd.integer("vertex_steps", vertex_steps, min_value=0)
    lr = float(Vd.positive("eta", eta))

    def fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None):
        C = n_clients(data)
        groups = rng_groups(rng, C)
        anchor = broadcast_clients(arch.check_params(params_G), C)

        def draw(v):
            """Interpolation weights ``w_0..w_v``: one draw for all clients, or one per group of clients (then
            each ``w_j`` an array over the clients, the same numbers as the group's own run would use)."""
            if len(groups) == 1:
                return groups[0][1].dirichlet(np.ones(v + 1))
            W = np.empty((v + 1, C))
            for sl, g in groups:
                W[:, sl] = g.dirichlet(np.ones(v + 1))[:, None]
            return [w_j.reshape((C,) + (1,) * (anchor[0].ndim - 1)) for w_j in W]

        def affinity_step(grads, state, params, value, t):
            return tuple(lr * (gr + 2 * aff * (p - a)) for gr, p, a in zip(grads, params, anchor)), state

        v0 = run_wrapped(arch, anchor, data, Transform(lambda p: None, affinity_step), steps, loss=loss, half=half,
                         record=False, wrap=wrap).params
        vertices = [v0]
        for v in range(1, n_verts + 1):
            new = tuple(np.mean([vx[b] for vx in vertices], axis=0) for b in range(len(anchor)))
            for _ in range(vsteps):
                grad = [np.zeros_like(p) for p in new]
                for _ in range(n_samples):
                    w = draw(v)
                    mix = tuple(sum(w[j] * vx[b] for j, vx in enumerate(vertices + [new])) for b in range(len(new)))
                    _, gm = arch.value_and_grad(mix, data, loss, half)
                    for b in range(len(new)):
                        grad[b] += w[v] * gm[b] / n_samples
                new = tuple(p - lr * (gr - (2 * div / v) * sum(p - vx[b] for vx in vertices) + 2 * aff * (p - a))
                            for b, (p, gr, a) in enumerate(zip(new, grad, anchor)))
            vertices.append(new)
        final = tuple(np.mean([vx[b] for vx in vertices], axis=0) for b in range(len(anchor)))
        value = np.asarray(arch.loss(final, data, loss, half))
        if not np.all(np.isfinite(value)):
            raise DivergenceError(f"LSS diverged with eta={lr}, div={div}: lower the diversity weight or the step")
        return Trajectory(final, value[None], [anchor, final] if record else None)

    return Strategy(f"LSS[verts={n_verts}]", fit,
                    "vertices by E_w L_i(Σ w_j θ_j) − δ·div + a‖θ_v − θ_G‖²; θ_i = mean of vertices")
