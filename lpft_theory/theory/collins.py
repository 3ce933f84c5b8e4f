r"""Does FedAvg learn the shared representation? (Collins, Hassani, Mokhtari, Shakkottai, NeurIPS 2022.)

Setting (:func:`synthetic.multitask.multitask`): ``y = θ_iᵀx``, ``θ_i = B*ᵀw_i*``, ``x ~ N(0, I_d)``; model
``f = VᵀBx`` with one shared head ``V ∈ R^k`` and ``B ∈ R^{k×d}``; FedAvg = every participating client runs
``τ`` full-batch GD steps on ``(B, V)`` jointly from the global model, the server averages both blocks
(:func:`lpft_theory.federated.fedavg`). Loss ``½E(f − y)²`` (``half=True``). Metric: the sine of the largest
principal angle, ``sin θ_max = ‖(I − B̂ᵀB̂) B̂*ᵀ‖₂`` (``B̂`` with orthonormalised rows).

**The exact round identity (population, Σ_i = I, noise-free).** Let ``P⊥ = I − B*ᵀB*`` and ``E = BP⊥``
(the part of ``B`` outside ``rowspace(B*)``). A local step is ``B ← B − ηV(BᵀV − θ_i)ᵀ``; since
``θ_iᵀP⊥ = 0``, ``E ← (I − ηVVᵀ)E``. Hence, with ``V_s^{(i)}`` client i's head before local step s,

    E_{r+1} = A_r E_r,    A_r = Σ_{i∈S_r} p_i Π_{s=τ−1}^{0} (I − η V_s^{(i)} V_s^{(i)ᵀ})        (exact).

**τ = 1 (distributed GD).** ``A_r = I − η v_r v_rᵀ`` contracts ``E`` along the global head ``v_r`` only:
every direction of ``R^k`` orthogonal to all the ``v_r`` keeps its part of ``E`` for ever; with centred
heads and ``v_0 = 0`` the global head stays 0 and nothing is learnt.

**τ ≥ 2, small η (leading order, v = 0, centred heads).** ``V_s^{(i)} = sηBθ_i + O(η²)``, so

    I − A = η³ S_τ · B Θ Bᵀ + O(η⁴),   S_τ = Σ_{s<τ} s² = (τ−1)τ(2τ−1)/6,   Θ = Σ_i p_i θ_iθ_iᵀ:

the local head *adapts* to each task within the round, and the average of the adapted heads' outer
products — the task diversity ``BΘBᵀ`` — contracts ``E`` in every direction iff ``rank(Θ) = k``.
Consequently the angle to ``B*`` can go to 0 only if (i) ``τ ≥ 2`` and (ii) ``rank(Θ) = k`` (task
diversity; otherwise ``rowspace(B*)`` is not even identifiable from the labels). Under Chen et al.'s
Assumption 4.1 ``θ_i = B*ᵀ[V_com; λe_i]`` span only ``C < k = m + C`` dimensions: (ii) fails.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as Vd
from ..dynamics import run, sgd
from ..federated import fedavg
from ..models import two_layer
from ..rng import spawn


def _orth_rows(B: np.ndarray) -> np.ndarray:
    """Orthonormal basis (columns) of ``rowspace(B)``."""
    return np.linalg.qr(np.asarray(B, float).T)[0]


def sin_largest_angle(B, B_star) -> float:
    """``‖(I − B̂ᵀB̂) B̂*ᵀ‖₂``: the sine of the largest principal angle between ``rowspace(B)`` and
    ``rowspace(B*)`` (equal row counts), or of the largest angle from ``rowspace(B*)`` into ``rowspace(B)``."""
    B, B_star = Vd.finite_array("B", B, ndim=2), Vd.finite_array("B_star", B_star, ndim=2)
    if B.shape[1] != B_star.shape[1]:
        raise ValueError(f"B and B_star need the same number of columns d, got {B.shape} and {B_star.shape}")
    Q, Qs = _orth_rows(B), _orth_rows(B_star)
    return float(np.linalg.norm(Qs - Q @ (Q.T @ Qs), 2))


def task_matrix(thetas, weights=None) -> np.ndarray:
    """``Θ = Σ_i p_i θ_iθ_iᵀ`` (``p_i`` uniform unless ``weights``)."""
    th = Vd.finite_array("thetas", thetas, ndim=2)
    p = np.full(th.shape[0], 1.0 / th.shape[0]) if weights is None else np.asarray(weights, float) / np.sum(weights)
    return (th * p[:, None]).T @ th


def task_rank(thetas, rtol: float = 1e-9) -> int:
    """``rank(Θ)``: how many directions of the representation the tasks identify."""
    ev = np.linalg.eigvalsh(task_matrix(thetas))
    return int(np.sum(ev > rtol * max(ev.max(), 1e-300)))


def off_part(B, B_star) -> np.ndarray:
    """``E = B (I − B*ᵀB*)`` (``B*`` with orthonormal rows): the part of ``B`` outside ``rowspace(B*)``."""
    return B - (B @ B_star.T) @ B_star


def round_operator(local_heads, eta: float, weights=None) -> np.ndarray:
    """``A = Σ_i p_i Π_{s=τ−1}^{0} (I − ηV_s^{(i)}V_s^{(i)ᵀ})`` from ``local_heads`` of shape ``(τ, M, k)``."""
    H = Vd.finite_array("local_heads", local_heads, ndim=3)
    eta = Vd.positive("eta", eta)
    tau, M, k = H.shape
    p = np.full(M, 1.0 / M) if weights is None else np.asarray(weights, float) / np.sum(weights)
    prod = np.broadcast_to(np.eye(k), (M, k, k)).copy()
    for s in range(tau):
        prod = (np.eye(k) - eta * H[s][:, :, None] * H[s][:, None, :]) @ prod
    return np.tensordot(p, prod, axes=1)


def S_tau(tau: int) -> float:
    """``S_τ = Σ_{s<τ} s² = (τ−1)τ(2τ−1)/6``."""
    tau = Vd.integer("tau", tau, min_value=1)
    return (tau - 1) * tau * (2 * tau - 1) / 6.0


def small_step_contraction(B, thetas, eta: float, tau: int, weights=None) -> np.ndarray:
    """Leading-order ``I − A ≈ η³ S_τ B Θ Bᵀ`` of one round from ``v = 0`` with centred heads."""
    eta = Vd.positive("eta", eta)
    return eta ** 3 * S_tau(tau) * (B @ task_matrix(thetas, weights) @ B.T)


def local_round(B, v, data, eta: float, tau: int):
    """One round of local GD on every client (population ``data`` with a client axis), recording the heads:
    returns ``(local_heads (τ, M, k), B_after (M, k, d), V_after (M, k))``."""
    arch = two_layer(B.shape[1], B.shape[0])
    traj = run(arch, (B, v[:, None]), data, sgd(eta), tau, half=True, record_params=True)
    M = data.batch_shape[0]
    heads = np.stack([np.broadcast_to(p[1][..., 0], (M, B.shape[0])) for p in traj.snapshots[:-1]])
    return heads, traj.params[0], traj.params[1][..., 0]


def run_fedavg(scenario, tau: int, eta: float, rounds: int, *, samples: bool = False, participation: float = 1.0,
               rng=0, record_every: int = 1, record=None) -> dict:
    """FedAvg from ``B_0`` with orthonormal random rows and ``V_0 = 0``; ``sin θ_max`` to ``B*`` per round.

    ``samples``: train on ``scenario.train`` (finite samples, data-size weights) instead of the population.
    ``rng`` seeds the initialisation and the choice of participants (two spawned streams). ``record``: the
    rounds to report (default every ``record_every``-th); returns ``rounds``, ``sin``, ``B`` at those rounds.
    """
    from synthetic.base import orthonormal_rows  # synthetic sits beside the package; imported lazily

    B_star = scenario.truth["B_star"]
    k, d = B_star.shape
    data = scenario.train if samples else scenario.population
    weights = None
    if samples:
        weights = data.weights.sum(-1) if data.weights is not None else None
    arch = two_layer(d, k)
    g_init, g_fed = spawn(rng, 2)
    p0 = (orthonormal_rows(k, d, g_init), np.zeros((k, 1)))
    res = fedavg(arch, p0, data, rounds, tau, eta, participation=participation, weights=weights, half=True,
                 rng=g_fed)
    idx = (list(range(0, rounds + 1, record_every)) + ([rounds] if rounds % record_every else [])
           if record is None else sorted({int(r) for r in record} | {rounds}))
    return {"rounds": idx, "sin": [sin_largest_angle(res.history[r][0], B_star) for r in idx],
            "B": [res.history[r][0] for r in idx], "final": res.params}


def goes_to_zero(sin_curve, floor: float = 1e-9, rate_tol: float = 1e-3) -> bool:
    """Observed outcome: the angle reached the round-off floor, or still shrinks geometrically over the
    second half of the run (per-round factor ``ρ = (s_R/s_{R/2})^{1/(R/2)} < 1 − rate_tol``)."""
    s = np.asarray(sin_curve, float)
    if s[-1] < floor:
        return True
    half = len(s) // 2
    rho = (s[-1] / s[half]) ** (1.0 / max(len(s) - 1 - half, 1))
    return bool(rho < 1.0 - rate_tol)


def collins_condition(tau: int, rank_theta: int, k: int) -> bool:
    """The derived condition for ``sin θ_max → 0``: ``τ ≥ 2`` and ``rank(Θ) = k``."""
    return tau >= 2 and rank_theta == k
