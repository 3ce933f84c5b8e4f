r"""Forgetting in linear regression, exactly (Evron, Moroshko, Ward, Srebro, Soudry, COLT 2022; Goldfarb, Evron,
Weinberger, Soudry, Hand, ICLR 2024), and what it says about the global loss after personalised FT.

**Fitting to convergence is one projection.** GD on ``‖Xw − y‖²`` (any stable step) moves ``w`` only inside
``rowspace(X)``, so from ``w`` it ends at the solution nearest ``w``:

    w ← w + X⁺(y − Xw)                                   (:func:`fit_to_convergence`)

If the tasks share a solution ``w*`` (``y_m = X_m w*``, the papers' realisability), the error ``e = w − w*``
obeys ``e ← P_m e`` with ``P_m = I − X_m⁺X_m`` the orthogonal projection onto ``null(X_m)``: a sequence of
tasks is a product of projections (:func:`sequence_forgetting`).

**Forgetting** after ``k`` tasks of the order ``τ`` (Evron et al.'s definition, squared residuals summed over a
task's points): ``F(k) = (1/k) Σ_{t<=k} ‖X_{τ(t)} w_k − y_{τ(t)}‖²`` from ``w_0 = 0``.

**Two tasks in cyclic order, closed form.** Let ``θ_i`` be the principal angles between ``N_1 = null(X_1)`` and
``N_2 = null(X_2)`` with principal vectors ``u_i ∈ N_1``. The planes ``span{u_i, v_i}`` are invariant under both
projections, each acting there as the projection onto a line, so from ``e_1 = −P_1 w*`` the component along
``u_i`` is multiplied by ``cos θ_i`` per step. For tasks with equal singular values ``R`` (``X_m = R Q_mᵀ``,
``Q_m`` orthonormal columns):

    F(k) = R² (⌊k/2⌋ / k) Σ_i ⟨u_i, w*⟩² cos^{2(k−1)} θ_i sin² θ_i            (:func:`two_task_forgetting`)

(⌊k/2⌋ of the first k tasks are the other task; the last one is fitted exactly). The non-zero principal angles
between the null spaces are those between the row spaces, the "client subspaces". Its supremum over tasks and
``‖w*‖ = 1`` puts all the weight on the best angle, ``cos² θ = 1 − 1/k``:

    sup F(k) = R² (⌊k/2⌋/k) (1/k)(1 − 1/k)^{k−1}  <=  R² ‖w*‖² / (2e(k − 1))     (:func:`two_task_sup`)

**Worst-case bounds as stated** (Evron et al.): two tasks, cyclic, ``F(k) <= R²‖w*‖²/(2e(k−1))``
(:func:`evron_two_task_bound`); ``T`` tasks in ``d`` dimensions, cyclic, ``F(k) <= T² min(1/√k, d/k) R²‖w*‖²``
(:func:`evron_cyclic_bound`), ``R = max_m ‖X_m‖₂``.

**The global loss after personalisation.** A client that fits its data to convergence from the global model
``w_G`` ends at ``w_i = w_G + X_i⁺(y_i − X_iw_G)``; with a shared ``w*`` its error is ``P_i(w_G − w*)`` and
client ``j``'s population loss is ``(w_G − w*)ᵀ P_i Σ_j P_i (w_G − w*)`` (:func:`global_loss_after_ft`): the
package's "global loss after FT" of a linear model is one projection, and for two clients with isotropic data
it is the ``k = 2`` term of the two-task formula.

**Task similarity (Goldfarb et al.).** Two tasks, the second a random orthogonal transformation of the first:
``X_2 = X_1 Oᵀ`` with ``O`` a Haar rotation of ``p`` of the ``d`` coordinates, the labels kept (``y_2 = y_1``,
permuted-input tasks). Expected similarity ``E tr(O)/d = 1 − p/d``. Forgetting ``½‖X_1w_2 − y_1‖²`` from
``w_0 = 0`` (:func:`rotation_task_forgetting`).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.linalg import null_space

from .. import _validate as Vd
from ..rng import as_generator

__all__ = ["fit_to_convergence", "null_projection", "principal_structure", "two_task_forgetting", "two_task_sup",
           "evron_two_task_bound", "evron_cyclic_bound", "sequence_forgetting", "cyclic_order",
           "global_loss_after_ft", "haar_rotation", "rotation_task_forgetting"]


def fit_to_convergence(w, X, y) -> np.ndarray:
    """``w + X⁺(y − Xw)``: where GD on ``‖Xw − y‖²`` from ``w`` converges (the solution nearest ``w``)."""
    X = np.asarray(X, dtype=float)
    return np.asarray(w, dtype=float) + np.linalg.pinv(X) @ (np.asarray(y, dtype=float) - X @ w)


def null_projection(X) -> np.ndarray:
    """``P = I − X⁺X``, the orthogonal projection onto ``null(X)``."""
    X = np.asarray(X, dtype=float)
    return np.eye(X.shape[1]) - np.linalg.pinv(X) @ X


def principal_structure(X1, X2) -> tuple[np.ndarray, np.ndarray]:
    """``(cos θ_i, u_i)``: cosines of the principal angles between ``null(X_1)`` and ``null(X_2)`` and the principal
    vectors in ``null(X_1)`` (columns); the part of ``null(X_1)`` beyond ``dim null(X_2)`` gets cosine 0."""
    Z1, Z2 = null_space(np.asarray(X1, float)), null_space(np.asarray(X2, float))
    if Z1.shape[1] == 0:
        return np.zeros(0), np.zeros((np.asarray(X1).shape[1], 0))
    U, s, _ = np.linalg.svd(Z1.T @ Z2, full_matrices=True)
    cos = np.zeros(Z1.shape[1])
    cos[: s.size] = np.clip(s, 0.0, 1.0)
    return cos, Z1 @ U


def two_task_forgetting(k: int, cos, a, R: float = 1.0) -> float:
    """Closed form of ``F(k)`` for two isotropic tasks (singular values ``R``) in the order 1, 2, 1, …:
    ``R² (⌊k/2⌋/k) Σ_i a_i² cos^{2(k−1)}θ_i sin²θ_i`` with ``a_i = ⟨u_i, w*⟩`` (module docstring)."""
    k = Vd.integer("k", k, min_value=1)
    c2 = np.asarray(cos, float) ** 2
    return float(R ** 2 * (k // 2) / k * np.sum(np.asarray(a, float) ** 2 * c2 ** (k - 1) * (1.0 - c2)))


def two_task_sup(k: int, R: float = 1.0, w_norm: float = 1.0) -> float:
    """``sup F(k)`` over two isotropic tasks and ``‖w*‖ = w_norm``: ``R²‖w*‖²(⌊k/2⌋/k)(1/k)(1 − 1/k)^{k−1}``."""
    k = Vd.integer("k", k, min_value=1)
    return R ** 2 * w_norm ** 2 * (k // 2) / k * (1.0 / k) * (1.0 - 1.0 / k) ** (k - 1)


def evron_two_task_bound(k: int, R: float = 1.0, w_norm: float = 1.0) -> float:
    """Evron et al.'s two-task cyclic bound ``R²‖w*‖² / (2e(k − 1))`` (``k >= 2``)."""
    k = Vd.integer("k", k, min_value=2)
    return R ** 2 * w_norm ** 2 / (2.0 * math.e * (k - 1))


def evron_cyclic_bound(k: int, T: int, d: int, R: float = 1.0, w_norm: float = 1.0) -> float:
    """Evron et al.'s ``T``-task cyclic bound ``T² min(1/√k, d/k) R² ‖w*‖²``."""
    k, T, d = Vd.integer("k", k, min_value=1), Vd.integer("T", T, min_value=2), Vd.integer("d", d, min_value=1)
    return T ** 2 * min(1.0 / math.sqrt(k), d / k) * R ** 2 * w_norm ** 2


def cyclic_order(T: int, k: int) -> np.ndarray:
    """``τ(t) = t mod T`` for ``t = 0..k−1`` (tasks numbered from 0)."""
    return np.arange(Vd.integer("k", k, min_value=1)) % Vd.integer("T", T, min_value=1)


def sequence_forgetting(Xs, ys, order, w0=None, at=None) -> np.ndarray:
    """The exact procedure: fit task ``order[t]`` to convergence (:func:`fit_to_convergence`) for ``t = 0..k−1``
    from ``w0`` (default 0) and return Evron et al.'s forgetting ``F(k)`` after each task (``at``: only after the
    listed numbers of tasks, e.g. ``[k]``)."""
    Xs = [np.asarray(X, float) for X in Xs]
    ys = [np.asarray(y, float) for y in ys]
    pinvs = [np.linalg.pinv(X) for X in Xs]
    w = np.zeros(Xs[0].shape[1]) if w0 is None else np.asarray(w0, float).copy()
    wanted = set(range(1, len(order) + 1)) if at is None else {int(a) for a in at}
    counts = np.zeros(len(Xs))
    out = []
    for t, m in enumerate(order):
        w = w + pinvs[m] @ (ys[m] - Xs[m] @ w)
        counts[m] += 1
        if t + 1 in wanted:
            losses = np.array([np.sum((X @ w - y) ** 2) for X, y in zip(Xs, ys)])
            out.append(counts @ losses / (t + 1))
    return np.array(out)


def global_loss_after_ft(w_G, X_i, y_i, Sigmas, w_stars) -> np.ndarray:
    """Population loss ``(w_i − w_j*)ᵀ Σ_j (w_i − w_j*)`` on every client j of ``w_i`` = client i's fit to
    convergence from ``w_G`` (no ½). With a shared ``w*`` this is ``(w_G − w*)ᵀ P_i Σ_j P_i (w_G − w*)``."""
    w_i = fit_to_convergence(w_G, X_i, y_i)
    E = w_i[None, :] - np.asarray(w_stars, float)
    return np.einsum("jd,jde,je->j", E, np.asarray(Sigmas, float), E)


def haar_rotation(p: int, rng=None) -> np.ndarray:
    """A Haar-distributed ``p×p`` orthogonal matrix."""
    p = Vd.integer("p", p, min_value=1)
    q, r = np.linalg.qr(as_generator(rng).standard_normal((p, p)))
    return q * np.sign(np.diag(r))


def rotation_task_forgetting(X, y, p: int, rng=None) -> float:
    """Goldfarb et al.'s two tasks: ``(X, y)`` then ``(X Oᵀ, y)`` with ``O`` rotating the first ``p`` coordinates
    (Haar); forgetting ``½‖X w_2 − y‖²`` of the min-norm learner from ``w_0 = 0``, relative to ``‖y‖²``."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    p = Vd.integer("p", p, min_value=0, max_value=X.shape[1])
    X2 = X.copy()
    if p:
        X2[:, :p] = X[:, :p] @ haar_rotation(p, rng).T
    w1 = fit_to_convergence(np.zeros(X.shape[1]), X, y)
    w2 = fit_to_convergence(w1, X2, y)
    return float(0.5 * np.sum((X @ w2 - y) ** 2) / np.sum(y ** 2))
