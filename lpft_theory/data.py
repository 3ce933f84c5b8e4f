"""The two forms a client's data takes: population second moments, or finite samples.

For every model that is linear in ``x`` the squared loss depends on the data only through
``Σ = E[x xᵀ]``, ``C = E[x yᵀ]`` and ``s = E[‖y‖²]``:

    L(β) = E‖βᵀx − y‖² = tr(βᵀ Σ β) − 2 tr(βᵀ C) + s,

so the population loss is exact (no sampling) and the empirical loss is the same formula with the
sample moments ``Σ̂ = XᵀX/n``, ``Ĉ = XᵀY/n``, ``ŝ = ‖Y‖²_F/n``. Every array may carry leading batch
axes (clients, configurations); they broadcast as in numpy.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import _validate as V


@dataclass(frozen=True)
class Moments:
    """Second moments ``Sigma (..., d, d)``, ``C (..., d, p)``, ``s (...)`` of one or many distributions."""

    Sigma: np.ndarray
    C: np.ndarray
    s: np.ndarray

    def __post_init__(self):
        Sigma = V.finite_array("Sigma", self.Sigma, min_ndim=2)
        C = V.finite_array("C", self.C, min_ndim=2)
        s = V.finite_array("s", self.s)
        if Sigma.shape[-1] != Sigma.shape[-2]:
            raise ValueError(f"Sigma must be square in its last two axes, got shape {Sigma.shape}")
        if C.shape[-2] != Sigma.shape[-1]:
            raise ValueError(f"C must have shape (..., d={Sigma.shape[-1]}, p), got {C.shape}")
        object.__setattr__(self, "Sigma", Sigma)
        object.__setattr__(self, "C", C)
        object.__setattr__(self, "s", s)

    @property
    def d(self) -> int:
        return self.Sigma.shape[-1]

    @property
    def p(self) -> int:
        return self.C.shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return np.broadcast_shapes(self.Sigma.shape[:-2], self.C.shape[:-2], self.s.shape)

    @cached_property
    def identity(self) -> bool:
        """Is every ``Σ`` exactly the identity? Checked once per object; then ``Σβ = β`` costs nothing."""
        D = np.diagonal(self.Sigma, axis1=-2, axis2=-1)  # views only: Σ may be a broadcast batch
        return bool(np.all(D == 1.0) and np.count_nonzero(self.Sigma) == D.size)

    def rows(self, sl: slice, batch_ndim: int) -> "Moments":
        """Rows ``sl`` of the leading axis of a batch of rank ``batch_ndim`` (arrays that broadcast along it
        are kept whole): one block of independent configurations."""
        return Moments(_rows(self.Sigma, sl, batch_ndim, 2), _rows(self.C, sl, batch_ndim, 2),
                       _rows(self.s, sl, batch_ndim, 0))

    def __getitem__(self, idx) -> "Moments":
        """Index the leading batch axes (e.g. one client)."""
        bs = self.batch_shape
        return Moments(
            np.broadcast_to(self.Sigma, bs + self.Sigma.shape[-2:])[idx],
            np.broadcast_to(self.C, bs + self.C.shape[-2:])[idx],
            np.broadcast_to(self.s, bs)[idx],
        )

    def mean(self, axis: int = 0, weights=None) -> "Moments":
        """Moments of the mixture: a (weighted) average over one batch axis.

        The mixture ``(1/C) Σ_i D_i`` has exactly the averaged second moments.
        """
        bs = self.batch_shape
        full = (np.broadcast_to(self.Sigma, bs + self.Sigma.shape[-2:]),
                np.broadcast_to(self.C, bs + self.C.shape[-2:]),
                np.broadcast_to(self.s, bs))
        if weights is None:
            return Moments(*(a.mean(axis=axis) for a in full))
        w = np.asarray(weights, dtype=np.float64)
        w = w / w.sum()
        return Moments(*(np.tensordot(w, np.moveaxis(a, axis, 0), axes=1) for a in full))


@dataclass(frozen=True)
class Samples:
    """Finite data ``X (..., n, d)`` with targets ``Y (..., n, p)`` (regression) or labels ``(..., n)`` (int).

    ``weights (..., n)``, optional: non-negative point weights; every average over points becomes
    ``Σ_j w_j ℓ_j / Σ_j w_j``. Zero weights pad ragged clients to a common ``n`` (:func:`stack_clients`).
    """

    X: np.ndarray
    Y: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self):
        X = V.finite_array("X", self.X, min_ndim=2)
        Y = np.asarray(self.Y)
        if np.issubdtype(Y.dtype, np.integer):
            if Y.shape != X.shape[:-1]:
                raise ValueError(f"integer labels Y must have shape {X.shape[:-1]}, got {Y.shape}")
            if Y.size and Y.min() < 0:
                raise ValueError(f"labels Y must be >= 0, got minimum {Y.min()}")
        else:
            Y = V.finite_array("Y", Y)
            if Y.ndim == X.ndim - 1:
                Y = Y[..., None]
            if Y.shape[:-1] != X.shape[:-1]:
                raise ValueError(f"Y must have shape {X.shape[:-1]} + (p,), got {Y.shape}")
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "Y", Y)
        if self.weights is not None:
            w = V.finite_array("weights", self.weights)
            if w.shape != X.shape[:-1] or np.any(w < 0) or np.any(w.sum(axis=-1) <= 0):
                raise ValueError(f"weights must be >= 0 with shape {X.shape[:-1]} and a positive sum per set")
            object.__setattr__(self, "weights", w)

    def point_weights(self) -> np.ndarray:
        """Normalised weights ``w_j/Σw`` (``1/n`` when unweighted), shape ``(..., n)``."""
        if self.weights is None:
            return np.full(self.X.shape[:-1], 1.0 / self.n)
        return self.weights / self.weights.sum(axis=-1, keepdims=True)

    @property
    def is_classification(self) -> bool:
        return np.issubdtype(self.Y.dtype, np.integer)

    @property
    def n(self) -> int:
        return self.X.shape[-2]

    @property
    def d(self) -> int:
        return self.X.shape[-1]

    def moments(self, n_classes: int | None = None) -> Moments:
        """Sample second moments (labels are one-hot encoded, ``n_classes`` columns)."""
        Y = self.targets(n_classes)
        w = self.point_weights()[..., None]
        XT = np.swapaxes(self.X, -1, -2)
        return Moments(XT @ (w * self.X), XT @ (w * Y), np.sum(w * Y * Y, axis=(-1, -2)))

    def targets(self, n_classes: int | None = None) -> np.ndarray:
        """Real-valued targets: ``Y`` itself, or one-hot labels."""
        if not self.is_classification:
            return self.Y
        k = int(self.Y.max()) + 1 if n_classes is None else n_classes
        return np.eye(k)[self.Y]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self.X.shape[:-2]

    def rows(self, sl: slice, batch_ndim: int) -> "Samples":
        """As :meth:`Moments.rows`."""
        return Samples(_rows(self.X, sl, batch_ndim, 2), _rows(self.Y, sl, batch_ndim, self.Y.ndim - self.X.ndim + 2),
                       None if self.weights is None else _rows(self.weights, sl, batch_ndim, 1))

    def __getitem__(self, idx) -> "Samples":
        return Samples(self.X[idx], self.Y[idx], None if self.weights is None else self.weights[idx])


def _rows(a: np.ndarray, sl: slice, batch_ndim: int, trailing: int) -> np.ndarray:
    """``a[sl]`` along the leading axis of a batch of rank ``batch_ndim`` if ``a`` has that axis (size > 1)."""
    return a[sl] if a.ndim - trailing == batch_ndim and a.shape[0] > 1 else a


def stack_clients(clients: list) -> Samples:
    """Ragged per-client ``Samples`` as one batched ``Samples`` padded with zero-weight points."""
    if not clients:
        raise ValueError("stack_clients needs at least one client")
    n = max(c.n for c in clients)
    X = np.zeros((len(clients), n, clients[0].d))
    Y = np.zeros((len(clients), n) + clients[0].Y.shape[1:], dtype=clients[0].Y.dtype)
    W = np.zeros((len(clients), n))
    for i, c in enumerate(clients):
        X[i, : c.n], Y[i, : c.n] = c.X, c.Y
        W[i, : c.n] = 1.0 if c.weights is None else c.weights
    return Samples(X, Y, W)
