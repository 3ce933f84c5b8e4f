"""Models as (architecture, params) pairs; params are tuples of float64 arrays.

Every parameter array may carry leading batch axes (clients, configurations); all operations
broadcast over them, so one call evaluates many models at once.

Architectures
-------------
* :class:`DeepLinear` — ``f(x) = Vᵀ W_L ⋯ W_1 x`` with params ``(W_1, …, W_L, V)``,
  ``W_l ∈ R^{h_l×h_{l−1}}`` (``h_0 = d``) and head ``V ∈ R^{h_L×p}``.
  ``L = 0`` is the linear model ``f = wᵀx``; ``L = 1`` is the papers' two-layer model ``f = Vᵀ B x``
  (``B = W_1``). The end-to-end predictor is ``β = W_1ᵀ ⋯ W_Lᵀ V ∈ R^{d×p}``, ``f = βᵀx``.
* :class:`TwoLayerReLU` — ``f(x) = Vᵀ relu(B x)``, params ``(B, V)``.

The head is always the last block; "features" are the representation the head reads.
A scalar-output model has ``p = 1`` and its head has shape ``(…, k, 1)``; :func:`head_vector` and
:func:`two_layer_params` convert to and from the papers' ``V ∈ R^k``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _validate as Vd
from .data import Moments, Samples
from .losses import cross_entropy, mse_of_predictor, mse_on_samples, mse_value_and_grad_predictor, shared_times
from .rng import as_generator

Params = tuple[np.ndarray, ...]
LOSSES = ("mse", "ce")


def _T(a):
    return a.swapaxes(-1, -2)  # the method: np.swapaxes adds ~1 µs of dispatch per call on the hot paths


def per_config(value, ndim: int) -> np.ndarray:
    """A per-configuration value of shape ``batch`` broadcast against arrays of rank ``ndim``."""
    a = np.asarray(value, dtype=np.float64)
    return a.reshape(a.shape + (1,) * (ndim - a.ndim))


def batch_shape(params: Params) -> tuple[int, ...]:
    """Broadcast leading batch shape of a parameter tuple."""
    return np.broadcast_shapes(*(p.shape[:-2] for p in params))


def two_layer_params(B, V) -> Params:
    """The papers' ``(B ∈ R^{k×d}, V ∈ R^k)`` as engine params ``(B, V[..., None])``."""
    B = Vd.finite_array("B", B, min_ndim=2)
    V = Vd.finite_array("V", V, min_ndim=1)
    if V.shape[-1] != B.shape[-2]:
        raise ValueError(f"V must have length k={B.shape[-2]} (rows of B), got shape {V.shape}")
    return (B, V[..., None])


def head_vector(params: Params) -> np.ndarray:
    """The scalar-output head as a vector ``V ∈ R^k`` (last block, ``p = 1``)."""
    V = params[-1]
    if V.shape[-1] != 1:
        raise ValueError(f"head_vector needs a scalar-output model (p = 1), got p = {V.shape[-1]}")
    return V[..., 0]


class _Architecture:
    """Shared plumbing: value-and-gradient dispatch for the two loss families."""

    d: int
    p: int

    block_names: tuple[str, ...]

    def shapes(self) -> tuple[tuple[int, int], ...]:
        raise NotImplementedError

    def init(self, rng=None, scale: float = 1.0, batch: tuple[int, ...] = ()) -> Params:
        """Gaussian init ``N(0, scale²/fan_in)`` per entry, with optional leading ``batch`` axes."""
        Vd.nonnegative("scale", scale)
        g = as_generator(rng)
        return tuple(
            g.standard_normal(tuple(batch) + shp) * (scale / np.sqrt(shp[1] if i < len(self.shapes()) - 1 else shp[0]))
            for i, shp in enumerate(self.shapes())
        )

    def check_params(self, params: Params) -> Params:
        if not isinstance(params, (tuple, list)) or len(params) != len(self.shapes()):
            raise ValueError(f"params must be a tuple of {len(self.shapes())} arrays {self.block_names}, got {type(params).__name__}"
                             f" of length {len(params) if isinstance(params, (tuple, list)) else 'n/a'}")
        out = []
        for name, arr, shp in zip(self.block_names, params, self.shapes()):
            arr = Vd.finite_array(name, arr, min_ndim=2)
            if arr.shape[-2:] != shp:
                raise ValueError(f"{name} must have trailing shape {shp}, got {arr.shape}")
            out.append(arr)
        return tuple(out)

    def features(self, params: Params, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(self, params: Params, X: np.ndarray) -> np.ndarray:
        """``f(X) = features(X) · V`` of shape ``(…, n, p)``."""
        return self.features(params, X) @ params[-1]

    def _forward(self, params: Params, X: np.ndarray):
        """``(f(X), acts)``: the prediction and what :meth:`_backprop` may reuse of the forward pass (``None``: it
        recomputes what it needs)."""
        return self.predict(params, X), None

    def _backprop(self, params: Params, X: np.ndarray, dF: np.ndarray, acts=None) -> Params:
        raise NotImplementedError

    def value_and_grad(self, params: Params, data, loss: str = "mse", half: bool = False, scale=None):
        """Loss and its gradient w.r.t. every block, for ``Moments`` (exact) or ``Samples``.

        ``scale`` (per configuration, as a learning rate): return ``scale·∇L`` instead of ``∇L``. Every
        gradient is linear in ``∂L/∂f`` (or ``∂L/∂β``), so the factor multiplies that small array once —
        a GD step then needs no separate pass ``η·g`` over the parameters.
        """
        Vd.choice("loss", loss, LOSSES)
        if isinstance(data, Samples):
            pred, acts = self._forward(params, data.X)
            if loss == "ce":  # integer labels, or soft targets (rows of probabilities)
                value, dF = cross_entropy(pred, data.Y, data.weights)
            else:
                value, dF = mse_on_samples(pred, data.targets(self.p), half, data.weights)
            if scale is not None:
                dF = per_config(scale, dF.ndim) * dF
            return value, self._backprop(params, data.X, dF, acts)
        if isinstance(data, Moments):
            if loss != "mse":
                raise ValueError("population Moments support loss='mse' only; pass Samples for 'ce'")
            return self._moments_value_and_grad(params, data, half, scale)
        raise TypeError(f"data must be Moments or Samples, got {type(data).__name__}")

    def loss(self, params: Params, data, loss: str = "mse", half: bool = False) -> np.ndarray:
        """The loss alone — the same numbers as :meth:`value_and_grad`'s value, without the gradient."""
        Vd.choice("loss", loss, LOSSES)
        if isinstance(data, Samples):
            pred = self.predict(params, data.X)
            if loss == "ce":
                return cross_entropy(pred, data.Y, data.weights)[0]
            return mse_on_samples(pred, data.targets(self.p), half, data.weights)[0]
        if isinstance(data, Moments) and loss == "mse":
            return self._moments_value(params, data, half)
        return self.value_and_grad(params, data, loss, half)[0]  # the same errors for bad input

    def _moments_value(self, params, mom, half):
        return self._moments_value_and_grad(params, mom, half)[0]

    def _moments_value_and_grad(self, params, mom, half, scale=None):
        raise ValueError(f"{type(self).__name__} is nonlinear in x: population loss needs Monte Carlo Samples")


@dataclass(frozen=True)
class DeepLinear(_Architecture):
    """``f(x) = Vᵀ W_L ⋯ W_1 x``; ``widths = (h_1, …, h_L)``; ``widths = ()`` is the linear model."""

    d: int
    widths: tuple[int, ...] = ()
    p: int = 1
    block_names: tuple[str, ...] = field(init=False)

    def __post_init__(self):
        Vd.integer("d", self.d, min_value=1)
        Vd.integer("p", self.p, min_value=1)
        object.__setattr__(self, "widths", tuple(Vd.integer(f"widths[{i}]", h, min_value=1) for i, h in enumerate(self.widths)))
        L = len(self.widths)
        names = ("w",) if L == 0 else (("B", "V") if L == 1 else tuple(f"W{l}" for l in range(1, L + 1)) + ("V",))
        object.__setattr__(self, "block_names", names)

    def shapes(self):
        dims = (self.d,) + self.widths
        return tuple((dims[l + 1], dims[l]) for l in range(len(self.widths))) + ((dims[-1], self.p),)

    def _partials(self, params):
        """``P_l = W_l ⋯ W_1`` for l = 0..L (P_0 = I)."""
        P = [None]  # None stands for the identity, to avoid d×d products
        for W in params[:-1]:
            P.append(W if P[-1] is None else W @ P[-1])
        return P

    def predictor(self, params: Params) -> np.ndarray:
        """End-to-end ``β = W_1ᵀ ⋯ W_Lᵀ V ∈ R^{d×p}``."""
        return self._predictor(self._partials(params), params[-1])

    @staticmethod
    def _predictor(P, V):
        return V if P[-1] is None else shared_times(_T(P[-1]), V)

    def _moments_value(self, params, mom, half):
        return mse_of_predictor(self.predictor(params), mom, half)

    def features(self, params, X):
        """``X P_Lᵀ`` — the representation under the head (X itself for the linear model)."""
        P = self._partials(params)[-1]
        return X if P is None else X @ _T(P)

    def _moments_value_and_grad(self, params, mom, half, scale=None):
        # β = P_{l−1}ᵀ W_lᵀ Q_l with Q_l = W_{l+1}ᵀ⋯W_Lᵀ V, so ∂L/∂W_l = Q_l (P_{l−1} G)ᵀ and ∂L/∂V = P_L G,
        # where G = ∂L/∂β = factor·(Σβ − C). (P_{l−1}G)ᵀ first: a matrix–vector product for p = 1 where
        # Q_l Gᵀ P_{l−1}ᵀ would cost an h_l×d×h_{l−1} product.
        P = self._partials(params)
        beta = self._predictor(P, params[-1])
        value, G = mse_value_and_grad_predictor(beta, mom, half)
        if scale is not None:
            G = per_config(scale, G.ndim) * G
        L = len(params) - 1
        grads = [None] * (L + 1)
        grads[L] = G if P[L] is None else shared_times(P[L], G)
        Q = params[-1]
        for l in range(L, 0, -1):  # layer l is params[l-1]
            PG = G if P[l - 1] is None else shared_times(P[l - 1], G)
            # scalar output: Q (PG)ᵀ is a batch of outer products, which einsum forms 1.3-2x faster than a
            # broadcast multiply (and far faster than a K = 1 matmul) — benchmarks/README.md
            grads[l - 1] = np.einsum("...ki,...di->...kd", Q, PG) if Q.shape[-1] == 1 else Q @ _T(PG)
            if l > 1:  # Q_{l−1}; none is needed below the first layer
                Q = _T(params[l - 1]) @ Q
        return value, tuple(g if g.shape == p.shape else np.broadcast_to(g, np.broadcast_shapes(g.shape, p.shape))
                            for g, p in zip(grads, params))

    def _forward(self, params, X):
        # the representation of a model with at most one hidden layer, layer by layer as _backprop forms it, so
        # the backward pass reuses it (one product fewer per step); deeper models form features from the product
        # W_L⋯W_1, another rounding than layer by layer, and _backprop recomputes its activations
        if len(params) > 2:
            return self.predict(params, X), None
        F = X if len(params) == 1 else X @ _T(params[0])
        return F @ params[-1], ([X] if len(params) == 1 else [X, F])

    def _backprop(self, params, X, dF, acts=None):
        if acts is None:
            acts = [X]
            for W in params[:-1]:
                acts.append(acts[-1] @ _T(W))
        grads = [None] * len(params)
        grads[-1] = _T(acts[-1]) @ dF
        delta = dF @ _T(params[-1])
        for l in range(len(params) - 2, -1, -1):
            grads[l] = _T(delta) @ acts[l]
            if l:  # no delta is needed below the first layer
                delta = delta @ params[l]
        return tuple(grads)


def linear(d: int, p: int = 1) -> DeepLinear:
    """Linear model ``f = wᵀx``."""
    return DeepLinear(d, (), p)


def two_layer(d: int, k: int, p: int = 1) -> DeepLinear:
    """Two-layer linear model ``f = Vᵀ B x``, ``B ∈ R^{k×d}``."""
    return DeepLinear(d, (k,), p)


def deep_linear(d: int, widths, p: int = 1) -> DeepLinear:
    """Deep linear model ``f = Vᵀ W_L ⋯ W_1 x`` with hidden widths ``(h_1, …, h_L)``."""
    return DeepLinear(d, tuple(widths), p)


@dataclass(frozen=True)
class TwoLayerReLU(_Architecture):
    """``f(x) = Vᵀ relu(B x)``, ``B ∈ R^{k×d}``, ``V ∈ R^{k×p}``."""

    d: int
    k: int
    p: int = 1
    block_names: tuple[str, ...] = ("B", "V")

    def __post_init__(self):
        Vd.integer("d", self.d, min_value=1)
        Vd.integer("k", self.k, min_value=1)
        Vd.integer("p", self.p, min_value=1)

    def shapes(self):
        return ((self.k, self.d), (self.k, self.p))

    def features(self, params, X):
        return np.maximum(X @ _T(params[0]), 0.0)

    def _forward(self, params, X):
        Z = X @ _T(params[0])
        H = np.maximum(Z, 0.0)
        return H @ params[1], (Z, H)

    def _backprop(self, params, X, dF, acts=None):
        B, V = params
        if acts is None:
            Z = X @ _T(B)
            H = np.maximum(Z, 0.0)
        else:
            Z, H = acts
        gV = _T(H) @ dF
        gB = _T((dF @ _T(V)) * (Z > 0)) @ X
        return (gB, gV)


def two_layer_relu(d: int, k: int, p: int = 1) -> TwoLayerReLU:
    """Two-layer ReLU model ``f = Vᵀ relu(B x)``, ``B ∈ R^{k×d}``."""
    return TwoLayerReLU(d, k, p)


__all__ = [
    "DeepLinear", "TwoLayerReLU", "Params", "linear", "two_layer", "deep_linear", "two_layer_relu",
    "two_layer_params", "head_vector", "batch_shape", "per_config",
]
