r"""Chen et al. 2025, Section 4: Lemma 4.3, Theorem 4.4 and Theorem 4.5, derived from the assumptions.

Setting (Assumption 4.1): ``y_i = V_i*ᵀB*x``, ``B*`` orthonormal rows, ``V_i* = [V_com; λ e_i]``; model
``f = VᵀBx``; global model ``(B_0, V_0) = (B*, [V_com; 0])``. Write ``b_i = B*ᵀ[0; e_i]`` (row ``m+i`` of
``B*``), ``w_0 = B*ᵀV_0``, ``v = ‖V_com‖²``, ``P = B*ᵀB*``, ``Σ_i = E_i[xxᵀ]`` and ``c = 2`` for the loss
``E(f − y)²`` (``c = 1`` with the ½), ``s = ηc``. The population loss of a predictor ``w = BᵀV`` on
client j is ``(w − w_j*)ᵀΣ_j(w − w_j*)``.

**One FT step on client i** (any ``Σ_i``). With ``r = w_0 − w_i* = −λb_i`` and ``g = Σ_i b_i``:
``∇_B = −cλ V_0 gᵀ``, ``∇_V = −cλ B* g``, so

    B_FT = B* + sλ V_0 gᵀ      (Lemma 4.3: row j is  b*_j + ηcλ (V_0)_j · g;  g = b_i when Σ_i = I)
    V_FT = V_0 + sλ B* g
    w_FT = w_0 + λ h,   h = s (P + vI) g + s² λ (w_0ᵀg) g.

**Exact LP** fits ``V = V_i*`` (``w_i* ∈ rowspace(B*)`` and ``B*Σ_iB*ᵀ ≻ 0``), the local loss is 0, the
gradient vanishes and LP-FT stays at ``w_i*`` for any number of FT steps.

**Theorem 4.4 (concept shift, Σ = I).** ``h = s(1+v) b_i``; with ``a = s(1+v)``:
FT: local ``λ²(a−1)²``, global (other clients) ``λ²(1 + a²)``; LP-FT (exact LP): local 0, global ``2λ²``.
Hence LP-FT has the lower global loss **iff** ``a = ηc(1 + ‖V_com‖²) > 1`` (equality at ``a = 1``); for
smaller steps FT is better. With overlapping private features (``⟨u_i,u_j⟩ = ω``) the condition becomes
``(a − 1)(a − r) > 0`` with ``r = 2ω − 1`` for the other clients and ``r = (2ω(C−1) − (C−2))/C`` for the
mixture of all C clients (:func:`condition_root`); the two readings agree only at ``ω = 0`` (both ``a > 1``).
The first step is a descent step for the client iff ``a < 2`` (local loss ``λ²(a−1)²``); ``a = ηβ`` with
``β = c(1+v)`` the curvature of the local loss along the step (:func:`step_curvature`).
With one LP step (or a fraction α of the way) before the FT step, ``w = w_0 + A b_i`` with

    A(α) = αλ + sρ(1 + v + α²λ²) + s²ρ²αλ,   ρ = (1 − α)λ,

and LP-FT wins iff ``|A(α)| < |a|λ`` (``A(0) = aλ`` is FT, ``A(1) = λ`` exact LP).

**Many FT steps (Σ = I).** All gradients live in ``span{V̂_0, e_i} ⊗ span{ŵ_0, b_i}``: writing
``B = B* + Q_k M Q_dᵀ`` and ``V = Q_k z``, the dynamics are exactly GD on the 2×2 two-layer problem
``‖Nᵀz − t‖²`` with ``N = I + M``, ``z_0 = (√v, 0)``, ``t = (√v, λ)``; the predictor is ``w = Q_d u``,
``u = Nᵀz``, and client j's loss is ``‖u − (√v, 0)‖² − 2λω u_2 + λ²`` (:func:`reduced_concept_run`;
gradient flow: :func:`reduced_concept_flow`).

**Local/global Pareto frontier (concept shift).** ``u`` ranges over all of R², and with ``e = u_1 − √v``,
``A = u_2``: local ``= e² + (A−λ)²``, others ``= e² + (A−λω)² + λ²(1−ω²)``: squared distances to two
points of the plane. The least global loss at local loss ``ℓ`` lies on the line through them:

    G*(ℓ) = λ²(1 − ω²) + (λ(1 − ω) − √ℓ)²,     M*(ℓ) = (ℓ + (C − 1) G*(ℓ))/C   (mixture),

attained at ``e = 0, A = λ − √ℓ`` (the same point for both readings, since the mixture adds the fixed
local loss); Pareto-efficient for ``√ℓ <= λ(1−ω)`` (others) and ``√ℓ <= (C−1)λ(1−ω)/C`` (mixture)
(:func:`pareto_frontier`). One FT step lies on it iff ``a <= 1``; for ``a > 1`` it lies above by
``4λ²(a−1)(1−ω)`` (its mirror ``A = (2−a)λ`` has the same local loss). Exact LP lies on it at ``ℓ = 0``.

**Theorem 4.5 (combined shift).** ``Σ_j = e_je_jᵀ + ε²I``. Client i's LP-FT/FT global-loss gap
``D_i(λ) = [G_FT − G_LPFT]/λ²`` is a quadratic ``q_0 + q_1λ + q_2λ²`` with ``q_2 >= 0``
(:func:`combined_gap_coeffs`). LP-FT wins at small λ iff ``q_0 > 0``; then ``λ*`` is the smallest
positive root (∞ if none) and, when a second root ``λ**`` exists, FT wins exactly on ``(λ*, λ**)`` and
LP-FT wins again beyond ``λ**`` (:func:`lambda_star`). If ``q_0 < 0`` no ``λ* > 0`` exists. For shifts
along the private features (``e_i = σb_i``) the gap is λ-free: LP-FT wins the others reading iff
``a' = ηc(σ² + ε²)(1 + v) >= 1``, and the mixture reading iff ``(a' − 1)(a' − r') >= 0`` with
``r' = (σ² − (C−2)ε²)/(σ² + Cε²)`` (:func:`private_condition_root`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validate as Vd

GLOBAL_READINGS = ("others", "mixture")


def _c(half: bool) -> float:
    return 1.0 if half else 2.0


# --------------------------------------------------------------------------- Lemma 4.3 and one FT step
def one_step_ft(B_star, V0, Sigma_i, w_star_i, eta: float, half: bool = False):
    """``(B_FT, V_FT, w_FT)`` after one GD step on client i's population loss (general ``Σ_i``)."""
    c = _c(half)
    w0 = B_star.T @ V0
    G = c * Sigma_i @ (w0 - w_star_i)  # ∂L/∂w
    B1 = B_star - eta * np.outer(V0, G)
    V1 = V0 - eta * B_star @ G
    return B1, V1, B1.T @ V1


def lemma_4_3_rows(B_star, V0, i: int, m: int, lam: float, eta: float, half: bool = False) -> np.ndarray:
    """Lemma 4.3 (Σ = I): row j of ``B_FT`` is ``b*_j + ηcλ (V_0)_j b*_{m+i}``."""
    Vd.integer("i", i, min_value=0, max_value=B_star.shape[0] - m - 1)
    return B_star + eta * _c(half) * lam * np.outer(V0, B_star[m + i])


# --------------------------------------------------------------------------- Theorem 4.4, one step
def ft_coefficient(v: float, eta: float, half: bool = False) -> float:
    """``a = ηc(1 + ‖V_com‖²)``: one FT step moves the predictor by ``aλ`` along ``b_i`` (Σ = I)."""
    return eta * _c(half) * (1.0 + v)


def lp_ft_coefficient(v: float, lam: float, eta: float, alpha: float = 1.0, half: bool = False) -> float:
    """``A(α)``: LP a fraction α of the way (α = ηc is one LP step), then one FT step; ``w = w_0 + A b_i``."""
    s = eta * _c(half)
    rho = (1.0 - alpha) * lam
    return alpha * lam + s * rho * (1.0 + v + alpha ** 2 * lam ** 2) + s ** 2 * rho ** 2 * alpha * lam


def concept_losses(shift_along_b: float, lam: float, n_clients: int, omega: float = 0.0,
                   shared_error: float = 0.0, half: bool = False) -> dict:
    """Losses of ``w = w_0 + shared_error·ŵ_0 + A b_i`` under concept shift (Σ = I), ``A = shift_along_b``.

    local ``(A − λ)² + e²``, global over the others ``A² − 2λωA + λ² + e²``, mixture the average of all C
    (times ½ with ``half``).
    """
    A, e2 = shift_along_b, shared_error ** 2
    f = 0.5 if half else 1.0
    local = f * ((A - lam) ** 2 + e2)
    other = f * (A ** 2 - 2 * lam * omega * A + lam ** 2 + e2)
    return {"local": local, "global": other, "global_mixture": (local + (n_clients - 1) * other) / n_clients}


def theorem_4_4(v: float, lam: float, eta: float, n_clients: int, *, omega: float = 0.0, lp: str = "exact",
                alpha: float | None = None, half: bool = False) -> dict:
    """Closed-form global losses of FT and LP-FT after one FT step, and whether LP-FT is lower.

    ``lp``: ``"exact"`` (α = 1), ``"step"`` (one LP GD step: α = ηc) or ``"partial"`` (give ``alpha``).
    The condition for ``lp="exact"`` is ``(a − 1)(a − r) > 0`` with ``a = ηc(1 + v)`` and ``r`` the root of
    the reading (:func:`condition_root`): ``condition_exact`` (others), ``condition_exact_mixture``.
    """
    Vd.choice("lp", lp, ("exact", "step", "partial"))
    if lp == "partial" and alpha is None:
        raise ValueError("lp='partial' needs alpha in [0, 1]")
    al = 1.0 if lp == "exact" else (eta * _c(half) if lp == "step" else Vd.probability("alpha", alpha))
    a = ft_coefficient(v, eta, half)
    A = lp_ft_coefficient(v, lam, eta, al, half)
    ft_l = concept_losses(a * lam, lam, n_clients, omega, half=half)
    lpft_l = concept_losses(A, lam, n_clients, omega, half=half)
    return {"a": a, "A": A, "alpha": al, "ft": ft_l, "lp_ft": lpft_l,
            "lp_ft_better": lpft_l["global"] < ft_l["global"],
            "condition_exact": lp_ft_wins(a, omega, n_clients, "others"),
            "condition_exact_mixture": lp_ft_wins(a, omega, n_clients, "mixture")}


def condition_root(omega: float, n_clients: int, reading: str = "others") -> float:
    """The root ``r ≠ 1`` of the exact-LP one-step gap: LP-FT's global loss is lower iff ``(a−1)(a−r) > 0``.

    Others: ``(G_FT − G_LPFT)/λ² = (a − 1)(a − (2ω − 1))``. Mixture (all C clients, the client itself
    included): ``C (M_FT − M_LPFT)/λ² = (a−1)² + (C−1)(a−1)(a+1−2ω) = C (a − 1)(a − r)`` with
    ``r = (2ω(C − 1) − (C − 2))/C``.
    """
    Vd.choice("reading", reading, GLOBAL_READINGS)
    omega = Vd.probability("omega", omega)
    C = Vd.integer("n_clients", n_clients, min_value=2)
    return 2 * omega - 1.0 if reading == "others" else (2 * omega * (C - 1) - (C - 2)) / C


def lp_ft_wins(a: float, omega: float = 0.0, n_clients: int = 2, reading: str = "others") -> bool:
    """Theorem 4.4's condition (exact LP, one FT step, concept shift with overlap ω), either reading."""
    return bool((a - 1.0) * (a - condition_root(omega, n_clients, reading)) > 0)


def step_curvature(v: float, half: bool = False) -> float:
    """``β = c(1 + v)``: curvature of client i's loss along FT's first step (concept shift, Σ = I).

    The loss along the ray is exactly ``λ²(ηβ − 1)²`` (times ½ with ``half``), so ``a = ηβ``: ``η < 1/β``
    undershoots, ``1/β < η < 2/β`` overshoots but still descends, ``η > 2/β`` ascends.
    """
    return _c(half) * (1.0 + Vd.nonnegative("v", v))


def hessian(B, V, Sigma, w_star, half: bool = False) -> np.ndarray:
    """Exact Hessian of ``L(B, V) = (c/2)(BᵀV − w*)ᵀΣ(BᵀV − w*)`` in ``θ = (vec B, V)`` (row-major B).

    Gauss–Newton part ``c JᵀΣJ`` with ``J = [∂w/∂B, ∂w/∂V]`` (``∂w/∂B_ab = V_a e_b``, ``∂w/∂V_a = B_a``),
    plus the residual part ``c δ_aa' g_b`` between ``B_ab`` and ``V_a'`` (``g = Σ(BᵀV − w*)``).
    """
    B, V = np.asarray(B, float), np.asarray(V, float)
    k, d = B.shape
    c = _c(half)
    J = np.concatenate([np.kron(V[:, None], np.eye(d)), B], axis=0).T  # (d, k·d + k)
    H = c * J.T @ Sigma @ J
    g = Sigma @ (B.T @ V - w_star)
    cross = c * np.kron(np.eye(k), g[:, None])  # (k·d, k): row (a, b), column a' → δ_aa' g_b
    H[: k * d, k * d:] += cross
    H[k * d:, : k * d] += cross.T
    return H


def sharpness(B, V, Sigma, w_star, half: bool = False) -> float:
    """``β_max = λ_max(∇²L)`` at ``(B, V)``: GD is locally stable only for ``η < 2/β_max``."""
    return float(np.linalg.eigvalsh(hessian(B, V, Sigma, w_star, half))[-1])


# --------------------------------------------------------------------------- many steps: 2x2 reduction
@dataclass
class ReducedRun:
    u: np.ndarray  # (T+1, 2): predictor in (ŵ_0, b_i) coordinates
    N: np.ndarray  # (T+1, 2, 2): body restricted to the active subspaces
    z: np.ndarray  # (T+1, 2): head in (V̂_0, e_i) coordinates
    lp_steps: int  # leading entries produced by the LP phase


def reduced_concept_run(v: float, lam: float, eta: float, steps: int, *, lp_alpha: float | None = None,
                        lp_steps: int = 0, half: bool = False) -> ReducedRun:
    """Exact FT / LP-FT dynamics under concept shift via the 2×2 reduction (module docstring).

    LP phase: ``lp_alpha`` (fraction of the way to the exact head, one jump) or ``lp_steps`` head-only GD
    steps with the same η; then ``steps`` FT steps. Requires ``v > 0`` (a shared predictor to rotate).
    """
    v = Vd.positive("v", v)
    c = _c(half)
    t = np.array([np.sqrt(v), lam])
    N = np.eye(2)
    z = np.array([np.sqrt(v), 0.0])
    Ns, zs = [N.copy()], [z.copy()]
    if lp_alpha is not None:
        # exact head with N = I is t itself
        z = z + Vd.probability("lp_alpha", lp_alpha) * (t - z)
        Ns.append(N.copy())
        zs.append(z.copy())
    for _ in range(Vd.integer("lp_steps", lp_steps, min_value=0)):
        z = z - eta * c * N @ (N.T @ z - t)
        Ns.append(N.copy())
        zs.append(z.copy())
    n_lp = len(zs) - 1
    for _ in range(Vd.integer("steps", steps, min_value=0)):
        r = N.T @ z - t
        N, z = N - eta * c * np.outer(z, r), z - eta * c * N @ r
        Ns.append(N.copy())
        zs.append(z.copy())
    N_arr, z_arr = np.array(Ns), np.array(zs)
    return ReducedRun(np.einsum("tij,ti->tj", N_arr, z_arr), N_arr, z_arr, n_lp)


def reduced_losses(run: ReducedRun, v: float, lam: float, n_clients: int, omega: float = 0.0,
                   half: bool = False) -> dict:
    """Local / global / mixture losses along a reduced run (arrays over steps)."""
    u1, u2 = run.u[:, 0] - np.sqrt(v), run.u[:, 1]
    return concept_losses(u2, lam, n_clients, omega, shared_error=u1, half=half)


def reduced_concept_flow(v: float, lam: float, times, *, lp_alpha: float | None = None,
                         half: bool = False) -> ReducedRun:
    """Gradient flow (step-size free) of the 2×2 reduction, from the global model or after LP.

    ``dN/dt = −c z rᵀ``, ``dz/dt = −c N r`` with ``r = Nᵀz − t`` (solve_ivp, rtol 1e-10), at ``times``.
    ``lp_alpha``: start from the head a fraction α of the way to the exact LP head (α = 1: exact LP).
    """
    from scipy.integrate import solve_ivp

    v = Vd.positive("v", v)
    times = Vd.finite_array("times", times, ndim=1)
    if times.size == 0 or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise ValueError(f"times must be an increasing sequence of times >= 0, got {times}")
    c = _c(half)
    t = np.array([np.sqrt(v), lam])
    z0 = np.array([np.sqrt(v), 0.0])
    if lp_alpha is not None:
        z0 = z0 + Vd.probability("lp_alpha", lp_alpha) * (t - z0)

    def rhs(_s, y):
        N, z = y[:4].reshape(2, 2), y[4:]
        r = N.T @ z - t
        return np.concatenate([(-c * np.outer(z, r)).ravel(), -c * N @ r])

    sol = solve_ivp(rhs, (0.0, float(times[-1])), np.concatenate([np.eye(2).ravel(), z0]), t_eval=times,
                    rtol=1e-10, atol=1e-12, method="DOP853")
    N, z = sol.y[:4].T.reshape(-1, 2, 2), sol.y[4:].T
    return ReducedRun(np.einsum("tij,ti->tj", N, z), N, z, 0)


# --------------------------------------------------------------------------- local/global Pareto frontier
def pareto_frontier(local, lam: float, n_clients: int, omega: float = 0.0, half: bool = False) -> dict:
    """Least global loss at a given local loss over every predictor the 2×2 family reaches (all of R²).

    ``G*(ℓ) = λ²(1−ω²) + (λ(1−ω) − √ℓ)²`` (others), ``M*(ℓ) = (ℓ + (C−1)G*(ℓ))/C`` (mixture), both at
    ``e = 0, A = λ − √ℓ``; losses times ½ with ``half``. ``efficient`` / ``efficient_mixture``: whether
    ``(ℓ, G*)`` is Pareto-efficient (no predictor has lower local and lower global loss).
    """
    f = 0.5 if half else 1.0
    ell = np.asarray(local, dtype=float)
    if np.any(ell < 0) or not np.all(np.isfinite(ell)):
        raise ValueError("local must be finite and >= 0")
    C = Vd.integer("n_clients", n_clients, min_value=2)
    omega = Vd.probability("omega", omega)
    lam = Vd.nonnegative("lam", lam)
    root = np.sqrt(ell / f)
    glob = f * (lam ** 2 * (1 - omega ** 2) + (lam * (1 - omega) - root) ** 2)
    return {"global": glob, "global_mixture": (ell + (C - 1) * glob) / C,
            "efficient": root <= lam * (1 - omega) * (1 + 1e-12),
            "efficient_mixture": root <= (C - 1) * lam * (1 - omega) / C * (1 + 1e-12),
            "A": lam - root}


def ft_frontier_excess(a: float, lam: float, omega: float = 0.0, half: bool = False) -> float:
    """Global loss of one FT step above the frontier at its own local loss: 0 if ``a <= 1``, else
    ``4λ²(a − 1)(1 − ω)`` (the overshoot; both readings, times ½ with ``half``, ``(C−1)/C`` for the mixture)."""
    a, omega = Vd.nonnegative("a", a), Vd.probability("omega", omega)
    return (0.5 if half else 1.0) * 4 * lam ** 2 * max(a - 1.0, 0.0) * (1 - omega)



def _targets_geometry(w_stars, i: int, reading: str):
    """``(dist, var)``: the distance from client i's target to the mean target of the evaluating clients and the
    spread of those targets (``mean_j ‖w_j* − w̄‖²``)."""
    W = np.asarray(w_stars, float)
    ev = np.delete(W, i, axis=0) if reading == "others" else W
    mean = ev.mean(axis=0)
    return float(np.linalg.norm(W[i] - mean)), float(np.mean(np.sum((ev - mean) ** 2, axis=1)))


def frontier_any(local, w_stars, i: int, half: bool = False, reading: str = "others") -> np.ndarray:
    """Least global loss at local loss ``ℓ`` over **every** predictor ``w ∈ R^d`` (Σ = I for every client):
    ``var + (dist − √ℓ)²`` (:func:`_targets_geometry`) — what any method, whatever its updates, is bounded by."""
    Vd.choice("reading", reading, GLOBAL_READINGS)
    f = 0.5 if half else 1.0
    ell = np.asarray(local, float)
    dist, var = _targets_geometry(w_stars, i, reading)
    return f * (var + (dist - np.sqrt(ell / f)) ** 2)


def pareto_frontier_any(local, lam: float, n_clients: int, omega: float = 0.0, half: bool = False) -> dict:
    r""":func:`frontier_any` in closed form under Assumption 4.1 with overlap ω (other clients' reading):

        G_any(ℓ) = λ²(1 − |ū|²) + (λκ − √ℓ)²,   |ū|² = (1 + (C − 2)ω)/(C − 1),   κ² = 1 − 2ω + |ū|²,

    below :func:`pareto_frontier`'s ``G*`` for every ``0 < √ℓ < 2λκ`` unless ω = 1 (the same at ℓ = 0): the mean
    of the other clients' private directions has a part ``ū_⊥`` off client i's plane, which only methods whose
    updates leave that plane can use. Mixture: ``(ℓ + (C − 1) G_any)/C`` (the same minimiser)."""
    f = 0.5 if half else 1.0
    ell = np.asarray(local, dtype=float)
    if np.any(ell < 0) or not np.all(np.isfinite(ell)):
        raise ValueError("local must be finite and >= 0")
    C = Vd.integer("n_clients", n_clients, min_value=2)
    omega, lam = Vd.probability("omega", omega), Vd.nonnegative("lam", lam)
    ubar2 = (1 + (C - 2) * omega) / (C - 1)
    kappa = np.sqrt(max(1 - 2 * omega + ubar2, 0.0))
    glob = f * (lam ** 2 * (1 - ubar2) + (lam * kappa - np.sqrt(ell / f)) ** 2)
    return {"global": glob, "global_mixture": (ell + (C - 1) * glob) / C, "kappa": float(kappa),
            "ubar_perp2": float(ubar2 - omega ** 2)}


def concept_curves(v: float, lam: float, n_clients: int, etas, steps: int, *, lp_steps=(), lp_alphas=(1.0,),
                   omega: float = 0.0, half: bool = False) -> dict:
    """Every (local, global) point FT and LP-FT reach over η, T = 1..``steps`` and LP length (2×2 reduction).

    FT: one run per η. LP-FT: per η, each head-only GD length in ``lp_steps`` (0, which is FT itself, is
    skipped) and each jump ``lp_alphas`` (fraction of the way to the exact head; 1 = exact LP), each
    followed by 0..``steps`` FT steps. Returns per method arrays ``local``, ``global``, ``global_mixture``,
    ``eta``, ``T``, ``lp`` and ``descent`` (every FT step so far decreased the local loss).
    """
    out = {}
    for method in ("FT", "LP-FT"):
        rows = []
        for eta in np.asarray(etas, float):
            starts = [("ft", None, 0)] if method == "FT" else (
                [(f"lp_steps={k}", None, k) for k in lp_steps if k > 0] + [(f"lp_alpha={al:g}", al, 0) for al in lp_alphas])
            for label, alpha, k in starts:
                with np.errstate(over="ignore", invalid="ignore"):
                    run = reduced_concept_run(v, lam, eta, steps, lp_alpha=alpha, lp_steps=k, half=half)
                    L = reduced_losses(run, v, lam, n_clients, omega, half)
                    n0 = run.lp_steps
                    loc = L["local"][n0:]
                    dec = np.concatenate([[True], np.logical_and.accumulate(np.diff(loc) < 0)])
                first_T = 1 if method == "FT" else 0
                bound = 1e3 * (lam ** 2 + v)  # beyond: GD on the client has diverged
                for T in range(first_T, steps + 1):
                    if np.isfinite(loc[T]) and loc[T] < bound and L["global"][n0 + T] < bound:
                        rows.append((loc[T], L["global"][n0 + T], L["global_mixture"][n0 + T], eta, T, label, dec[T]))
        cols = list(zip(*rows)) or [()] * 7
        out[method] = {"local": np.array(cols[0]), "global": np.array(cols[1]), "global_mixture": np.array(cols[2]),
                       "eta": np.array(cols[3]), "T": np.array(cols[4]), "lp": list(cols[5]),
                       "descent": np.array(cols[6], dtype=bool)}
    return out


def matched_global(curve: dict, at, key: str = "global", where=None) -> np.ndarray:
    """A method's least global loss at local loss exactly ``ℓ``, for each ``ℓ`` in ``at``.

    ``curve`` is one method of :func:`concept_curves`. Points with the same ``(T, lp)`` form a curve over
    η; it is interpolated linearly wherever it crosses ``ℓ``, and the least value over all crossings is
    returned (``nan`` where the method never has local loss ``ℓ``). ``where``: optional boolean mask of
    points to keep (e.g. ``curve["descent"]``).
    """
    at = np.asarray(at, float)
    keep = np.ones(len(curve["local"]), bool) if where is None else np.asarray(where, bool)
    L0, L1, G0, G1 = [], [], [], []
    labels = np.array([f"{T}|{lp}" for T, lp in zip(curve["T"], curve["lp"])])
    for lab in np.unique(labels):
        idx = np.flatnonzero((labels == lab) & keep)
        idx = idx[np.argsort(curve["eta"][idx], kind="stable")]
        if idx.size < 2:
            continue
        # only neighbouring η on the grid (a dropped point must not bridge a gap)
        ok = np.diff(np.searchsorted(np.unique(curve["eta"]), curve["eta"][idx])) == 1
        L0.append(curve["local"][idx[:-1]][ok])
        L1.append(curve["local"][idx[1:]][ok])
        G0.append(curve[key][idx[:-1]][ok])
        G1.append(curve[key][idx[1:]][ok])
    if not L0:
        return np.full(at.shape, np.nan)
    L0, L1, G0, G1 = (np.concatenate(x)[None, :] for x in (L0, L1, G0, G1))
    ell = at[:, None]
    cross = (np.minimum(L0, L1) <= ell) & (ell <= np.maximum(L0, L1))
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(L1 != L0, (ell - L0) / (L1 - L0), 0.0)
    vals = np.where(cross, G0 + frac * (G1 - G0), np.inf)
    best = vals.min(axis=1)
    return np.where(np.isfinite(best), best, np.nan)


def matched_global_exact(v: float, lam: float, n_clients: int, local, steps: int, etas, *,
                         lp_alpha: float | None = None, lp_steps: int = 0, omega: float = 0.0, half: bool = False,
                         descent_only: bool = False) -> dict:
    """Least global loss after exactly ``steps`` FT steps (LP first if asked) at local loss exactly ``ℓ``.

    Over η in ``[etas[0], etas[-1]]``: every sign change of ``local(η) − ℓ`` on the grid ``etas`` is refined
    by Brent's method on the exact 2×2 dynamics, and the least global (``global``) and mixture
    (``global_mixture``) loss over the roots is returned (``nan`` where no η gives local loss ``ℓ``).
    ``descent_only``: keep only η at which every FT step decreased the local loss.
    """
    from scipy.optimize import brentq

    def at(eta):
        with np.errstate(over="ignore", invalid="ignore"):
            run = reduced_concept_run(v, lam, eta, steps, lp_alpha=lp_alpha, lp_steps=lp_steps, half=half)
            L = reduced_losses(run, v, lam, n_clients, omega, half)
            loc = L["local"][run.lp_steps:]
            return loc[-1], L["global"][-1], L["global_mixture"][-1], bool(np.all(np.diff(loc) < 0))

    grid = Vd.finite_array("etas", etas, ndim=1)
    vals = np.array([at(e)[0] for e in grid])
    out = {"global": [], "global_mixture": [], "eta": []}
    for ell in np.atleast_1d(np.asarray(local, float)):
        best = (np.inf, np.inf, np.nan)
        d = vals - ell
        for j in np.flatnonzero(np.isfinite(d[:-1]) & np.isfinite(d[1:]) & (np.sign(d[:-1]) != np.sign(d[1:]))):
            try:
                eta = brentq(lambda e: at(e)[0] - ell, grid[j], grid[j + 1], xtol=1e-14, rtol=1e-13)
            except ValueError:  # non-finite inside the bracket: client GD diverges there
                continue
            _, g, mix, dec = at(eta)
            if (dec or not descent_only) and g < best[0]:
                best = (g, mix, eta)
        for key, val in zip(("global", "global_mixture", "eta"), best):
            out[key].append(val if np.isfinite(val) else np.nan)
    return {k: np.array(val) for k, val in out.items()}


# --------------------------------------------------------------------------- Theorem 4.5
def _combined_setup(B_star, V_com, shifts, eps):
    """``(m, C, Σ_i = e_ie_iᵀ + ε²I for every client, V_0 = [V_com; 0])``."""
    m = V_com.shape[0]
    C = B_star.shape[0] - m
    E = np.asarray(shifts, dtype=float)
    Sig = np.einsum("ia,ib->iab", E, E) + eps ** 2 * np.eye(B_star.shape[1])
    return m, C, Sig, np.concatenate([V_com, np.zeros(C)])


def combined_one_step(B_star, V_com, shifts, eps: float, lam: float, eta: float, *, half: bool = False,
                      reading: str = "others") -> dict:
    """Closed-form one-step FT vs exact-LP LP-FT global losses for every client (combined shift).

    Returns per-client arrays ``ft``, ``lp_ft`` (global losses), ``ft_local`` and the predictors ``h``.
    """
    Vd.choice("reading", reading, GLOBAL_READINGS)
    m, C, Sig, V0 = _combined_setup(B_star, V_com, shifts, eps)
    b = B_star[m:]  # (C, d)
    w0 = B_star.T @ V0
    P = B_star.T @ B_star
    s = eta * _c(half)
    v = float(V_com @ V_com)
    g = np.einsum("iab,ib->ia", Sig, b)
    h = s * (g @ P + v * g) + (s ** 2 * lam * (g @ w0))[:, None] * g  # (C, d); P symmetric

    f = 0.5 if half else 1.0

    def quad(u):  # u (C, C, d): u[i, j] − evaluated with Σ_j
        return f * np.einsum("ija,jab,ijb->ij", u, Sig, u)

    ft_pair = lam ** 2 * quad(h[:, None, :] - b[None, :, :])
    lp_pair = lam ** 2 * quad(b[:, None, :] - b[None, :, :])
    off = ~np.eye(C, dtype=bool)
    if reading == "others":
        ft_g = np.array([ft_pair[i, off[i]].mean() for i in range(C)])
        lp_g = np.array([lp_pair[i, off[i]].mean() for i in range(C)])
    else:
        ft_g, lp_g = ft_pair.mean(axis=1), lp_pair.mean(axis=1)
    start_local = lam ** 2 * f * np.einsum("ia,iab,ib->i", b, Sig, b)  # client i's loss at w_0
    return {"ft": ft_g, "lp_ft": lp_g, "ft_local": np.diag(ft_pair), "start_local": start_local, "h": h, "w0": w0}


def combined_gap_coeffs(B_star, V_com, shifts, eps: float, eta: float, *, half: bool = False,
                        reading: str = "others") -> np.ndarray:
    """``(q_0, q_1, q_2)`` of ``D(λ) = mean_i [G_FT,i − G_LPFT,i]/λ²`` (exact, from three evaluations).

    ``D`` is exactly quadratic in λ (``h`` is affine in λ), so evaluating it at λ ∈ {1, 2, 3} and solving
    the Vandermonde system recovers the coefficients up to round-off.
    """
    lams = np.array([1.0, 2.0, 3.0])
    vals = []
    for lam in lams:
        r = combined_one_step(B_star, V_com, shifts, eps, lam, eta, half=half, reading=reading)
        vals.append(np.mean(r["ft"] - r["lp_ft"]) / lam ** 2)
    return np.linalg.solve(np.vander(lams, 3, increasing=True), np.array(vals))


def lambda_star(q) -> dict:
    """From ``D(λ) = q_0 + q_1λ + q_2λ²``: where LP-FT wins (D >= 0) as a function of λ > 0.

    Returns ``lambda_star`` (LP-FT wins on ``(0, λ*]``; ∞ if always; 0 if it loses at small λ),
    ``lambda_star2`` (LP-FT wins again on ``[λ**, ∞)``; ``None`` if not) and ``holds_small_lambda``.
    """
    q0, q1, q2 = (float(x) for x in q)
    scale = max(abs(q0), abs(q1), abs(q2), 1e-300)
    roots = np.roots([q2, q1, q0]) if abs(q2) > 1e-12 * scale else (np.array([-q0 / q1]) if abs(q1) > 1e-12 * scale else np.array([]))
    pos = np.sort([r.real for r in np.atleast_1d(roots) if abs(r.imag) < 1e-9 * (1 + abs(r.real)) and r.real > 0])
    holds = q0 > 0 or (q0 == 0 and (q1 > 0 or (q1 == 0 and q2 >= 0)))
    if not holds:
        return {"lambda_star": 0.0, "lambda_star2": (float(pos[-1]) if len(pos) else None), "holds_small_lambda": False}
    if len(pos) == 0:
        return {"lambda_star": float("inf"), "lambda_star2": None, "holds_small_lambda": True}
    return {"lambda_star": float(pos[0]), "lambda_star2": (float(pos[1]) if len(pos) > 1 else None),
            "holds_small_lambda": True}


def private_geometry_threshold(v: float, shift: float, eps: float, eta: float, half: bool = False) -> float:
    """Private shifts ``e_i = σ b_i``: LP-FT's global loss is <= FT's iff this ``a' = ηc(σ²+ε²)(1+v)`` >= 1."""
    return eta * _c(half) * (shift ** 2 + eps ** 2) * (1.0 + v)


def private_condition_root(shift: float, eps: float, n_clients: int, reading: str = "others") -> float:
    """Private shifts: LP-FT's global loss is <= FT's iff ``(a' − 1)(a' − r') >= 0``; this returns ``r'``.

    With ``w = w_0 + A b_i``: client j ≠ i pays ``σ²λ² + ε²(A² + λ²)``, client i pays ``(σ²+ε²)(A − λ)²``.
    Others: gap ``ε²λ²(a'² − 1)``, ``r' = −1``. Mixture: ``C·gap/λ² = (a'−1)[(σ²+ε²)(a'−1) + (C−1)ε²(a'+1)]``,
    ``r' = (σ² − (C−2)ε²)/(σ² + Cε²)``.
    """
    Vd.choice("reading", reading, GLOBAL_READINGS)
    C = Vd.integer("n_clients", n_clients, min_value=2)
    s2, e2 = shift ** 2, Vd.positive("eps", eps) ** 2
    return -1.0 if reading == "others" else (s2 - (C - 2) * e2) / (s2 + C * e2)



def _pair_weights(C: int, reading: str) -> np.ndarray:
    """``W[i, j]``: weight of (fine-tuning client i, evaluating client j) in a reading's mean over clients and pairs."""
    Vd.choice("reading", reading, GLOBAL_READINGS)
    return (1.0 - np.eye(C)) / (C * (C - 1)) if reading == "others" else np.full((C, C), 1.0 / C ** 2)


def combined_gap_poly(B_star, V_com, shifts, eps: float, eta: float, *, half: bool = False,
                      reading: str = "others") -> dict:
    r"""The coefficients of ``D(λ) = q_0 + q_1λ + q_2λ²`` in the instance's primitive parameters.

    With ``s = ηc``, ``g_i = Σ_i b_i``, ``u_i = (P + vI) g_i`` and ``t_i = s²(w_0ᵀg_i) g_i`` (so that FT's
    predictor is ``w_0 + λ(s u_i + λ t_i)``), and means ``⟨·⟩`` over the (i, j) pairs of the reading:

        q_0 = A s² − 2 B s − D,   A = ⟨u_iᵀΣ_j u_i⟩,  B = ⟨u_iᵀΣ_j b_j⟩,  D = ⟨b_iᵀΣ_j (b_i − 2 b_j)⟩,
        q_1 = 2 ⟨t_iᵀΣ_j (s u_i − b_j)⟩,   q_2 = ⟨t_iᵀΣ_j t_i⟩ >= 0.

    ``w_0ᵀg_i = (w_0ᵀe_i)(e_iᵀb_i)`` (``w_0 ⊥ b_i``): ``q_1 = q_2 = 0`` — the gap is λ-free — unless some
    client's shift has a component along both the shared predictor and its own private feature.
    Returns ``q`` (times ½ with ``half``) and ``A, B, D`` (A > 0 for ε > 0; the sign pattern is the same with
    and without the ½).
    """
    m, C, Sig, V0 = _combined_setup(B_star, V_com, shifts, eps)
    W = _pair_weights(C, reading)
    b = B_star[m:]
    w0 = B_star.T @ V0
    P = B_star.T @ B_star
    s = eta * _c(half)
    v = float(V_com @ V_com)
    g = np.einsum("iab,ib->ia", Sig, b)
    u = g @ P + v * g
    t = (s ** 2 * (g @ w0))[:, None] * g

    def pair(x, y):  # ⟨x_iᵀ Σ_j y_{ij}⟩ with y given per (i, j)
        return float(np.sum(W * np.einsum("ia,jab,ijb->ij", x, Sig, y)))

    same = lambda x: np.broadcast_to(x[:, None, :], (C, C, x.shape[1]))  # noqa: E731  y_ij = x_i
    other = lambda x: np.broadcast_to(x[None, :, :], (C, C, x.shape[1]))  # noqa: E731  y_ij = x_j
    A = pair(u, same(u))
    Bc = pair(u, other(b))
    D = pair(b, same(b)) - 2 * pair(b, other(b))
    f = 0.5 if half else 1.0
    q0 = A * s ** 2 - 2 * Bc * s - D
    q1 = 2 * pair(t, s * same(u) - other(b))
    q2 = pair(t, same(t))
    return {"q": f * np.array([q0, q1, q2]), "A": A, "B": Bc, "D": D, "s": s}


def theorem_4_5_step_window(B_star, V_com, shifts, eps: float, *, half: bool = False, reading: str = "others") -> dict:
    r"""Where Theorem 4.5 fails, as an interval of the step: ``q_0 = A s² − 2Bs − D < 0`` exactly for
    ``s = ηc`` strictly inside ``(s_−, s_+)``, ``s_± = (B ± √(B² + AD))/A`` (:func:`combined_gap_poly`; q_0 does
    not depend on η except through s, so the window is computed at any η). ``None`` bounds: no real root (the
    theorem holds for every step). ``s_minus <= 0``: only steps above ``s_plus`` make it hold."""
    r = combined_gap_poly(B_star, V_com, shifts, eps, 1.0, half=half, reading=reading)
    A, Bc, D = r["A"], r["B"], r["D"]
    disc = Bc ** 2 + A * D
    if disc < 0:
        return {"A": A, "B": Bc, "D": D, "s_minus": None, "s_plus": None}
    root = np.sqrt(disc)
    return {"A": A, "B": Bc, "D": D, "s_minus": float((Bc - root) / A), "s_plus": float((Bc + root) / A)}


def theorem_4_5_holds(B_star, V_com, shifts, eps: float, eta: float, *, half: bool = False,
                      reading: str = "others") -> bool:
    """The condition derived here for Theorem 4.5 (exact LP, one FT step), in primitive parameters only:
    some ``λ* > 0`` has LP-FT's global loss at most FT's for every ``λ <= λ*`` iff the step ``s = ηc`` lies
    outside the window ``[s_−, s_+]`` of :func:`theorem_4_5_step_window`. On the window's two end points
    ``q_0 = 0`` and the λ-terms decide (``q_1 > 0``, or ``q_1 = 0`` and ``q_2 >= 0``)."""
    w = theorem_4_5_step_window(B_star, V_com, shifts, eps, half=half, reading=reading)
    s = eta * _c(half)
    if w["s_plus"] is None or s > w["s_plus"] or s < w["s_minus"]:
        return True
    if s == w["s_plus"] or s == w["s_minus"]:
        q = combined_gap_poly(B_star, V_com, shifts, eps, eta, half=half, reading=reading)["q"]
        return bool(q[1] > 0 or (q[1] == 0 and q[2] >= 0))
    return False


def combined_exact(B_star, V_com, shifts, eps: float, lam: float, eta: float, *, half: bool = False) -> dict:
    """One FT step and exact-LP LP-FT on every client by plain GD arithmetic on ``(B, V)`` (no closed form):
    per-client arrays ``start_local``, ``ft_local``, ``ft_others``, ``ft_mixture``, ``lpft_others``,
    ``lpft_mixture`` (client i fine-tunes; others/mixture: the reading's mean over the evaluating clients)."""
    m, C, Sig, V0 = _combined_setup(B_star, V_com, shifts, eps)
    Vstars = np.concatenate([np.broadcast_to(V_com, (C, m)), lam * np.eye(C)], axis=1)
    wstars = Vstars @ B_star
    c, f = _c(half), (0.5 if half else 1.0)
    w0 = B_star.T @ V0
    out = {k: np.empty(C) for k in ("start_local", "ft_local", "ft_others", "ft_mixture", "lpft_others", "lpft_mixture")}
    for i in range(C):
        G = c * Sig[i] @ (w0 - wstars[i])
        B1, V1 = B_star - eta * np.outer(V0, G), V0 - eta * B_star @ G
        for key, w in (("ft", B1.T @ V1), ("lpft", wstars[i])):  # exact LP: the gradient vanishes at w_i*
            r = w[None, :] - wstars
            per = f * np.einsum("ja,jab,jb->j", r, Sig, r)
            out[f"{key}_others"][i] = np.delete(per, i).mean()
            out[f"{key}_mixture"][i] = per.mean()
            if key == "ft":
                out["ft_local"][i] = per[i]
        r0 = w0 - wstars[i]
        out["start_local"][i] = f * r0 @ Sig[i] @ r0
    return out


def exact_gap_coeffs(B_star, V_com, shifts, eps: float, eta: float, *, half: bool = False, lams=(0.5, 1.0, 2.0),
                     check_lam: float = 3.0) -> dict:
    """``D(λ)`` and the losses over λ² fitted as quadratics in λ from :func:`combined_exact` at ``lams`` (exact:
    FT's predictor is affine in λ), for both readings; ``residual``: the largest relative misfit at
    ``check_lam``. Returns per reading ``q`` (q_0, q_1, q_2 of the gap), ``ft0``/``lpft0`` (the λ → 0 limits of
    the global losses over λ²), and ``local0``/``start0`` (per client, λ → 0 limits of the local losses over λ²)."""
    lams = np.asarray(lams, float)
    runs = [combined_exact(B_star, V_com, shifts, eps, x, eta, half=half) for x in (*lams, check_lam)]
    Vinv = np.linalg.inv(np.vander(lams, 3, increasing=True))

    def fit(key):
        y = np.array([r[key] / x ** 2 for r, x in zip(runs[:3], lams)])  # (3, C)
        coef = Vinv @ y
        pred = coef[0] + coef[1] * check_lam + coef[2] * check_lam ** 2
        obs = runs[3][key] / check_lam ** 2
        return coef, float(np.max(np.abs(pred - obs) / np.maximum(np.abs(obs), 1e-300)))

    out, resid = {}, []
    for reading, tag in (("others", "others"), ("mixture", "mixture")):
        ft, e1 = fit(f"ft_{tag}")
        lp, e2 = fit(f"lpft_{tag}")
        resid += [e1, e2]
        gap = (ft - lp).mean(axis=1)
        out[reading] = {"q": gap, "ft0": float(ft[0].mean()), "lpft0": float(lp[0].mean())}
    loc, e3 = fit("ft_local")
    st, e4 = fit("start_local")
    out["local0"], out["start0"] = loc[0], st[0]
    out["residual"] = max(resid + [e3, e4])
    return out


# --------------------------------------------------------------------------- every reading, numerically
LP_READINGS = ("exact", "step", "partial", "none")


def pft_global_gap(B_star, V_com, shifts, eps: float, lam: float, eta: float, *, lp: str = "exact",
                   alpha: float = 1.0, ft_steps: int = 1, half: bool = False, reading: str = "others") -> dict:
    """FT vs LP-FT on the combined shift for any reading, by exact population GD arithmetic.

    ``lp``: ``exact`` (V = V_i*), ``step`` (one head GD step, same η), ``partial`` (α of the way to
    ``V_i*``). ``ft_steps`` full GD steps follow. Returns mean global losses (``reading``), mean local
    losses, and ``gap = G_FT − G_LPFT`` (> 0: LP-FT better). Concept shift is ``shifts = 0, eps = 1``.
    """
    Vd.choice("lp", lp, LP_READINGS)
    Vd.choice("reading", reading, GLOBAL_READINGS)
    m, C, Sig, V0 = _combined_setup(B_star, V_com, shifts, eps)
    Vstars = np.concatenate([np.broadcast_to(V_com, (C, m)), lam * np.eye(C)], axis=1)
    wstars = Vstars @ B_star
    c = _c(half)
    f = 0.5 if half else 1.0

    def run(B, V, i, steps):
        for _ in range(steps):
            G = c * Sig[i] @ (B.T @ V - wstars[i])
            B, V = B - eta * np.outer(V, G), V - eta * B @ G
        return B.T @ V

    def losses(w, i):
        r = w[None, :] - wstars
        per = f * np.einsum("ja,jab,jb->j", r, Sig, r)
        glob = np.delete(per, i).mean() if reading == "others" else per.mean()
        return per[i], glob

    out = {"ft_global": 0.0, "lp_ft_global": 0.0, "ft_local": 0.0, "lp_ft_local": 0.0}
    for i in range(C):
        w_ft = run(B_star, V0, i, ft_steps)
        if lp == "exact":
            V_lp = Vstars[i]
        elif lp == "partial":
            V_lp = V0 + Vd.probability("alpha", alpha) * (Vstars[i] - V0)
        elif lp == "step":
            V_lp = V0 - eta * B_star @ (c * Sig[i] @ (B_star.T @ V0 - wstars[i]))
        else:
            V_lp = V0
        w_lpft = run(B_star, V_lp, i, ft_steps)
        for key, w in (("ft", w_ft), ("lp_ft", w_lpft)):
            loc, glob = losses(w, i)
            out[f"{key}_local"] += loc / C
            out[f"{key}_global"] += glob / C
    out["gap"] = out["ft_global"] - out["lp_ft_global"]
    return out


def gap_crossings(B_star, V_com, shifts, eps: float, eta: float, lam_grid, **kw) -> dict:
    """Where LP-FT wins along λ for any reading: the sign of ``gap(λ)`` on ``lam_grid``, sign changes
    refined by Brent's method. ``lambda_star`` is the end of the first winning interval (0 if LP-FT
    loses at the smallest λ; ∞ if it never stops winning on the grid)."""
    from scipy.optimize import brentq

    grid = Vd.finite_array("lam_grid", lam_grid, ndim=1)
    if np.any(grid <= 0) or np.any(np.diff(grid) <= 0):
        raise ValueError("lam_grid must be increasing and > 0")
    gap = lambda lam: pft_global_gap(B_star, V_com, shifts, eps, lam, eta, **kw)["gap"] / lam ** 2  # noqa: E731
    with np.errstate(over="ignore", invalid="ignore"):
        vals = np.array([gap(x) for x in grid])
    finite = np.isfinite(vals)
    n_ok = int(np.argmin(finite)) if not finite.all() else len(grid)  # GD on the clients diverges beyond
    cross = [brentq(gap, grid[j], grid[j + 1], xtol=1e-12) for j in range(n_ok - 1)
             if np.sign(vals[j]) != np.sign(vals[j + 1]) and vals[j] != 0]
    wins_small = bool(n_ok and vals[0] > 0)
    lam_star = (cross[0] if cross else float("inf")) if wins_small else 0.0
    return {"lambda_star": lam_star, "crossings": cross, "wins_at_small_lambda": wins_small, "gap": vals,
            "diverges_from": float(grid[n_ok]) if n_ok < len(grid) else None}



# --------------------------------------------------------------------------- other client-side optimizers
CLIENT_METHODS = ("gd", "heavy_ball", "nesterov", "adam", "precond")
IN_SPAN_METHODS = ("gd", "heavy_ball", "nesterov")
"""Methods whose every update is a linear combination of the client's population gradients: from the idealised
start they stay in the 2×2 invariant subspaces (:func:`reduced_concept_run`), so :func:`pareto_frontier` bounds
them. ``adam`` (coordinate-wise scaling) and ``precond`` (a fixed non-isotropic preconditioner) leave them, and so
does any method on a finite sample (its gradient is ``Σ̂(w − w*)``, ``Σ̂ ≠ I``)."""


def client_optimizer_run(B0, V0, w_star, steps: int, eta: float, *, method: str = "gd", momentum: float = 0.9,
                         betas=(0.9, 0.999), decay: float = 1.0, lp_alpha: float | None = None, lp_steps: int = 0,
                         Sigma=None, xty=None, precond=None, half: bool = False) -> np.ndarray:
    """The predictor ``BᵀV`` after ``steps`` updates of one client's loss ``(c/2)(wᵀΣw − 2wᵀxty + const)`` on the
    full two-layer model (numpy, float64).

    ``Sigma``/``xty``: the second moment and ``E[xy]`` the gradient uses (default ``I`` and ``w_star``: the
    population loss under concept shift; a finite sample passes ``XᵀX/n`` and ``Xᵀy/n``). ``method``: one of
    :data:`CLIENT_METHODS`; step ``η·decay^t``; ``momentum`` for heavy ball/Nesterov, ``betas`` for Adam
    (ε = 1e-8, bias-corrected); ``precond`` (d×d, SPD) multiplies the B-gradient on the input side. LP first:
    ``lp_alpha`` (a fraction of the way to the exact head, needs ``Sigma = I``) or ``lp_steps`` head-only GD steps.
    """
    Vd.choice("method", method, CLIENT_METHODS)
    B, V = np.array(B0, float), np.array(V0, float)
    d = B.shape[1]
    Sig = np.eye(d) if Sigma is None else np.asarray(Sigma, float)
    xy = np.asarray(w_star, float) if xty is None else np.asarray(xty, float)
    if xty is None and Sigma is not None:
        xy = Sig @ xy
    c = _c(half)
    grad_w = lambda B, V: c * (Sig @ (B.T @ V) - xy)  # noqa: E731
    if lp_alpha is not None:
        V_exact = np.linalg.lstsq(B.T, np.asarray(w_star, float), rcond=None)[0]
        V = V + Vd.probability("lp_alpha", lp_alpha) * (V_exact - V)
    for _ in range(Vd.integer("lp_steps", lp_steps, min_value=0)):
        V = V - eta * B @ grad_w(B, V)
    th = np.concatenate([B.ravel(), V])
    k = B.shape[0]

    def grad(th):
        B_, V_ = th[:k * d].reshape(k, d), th[k * d:]
        G = grad_w(B_, V_)
        gB = np.outer(V_, G)
        if precond is not None:
            gB = gB @ precond
        return np.concatenate([gB.ravel(), B_ @ G])

    vel = np.zeros_like(th)
    m1, m2 = np.zeros_like(th), np.zeros_like(th)
    for t in range(Vd.integer("steps", steps, min_value=0)):
        lr = eta * decay ** t
        if method in ("gd", "precond"):
            th = th - lr * grad(th)
        elif method == "heavy_ball":
            vel = momentum * vel + grad(th)
            th = th - lr * vel
        elif method == "nesterov":
            vel = momentum * vel + grad(th - lr * momentum * vel)
            th = th - lr * vel
        else:
            gr = grad(th)
            m1 = betas[0] * m1 + (1 - betas[0]) * gr
            m2 = betas[1] * m2 + (1 - betas[1]) * gr ** 2
            th = th - lr * (m1 / (1 - betas[0] ** (t + 1))) / (np.sqrt(m2 / (1 - betas[1] ** (t + 1))) + 1e-8)
    return th[:k * d].reshape(k, d).T @ th[k * d:]


def predictor_losses(w, w_stars, i: int, half: bool = False) -> dict:
    """Population losses of predictor ``w`` under concept shift (Σ = I): client i's own, the others' mean and the
    mixture of all clients."""
    per = (0.5 if half else 1.0) * np.sum((np.asarray(w_stars, float) - np.asarray(w, float)) ** 2, axis=1)
    return {"local": float(per[i]), "global": float(np.delete(per, i).mean()), "global_mixture": float(per.mean())}


theorem_4_5_holds.uses = ("eta", "eps", "shifts e_i", "V_com", "B*", "C", "half")
lp_ft_wins.uses = ("eta", "V_com", "omega", "C", "half")
"""The quantities each derived condition is computed from (the checks pass them as ``condition_uses``: none is the
gap the theorem concludes about)."""
