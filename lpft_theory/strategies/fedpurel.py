"""FedPuReL (Hou et al. 2026): gradient purification toward a class-balanced "zero-shot" model, and
residual personalization on top of the frozen global model.

Linear analogue of the zero-shot model (docs/theory.md, FedPuReL): the frozen features ``B_0`` with a head whose
columns are unit-norm class prototypes computed without class frequencies (:func:`prototype_head`),
so the head carries no frequency prior.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..data import Moments, Samples
from ..dynamics import Trajectory, Transform, check_eta, head_problem, per_block, per_config
from ..losses import softmax
from .base import Strategy, broadcast_clients, gd_fit, n_clients, run_wrapped


def prototype_head(arch, params, X: np.ndarray, y: np.ndarray, n_classes: int, scale: float = 1.0) -> np.ndarray:
    """Head ``V_zs ∈ R^{k×K}``: column c is ``scale · m_c/‖m_c‖`` with ``m_c`` the mean feature of class c
    (each class's own mean, so class frequencies do not enter)."""
    n_classes = Vd.integer("n_classes", n_classes, min_value=2)
    F = arch.features(params, np.asarray(X, dtype=np.float64))
    cols = []
    for c in range(n_classes):
        if not np.any(y == c):
            raise ValueError(f"prototype_head needs at least one sample of every class; class {c} has none")
        m = F[y == c].mean(axis=0)
        cols.append(scale * m / max(np.linalg.norm(m), 1e-300))
    return np.stack(cols, axis=1)


def teacher_data(arch, teacher, data, loss: str = "mse"):
    """The client's inputs labelled by a teacher model (the distillation target).

    ``Moments`` (mse): ``(Σ, Σβ_T, β_TᵀΣβ_T)``; ``Samples``: ``(X, f_T(X))`` for mse, ``(X, softmax f_T(X))`` for ce.
    """
    if isinstance(data, Moments):
        beta = arch.predictor(teacher)
        C = data.Sigma @ beta
        return Moments(data.Sigma, C, np.sum(beta * C, axis=(-1, -2)))
    out = arch.predict(teacher, data.X)
    return Samples(data.X, softmax(out) if loss == "ce" else out, data.weights)


def purify(eta, arch, kd_data, lam: float = 1.0, *, loss: str = "mse", half: bool = False) -> Transform:
    """Gradient purification, per tensor and per configuration:

        ĝ_KD = g_KD/‖g_KD‖;   g = g_CE − λ⟨g_CE, ĝ_KD⟩ ĝ_KD  if ⟨g_CE, ĝ_KD⟩ < 0,  else g = g_CE,

    then ``θ ← θ − η g``. ``g_KD`` is the gradient of the loss toward the teacher (``kd_data``); it is
    used only to project, never added.
    """
    check_eta(eta)
    lam = Vd.nonnegative("lam", lam)

    def init(params):
        return {"eta": per_block("eta", eta, len(params)), "conflicts": 0}

    def update(grads, state, params, loss_value, t):
        _, g_kd = arch.value_and_grad(params, kd_data, loss, half)
        out = []
        for g, k, lr in zip(grads, g_kd, state["eta"]):
            g = np.broadcast_to(g, np.broadcast_shapes(g.shape, k.shape))
            norm = np.sqrt(np.sum(k * k, axis=(-1, -2), keepdims=True))
            khat = np.where(norm > 0, k / np.where(norm > 0, norm, 1.0), 0.0)
            dot = np.sum(g * khat, axis=(-1, -2), keepdims=True)
            conflict = dot < 0
            state["conflicts"] += int(conflict.sum())
            out.append(per_config(lr, g.ndim) * np.where(conflict, g - lam * dot * khat, g))
        return tuple(out), state

    return Transform(init, update)


def purified_ft(eta, steps: int, lam: float = 1.0, teacher=None) -> Strategy:
    """FT whose gradients are purified (:func:`purify`) against distillation toward ``teacher``
    (default: the global model itself; pass the zero-shot analogue for FedPuReL's setting)."""
    steps = Vd.integer("steps", steps, min_value=0)
    check_eta(eta)

    def factory(arch, start, data, loss, half):
        T = start if teacher is None else teacher
        return purify(eta, arch, teacher_data(arch, T, data, loss), lam, loss=loss, half=half)

    return Strategy(f"Purified[lam={lam:g}]", gd_fit(factory, steps), "g = g_CE − λ min(0, ⟨g_CE, ĝ_KD⟩) ĝ_KD")


def residual(eta, steps: int, alpha: float = 0.99) -> Strategy:
    """Residual personalization: a local head ``V_L`` (init 0) on the frozen global features, trained on

        α · L_i(B_G, V_L) + (1 − α) · L_i(B_G, V_G + V_L),

    prediction from the summed logits ``z_G + z_L = (V_G + V_L)ᵀ φ_G(x)``; the returned params are
    ``(body_G, V_G + V_L)``. With ``α = 0`` this is linear probing by GD from ``V_G``.
    """
    check_eta(eta)
    steps = Vd.integer("steps", steps, min_value=0)
    alpha = Vd.probability("alpha", alpha)

    def fit(arch, params_G, data, *, loss="mse", half=False, rng=None, record=False, wrap=None):
        start = broadcast_clients(arch.check_params(params_G), n_clients(data))
        V_G = start[-1]
        head = head_problem(arch, start, data, loss, half)  # the head's run on the frozen features (bit for bit)
        model, train, params0 = (arch, data, start) if head is None else (head[0], head[1], start[-1:])

        def update(grads, state, params, value, t):
            # params carry the summed head V_G + V_L, so grads are those of the (1 − α) term
            local = params[:-1] + (params[-1] - V_G,)
            _, g_local = model.value_and_grad(local, train, loss, half)
            g = alpha * g_local[-1] + (1 - alpha) * grads[-1]
            return tuple(np.zeros_like(p) for p in params[:-1]) + (per_config(eta, g.ndim) * g,), state

        traj = run_wrapped(model, params0, train, Transform(lambda p: None, update), steps, loss=loss, half=half,
                           record=record, wrap=wrap)
        if head is None:
            return traj
        body = head[2]  # as the full run leaves it
        return Trajectory(body + traj.params, traj.losses,
                          [start] + [body + s for s in traj.snapshots[1:]] if record else None)

    return Strategy(f"Residual[alpha={alpha:g}]", fit, "V_L ← V_L − η∇[α L(V_L) + (1−α) L(V_G + V_L)]")


__all__ = ["prototype_head", "teacher_data", "purify", "purified_ft", "residual"]
