"""Training dynamics: gradient descent driven by gradient transformations, and gradient flow.

A *transform* (optax style) is a pair of pure functions

    init(params_0)                                -> state
    update(grads, state, params, loss_value, t)   -> (step, state)

and one GD step is ``θ_{t+1} = θ_t − step``. Plain GD with per-block learning rates and freeze
masks is :func:`sgd`; the PFT strategies (``lpft_theory.strategies``) are further transforms.
Everything works on a leading batch axis of configurations: learning rates may be arrays over
that axis, and a divergence in any configuration stops the run with a message naming it.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import _validate as Vd
from . import kernels, kernels_compiled
from .data import Moments, Samples
from .losses import _weights, mse_factor
from .models import DeepLinear, Params, _Architecture, batch_shape, per_config

DIVERGENCE_FACTOR = 1e8  # a loss 10^8 times its starting value (and >= 1) counts as divergence


RISE_TOL = 1e-9  # relative rise of the training loss tolerated as round-off by the instability guard

# The fused GD step (see run) sweeps the configurations in blocks whose largest parameter array is about
# this size, so that all of a block's passes over its parameters after the first hit the cache (L2 here).
BLOCK_BYTES = 1 << 20

# The specialised step of lpft_theory.kernels (two-layer linear, p = 1, population MSE) is used wherever it
# applies; False forces the general fused step (benchmarks compare the two; results are bit for bit equal).
USE_KERNELS = True
# Opt-in (default off): run that step compiled (lpft_theory.kernels_compiled, needs numba; equal to round-off).
# Set with kernels_compiled.use_compiled(True) or the kernels_compiled.compiled() context manager; the switch is
# kernels_compiled's (this module imports that one, never the reverse). ``dynamics.COMPILED`` reads and sets
# the same switch (the module's class below), as callers written before the move still do.


class _Module(types.ModuleType):
    @property
    def COMPILED(self) -> bool:  # noqa: N802 (a module constant's name)
        return kernels_compiled.enabled()

    @COMPILED.setter
    def COMPILED(self, flag: bool) -> None:  # noqa: N802
        kernels_compiled.set_enabled(flag)


sys.modules[__name__].__class__ = _Module


class DivergenceError(FloatingPointError):
    """Raised when the loss becomes non-finite (or astronomically large) during training."""


class InstabilityError(DivergenceError):
    """Raised (with ``stop_on_rise``) when the training loss rises by more than the tolerance."""


def loss_rise(losses) -> np.ndarray:
    """Largest relative one-step rise of the training loss per configuration,
    ``max_t (L_{t+1} − L_t) / max(|L_t|, 1e-300)``, clipped at 0 (0 for a monotone run).

    ``losses`` has shape ``(steps + 1, *batch)`` as in :class:`Trajectory`.
    """
    L = np.asarray(losses, dtype=np.float64)
    if L.shape[0] < 2:
        return np.zeros(L.shape[1:])
    rel = np.diff(L, axis=0) / np.maximum(np.abs(L[:-1]), 1e-300)
    return np.maximum(rel.max(axis=0), 0.0)


@dataclass(frozen=True)
class Transform:
    """``lr``, optional: a declaration that ``update`` returns exactly ``lr · grads`` (one learning rate for
    every block, no mask), which lets :func:`run` fold ``lr`` into the gradient and update in place.
    ``head_only``: a declaration that ``update`` moves the last block (the head) alone, which lets :func:`run`
    train the head on the frozen features (:func:`run_head_only`)."""

    init: Callable[[Params], Any]
    update: Callable[..., tuple[Params, Any]]
    lr: Any = None
    head_only: bool = False


def per_block(name: str, value, n_blocks: int) -> tuple:
    """A scalar/array for every block, or a tuple with one entry per block."""
    if isinstance(value, (tuple, list)):
        if len(value) != n_blocks:
            raise ValueError(f"{name} must have one entry per block ({n_blocks}), got {len(value)}")
        return tuple(value)
    return (value,) * n_blocks


def check_eta(eta):
    """Learning rates: a positive scalar, a positive array over configurations, or one per block."""
    if isinstance(eta, (tuple, list)):
        for i, lr in enumerate(eta):
            Vd.positive_array(f"eta[{i}]", lr)
    else:
        Vd.positive_array("eta", eta)
    return eta


def apply_mask(step: np.ndarray, m) -> np.ndarray:
    """One block's step under its mask ``m`` (:func:`sgd`'s masks): ``0`` where ``False``, unchanged where
    ``True``, else ``step ⊙ m``."""
    return np.zeros_like(step) if m is False else (step if m is True else step * m)


def masked(transform: Transform, masks=None) -> Transform:
    """``transform`` with its steps restricted by per-block ``masks`` (as :func:`sgd`'s: ``True`` train,
    ``False`` freeze, or a 0/1 array); ``masks=None`` returns ``transform`` itself."""
    if masks is None or masks is True:
        return transform

    def init(params):
        return {"inner": transform.init(params), "masks": per_block("masks", masks, len(params))}

    def update(grads, state, params, loss_value, t):
        step, inner = transform.update(grads, state["inner"], params, loss_value, t)
        out = tuple(apply_mask(s, m) for s, m in zip(step, state["masks"]))
        return out, {"inner": inner, "masks": state["masks"]}

    return Transform(init, update)


def sgd(eta, masks=None) -> Transform:
    """Plain gradient descent: ``θ^{(b)} ← θ^{(b)} − η_b · M_b ⊙ ∇_b L``.

    ``eta``: a positive scalar, an array over the configuration axis, or one such per block.
    ``masks``: per block ``True`` (train), ``False`` (freeze) or a 0/1 array (sparse updates).
    """
    check_eta(eta)

    def init(params):
        n = len(params)
        return {"eta": per_block("eta", eta, n), "masks": per_block("masks", True if masks is None else masks, n)}

    def update(grads, state, params, loss_value, t):
        step = []
        for g, lr, m in zip(grads, state["eta"], state["masks"]):
            step.append(np.zeros_like(g) if m is False else apply_mask(per_config(lr, g.ndim) * g, m))
        return tuple(step), state

    plain = not isinstance(eta, (tuple, list)) and (masks is None or masks is True)
    head = (isinstance(masks, (tuple, list)) and len(masks) > 1 and masks[-1] is True
            and all(m is False for m in masks[:-1]))
    return Transform(init, update, lr=eta if plain else None, head_only=head)


@dataclass
class Trajectory:
    """Result of a run: final params, the training loss at every step, optional snapshots."""

    params: Params
    losses: np.ndarray  # (steps + 1, *batch): loss before each step and after the last
    snapshots: list | None = None  # params at every recorded step
    times: np.ndarray | None = None

    @property
    def max_rise(self) -> np.ndarray:
        """Per configuration, the largest relative rise of the training loss (:func:`loss_rise`)."""
        return loss_rise(self.losses)

    def unstable(self, tol: float = RISE_TOL) -> np.ndarray:
        """Per configuration: did the training loss rise by more than ``tol`` (relative) at some step?"""
        return self.max_rise > tol


def stable_step(arch, params: Params, data, half: bool = False) -> tuple[float, bool]:
    """Largest stable GD step: exact ``2/λ_max(∇²L)`` for the linear model, else a Gauss–Newton estimate.

    For ``f = βᵀx`` the Hessian is ``factor·Σ`` (factor 2, or 1 with ½), so GD is stable iff
    ``η < 2/(factor·λ_max(Σ))``. For deep linear nets the Gauss–Newton curvature at ``θ`` is at most
    ``factor·λ_max(Σ)·Σ_l Π_{j≠l} ‖W_j‖₂²``; its inverse is reported as an estimate. Returns
    ``(value, exact)``; ``(nan, False)`` where no estimate is known (ReLU).
    """
    if not isinstance(arch, DeepLinear):
        return float("nan"), False
    mom = data.moments(arch.p) if isinstance(data, Samples) else data
    lam = float(np.max(np.linalg.eigvalsh(mom.Sigma)))
    factor = 1.0 if half else 2.0
    norms = [np.max(np.linalg.norm(p, ord=2, axis=(-2, -1))) if p.ndim >= 2 else 0.0 for p in params]
    if len(params) == 1:
        return 2.0 / (factor * lam), True
    curv = sum(np.prod([n ** 2 for j, n in enumerate(norms) if j != l]) for l in range(len(params)))
    return 2.0 / (factor * lam * max(curv, 1e-300)), False


def _describe_eta(eta) -> str:
    """A step size as a transform holds it (a scalar, an array over configurations, or one per block) in a few
    characters: the value when all are equal, else the range."""
    parts = eta if isinstance(eta, (tuple, list)) else (eta,)
    values = np.concatenate([np.ravel(np.asarray(e, dtype=np.float64)) for e in parts])
    lo, hi = float(values.min()), float(values.max())
    return repr(lo) if lo == hi else f"{lo!r}..{hi!r}"


def _raise_divergence(arch, params0, data, half, t, transform_state, bad, what, error=DivergenceError):
    where = np.argwhere(np.atleast_1d(bad))
    eta = transform_state.get("eta") if isinstance(transform_state, dict) else None
    eta_txt = "" if eta is None else f" with step size eta={_describe_eta(eta)}"
    est, exact = stable_step(arch, params0, data, half)
    hint = ("" if not np.isfinite(est) else
            f"; the largest stable step is {est:.4g}" + ("" if exact else " (Gauss-Newton estimate at the start)"))
    raise error(
        f"training {'diverged' if error is DivergenceError else 'became unstable'} at step {t}{eta_txt}: {what} "
        f"in {int(np.sum(bad))} configuration(s) (first at batch index {tuple(int(i) for i in where[0]) if where.size else ()}){hint}"
    )


def _fused_blocks(arch, params: Params, data, lr):
    """For the fused GD step: the params copied at the full batch shape (arrays this run owns and updates
    in place) and, per block of rows of the leading batch axis, ``(param views, data, lr)``; ``None``
    where it does not apply. Configurations are independent, so blocking changes no number."""
    if lr is None or not isinstance(arch, _Architecture) or not isinstance(data, (Moments, Samples)):
        return None
    bs = np.broadcast_shapes(batch_shape(params), data.batch_shape)
    lr = np.asarray(lr, dtype=np.float64)
    if lr.ndim > len(bs) or np.broadcast_shapes(lr.shape, bs[:lr.ndim]) != bs[:lr.ndim]:
        return None
    params = tuple(np.array(np.broadcast_to(p, bs + p.shape[-2:]), order="C") for p in params)
    rows = max(1, BLOCK_BYTES // max(p[0].nbytes if bs else p.nbytes for p in params))
    if not bs or rows >= bs[0]:
        return params, [(params, data, lr)]
    blocks = []
    for start in range(0, bs[0], rows):
        sl = slice(start, start + rows)
        blocks.append((tuple(p[sl] for p in params), data.rows(sl, len(bs)),
                       lr[sl] if lr.ndim and lr.shape[0] > 1 else lr))
    return params, blocks


def _fused_step(arch, blocks, loss: str, half: bool, update: bool = True):
    """The loss at ``θ`` and (``update``) ``θ ← θ − lr·∇L(θ)`` in place, block by block: ``lr`` is folded
    into ``∂L/∂β`` (or ``∂L/∂f``) and each block's passes over its parameters run while they are in cache."""
    values = []
    for P, D, lr in blocks:
        if not update:
            values.append(arch.loss(P, D, loss, half))
            continue
        value, grads = arch.value_and_grad(P, D, loss, half, scale=lr)
        for p, g in zip(P, grads):
            np.subtract(p, g, out=p)
        values.append(value)
    return values[0] if len(values) == 1 else np.concatenate(values)


def run(arch, params: Params, data, transform: Transform, steps: int, *, loss: str = "mse", half: bool = False,
        record_params: bool = False, stop_on_rise: float | None = None) -> Trajectory:
    """``steps`` iterations of ``θ ← θ − update(∇L(θ))``; losses recorded before each step and at the end.

    Guards: a non-finite loss (or one ``DIVERGENCE_FACTOR`` times the start) raises
    :class:`DivergenceError`. A finite rise of the loss is recorded (``Trajectory.max_rise`` /
    ``unstable()``); with ``stop_on_rise=tol`` a relative rise above ``tol`` raises
    :class:`InstabilityError` instead (both messages name the step size and the largest stable step).

    Fast path: for a transform declaring ``lr`` (plain GD, :func:`sgd`) and no snapshots, each step is
    fused (:func:`_fused_step`); it equals the general path to round-off (tests/test_fast_paths.py). Where
    :func:`kernels.applies` (two-layer linear, ``p = 1``, population MSE) the step is
    :class:`kernels.TwoLayerMoments` instead, bit for bit the fused step (tests/test_kernels.py). Opt-in
    (``kernels_compiled.enabled()``, off by default; ``kernels_compiled.use_compiled(True)`` or the
    ``kernels_compiled.compiled()`` context manager): the same step compiled with numba, one pass over ``B``
    per step, equal to round-off (tests/test_kernels_compiled.py); needs ``pip install lpft-theory[fast]``.
    """
    steps = Vd.integer("steps", steps, min_value=0)
    if stop_on_rise is not None:
        stop_on_rise = Vd.nonnegative("stop_on_rise", stop_on_rise)
    params = arch.check_params(params)
    if transform.head_only and steps > 0 and len(params) > 1:  # on the frozen features (run_head_only)
        traj = _run_head(arch, params, data, transform, steps, loss, half, record_params, stop_on_rise)
        if traj is not None:
            return traj
    params0 = params
    state = transform.init(params)
    losses, snaps = [], ([params] if record_params else None)
    fused = kernel = None
    if not record_params and steps > 0:
        if USE_KERNELS and kernels.applies(arch, params, data, loss, transform.lr):
            if kernels_compiled.enabled():  # opt-in; numba imported only here (ImportError naming lpft-theory[fast])
                kernel_class = kernels_compiled.TwoLayerMomentsCompiled
            else:
                kernel_class = kernels.TwoLayerMoments
            kernel = kernel_class(arch, params, data, transform.lr, half, block_bytes=BLOCK_BYTES)
            params = kernel.params
        else:
            fused = _fused_blocks(arch, params, data, transform.lr)
    if fused is not None:
        params, blocks = fused
    limit = None
    for t in range(steps + 1):
        if kernel is not None:  # the loss at θ_t, and θ_{t+1} in place (a raise below discards it)
            value = kernel.step(update=t < steps)
        elif fused is not None:
            value = _fused_step(arch, blocks, loss, half, update=t < steps)
        elif t == steps:  # the final loss needs no gradient
            value = arch.loss(params, data, loss, half)
        else:
            value, grads = arch.value_and_grad(params, data, loss, half)
        losses.append(value)
        if limit is None:  # divergence: non-finite, or DIVERGENCE_FACTOR times the starting loss (and >= 1)
            with np.errstate(invalid="ignore", over="ignore"):
                limit = np.where(np.isfinite(value), DIVERGENCE_FACTOR * np.maximum(np.abs(value), 1.0), -1.0)
        bad = ~(np.abs(value) <= limit)  # one comparison catches NaN, ±inf and the limit (-1 marks a bad start)
        if bad.any():
            _raise_divergence(arch, params0, data, half, t, state, bad,
                              f"loss became non-finite or grew {DIVERGENCE_FACTOR:g}-fold")
        if stop_on_rise is not None and t > 0:
            rose = (np.asarray(value) - losses[-2]) > stop_on_rise * np.maximum(np.abs(losses[-2]), 1e-300)
            if np.any(rose):
                _raise_divergence(arch, params0, data, half, t, state, rose,
                                  f"the training loss rose by more than {stop_on_rise:g} (relative)", InstabilityError)
        if t == steps or fused is not None or kernel is not None:
            continue
        step, state = transform.update(grads, state, params, value, t)
        if record_params or t == 0:  # the first step may broadcast params up to the data's batch shape
            params = tuple(p - s for p, s in zip(params, step))
        else:  # arrays created by this run: update in place, sparing a large temporary per block
            params = tuple(np.subtract(p, s, out=p) if p.shape == s.shape else p - s for p, s in zip(params, step))
        if record_params:
            snaps.append(params)
    return Trajectory(params, np.asarray(losses), snaps)


def _run_head(arch, params, data, transform, steps, loss, half, record, stop_on_rise):
    """:func:`run` of a transform that moves the head alone, on the frozen features (:func:`head_problem`): bit for
    bit the full model's run. The transform sees the full model (zero gradients for the body, the body's
    params); the body comes back as the full run leaves it. ``None`` where the features do not apply, or where
    the run diverges (the full model's run then reports it in its own terms)."""
    head = head_problem(arch, params, data, loss, half)
    if head is None:
        return None
    lin, features, body = head
    zero = tuple(np.zeros(b.shape) for b in body)  # the body's gradients, as the masked step discards them

    def update(grads, state, p, value, t):
        step, state = transform.update(zero + tuple(grads), state, body + tuple(p), value, t)
        return tuple(step[-1:]), state

    try:
        tr = run(lin, params[-1:], features, Transform(lambda p: transform.init(params), update), steps, loss=loss,
                 half=half, record_params=record, stop_on_rise=stop_on_rise)
    except DivergenceError:
        return None
    snaps = [params] + [body + s for s in tr.snapshots[1:]] if record else None
    return Trajectory(body + tr.params, tr.losses, snaps)


def run_head_only(arch, params: Params, data, transform: Transform, steps: int, *, loss: str = "mse",
                  half: bool = False, record_params: bool = False, stop_on_rise: float | None = None) -> Trajectory:
    """:func:`run` of a transform that the caller knows moves only the head (e.g. a head-only ``sgd`` under a
    wrapper such as loss flooding): on the frozen features where :func:`head_problem` allows it, else the full
    run — the same numbers either way."""
    steps = Vd.integer("steps", steps, min_value=0)
    params = arch.check_params(params)
    if steps > 0 and len(params) > 1:
        traj = _run_head(arch, params, data, transform, steps, loss, half, record_params, stop_on_rise)
        if traj is not None:
            return traj
    return run(arch, params, data, Transform(transform.init, transform.update, transform.lr), steps, loss=loss,
               half=half, record_params=record_params, stop_on_rise=stop_on_rise)


def head_problem(arch, params: Params, data, loss: str = "mse", half: bool = False):
    """GD on the head alone with the body frozen, as GD on a linear model over the frozen features:
    ``(linear arch, Samples(features, Y, weights), body)``, or ``None`` where that would not be the same
    computation.

    For a model with one hidden layer on ``Samples`` the full model's step forms the features ``X Bᵀ``, the
    prediction ``(X Bᵀ) V`` and the head's gradient ``(X Bᵀ)ᵀ ∂L/∂f`` with exactly the products the linear model
    makes on the features, so its run (with the same transform on the head) is bit for bit the full model's
    head-only run — without forming ``X Bᵀ`` again and the body's gradient at every step. ``body``: the body as
    the full run holds it after its first step (``B − 0`` at the gradient's batch shape and layout). The full
    run forms its first step's features from the body as given and every later one from that copy; a product
    may round differently for another memory layout, so ``None`` unless the two agree bit for bit."""
    if not (isinstance(arch, DeepLinear) and len(arch.widths) == 1 and isinstance(data, Samples)):
        return None
    _, g = arch.value_and_grad(params, data, loss, half)
    body = tuple(p - np.zeros_like(gb) for p, gb in zip(params[:-1], g[:-1]))
    first, later = arch.features(params, data.X), arch.features(body + params[-1:], data.X)
    if first.shape != later.shape or not np.array_equal(first.view(np.int64), later.view(np.int64)):
        return None
    return DeepLinear(arch.widths[0], (), arch.p), Samples(later, data.Y, data.weights), body


def gradient_descent(arch, params: Params, data, eta, steps: int, *, masks=None, loss: str = "mse",
                     half: bool = False, record_params: bool = False) -> Trajectory:
    """Plain GD (:func:`sgd`) for ``steps`` steps; see :func:`run`."""
    return run(arch, params, data, sgd(eta, masks), steps, loss=loss, half=half, record_params=record_params)


def _flow_gradients(arch, params: Params, data, loss: str, half: bool):
    """``θ ↦ ∇L(θ)`` for the right-hand side of :func:`gradient_flow`, called tens of thousands of times per flow.

    For the squared loss of a linear model or a model with one hidden layer on ``Samples`` (the flows of Kumar et
    al.'s theorems): the products and element-wise operations of ``value_and_grad`` in the same order on the same
    values — bit for bit its gradient — with what does not change along the flow (targets, point weights times
    the loss's factor) prepared once and no loss value formed. Elsewhere ``value_and_grad`` itself."""
    if not (isinstance(arch, DeepLinear) and len(arch.widths) <= 1 and isinstance(data, Samples) and loss == "mse"):
        return lambda p: arch.value_and_grad(p, data, loss, half)[1]
    X, Y = data.X, data.targets(arch.p)
    pred0, _ = arch._forward(params, X)
    fw = mse_factor(half) * _weights(pred0, data.weights)  # ∂L/∂f = (factor·ω)·(f − y), as mse_on_samples forms it
    XT = X.swapaxes(-1, -2)
    if not arch.widths:
        return lambda p: (XT @ (fw * (X @ p[0] - Y)),)

    def grads(p):
        B, V = p
        F = X @ B.swapaxes(-1, -2)
        dF = fw * (F @ V - Y)
        delta = dF @ V.swapaxes(-1, -2)
        return (delta.swapaxes(-1, -2) @ X, F.swapaxes(-1, -2) @ dF)

    return grads


def gradient_flow(arch, params: Params, data, t_eval, *, masks=None, loss: str = "mse", half: bool = False,
                  rtol: float = 1e-10, atol: float = 1e-12, method: str = "DOP853") -> Trajectory:
    """Integrate ``dθ/dt = −M ⊙ ∇L(θ)`` with ``scipy.integrate.solve_ivp``, returning params at ``t_eval``.

    All configurations of the batch are integrated as one ODE system.
    """
    from scipy.integrate import solve_ivp  # imported here: it costs ~1 s, and most runs never need it

    params = arch.check_params(params)
    t_eval = Vd.finite_array("t_eval", t_eval, ndim=1)
    if t_eval.size == 0 or np.any(np.diff(t_eval) <= 0) or t_eval[0] < 0:
        raise ValueError(f"t_eval must be a non-empty increasing sequence of times >= 0, got {t_eval}")
    ms = per_block("masks", True if masks is None else masks, len(params))
    shapes = [p.shape for p in params]
    sizes = [p.size for p in params]

    def unflatten(z):
        out, i = [], 0
        for shp, n in zip(shapes, sizes):
            out.append(z[i:i + n].reshape(shp))
            i += n
        return tuple(out)

    offsets = np.cumsum([0] + sizes)
    gradients = _flow_gradients(arch, params, data, loss, half)

    def rhs(_t, z):  # −M ⊙ ∇L written block by block into one new vector (no per-block temporaries)
        grads = gradients(unflatten(z))
        out = np.empty(offsets[-1])
        for g, m, a, b in zip(grads, ms, offsets[:-1], offsets[1:]):
            view = out[a:b].reshape(g.shape)  # g may carry a leading axis of 1 that the param lacks
            if m is False:
                view[...] = 0.0
            elif m is True:
                np.negative(g, out=view)
            else:
                np.multiply(g, m, out=view)
                np.negative(view, out=view)  # −(g·m) = (−g)·m exactly: negation only flips the sign bit
        return out

    z0 = np.concatenate([p.ravel() for p in params])
    sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), z0, t_eval=t_eval, rtol=rtol, atol=atol, method=method)
    if not sol.success:
        raise DivergenceError(f"gradient flow failed: {sol.message}")
    snaps = [unflatten(sol.y[:, i]) for i in range(sol.y.shape[1])]
    losses = np.stack([np.asarray(arch.loss(s, data, loss, half)) for s in snaps])
    return Trajectory(snaps[-1], losses, snaps, times=t_eval)


__all__ = ["check_eta", "Transform", "Trajectory", "DivergenceError", "InstabilityError", "loss_rise", "RISE_TOL", "sgd",
           "run", "run_head_only", "head_problem", "gradient_descent", "gradient_flow", "stable_step", "per_block", "per_config", "batch_shape", "BLOCK_BYTES"]
